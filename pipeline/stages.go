package pipeline

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/processors/remediation"
	"github.com/meshtelemetry/telemetry/reports"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// Stage names: the one name a stage reports under everywhere it shows at
// run time (metrics telemetry_<stage>_*, log key component, /readyz,
// profiles' stage label). Subcommands and configuration sections keep the
// verbs of the command line (docs/architecture.md has the table).
const (
	StageSimulator   = simulator.Stage
	StageCollector   = collector.Stage
	StageProcessor   = kpi.Stage
	StageRemediation = remediation.Stage
	StageSink        = chsink.Stage
	StageReport      = reports.Stage
)

// Deps is what a stage of a process is built with: the process's logger
// (the stage adds its own component key) and the registry /metrics serves.
type Deps struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// NewSimulator builds the simulated fabric of the simulate section.
func (c *Config) NewSimulator(d Deps) (*simulator.Fabric, error) {
	return simulator.New(c.Simulate, simulator.Dependencies{Logger: d.Log, Registerer: d.Registerer})
}

// NewCollector builds the gNMI collector of the collect section, with the
// tenancy section (targets' tenants, fair share).
func (c *Config) NewCollector(d Deps) (*collector.Collector, error) {
	res, err := c.Tenants()
	if err != nil {
		return nil, err
	}
	return collector.New(c.Collect, collector.Dependencies{Logger: d.Log, Registerer: d.Registerer, Kafka: &c.Kafka, Tenants: res})
}

// NewProcessor builds the KPI processor of the process section, with the
// tenancy section (the default tenant, KPIs' tenants).
func (c *Config) NewProcessor(d Deps) (*kpi.Processor, error) {
	res, err := c.Tenants()
	if err != nil {
		return nil, err
	}
	return kpi.New(c.Process, kpi.Dependencies{Logger: d.Log, Registerer: d.Registerer, Kafka: &c.Kafka, Tenants: res})
}

// NewRemediator builds the rules engine and dispatcher of the remediate
// section, with the tenancy section (tenant rules and webhooks).
func (c *Config) NewRemediator(d Deps) (*remediation.Remediator, error) {
	res, err := c.Tenants()
	if err != nil {
		return nil, err
	}
	return remediation.New(c.Remediate, remediation.Dependencies{Logger: d.Log, Registerer: d.Registerer, Kafka: &c.Kafka, Tenants: res})
}

// NewSink builds the ClickHouse sink of the clickhouse section
// (ClickHouseSection).
func (c *Config) NewSink(d Deps) (*chsink.Sink, error) {
	return chsink.New(c.ClickHouseSection(), chsink.Dependencies{Logger: d.Log, Registerer: d.Registerer, Kafka: &c.Kafka})
}

// ClickHouseSection is the clickhouse section as the sink and the
// migrations use it: with tenancy.default-tenant as the tenant of rows
// without one (and the DEFAULT of the tenant columns).
func (c *Config) ClickHouseSection() chsink.Configuration {
	cfg := c.ClickHouse
	cfg.DefaultTenant = c.Tenancy.DefaultTenant
	return cfg
}

// Service is one long-running stage as a process runs it.
type Service struct {
	// Name is the stage name (Stage*).
	Name string
	// Build makes the stage on the process's logger and registry.
	Build func(Deps) (component.Component, error)
	// Started, when set, runs once the stage runs; Stopped after it
	// stopped (whatever the error), e.g. to log a summary.
	Started, Stopped func()
}

// Serve runs s the way every long-running subcommand does: the HTTP
// endpoint (/metrics, /healthz, /readyz with the stage's readiness when it
// has one) and the stage, started in that order by one Runner, until ctx
// ends; then both are stopped in reverse and their stop errors returned.
func Serve(ctx context.Context, http daemon.Configuration, log *slog.Logger, s Service) error {
	d := daemon.New(http, log)
	r := component.NewRunner(log)
	r.Add("http", &component.Func{StartFunc: func(context.Context) error { return d.Start() }, StopFunc: d.Stop})
	c, err := s.Build(Deps{Log: log, Registerer: d.Registry})
	if err != nil {
		return err
	}
	r.Add(s.Name, component.Labeled(s.Name, c))
	if err := r.Start(ctx); err != nil {
		return err
	}
	if _, ok := c.(component.Readier); ok {
		d.AddReadiness(s.Name, r.Ready)
	}
	if s.Started != nil {
		s.Started()
	}
	<-ctx.Done()
	log.Info("stopping")
	err = r.Stop()
	if s.Stopped != nil {
		s.Stopped()
	}
	return err
}
