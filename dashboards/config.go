// Package dashboards generates the NOC's Grafana dashboards as code and pushes them to Grafana.
package dashboards

// Configuration is the dashboards section of the configuration file.
type Configuration struct{}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration { return Configuration{} }

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error { return nil }
