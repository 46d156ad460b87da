package wasm_test

import (
	"context"
	"testing"

	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestWasmStarlarkTwins: the benchmarks' Starlark twins do what their
// modules do (same samples out, same names), so that the comparison is of
// one transformation.
func TestWasmStarlarkTwins(t *testing.T) {
	names := []string{
		"GigabitEthernet0/0/1", "TenGigE0/0/0/1", "HundredGigabitEthernet1/0/1", "Ethernet1", "Eth1/1", "et-0/0/1",
		"xe-0/0/1", "ge-0/0/1", "Port-Channel10", "Bundle-Ether10", "ae10", "po3", "Management1", "Management0/0",
		"mgmt0", "fxp0", "me0", "Loopback0", "lo0", "Null0", "Ethernet", "eth1", "Vlan100", "",
	}
	in := samples(len(names))
	for i, s := range in {
		s.GetInterface().Interface = names[i]
	}
	for _, name := range []string{"normalize", "dropports"} {
		t.Run(name, func(t *testing.T) {
			h := newHook(t, wasm.HookCollect, nil, wasm.ModuleConfig{Path: wasmtest.Build(t, name)})
			var sc wasm.Scratch
			clones := func() []*wirepb.Sample {
				out := make([]*wirepb.Sample, len(in))
				for i, s := range in {
					out[i] = wasm.CloneSample(s)
				}
				return out
			}
			got, err := h.Samples(context.Background(), &sc, clones())
			if err != nil {
				t.Fatal(err)
			}
			want := starlarkSamples(t, starlarkApply(t, name), clones())
			if len(got) != len(want) {
				t.Fatalf("module: %d samples out, Starlark: %d", len(got), len(want))
			}
			for i := range got {
				if g, w := got[i].GetInterface().GetInterface(), want[i].GetInterface().GetInterface(); g != w || got[i].Seq != want[i].Seq {
					t.Errorf("sample %d: module %q (seq %d), Starlark %q (seq %d)", i, g, got[i].Seq, w, want[i].Seq)
				}
			}
		})
	}
}
