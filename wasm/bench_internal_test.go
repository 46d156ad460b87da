package wasm

import (
	"context"
	"fmt"
	"testing"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// BenchmarkWasmDiagNoDeadlineChecks is BenchmarkWasmExample's normalize
// (wasm, batches of 1000) compiled without wazero's deadline checks: a
// diagnostic of what the checks cost a Go-built module (docs/wasm.md,
// "Speed"). The pipeline never runs modules this way: a looping module
// could not be stopped.
func BenchmarkWasmDiagNoDeadlineChecks(b *testing.B) {
	h, err := New(HookCollect, []ModuleConfig{{Path: wasmtest.Build(b, "normalize")}},
		Dependencies{Reporter: component.NewReporter("collector", nil, nil), Instances: 1, noDeadlineChecks: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer h.Stop()
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
	var sc Scratch
	b.ResetTimer()
	for b.Loop() {
		if _, _, changed := h.Run(context.Background(), &sc, buf, n); !changed {
			b.Fatal("unchanged")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
}
