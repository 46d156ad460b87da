package chsink

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// TestStatsFollowMetrics: Stats is read from the metrics, every counter of
// the sink has its field, and the two agree series by series. A counter
// added without a Stats field fails here.
func TestStatsFollowMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	topics := []string{"k", "s", "r", "d"}
	m, err := newMetrics(component.NewReporter(Stage, nil, reg), topics)
	if err != nil {
		t.Fatal(err)
	}
	// Distinct amounts everywhere: n-th series gets n.
	n := 0.0
	next := func() float64 { n++; return n }
	for _, tb := range schema.Names() {
		m.rows.WithLabelValues(tb).Add(next())
		m.batches.WithLabelValues(tb).Add(next())
		m.insertErrors.WithLabelValues(tb).Add(next())
	}
	for _, tp := range topics {
		m.addRecords(tp, int(next()))
	}
	for _, r := range DeadLetterReasons() {
		m.deadLetters.WithLabelValues(r).Add(next())
	}
	for _, c := range []prometheus.Counter{m.retries, m.commits, m.commitErrors, m.dropped, m.lostDLs} {
		c.Add(next())
	}
	st := m.stats()
	sum := func(mp map[string]uint64) (s uint64) {
		for _, v := range mp {
			s += v
		}
		return s
	}
	// name → (label, the Stats map by label value or nil, the Stats total)
	fields := map[string]struct {
		label  string
		byVal  map[string]uint64
		total  uint64
		series int
	}{
		"telemetry_sink_rows_total":                         {"table", st.Rows, sum(st.Rows), len(schema.Names())},
		"telemetry_sink_records_total":                      {"topic", st.Records, sum(st.Records), len(topics)},
		"telemetry_sink_batches_total":                      {"table", nil, st.Batches, len(schema.Names())},
		"telemetry_sink_insert_errors_total":                {"table", nil, st.InsertErrors, len(schema.Names())},
		"telemetry_sink_deadletters_total":                  {"reason", st.DeadLetterReasons, st.DeadLetters, len(DeadLetterReasons())},
		"telemetry_sink_retries_total":                      {"", nil, st.Retries, 1},
		"telemetry_sink_commits_total":                      {"", nil, st.Commits, 1},
		"telemetry_sink_commit_errors_total":                {"", nil, st.CommitErrors, 1},
		"telemetry_sink_retention_partitions_dropped_total": {"", nil, st.PartitionsDropped, 1},
		"telemetry_sink_deadletters_lost_total":             {"", nil, st.DeadLettersLost, 1},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		f, ok := fields[mf.GetName()]
		if !ok {
			t.Errorf("%s has no field in Stats", mf.GetName())
			continue
		}
		delete(fields, mf.GetName())
		if len(mf.GetMetric()) != f.series {
			t.Errorf("%s: %d series, want %d", mf.GetName(), len(mf.GetMetric()), f.series)
		}
		var total uint64
		for _, s := range mf.GetMetric() {
			v := uint64(s.GetCounter().GetValue())
			total += v
			if f.byVal == nil {
				continue
			}
			for _, l := range s.GetLabel() {
				if l.GetName() == f.label && f.byVal[l.GetValue()] != v {
					t.Errorf("%s{%s=%q} = %d, Stats says %d", mf.GetName(), f.label, l.GetValue(), v, f.byVal[l.GetValue()])
				}
			}
		}
		if total != f.total {
			t.Errorf("%s sums to %d, Stats says %d", mf.GetName(), total, f.total)
		}
	}
	for name := range fields {
		t.Errorf("Stats reads %s, which the sink does not register", name)
	}
}

// TestStopWithoutStart: Stop is idempotent and safe without a Start; a
// stopped sink does not start; an unstarted one is not ready.
func TestStopWithoutStart(t *testing.T) {
	kc := kafka.DefaultConfiguration()
	s, err := New(DefaultConfiguration(), Dependencies{Kafka: &kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(context.Background()); err == nil {
		t.Error("ready before Start")
	}
	for range 2 {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("Start after Stop: %v", err)
	}
}

// TestLogKey: the sink's log lines carry component=sink once, whatever
// the logger it is given.
func TestLogKey(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("cmd", "sink")
	kc := kafka.DefaultConfiguration()
	s, err := New(DefaultConfiguration(), Dependencies{Kafka: &kc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s.cur = newBatch("db")
	s.handle(kc.Topics.KPIs, []*kgo.Record{{Topic: kc.Topics.KPIs, Value: []byte{0xff}}}) // logs its dead letter
	line := strings.TrimSpace(buf.String())
	if line == "" || strings.Count(line, `"component"`) != 1 || !strings.Contains(line, `"component":"sink"`) {
		t.Fatalf("log line %s", line)
	}
}

// TestLifecycleLive runs the sink on the live ClickHouse server and the
// test kit's fake broker: ctx bounds the start only (cancelled right after
// Start, the sink goes on storing), Ready while it runs, concurrent Stops
// return the first one's result, no Start after a Stop.
func TestLifecycleLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	kc, _ := kafkatest.Fake(t, 2)
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.GroupID = "sinktest-" + randomSuffix()
	s, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	defer s.Stop()
	if err := s.Start(context.Background()); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := s.Ready(context.Background()); err != nil {
		t.Errorf("not ready after Start: %v", err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	if err := prod.ProduceSync(pctx, kpiRecords(t, kc, genInterfaceKPIs(3, 3))...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "3 interface KPIs stored after the start context ended", func() bool {
		return s.Stats().Rows[schema.InterfaceKPIs] == 3
	})
	if n := count(t, conn, "SELECT count() FROM "+cfg.Database+"."+schema.InterfaceKPIs+" FINAL"); n != 3 {
		t.Errorf("%d rows in ClickHouse, want 3", n)
	}
	if err := testenv.StopConcurrently(t, s.Stop, 4); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := s.Ready(context.Background()); err == nil {
		t.Error("ready after Stop")
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded")
	}
	if st := s.Stats(); st.Commits == 0 || st.Records[kc.Topics.KPIs] != 3 {
		t.Errorf("commits %d, records %v", st.Commits, st.Records)
	}
}
