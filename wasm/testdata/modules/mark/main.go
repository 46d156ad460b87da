// Command mark sets the collector of every sample to Mark (set at build
// time with -ldflags "-X main.Mark=..."): two builds are two versions of
// one module, told apart in their output (reload tests).
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

// Mark is what the samples' collector becomes.
var Mark = "v1"

//go:wasmexport telemetry_collect
func collect(ptr, size uint32) int64 {
	return guest.Collect(ptr, size, func(samples []*guest.Sample) ([]*guest.Sample, bool) {
		for _, s := range samples {
			s.Collector = Mark
		}
		return samples, true
	})
}
