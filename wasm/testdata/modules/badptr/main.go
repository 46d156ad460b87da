// Command badptr passes its self-check and answers every other batch with
// a buffer outside its memory (an ABI violation).
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

//go:wasmexport telemetry_collect
func collect(ptr, size uint32) int64 {
	if size > 0 {
		return int64(0x7fff0000)<<32 | 0x1000
	}
	return guest.Unchanged
}
