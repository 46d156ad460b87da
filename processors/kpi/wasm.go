package kpi

import "github.com/meshtelemetry/telemetry/wasm"

// WasmStats returns the process hook's per-module counters (none without
// process.wasm): the KPIs given to each module, passed on, added, and
// vetoed or dropped by reason. Stats.KPIsOut counts what was produced
// after the modules.
func (p *Processor) WasmStats() []wasm.ModuleStats { return p.edge.Stats() }
