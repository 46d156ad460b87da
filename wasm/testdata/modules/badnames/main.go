// Command badnames uses the names view; it passes its self-check and
// answers every other batch with an edit of a sample past the batch (an
// ABI violation).
package main

import (
	"unsafe"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

func main() {}

// bad drops sample 0x0fffffff.
var bad = []byte{0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff}

//go:wasmexport telemetry_collect_names
func collect(ptr, size uint32) int64 {
	if size > 4 { // more than an empty view
		return int64(uintptr(unsafe.Pointer(&bad[0])))<<32 | int64(len(bad))
	}
	return guest.Unchanged
}
