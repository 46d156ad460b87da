// Command hog passes its self-check and allocates without bound on every
// other batch.
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

var keep [][]byte

//go:wasmexport telemetry_collect
func collect(ptr, size uint32) int64 {
	for size > 0 {
		b := make([]byte, 1<<20)
		b[0] = 1
		keep = append(keep, b)
	}
	return guest.Unchanged
}

//go:wasmexport telemetry_process
func process(ptr, size uint32) int64 { return collect(ptr, size) }
