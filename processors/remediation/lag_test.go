package remediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// lagByTopic gathers telemetry_remediation_consumer_lag_records from reg.
func lagByTopic(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "telemetry_remediation_consumer_lag_records" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// Both consumers of one Remediator report their lag on one gauge,
// telemetry_remediation_consumer_lag_records{topic}: the engine, having
// read every KPI, reports 0 on the kpis topic; the dispatcher, stuck on
// its first delivery (endpoint down, max-in-flight 1) after a fetch that
// returned only part of the partition (1 MiB per partition per fetch),
// reports the records it has not fetched on the remediations topic. kfake.
func TestConsumerLagOfEngineAndDispatcher(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	prod := client(t, k)
	// Everything is on Kafka before the consumers start, so their first
	// fetch sees the final high watermarks.
	const nKPI, nEv = 30, 30
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	for i := 0; i < nKPI; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", 0)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	// 30 × 100 KiB of random hex (the producer compresses): a fetch
	// returns about a third.
	rnd := make([]byte, 50<<10)
	now := time.Now().UnixNano()
	for i := 0; i < nEv; i++ {
		_, _ = rand.Read(rnd)
		pad := hex.EncodeToString(rnd)
		ev := &wirepb.RemediationEvent{EventId: "evt-lag", Rule: "r", State: wirepb.EventState_FIRING,
			Kpi: "link.loss_ratio", Site: "par", Device: "d", DstSite: "lon", DstDevice: "e",
			TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: "gitops", Message: pad}
		produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	}

	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/hook"
	_ = l.Close() // connection refused from now on
	cfg := DefaultConfiguration()
	cfg.MaxInFlight = 1
	cfg.Rules = []Rule{lossRule("gitops")}
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: down, Secret: GenerateSecret(), MaxAttempts: 1000,
		RetryInitial: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Timeout: time.Second}}
	reg := prometheus.NewRegistry()
	r, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: reg, Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Stop() }()

	var lag map[string]float64
	testenv.Eventually(t, 10*time.Second, "both lag series, every KPI read and two attempts", func() bool {
		lag = lagByTopic(t, reg)
		_, okK := lag[k.Topics.KPIs]
		_, okR := lag[k.Topics.Remediations]
		return okK && okR && r.Stats().KPIs == nKPI && r.Stats().Attempts >= 2
	})
	if v := lag[k.Topics.KPIs]; v != 0 {
		t.Errorf("engine lag on %s = %v, want 0 (all %d KPIs read)", k.Topics.KPIs, v, nKPI)
	}
	// The dispatcher's own dispatched transition lands on the same
	// partition (key = event id): the high watermark is nEv or nEv+1.
	if v := lag[k.Topics.Remediations]; v <= 0 || v > nEv {
		t.Errorf("dispatcher lag on %s = %v, want in (0, %d]", k.Topics.Remediations, v, nEv)
	}
	t.Logf("lag while the dispatcher is stuck: %v", lag)
}
