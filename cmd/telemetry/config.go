package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/config"
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/dashboards"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/processors/remediation"
	"github.com/meshtelemetry/telemetry/reports"
	"github.com/meshtelemetry/telemetry/sinks/clickhouse"
)

// Config is the whole configuration file: one section per component.
// Every key can be overridden by TELEMETRY_<SECTION>_<KEY>.
type Config struct {
	HTTP       daemon.Configuration      `yaml:"http"`
	Kafka      kafka.Configuration       `yaml:"kafka"`
	Simulate   simulator.Configuration   `yaml:"simulate"`
	Collect    collector.Configuration   `yaml:"collect"`
	Process    kpi.Configuration         `yaml:"process"`
	Remediate  remediation.Configuration `yaml:"remediate"`
	ClickHouse clickhouse.Configuration  `yaml:"clickhouse"`
	Dashboards dashboards.Configuration  `yaml:"dashboards"`
	Report     reports.Configuration     `yaml:"report"`
}

// DefaultConfig returns every section's defaults.
func DefaultConfig() Config {
	return Config{
		HTTP:       daemon.DefaultConfiguration(),
		Kafka:      kafka.DefaultConfiguration(),
		Simulate:   simulator.DefaultConfiguration(),
		Collect:    collector.DefaultConfiguration(),
		Process:    kpi.DefaultConfiguration(),
		Remediate:  remediation.DefaultConfiguration(),
		ClickHouse: clickhouse.DefaultConfiguration(),
		Dashboards: dashboards.DefaultConfiguration(),
		Report:     reports.DefaultConfiguration(),
	}
}

// app is what every subcommand gets: the loaded configuration and a logger.
type app struct {
	configPath string
	cfg        Config
	log        *slog.Logger
}

// load reads --config and the environment into a.cfg and builds the logger.
// Subcommands call it first; a bad key stops the command with a one-line reason.
func (a *app) load(cmd *cobra.Command) error {
	a.cfg = DefaultConfig()
	if err := config.Load(a.configPath, &a.cfg, os.Environ()); err != nil {
		return err
	}
	a.log = a.cfg.HTTP.NewLogger(os.Stderr).With("cmd", cmd.Name())
	return nil
}

// signalContext is cancelled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// startDaemon starts /metrics, /healthz, /readyz for a long-running command.
func (a *app) startDaemon() (*daemon.Daemon, error) {
	d := daemon.New(a.cfg.HTTP, a.log)
	if err := d.Start(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return d, nil
}
