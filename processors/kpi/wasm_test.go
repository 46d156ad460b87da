package kpi

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestWasmProcessorHook: process.wasm adds the error-budget burn to every
// interface KPI (errorbudget) and vetoes the KPIs of device d1 and the
// pipeline's (veto), and a trapping module before them (on-error: pass)
// changes nothing else: the other windows are all there, exact.
func TestWasmProcessorHook(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	cl := producer(t, kc)
	produceRounds(t, cl, 3, 0, 45)
	cfg := DefaultConfiguration()
	cfg.Instance = "one"
	cfg.GroupID = "g-" + kc.Topics.Samples
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.Wasm = []wasm.ModuleConfig{
		{Path: wasmtest.Build(t, "trap"), Timeout: 2 * time.Second},
		{Path: wasmtest.Build(t, "errorbudget"), Timeout: 5 * time.Second},
		{Path: wasmtest.Build(t, "veto"), Timeout: 5 * time.Second},
	}
	p, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := newKPIReader(t, kc)
	r.until(t, 30*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= 2*4 })
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	windows := map[string]int{}
	for id, ks := range r.byID {
		k := ks[0]
		if k.GetPipeline() != nil || k.Device == "d1" {
			t.Errorf("KPI %s not vetoed", id)
		}
		windows[k.Device]++
		if ik := k.GetInterface(); ik != nil {
			if got, want := k.Fields["error_budget_burn"], ik.LossRatio/(1-0.999); got != want {
				t.Errorf("%s: burn %v, want %v", id, got, want)
			}
		}
	}
	if windows["d0"] < 4 || windows["d2"] < 4 {
		t.Errorf("windows by device %v: want 4 of d0 and of d2", windows)
	}
	st := p.WasmStats()
	if st[0].Errors["trap"] == 0 || st[0].Errors["trap"] != st[0].Calls || st[0].In != st[0].Out {
		t.Errorf("trap stats %+v", st[0])
	}
	if st[2].Dropped[wasm.DropReasonFiltered] == 0 || st[2].In != st[2].Out+st[2].Dropped[wasm.DropReasonFiltered] {
		t.Errorf("veto stats %+v", st[2])
	}
	if ps := p.Stats(); ps.KPIs["pipeline"] != 0 || ps.KPIsOut != st[2].Out {
		t.Errorf("processor stats %+v, veto out %d", ps, st[2].Out)
	}
}
