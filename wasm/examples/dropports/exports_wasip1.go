//go:build wasip1

package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

//go:wasmexport telemetry_collect
func collect(ptr, size uint32) int64 { return guest.Collect(ptr, size, dropports) }
