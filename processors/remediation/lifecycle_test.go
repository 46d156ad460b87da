package remediation

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// The lifecycle of the component kit: Stop is idempotent, safe without a
// Start and concurrently; a Remediator starts once; Ready follows it.
func TestLifecycle(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	ctx := context.Background()

	unstarted, err := New(DefaultConfiguration(), Dependencies{Logger: testLogger(t), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstarted.Ready(ctx); err == nil {
		t.Error("ready before Start")
	}
	if err := unstarted.Stop(); err != nil {
		t.Fatalf("Stop without Start: %v", err)
	}
	if err := unstarted.Stop(); err != nil {
		t.Fatalf("second Stop without Start: %v", err)
	}
	if err := unstarted.Start(ctx); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("Start after Stop: %v, want an error", err)
	}

	r, err := New(DefaultConfiguration(), Dependencies{Logger: testLogger(t), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(ctx); err != nil {
		t.Errorf("not ready once started: %v", err)
	}
	if err := r.Start(ctx); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start: %v, want an error", err)
	}
	if err := testenv.StopConcurrently(t, r.Stop, 4); err != nil {
		t.Errorf("concurrent Stop: %v", err)
	}
	if err := r.Ready(ctx); err == nil {
		t.Error("ready after Stop")
	}
	if err := r.Start(ctx); err == nil {
		t.Error("Start after Stop succeeded")
	}
}

// Start's context bounds the start-up only: cancelling it once Start has
// returned does not stop the engine or the dispatcher, and a start-up
// whose context has already ended fails.
func TestStartContextBoundsStartUpOnly(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	recv, secret := startReceiver(t)
	cfg := DefaultConfiguration()
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: recv.URL(), Secret: secret}}
	cfg.Rules = []Rule{lossRule("gitops")}

	ended, cancelEnded := context.WithCancel(context.Background())
	cancelEnded()
	r0, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := r0.Start(ended); err == nil {
		_ = r0.Stop()
		t.Fatal("Start with an ended context succeeded")
	}
	if err := r0.Stop(); err != nil {
		t.Fatalf("Stop after a failed Start: %v", err)
	}

	r, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	cancel()

	prod := client(t, k)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	for i := 0; i < 6; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", 0.5)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := recv.WaitFor(wctx, 1); err != nil {
		t.Fatalf("nothing delivered after the start-up context ended: %v (stats %+v)", err, r.Stats())
	}
	if err := r.Ready(context.Background()); err != nil {
		t.Errorf("not ready: %v", err)
	}
}

// Ready turns red when the rules engine cannot put its transitions on
// Kafka for longer than stallAfter (it then consumes nothing more), and
// green again once it can.
func TestReadyWhileTransitionsCannotBeProduced(t *testing.T) {
	k, c := kafkatest.Fake(t, 1)
	// Produce requests name topics by name or, from v13, by id.
	td, err := kadm.NewClient(client(t, k)).ListTopics(context.Background(), k.Topics.Remediations)
	if err != nil {
		t.Fatal(err)
	}
	remID := td[k.Topics.Remediations].ID
	var refuse atomic.Bool
	refuse.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if !refuse.Load() || len(pr.Topics) == 0 ||
			(pr.Topics[0].Topic != k.Topics.Remediations && pr.Topics[0].TopicID != remID) {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	cfg := DefaultConfiguration()
	cfg.Dispatcher = false
	cfg.Rules = []Rule{lossRule("")}
	r, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	r.stallAfter = 300 * time.Millisecond
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("not ready at start: %v", err)
	}
	prod := client(t, k)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	for i := 0; i < 6; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", 0.5)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	var notReady error
	testenv.Eventually(t, 15*time.Second, "not ready while the transitions are refused", func() bool {
		notReady = r.Ready(context.Background())
		return notReady != nil
	})
	if !strings.Contains(notReady.Error(), "transitions not produced since") {
		t.Errorf("not ready: %v", notReady)
	}
	refuse.Store(false)
	testenv.Eventually(t, 15*time.Second, "ready once the transition is produced", func() bool {
		return r.Ready(context.Background()) == nil
	})
	if evs := transitions(t, readAll(t, k, k.Topics.Remediations, 10*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= 1 })); len(evs) != 1 || evs[0].State != wirepb.EventState_FIRING {
		t.Errorf("transitions %v, want the firing", evs)
	}
}

// Every log line of the Remediator, its Kafka clients' included, carries
// the component key once: component=remediation.
func TestLogLinesCarryTheComponentOnce(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	var logs testenv.Logs
	log := logs.JSONLogger()
	cfg := DefaultConfiguration()
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: "http://127.0.0.1:9/hook", MaxAttempts: 1}}
	cfg.Rules = []Rule{lossRule("gitops")}
	r, err := New(cfg, Dependencies{Logger: log, Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	prod := client(t, k)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	for i := 0; i < 6; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", 0.5)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	testenv.Eventually(t, 20*time.Second, "the failed delivery dead-lettered", func() bool { return r.Stats().DeadLetters == 1 })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "\n"); n < 4 {
		t.Fatalf("%d log lines: %s", n, logs.String())
	}
	testenv.CheckComponentOnce(t, logs.String(), Stage)
}

// registries keeps the registry of each Remediator startRemediator built,
// for checkStats.
var registries sync.Map // *Remediator → *prometheus.Registry

// checkStats stops r (if not yet) and checks that its Stats match its
// metrics.
func checkStats(t *testing.T, r *Remediator) {
	t.Helper()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	reg, ok := registries.Load(r)
	if !ok {
		t.Fatal("not built by startRemediator")
	}
	statsMatchMetrics(t, reg.(*prometheus.Registry), r.Stats())
}

// statsMatchMetrics checks that Stats and the metrics tell the same: every
// series of a counter that Stats has by reason or state is in Stats with
// the same count, and every key of Stats's by-reason maps is a series. Call
// it when r is quiet (stopped).
func statsMatchMetrics(t *testing.T, reg *prometheus.Registry, st Stats) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byReason := map[string]map[string]uint64{
		"telemetry_remediation_suppressed_total":  st.SuppressedBy,
		"telemetry_remediation_dropped_total":     st.Dropped,
		"telemetry_remediation_deadletters_total": st.DeadLettersBy,
	}
	byState := map[string]uint64{"firing": st.Firing, "resolved": st.Resolved, "escalated": st.Escalated,
		"dispatched": st.Dispatched, "acknowledged": st.Acknowledged, "failed": st.Failed}
	seen := map[string]map[string]bool{}
	var attempts, delivered uint64
	found := map[string]bool{}
	for _, mf := range mfs {
		name := mf.GetName()
		found[name] = true
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := uint64(m.GetCounter().GetValue())
			switch name {
			case "telemetry_remediation_suppressed_total", "telemetry_remediation_dropped_total", "telemetry_remediation_deadletters_total":
				key := labels["reason"]
				if c, ok := labels["component"]; ok {
					key = c + "/" + key
				}
				if seen[name] == nil {
					seen[name] = map[string]bool{}
				}
				seen[name][key] = true
				if got, ok := byReason[name][key]; !ok || got != v {
					t.Errorf("%s{%s} = %d; Stats has %d (present: %v)", name, key, v, got, ok)
				}
			case "telemetry_remediation_transitions_total":
				if got, ok := byState[labels["state"]]; !ok || got != v {
					t.Errorf("%s{state=%q} = %d; Stats has %d (present: %v)", name, labels["state"], v, got, ok)
				}
			case "telemetry_remediation_rule_reloads_total":
				got := map[string]uint64{"ok": st.Reloads, "error": st.ReloadErrs}[labels["result"]]
				if got != v {
					t.Errorf("%s{result=%q} = %d; Stats has %d", name, labels["result"], v, got)
				}
			case "telemetry_remediation_kpis_total":
				if st.KPIs != v {
					t.Errorf("%s = %d; Stats.KPIs = %d", name, v, st.KPIs)
				}
			case "telemetry_remediation_deadletters_lost_total":
				if got, ok := st.DeadLettersLost[labels["component"]]; !ok || got != v {
					t.Errorf("%s{component=%q} = %d; Stats has %d (present: %v)", name, labels["component"], v, got, ok)
				}
			case "telemetry_remediation_webhook_attempts_total":
				attempts += v
			case "telemetry_remediation_webhook_deliveries_total":
				if labels["result"] == "delivered" {
					delivered += v
				}
			}
		}
	}
	for name, m := range byReason {
		if !found[name] {
			t.Errorf("%s not registered", name)
		}
		for key := range m {
			if !seen[name][key] {
				t.Errorf("Stats has %s %q, the metric has no such series", name, key)
			}
		}
	}
	if attempts != st.Attempts || delivered != st.Deliveries {
		t.Errorf("webhook attempts %d, delivered %d; Stats %d, %d", attempts, delivered, st.Attempts, st.Deliveries)
	}
}

// Every reason, state and webhook series exists at 0 from New, and Stats
// has a key for every reason series: they come from one list.
func TestStatsMatchMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfiguration()
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: "http://127.0.0.1:9/hook"}, {Name: "argocd", URL: "http://127.0.0.1:9/sync"}}
	r, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: reg, Kafka: &kafka.Configuration{}})
	if err != nil {
		t.Fatal(err)
	}
	statsMatchMetrics(t, reg, r.Stats())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, want := range map[string]int{
		"telemetry_remediation_transitions_total":        len(transitionStates),
		"telemetry_remediation_suppressed_total":         len(suppressedReasons),
		"telemetry_remediation_dropped_total":            len(droppedReasons),
		"telemetry_remediation_rule_reloads_total":       len(reloadResults),
		"telemetry_remediation_webhook_attempts_total":   2 * len(attemptStatuses),
		"telemetry_remediation_webhook_deliveries_total": 2 * len(deliveryResults),
		"telemetry_remediation_deadletters_total":        len(deadLetterReasons[engineComponent]) + len(deadLetterReasons[dispatcherComponent]),
		"telemetry_remediation_kpis_total":               1,
		"telemetry_remediation_active_events":            1,
		"telemetry_remediation_deliveries_in_flight":     1,
		"telemetry_remediation_delivery_latency_seconds": 1,
	} {
		if series[name] != want {
			t.Errorf("%s: %d series at start, want %d", name, series[name], want)
		}
	}
	st := r.Stats()
	if len(st.Dropped) != len(droppedReasons) || len(st.SuppressedBy) != len(suppressedReasons) ||
		len(st.DeadLettersBy) != series["telemetry_remediation_deadletters_total"] {
		t.Errorf("Stats maps %+v", st)
	}
}
