// Command trap passes its self-check (an empty batch) and panics on every
// other batch.
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

var m map[string]int

//go:wasmexport telemetry_collect
func collect(ptr, size uint32) int64 {
	if size > 0 {
		m["boom"]++ // nil map: panics, the module traps
	}
	return guest.Unchanged
}

//go:wasmexport telemetry_process
func process(ptr, size uint32) int64 { return collect(ptr, size) }
