// Command veto is a process module that vetoes the pipeline KPIs and the
// KPIs of device d1, and passes the others on.
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

//go:wasmexport telemetry_process
func process(ptr, size uint32) int64 {
	return guest.Process(ptr, size, func(kpis []*guest.KPI) ([]*guest.KPI, bool) {
		out := kpis[:0]
		for _, k := range kpis {
			if k.Pipeline == nil && k.Device != "d1" {
				out = append(out, k)
			}
		}
		return out, len(out) != len(kpis)
	})
}
