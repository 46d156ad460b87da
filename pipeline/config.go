// Package pipeline is how the binary assembles the pipeline: the whole
// configuration (one section per stage), one builder per stage, and Serve,
// which runs a stage as a long-running process. The subcommands and the
// demo (package demo) build their stages with the same builders.
package pipeline

import (
	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/kafka"
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
		Simulate:   simulator.DefaultConfiguration(),
		Collect:    collector.DefaultConfiguration(),
		Process:    kpi.DefaultConfiguration(),
		Remediate:  remediation.DefaultConfiguration(),
		ClickHouse: chsink.DefaultConfiguration(),
		Dashboards: dashboards.DefaultConfiguration(),
		Report:     reports.DefaultConfiguration(),
	}
}
