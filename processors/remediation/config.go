// Package remediation evaluates rules over KPIs, drives the remediation event lifecycle and delivers events to webhooks.
package remediation

// Configuration is the remediate section of the configuration file.
type Configuration struct{}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration { return Configuration{} }

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error { return nil }
