package wasm

import (
	"context"
	"fmt"
	"testing"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// BenchmarkWasmDiagDeadlineChecks is normalize's call alone (a batch of
// 1000 samples encoded beforehand; no encoding or decoding around the
// call), compiled with wazero's deadline checks (checks=on, how the
// pipeline always runs modules) and without them (checks=off): a
// diagnostic of what the checks cost a Go-built module (docs/wasm.md,
// "Speed"). Without the checks a looping module could not be stopped.
func BenchmarkWasmDiagDeadlineChecks(b *testing.B) {
	const n = 1000
	var buf []byte
	for i := range n {
		s := &wirepb.Sample{Site: "site1", Device: "site1-sw1", Collector: "c1", Seq: uint64(i + 1), DeviceTimeUnixNano: 1, ReceiveTimeUnixNano: 2,
			Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: fmt.Sprintf("GigabitEthernet0/0/%d", i), SpeedBps: 100e9}}}
		for c := wirepb.Counter_IN_OCTETS; c <= wirepb.Counter_OUT_DISCARDS; c++ {
			s.GetInterface().Counters = append(s.GetInterface().Counters, &wirepb.CounterValue{Counter: c, Value: uint64(c) * 123456789})
		}
		buf, _ = AppendSample(buf, s)
	}
	for _, checks := range []bool{true, false} {
		h, err := New(HookCollect, []ModuleConfig{{Path: wasmtest.Build(b, "normalize")}},
			Dependencies{Reporter: component.NewReporter("collector", nil, nil), Instances: 1, noDeadlineChecks: !checks})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		name := "checks=on"
		if !checks {
			name = "checks=off"
		}
		b.Run(name, func(b *testing.B) {
			var sc Scratch
			for b.Loop() {
				if _, _, changed := h.Run(context.Background(), &sc, buf, n); !changed {
					b.Fatal("unchanged")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
		})
		h.Stop()
	}
}
