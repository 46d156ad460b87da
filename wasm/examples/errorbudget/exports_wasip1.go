//go:build wasip1

package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

//go:wasmexport telemetry_process
func process(ptr, size uint32) int64 { return guest.Process(ptr, size, errorbudget) }
