// Package clickhouse stores KPIs, samples, events and inventory in ClickHouse: schema, migrations and batched idempotent writes.
package clickhouse

// Configuration is the clickhouse section of the configuration file.
type Configuration struct{}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration { return Configuration{} }

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error { return nil }
