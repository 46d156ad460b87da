package collector

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

// TestLifecycle: Start's ctx bounds the start-up only (cancelling it stops
// nothing); Stop is idempotent, safe concurrently and without a Start; a
// stopped collector does not start again; Ready follows.
func TestLifecycle(t *testing.T) {
	sim := simtest.Start(t, 1, 2, 1)
	kc, _ := kafkatest.Fake(t, 4)
	cfg := testConfig("c1")
	cfg.Targets = simTargets(sim)

	idle, err := New(cfg, Dependencies{Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Ready(context.Background()); err == nil {
		t.Error("ready before Start")
	}
	if err := idle.Stop(); err != nil {
		t.Fatalf("Stop without Start: %v", err)
	}
	if err := idle.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}

	c, err := New(cfg, Dependencies{Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if err := c.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	testenv.Eventually(t, 10*time.Second, "every target up and ready", func() bool {
		return c.Stats().TargetsUp == 2 && c.Ready(context.Background()) == nil
	})
	cancel()
	before := c.Stats().Produced
	testenv.Eventually(t, 10*time.Second, "records produced after the start context ended", func() bool {
		return c.Stats().Produced > before+10
	})
	if st := c.Stats(); st.TargetsUp != 2 {
		t.Fatalf("the start context stopped sessions: %+v", st)
	}
	if err := c.Ready(context.Background()); err != nil {
		t.Fatalf("not ready after the start context ended: %v", err)
	}

	if err := testenv.StopConcurrently(t, c.Stop, 4); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("Stop again: %v", err)
	}
	if err := c.Ready(context.Background()); err == nil || err.Error() != "stopped" {
		t.Errorf("Ready after Stop: %v", err)
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded")
	}
}

// TestReadyNoTargetUp: targets assigned, none answering: not ready, and
// says why.
func TestReadyNoTargetUp(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // every dial is refused
	cfg := testConfig("c1")
	cfg.Targets = []TargetConfig{{Name: "site9-sw1", Address: addr}}
	c := startCollector(t, cfg, kc)
	testenv.Eventually(t, 5*time.Second, "the target down", func() bool { return stateOf(c, "site9-sw1") == StateDown })
	if err := c.Ready(context.Background()); err == nil || err.Error() != "no target up" {
		t.Fatalf("Ready: %v, want no target up", err)
	}
	// No target assigned: ready.
	cfg.Instance, cfg.Members = "a", []string{"a", "b"}
	cfg.Targets = nil
	idle := startCollector(t, cfg, kc)
	if err := idle.Ready(context.Background()); err != nil {
		t.Fatalf("Ready with no target assigned: %v", err)
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestStatsKnowEveryMetricReason: the drop and decode-error reasons of the
// metrics (every series at 0 from the start) are the keys of Stats, and an
// event counted on one is counted on the other.
func TestStatsKnowEveryMetricReason(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // accepts, never answers: the session stays connecting
	cfg := testConfig("c1")
	cfg.Targets = []TargetConfig{{Name: "site1-sw1", Address: ln.Addr().String()}}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Dependencies{Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}

	// Drop reasons: every one a series at 0 before Start, and a key of Stats.
	dropped := testenv.Series(t, reg, "telemetry_collector_samples_dropped_total", "reason")
	if len(dropped) != int(numDropReasons) {
		t.Fatalf("samples_dropped_total reasons %v, want %v", dropped, DropReasons())
	}
	st := c.Stats()
	for reason := range dropped {
		if _, ok := st.Dropped[reason]; !ok {
			t.Errorf("metric reason %q not in Stats.Dropped %v", reason, st.Dropped)
		}
	}
	if len(st.Dropped) != len(dropped) {
		t.Errorf("Stats.Dropped %v, metric reasons %v", st.Dropped, dropped)
	}
	for r := range numDropReasons {
		c.t.drop(c.m, r, uint64(r)+1)
	}
	st = c.Stats()
	for r, name := range dropReasonNames {
		want := float64(r + 1)
		if got := metricValue(t, reg, "telemetry_collector_samples_dropped_total", map[string]string{"reason": name}); got != want || st.Dropped[name] != uint64(want) {
			t.Errorf("%s: metric %v, Stats %d, want %v", name, got, st.Dropped[name], want)
		}
	}

	// Decode-error reasons and session causes: every one a series at 0
	// once the target's session starts.
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for _, want := range []struct {
		name, label string
		n           int
	}{
		{"telemetry_collector_decode_errors_total", "reason", int(numReasons)},
		{"telemetry_collector_target_errors_total", "cause", len(causeNames)},
		{"telemetry_collector_target_state", "state", len(stateNames)},
		{"telemetry_collector_targets_file_reloads_total", "result", 2},
	} {
		if got := testenv.Series(t, reg, want.name, want.label); len(got) != want.n {
			t.Errorf("%s: %s values %v, want %d", want.name, want.label, got, want.n)
		}
	}
	reasons := testenv.Series(t, reg, "telemetry_collector_decode_errors_total", "reason")
	st = c.Stats()
	for reason := range reasons {
		if _, ok := st.DecodeErrorsByReason[reason]; !ok {
			t.Errorf("metric reason %q not in Stats.DecodeErrorsByReason %v", reason, st.DecodeErrorsByReason)
		}
	}
	if len(st.DecodeErrorsByReason) != len(reasons) {
		t.Errorf("Stats.DecodeErrorsByReason %v, metric reasons %v", st.DecodeErrorsByReason, reasons)
	}
	// Counted through the session's own path.
	c.mu.Lock()
	s := c.sessions["site1-sw1"]
	c.mu.Unlock()
	dec := newDecoder(c.matcher, s.cfg.Name, s.cfg.Site, cfg.Instance, cfg.MaxUpdatesPerNotification)
	for r := range numReasons {
		dec.errs[r] = uint64(r) + 1
	}
	s.handle(context.Background(), dec, newSendState(), nil, time.Now())
	st = c.Stats()
	var total uint64
	for r, name := range reasonNames {
		want := float64(r + 1)
		total += uint64(want)
		got := metricValue(t, reg, "telemetry_collector_decode_errors_total", map[string]string{"target": "site1-sw1", "reason": name})
		if got != want || st.DecodeErrorsByReason[name] != uint64(want) {
			t.Errorf("%s: metric %v, Stats %d, want %v", name, got, st.DecodeErrorsByReason[name], want)
		}
	}
	if st.DecodeErrors != total {
		t.Errorf("DecodeErrors %d, want the sum %d", st.DecodeErrors, total)
	}
	for _, ts := range c.Targets() {
		if len(ts.Errors) != len(causeNames) {
			t.Errorf("TargetStatus.Errors %v, want every cause", ts.Errors)
		}
	}
}

// TestCausesKnown: every cause causeOf returns is in causeNames (a metric
// series at 0 and a key of TargetStatus.Errors).
func TestCausesKnown(t *testing.T) {
	known := map[string]bool{}
	for _, c := range causeNames {
		known[c] = true
	}
	errs := []error{io.EOF, errors.New("other"), context.Canceled}
	for code := codes.OK; code <= codes.Unauthenticated; code++ {
		errs = append(errs, status.Error(code, "x"))
	}
	for _, c := range causeNames {
		errs = append(errs, withCause(c, errors.New("x")))
	}
	for _, err := range errs {
		if c := causeOf(err); !known[c] {
			t.Errorf("causeOf(%v) = %q, not in causeNames", err, c)
		}
	}
}

// TestLogComponentOnce: the collector's log lines carry component=collector
// once, whatever logger it is given.
func TestLogComponentOnce(t *testing.T) {
	sim := simtest.Start(t, 1, 1, 1)
	kc, _ := kafkatest.Fake(t, 4)
	var logs testenv.Logs
	log := logs.JSONLogger().With("cmd", "collect")
	cfg := testConfig("c1")
	cfg.Targets = simTargets(sim)
	c, err := New(cfg, Dependencies{Logger: log, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "target up", func() bool { return c.Stats().TargetsUp == 1 })
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "\n"); n < 2 {
		t.Fatalf("log: %q", logs.String())
	}
	testenv.CheckComponentOnce(t, logs.String(), Stage)
}

// TestMetricNamesDocumented: the exported names (dashboards read them) do
// not change, and docs/collector.md lists every one with every reason,
// cause and state.
func TestMetricNamesDocumented(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 4)
	cfg := testConfig("c1")
	cfg.Targets = []TargetConfig{{Name: "site1-sw1", Address: "127.0.0.1:1"}}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Dependencies{Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	want := []string{
		"telemetry_collector_buffered_records",
		"telemetry_collector_decode_errors_total",
		"telemetry_collector_reconnects_total",
		"telemetry_collector_samples_dropped_total",
		"telemetry_collector_samples_produced_total",
		"telemetry_collector_samples_total",
		"telemetry_collector_target_errors_total",
		"telemetry_collector_target_last_update_timestamp_seconds",
		"telemetry_collector_target_state",
		"telemetry_collector_targets_assigned",
		"telemetry_collector_targets_file_reloads_total",
		"telemetry_collector_targets_up",
		"telemetry_collector_updates_total",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("metrics %v\nwant %v", names, want)
	}
	doc, err := os.ReadFile("../../docs/collector.md")
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	words = append(words, names...)
	words = append(words, DropReasons()...)
	words = append(words, DecodeErrorReasons()...)
	words = append(words, SessionErrorCauses()...)
	words = append(words, stateNames...)
	for _, w := range words {
		if !strings.Contains(string(doc), "`"+w+"`") && !strings.Contains(string(doc), "`"+w+"{") {
			t.Errorf("docs/collector.md does not mention `%s`", w)
		}
	}
}
