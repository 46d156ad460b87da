// Package collector dials gNMI targets, subscribes, and turns notifications into samples on Kafka.
package collector

// Configuration is the collect section of the configuration file.
type Configuration struct{}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration { return Configuration{} }

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error { return nil }
