//go:build wasip1

package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

//go:wasmexport telemetry_collect_names
func collect(ptr, size uint32) int64 { return guest.CollectNames(ptr, size, dropports) }
