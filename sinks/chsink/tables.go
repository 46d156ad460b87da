package chsink

import "github.com/meshtelemetry/telemetry/sinks/schema"

// Table names, kept while the demo moves to the schema package's
// constants.
//
// Deprecated: use sinks/schema (schema.InterfaceKPIs, ...).
const (
	TableInterfaceKPIs     = schema.InterfaceKPIs
	TableLinkKPIs          = schema.LinkKPIs
	TablePipelineKPIs      = schema.PipelineKPIs
	TableInterfaceCounters = schema.InterfaceCounters
	TableInterfaceState    = schema.InterfaceState
	TableProbeResults      = schema.ProbeResults
	TableRemediationEvents = schema.RemediationEvents
	TableDevices           = schema.Devices
	TableDeviceKPIs        = schema.DeviceKPIs
	TableDeadLetters       = schema.DeadLetters
	TableSchemaMigrations  = schema.Migrations
)
