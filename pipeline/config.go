// Package pipeline is how the binary assembles the pipeline: the whole
// configuration (one section per stage), one builder per stage, and Serve,
// which runs a stage as a long-running process. The subcommands and the
// demo (package demo) build their stages with the same builders.
package pipeline

import (
	"fmt"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/dashboards"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/processors/remediation"
	"github.com/meshtelemetry/telemetry/reports"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// Config is the whole configuration file: one section per component.
// Every key can be overridden by TELEMETRY_<SECTION>_<KEY>.
type Config struct {
	HTTP       daemon.Configuration      `yaml:"http"`
	Kafka      kafka.Configuration       `yaml:"kafka"`
	Tenancy    tenant.Configuration      `yaml:"tenancy"`
	Simulate   simulator.Configuration   `yaml:"simulate"`
	Collect    collector.Configuration   `yaml:"collect"`
	Process    kpi.Configuration         `yaml:"process"`
	Remediate  remediation.Configuration `yaml:"remediate"`
	ClickHouse chsink.Configuration      `yaml:"clickhouse"`
	Dashboards dashboards.Configuration  `yaml:"dashboards"`
	Report     reports.Configuration     `yaml:"report"`
}

// DefaultConfig returns every section's defaults.
func DefaultConfig() Config {
	return Config{
		HTTP:       daemon.DefaultConfiguration(),
		Kafka:      kafka.DefaultConfiguration(),
		Tenancy:    tenant.DefaultConfiguration(),
		Simulate:   simulator.DefaultConfiguration(),
		Collect:    collector.DefaultConfiguration(),
		Process:    kpi.DefaultConfiguration(),
		Remediate:  remediation.DefaultConfiguration(),
		ClickHouse: chsink.DefaultConfiguration(),
		Dashboards: dashboards.DefaultConfiguration(),
		Report:     reports.DefaultConfiguration(),
	}
}

// Tenants is the resolver of the tenancy section: which tenant owns what,
// for the stages' builders (docs/tenancy.md).
func (c *Config) Tenants() (*tenant.Resolver, error) {
	return tenant.NewResolver(c.Tenancy)
}

// Check checks what one section says about another, once every section
// validated itself (config.Load): every tenant a section names — a
// target's tenant key (collect.targets), a rule's or a webhook's tenant
// (remediate, its rules file included), a tenant deck (report.tenants) —
// is declared in the tenancy section or is the default tenant, and a
// target's tenant agrees with the tenancy section's ownership. Errors
// name the key ("collect.targets[2].tenant: ..."). The builders check
// the same when they build a stage.
func (c *Config) Check() error {
	res, err := c.Tenants()
	if err != nil {
		return err
	}
	if err := c.Collect.CheckTenants(res); err != nil {
		return fmt.Errorf("collect.%w", err)
	}
	if err := c.Remediate.CheckTenants(res); err != nil {
		return fmt.Errorf("remediate.%w", err)
	}
	for i, t := range c.Report.Tenants {
		if err := res.Check(t.ID); err != nil {
			return fmt.Errorf("report.tenants[%d].id: %w", i, err)
		}
	}
	return nil
}
