// Command noop is a collect module that passes every batch on unchanged
// without decoding it: the ABI's cost alone (benchmarks).
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

//go:wasmexport telemetry_collect
func collect(ptr, size uint32) int64 { return guest.Unchanged }

//go:wasmexport telemetry_process
func process(ptr, size uint32) int64 { return guest.Unchanged }
