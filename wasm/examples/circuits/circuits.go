// Command circuits is an edge processor (hook collect) that enriches
// interface samples from a static circuit map: a port that carries a
// sub-rate circuit (a 10G port sold as 2G) gets the circuit's committed
// rate as its speed, so the processor's utilization is that of the
// circuit, not of the port. The map is compiled in (a module has no
// filesystem): edit Circuits, build and ship a new version. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o circuits.wasm ./wasm/examples/circuits
package main

import "github.com/meshtelemetry/telemetry/wasm/guest"

func main() {}

// Circuit is one circuit on one port.
type Circuit struct {
	ID string
	// CommittedBps is the committed information rate, bits/s.
	CommittedBps uint64
}

// Circuits maps "device/interface" to its circuit.
var Circuits = map[string]Circuit{
	"site1-sw1/Ethernet1": {ID: "CKT-1001", CommittedBps: 2e9},
	"site1-sw1/Ethernet2": {ID: "CKT-1002", CommittedBps: 5e8},
	"site2-sw1/Ethernet1": {ID: "CKT-2001", CommittedBps: 1e9},
}

// circuits sets the committed rate as the speed of every interface sample
// of a mapped port (counter samples too: the processor then never sees
// the port's own speed).
func circuits(samples []*guest.Sample) ([]*guest.Sample, bool) {
	changed := false
	var key []byte
	for _, s := range samples {
		if s.Interface == nil {
			continue
		}
		key = append(append(append(key[:0], s.Device...), '/'), s.Interface.Name...)
		c, ok := Circuits[string(key)]
		if !ok || s.Interface.SpeedBps == c.CommittedBps {
			continue
		}
		s.Interface.SpeedBps = c.CommittedBps
		changed = true
	}
	return samples, changed
}
