// Package kpi turns counter and probe samples into KPIs (utilization, loss, latency).
package kpi

// Configuration is the process section of the configuration file.
type Configuration struct{}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration { return Configuration{} }

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error { return nil }
