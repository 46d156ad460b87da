// Package reports builds the weekly executive slide deck (.pptx) from ClickHouse.
package reports

// Configuration is the report section of the configuration file.
type Configuration struct{}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration { return Configuration{} }

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error { return nil }
