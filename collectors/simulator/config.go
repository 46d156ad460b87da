// Package simulator is a simulated switch fabric: a real gNMI server serving many targets, with injectable faults and ground truth.
package simulator

// Configuration is the simulate section of the configuration file.
type Configuration struct{}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration { return Configuration{} }

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error { return nil }
