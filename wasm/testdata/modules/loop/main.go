// Command loop passes its self-check and loops forever on every other
// batch.
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

var n int

//go:wasmexport telemetry_collect
func collect(ptr, size uint32) int64 {
	for size > 0 {
		n++
	}
	return guest.Unchanged
}

//go:wasmexport telemetry_process
func process(ptr, size uint32) int64 { return collect(ptr, size) }
