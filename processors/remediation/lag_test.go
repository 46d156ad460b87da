package remediation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/daemon"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Both consumers of one Remediator report their lag on one gauge,
// telemetry_remediation_consumer_lag_records{topic}: the engine, having
// read and committed every KPI, reports 0 on the kpis topic; the
// dispatcher, stuck on its first delivery (endpoint down, max-in-flight 1)
// after a fetch that returned only part of the partition (1 MiB per
// partition per fetch), reports every record it has not committed on the
// remediations topic (the group's true lag, as the broker tells it), not
// only those it has not fetched. kfake.
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
	cfg.StallAfter = 8 * time.Second // checks every second
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
	testenv.Eventually(t, 10*time.Second, "every KPI read and committed, two attempts, the dispatcher's lag seen", func() bool {
		lag = testenv.Series(t, reg, "telemetry_remediation_consumer_lag_records", "topic")
		return r.Stats().KPIs == nKPI && r.Stats().Attempts >= 2 && lag[k.Topics.KPIs] == 0 && lag[k.Topics.Remediations] > 0
	})
	// The dispatcher commits nothing while stuck on the first record: its
	// lag is every record of the partition, its own dispatched transition
	// (same key, same partition) included.
	// The gauge is the brokers' answer at its last check (every second
	// here): the dispatched transition produced after a check shows at the
	// next one, so compare once a check has seen the partition as it is.
	var want int64
	testenv.Eventually(t, 10*time.Second, "the dispatcher's lag gauge at the group's true lag", func() bool {
		want = kafkatest.GroupLag(t, k, cfg.DispatcherGroupID, k.Topics.Remediations)
		lag = testenv.Series(t, reg, "telemetry_remediation_consumer_lag_records", "topic")
		return lag[k.Topics.Remediations] == float64(want)
	})
	if want < nEv {
		t.Errorf("dispatcher lag on %s = %v, want at least %d (it commits nothing while stuck)", k.Topics.Remediations, want, nEv)
	}
	t.Logf("lag while the dispatcher is stuck: %v", lag)
}

// serveReadiness serves ready and d's metrics as the process does
// (common/daemon's handler, on loopback) and returns the base URL.
func serveReadiness(t *testing.T, name string, ready func(context.Context) error, d *daemon.Daemon) string {
	t.Helper()
	d.AddReadiness(name, ready)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestStalledDispatcherTurnsReadyRedAndShowsLag: a dispatcher whose
// webhook keeps failing (HTTP 503 on every attempt, 1000 attempts allowed)
// holds its first record and commits nothing on its partition; /readyz
// turns 503 within stall-after and a check interval, naming the group and
// the partition, the lag gauge shows the group's true lag and the stall is
// counted. Once the webhook answers 200 the record is delivered, the
// commits move and /readyz is 200 again. Real Kafka.
func TestStalledDispatcherTurnsReadyRedAndShowsLag(t *testing.T) {
	k := realKafka(t)
	var fail atomic.Bool
	fail.Store(true)
	url := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	cfg := DefaultConfiguration()
	cfg.Engine = false
	cfg.DispatcherGroupID = "test-dispatch-" + suffix()
	cfg.StallAfter = 2 * time.Second
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: url, Secret: GenerateSecret(), MaxAttempts: 1000,
		RetryInitial: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Timeout: time.Second}}
	t.Cleanup(func() { deleteGroups(t, k, cfg.DispatcherGroupID) })
	d := daemon.New(daemon.DefaultConfiguration(), nil)
	r, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: d.Registry, Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveReadiness(t, Stage, r.Ready, d)
	prod := client(t, k)
	now := time.Now().UnixNano()
	ev := &wirepb.RemediationEvent{EventId: "evt-stall-" + suffix(), Rule: "r", State: wirepb.EventState_FIRING,
		Severity: wirepb.Severity_WARNING, Site: "par", Device: "d", Interface: "Ethernet1", Kpi: "interface.loss_ratio",
		TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: "gitops"}
	produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	start := time.Now()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	if code, body := testenv.Readyz(t, srv); code != http.StatusOK {
		t.Fatalf("/readyz at start: %d %s", code, body)
	}

	body := testenv.WaitReadyz(t, srv, http.StatusServiceUnavailable, 30*time.Second, "/readyz 503 while the webhook fails")
	// Red within stall-after, a check interval and the group join (the
	// broker's initial rebalance delay included).
	if took := time.Since(start); took > cfg.StallAfter+10*time.Second {
		t.Errorf("/readyz red after %s, want within stall-after (%s) + 10s", took, cfg.StallAfter)
	}
	if !strings.Contains(body, "consumer group "+cfg.DispatcherGroupID+" stalled: "+k.Topics.Remediations+"/") {
		t.Errorf("/readyz body %q does not name the stalled partition", body)
	}
	// The gauge is the brokers' answer at its last check: compare once a
	// check has seen the partition as it is now.
	var want int64
	testenv.Eventually(t, 10*time.Second, "consumer_lag_records at the group's true lag", func() bool {
		want = kafkatest.GroupLag(t, k, cfg.DispatcherGroupID, k.Topics.Remediations)
		return testenv.Series(t, d.Registry, "telemetry_remediation_consumer_lag_records", "topic")[k.Topics.Remediations] == float64(want)
	})
	if want < 1 {
		t.Fatalf("group lag %d while stalled, want ≥ 1", want)
	}
	if v := testenv.Series(t, d.Registry, "telemetry_remediation_consumer_stalled_partitions", "topic")[k.Topics.Remediations]; v != 1 {
		t.Errorf("consumer_stalled_partitions = %v, want 1", v)
	}
	if v := testenv.Series(t, d.Registry, "telemetry_remediation_consumer_stalls_total", "topic")[k.Topics.Remediations]; v != 1 {
		t.Errorf("consumer_stalls_total = %v, want 1", v)
	}
	t.Logf("red after %s: %s (true lag %d, %d attempts)", time.Since(start).Round(time.Millisecond), strings.TrimSpace(body), want, r.Stats().Attempts)

	fail.Store(false)
	testenv.WaitReadyz(t, srv, http.StatusOK, 30*time.Second, "/readyz 200 once the webhook answers")
	testenv.Eventually(t, 30*time.Second, "every record committed", func() bool {
		return kafkatest.GroupLag(t, k, cfg.DispatcherGroupID, k.Topics.Remediations) == 0
	})
	if v := testenv.Series(t, d.Registry, "telemetry_remediation_consumer_stalled_partitions", "topic")[k.Topics.Remediations]; v != 0 {
		t.Errorf("consumer_stalled_partitions = %v after recovery, want 0", v)
	}
}

// TestStalledRulesEngineTurnsReadyRedAndShowsLag: a rules engine whose
// transitions Kafka refuses retries them and commits none of its KPIs; the
// stall of its group's commits turns /readyz 503 within stall-after (well
// before the 30 s of the produce check), naming the group, with the true
// lag on the kpis topic; once Kafka takes the transitions it is 200 again.
// kfake.
func TestStalledRulesEngineTurnsReadyRedAndShowsLag(t *testing.T) {
	k, c := kafkatest.Fake(t, 1)
	var refuse atomic.Bool
	refuse.Store(true)
	kafkatest.RefuseProduce(t, c, k, k.Topics.Remediations, &refuse, kerr.TopicAuthorizationFailed.Code)
	prod := client(t, k)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	const nKPI = 6
	for i := 0; i < nKPI; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", 0.5)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	cfg := DefaultConfiguration()
	cfg.Dispatcher = false
	cfg.Rules = []Rule{lossRule("")}
	cfg.StallAfter = 2 * time.Second
	d := daemon.New(daemon.DefaultConfiguration(), nil)
	r, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: d.Registry, Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveReadiness(t, Stage, r.Ready, d)
	start := time.Now()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })

	body := testenv.WaitReadyz(t, srv, http.StatusServiceUnavailable, 15*time.Second, "/readyz 503 while the transitions are refused")
	if took := time.Since(start); took > cfg.StallAfter+5*time.Second {
		t.Errorf("/readyz red after %s, want within stall-after (%s) + 5s", took, cfg.StallAfter)
	}
	if !strings.Contains(body, "consumer group "+cfg.GroupID+" stalled: "+k.Topics.KPIs+"/0 (lag ") {
		t.Errorf("/readyz body %q does not name the stalled partition", body)
	}
	// The gauge is the brokers' answer at its last check: compare once a
	// check has seen the partition as it is now.
	var want int64
	testenv.Eventually(t, 10*time.Second, "consumer_lag_records at the group's true lag", func() bool {
		want = kafkatest.GroupLag(t, k, cfg.GroupID, k.Topics.KPIs)
		return testenv.Series(t, d.Registry, "telemetry_remediation_consumer_lag_records", "topic")[k.Topics.KPIs] == float64(want)
	})
	if want < 1 {
		t.Fatalf("group lag %d while stalled, want ≥ 1", want)
	}
	t.Logf("red after %s: %s (true lag %d)", time.Since(start).Round(time.Millisecond), strings.TrimSpace(body), want)

	refuse.Store(false)
	testenv.WaitReadyz(t, srv, http.StatusOK, 15*time.Second, "/readyz 200 once the transitions are taken")
	testenv.Eventually(t, 15*time.Second, "every KPI committed", func() bool {
		return kafkatest.GroupLag(t, k, cfg.GroupID, k.Topics.KPIs) == 0
	})
}

// TestRefusedDeadLetterIsLoggedAndSkipped: dead letters Kafka refuses for
// good (MESSAGE_TOO_LARGE: the dead-letter topic takes 64-byte batches
// only) are logged with the source record's partition, offset, sizes and
// SHA-256 and counted (deadletters_lost_total{component}); the rules
// engine and the dispatcher go on and commit past the records, instead of
// retrying without end (engine) or never committing past them
// (dispatcher). kfake.
func TestRefusedDeadLetterIsLoggedAndSkipped(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	kafkatest.LimitTopic(t, k, k.Topics.DeadLetter, 64)
	recv, secret := startReceiver(t)
	var logs testenv.Logs
	cfg := DefaultConfiguration()
	cfg.Rules = []Rule{lossRule("gitops")}
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: recv.URL(), Secret: secret}}
	reg := prometheus.NewRegistry()
	r, err := New(cfg, Dependencies{Logger: logs.JSONLogger(), Registerer: reg, Kafka: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	prod := client(t, k)
	bad := []byte{0xff, 0xff, 0x01, 0x02}
	for _, topic := range []string{k.Topics.KPIs, k.Topics.Remediations} {
		if err := prod.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte("junk"), Value: bad}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	const n = 6
	for i := 0; i < n; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", 0.5)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	// The engine fires once; the dispatcher delivers it after the junk.
	committedToEnd(t, k, cfg.GroupID, k.Topics.KPIs, func() bool { return r.Stats().KPIs == n })
	committedToEnd(t, k, cfg.DispatcherGroupID, k.Topics.Remediations, func() bool { return r.Stats().Acknowledged == 1 })
	st := r.Stats()
	if st.DeadLettersLost[engineComponent] != 1 || st.DeadLettersLost[dispatcherComponent] != 1 || st.Deliveries != 1 {
		t.Errorf("lost dead letters %v, deliveries %d; want one per component and 1", st.DeadLettersLost, st.Deliveries)
	}
	if err := r.Ready(context.Background()); err != nil {
		t.Errorf("not ready: %v", err)
	}
	statsMatchMetrics(t, reg, st)
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "dead letter refused by kafka") {
			lines = append(lines, l)
		}
	}
	sum := sha256.Sum256(bad)
	for _, topic := range []string{k.Topics.KPIs, k.Topics.Remediations} {
		found := 0
		for _, l := range lines {
			if strings.Contains(l, `"source_topic":"`+topic+`"`) && strings.Contains(l, `"source_offset":0`) &&
				strings.Contains(l, `"payload_size":4`) && strings.Contains(l, hex.EncodeToString(sum[:])) &&
				strings.Contains(l, "MESSAGE_TOO_LARGE") {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%d log lines of the lost dead letter of %s, want 1: %q", found, topic, lines)
		}
	}
}
