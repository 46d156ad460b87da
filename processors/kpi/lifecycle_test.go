package kpi

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestStatsKnowEveryMetricLabel: every drop reason and every KPI kind the
// metrics know has its series at 0 after New, and is a key of Stats at 0
// (the processor's `ignored` reason was once a metric but not in Stats).
func TestStatsKnowEveryMetricLabel(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 1)
	reg := prometheus.NewRegistry()
	p, err := New(DefaultConfiguration(), Dependencies{Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	for _, c := range []struct {
		metric, label string
		stats         map[string]uint64
	}{
		{"telemetry_processor_drops_total", "reason", st.Drops},
		{"telemetry_processor_kpis_total", "kind", st.KPIs},
	} {
		series := testenv.Series(t, reg, c.metric, c.label)
		if len(series) == 0 {
			t.Errorf("%s has no series after New", c.metric)
		}
		for v, n := range series {
			if got, ok := c.stats[v]; !ok || got != 0 || n != 0 {
				t.Errorf("%s{%s=%q} = %g; in Stats: %d, %v; want both at 0", c.metric, c.label, v, n, got, ok)
			}
		}
		if len(c.stats) != len(series) {
			t.Errorf("Stats has %d %ss, %s %d: %v", len(c.stats), c.label, c.metric, len(series), c.stats)
		}
	}
	for _, r := range []string{"decode", "ignored", "no_device", "unknown_state"} {
		if _, ok := st.Drops[r]; !ok {
			t.Errorf("Stats.Drops has no %q", r)
		}
	}
	events := testenv.Series(t, reg, "telemetry_processor_counter_events_total", "event")
	if len(events) != 2 || events["wrap32"] != 0 || events["wrap64"] != 0 {
		t.Errorf("counter_events_total after New: %v, want wrap32 and wrap64 at 0", events)
	}
	if err := p.Stop(); err != nil { // without Start
		t.Fatal(err)
	}
}

// TestStatsCountIgnored: a sample the engine does not use shows in
// Stats.Drops["ignored"] as in the metric. (The decoder dead-letters a
// sample without a body, so only a body this build's engine does not use
// gets there: it is fed to the engine directly.)
func TestStatsCountIgnored(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 1)
	reg := prometheus.NewRegistry()
	p, err := New(DefaultConfiguration(), Dependencies{Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.engine.Add(&wirepb.Sample{Version: 1, Site: "s1", Device: "d1", DeviceTimeUnixNano: t0}, time.Unix(0, t0))
	p.exportLocked()
	p.mu.Unlock()
	if n := p.Stats().Drops["ignored"]; n != 1 {
		t.Errorf("Stats.Drops[ignored] = %d, want 1", n)
	}
	if v := testenv.Series(t, reg, "telemetry_processor_drops_total", "reason")["ignored"]; v != 1 {
		t.Errorf("drops_total{reason=\"ignored\"} = %g, want 1", v)
	}
}

// TestDocsListDropReasonsAndKinds: docs/kpis.md names every drop reason and
// KPI kind of the metrics, in the code's order.
func TestDocsListDropReasonsAndKinds(t *testing.T) {
	b, err := os.ReadFile("../../docs/kpis.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`telemetry_processor_drops_total\{reason=([a-z_|]+)\}`).FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/kpis.md does not list telemetry_processor_drops_total's reasons")
	}
	if got := strings.Split(string(m[1]), "|"); !slices.Equal(got, DropReasons()) {
		t.Errorf("docs/kpis.md drop reasons %v, code %v", got, DropReasons())
	}
	m = regexp.MustCompile(`telemetry_processor_kpis_total\{kind=([a-z_|]+)\}`).FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/kpis.md does not list telemetry_processor_kpis_total's kinds")
	}
	if got := strings.Split(string(m[1]), "|"); !slices.Equal(got, KPIKinds()) {
		t.Errorf("docs/kpis.md KPI kinds %v, code %v", got, KPIKinds())
	}
}

// TestLifecycle: Start bounds the start-up only (the processor keeps
// working after its ctx is cancelled), Ready follows the lifecycle, a
// second Start is refused, Stop is idempotent, and every log line carries
// component=processor once, with the instance.
func TestLifecycle(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	var logs testenv.Logs
	log := logs.JSONLogger()
	cfg := DefaultConfiguration()
	cfg.Instance = "life"
	cfg.GroupID = "g-" + kc.Topics.Samples
	cfg.CommitInterval = 100 * time.Millisecond
	p, err := New(cfg, Dependencies{Logger: log, Registerer: prometheus.NewRegistry(), Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(context.Background()); err == nil {
		t.Error("ready before Start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := p.Start(context.Background()); err == nil {
		t.Error("a second Start was accepted")
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if err := p.Ready(rctx); err != nil {
		t.Errorf("not ready while running: %v", err)
	}
	produceRounds(t, producer(t, kc), 2, 0, 25)
	testenv.Eventually(t, 20*time.Second, "samples processed after Start's ctx was cancelled", func() bool {
		st := p.Stats()
		return st.SamplesIn == 50 && st.KPIsOut > 0 && st.Commits > 0
	})
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(context.Background()); err == nil {
		t.Error("ready after Stop")
	}
	if err := p.Start(context.Background()); err == nil {
		t.Error("Start after Stop was accepted")
	}
	testenv.CheckComponentOnce(t, logs.String(), Stage)
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(l, `"instance":"life"`) {
			t.Errorf("log line without instance=life: %s", l)
		}
	}
}

// TestReadyAfterRefusedRecord: once Kafka refused one of its records the
// processor commits nothing more, and says so on /readyz.
func TestReadyAfterRefusedRecord(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 1)
	p, _ := newTestProcessor(t, kc, "refused")
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	p.onProduced(&kgo.Record{Topic: kc.Topics.KPIs}, kerr.TopicAuthorizationFailed)
	if err := p.Ready(ctx); err == nil || !strings.Contains(err.Error(), "commits nothing more") {
		t.Errorf("ready after a refused record: %v", err)
	}
}
