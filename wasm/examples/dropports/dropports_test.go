package main

import (
	"testing"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

func TestDropports(t *testing.T) {
	in := []*guest.Sample{
		{Device: "d", Interface: &guest.Interface{Name: "Ethernet1"}},
		{Device: "d", Interface: &guest.Interface{Name: "Management1"}},
		{Device: "d", Probe: &guest.Probe{PeerSite: "s2"}},
		{Device: "d", Interface: &guest.Interface{Name: "lo0"}},
	}
	out, changed := dropports(in)
	if !changed || len(out) != 2 || out[0] != in[0] || out[1] != in[2] {
		t.Errorf("dropports: %v %v", out, changed)
	}
	if _, changed := dropports(in[:1]); changed {
		t.Error("nothing dropped, but changed")
	}
}
