package chsink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestWriteAndReplayLive writes every table on the live server, then the
// same batch again: FINAL sees every row exactly once.
func TestWriteAndReplayLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := Migrate(ctx, conn, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	b := fillBuffers(t, cfg.Database)
	for pass := 0; pass < 2; pass++ {
		for _, tb := range b.order {
			if tb.rows == 0 {
				continue
			}
			if err := tb.send(ctx, conn); err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
		}
	}
	for _, tb := range b.order {
		q := fmt.Sprintf("SELECT count() FROM %s.%s FINAL", cfg.Database, tb.t.Name)
		want := uint64(tb.rows)
		if tb.t.Name == schema.Devices {
			want = 1 // two states of one device: the latest wins
		}
		if got := count(t, conn, q); got != want {
			t.Errorf("%s: %d rows with FINAL after a replay, want %d", tb.t.Name, got, want)
		}
		q = fmt.Sprintf("SELECT count() FROM %s.%s", cfg.Database, tb.t.Name)
		if got := count(t, conn, q); got != uint64(2*tb.rows) {
			t.Logf("%s: %d rows without FINAL (merged early?)", tb.t.Name, got)
		}
	}
	var state, lastErr string
	var first, last time.Time
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT state, last_error, first_seen, last_seen FROM %s.devices FINAL", cfg.Database)).Scan(&state, &lastErr, &first, &last); err != nil {
		t.Fatal(err)
	}
	if state != "down" || lastErr != "EOF" || !first.Equal(genStart) || !last.Equal(genStart.Add(time.Hour)) {
		t.Errorf("devices: %s %q %s %s", state, lastErr, first, last)
	}
	var avg, mx float64
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT avgMerge(util_in_avg), maxMerge(util_in_max) FROM %s.interface_kpis_1m WHERE site = 'site0' AND device = 'dev0' AND interface = 'eth1'", cfg.Database)).Scan(&avg, &mx); err != nil {
		t.Fatal(err)
	}
	if mx != 0.97 || avg < 0.46 || avg > 0.47 {
		t.Errorf("rollup 1m: avg %v max %v", avg, mx)
	}
	// Retention on the old server: nothing is old enough yet at genStart+1d,
	// every partition is two years past retention later.
	caps, _ := Probe(ctx, conn)
	if n, err := ApplyRetention(ctx, conn, caps, cfg, genStart.AddDate(0, 0, 1), testLogger(t)); err != nil || n != 0 {
		t.Fatalf("retention now: dropped %d, %v", n, err)
	}
	if !caps.TTL {
		n, err := ApplyRetention(ctx, conn, caps, cfg, genStart.AddDate(2, 0, 0), testLogger(t))
		if err != nil || n == 0 {
			t.Fatalf("retention later: dropped %d, %v", n, err)
		}
		if got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.interface_kpis", cfg.Database)); got != 0 {
			t.Errorf("interface_kpis after retention: %d rows", got)
		}
		if got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.devices", cfg.Database)); got == 0 {
			t.Errorf("devices must not be dropped by retention")
		}
	}
}

// TestSinkLive runs the sink between real Kafka and the live server: all
// record kinds, poison records dead-lettered, offsets committed.
func TestSinkLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	kc, prod := liveKafka(t)
	cfg.FlushInterval = 200 * time.Millisecond
	cfg.BatchSize = 500
	cfg.GroupID = "sinktest-" + randomSuffix()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Dependencies{Logger: testLogger(t), Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	kpis := append(genInterfaceKPIs(2000, 32), genLinkKPIs(40)...)
	kpis = append(kpis, genPipelineKPI())
	recs := kpiRecords(t, kc, kpis)
	for _, smp := range genSamples() {
		recs = append(recs, record(t, kc.Topics.Samples, wire.SchemaSample, wire.SampleKey(nil, smp), smp))
	}
	for _, e := range genEvents() {
		recs = append(recs, record(t, kc.Topics.Remediations, wire.SchemaRemediation, []byte(e.EventId), e))
	}
	// Poison: garbage, an unknown version, a wrong header, a broken dead letter.
	recs = append(recs,
		&kgo.Record{Topic: kc.Topics.KPIs, Key: []byte("bad"), Value: []byte{0xff, 0xff, 0xff}},
		&kgo.Record{Topic: kc.Topics.Samples, Key: []byte("v9"), Value: func() []byte {
			raw, _ := wire.Marshal(nil, &wirepb.Sample{Site: "s", Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{}}})
			raw[1] = 9 // field 1 (version) varint: 1 → 9
			return raw
		}()},
		&kgo.Record{Topic: kc.Topics.Remediations, Key: []byte("hdr"), Value: recs[0].Value,
			Headers: []kgo.RecordHeader{{Key: wire.SchemaHeader, Value: []byte(wire.SchemaKPI)}}},
		&kgo.Record{Topic: kc.Topics.DeadLetter, Key: []byte("dl"), Value: []byte{0x08}},
	)
	produce(t, prod, recs)

	testenv.Eventually(t, 30*time.Second, "every row stored", func() bool {
		st := s.Stats()
		// 3 dead letters come back through the deadletter topic + 1 broken one.
		return st.Rows[schema.InterfaceKPIs] == 2000 && st.Rows[schema.DeadLetters] == 4 && st.Rows[schema.RemediationEvents] == 3
	})
	st := s.Stats()
	if st.DeadLetters != 4 {
		t.Errorf("dead letters = %d, want 4", st.DeadLetters)
	}
	for table, want := range map[string]uint64{schema.InterfaceKPIs: 2000, schema.LinkKPIs: 40, schema.PipelineKPIs: 1,
		schema.InterfaceCounters: 1, schema.ProbeResults: 1, schema.Devices: 1, schema.RemediationEvents: 3, schema.DeadLetters: 4} {
		if got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s FINAL", cfg.Database, table)); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.deadletters FINAL WHERE component = 'sink' AND reason != ''", cfg.Database)); n != 4 {
		t.Errorf("sink dead letters with a reason = %d, want 4", n)
	}
	if v := counterValue(s.m.rows.WithLabelValues(schema.InterfaceKPIs)); v != 2000 {
		t.Errorf("telemetry_sink_rows_total{table=interface_kpis} = %v", v)
	}
	if v := counterValue(s.m.deadLetters.WithLabelValues("malformed")); v < 1 {
		t.Errorf("telemetry_sink_deadletters_total{reason=malformed} = %v", v)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	// A second sink in the same group starts from the committed offsets:
	// nothing is re-read.
	s2, err := New(cfg, Dependencies{Logger: testLogger(t), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	produce(t, prod, kpiRecords(t, kc, genInterfaceKPIs(10, 32)[:1]))
	testenv.Eventually(t, 20*time.Second, "the new record", func() bool { return s2.Stats().Rows[schema.InterfaceKPIs] >= 1 })
	// Everything up to the end of the topic is consumed, stored and
	// committed: a re-read would have been counted by now.
	testenv.Eventually(t, 20*time.Second, "the group's offsets at the end of the kpis topic", func() bool {
		return committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.KPIs)
	})
	if got := s2.Stats().Rows[schema.InterfaceKPIs]; got != 1 {
		t.Errorf("restarted sink re-read %d interface KPIs, want 1 (offsets committed)", got)
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
}

// committedToEnd reports whether group has committed every partition of
// topic up to its end offset.
func committedToEnd(ctx context.Context, cl *kgo.Client, group, topic string) bool {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if o.Offset > 0 && (!ok || c.At < o.Offset) {
			done = false
		}
	})
	return done
}

// TestBuffersShrinkAfterBacklog: a batch far smaller than the previous one
// releases the columns' memory; a steady size keeps it.
func TestBuffersShrinkAfterBacklog(t *testing.T) {
	b := newBuffers("db")
	fill := func(n int) {
		for _, k := range genInterfaceKPIs(n, 100) {
			b.addKPI(k)
		}
	}
	capOf := func() int { return cap(b.byName[schema.InterfaceKPIs].cols[0].(*tsVec).v) }
	fill(50000) // a backlog batch
	b.reset()
	big := capOf()
	if big < 50000 {
		t.Fatalf("capacity after a 50000-row batch = %d", big)
	}
	fill(40000) // steady, same order: kept
	b.reset()
	if capOf() != big {
		t.Fatalf("capacity after a 40000-row batch = %d, want %d kept", capOf(), big)
	}
	fill(1000) // far smaller: released
	b.reset()
	if capOf() != 0 {
		t.Fatalf("capacity after a 1000-row batch = %d, want 0 (released)", capOf())
	}
	fill(1000) // small buffers stay
	b.reset()
	if c := capOf(); c == 0 || c > minKeptRows {
		t.Fatalf("capacity of a small steady batch = %d, want 1..%d kept", c, minKeptRows)
	}
}

// TestMetricsStartAtZero: the series the dashboards read exist before their
// first increment, so a healthy sink shows 0, not "No data".
func TestMetricsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	topics := []string{"k", "s", "r", "d"}
	if _, err := newMetrics(component.NewReporter(Stage, nil, reg), topics); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, want := range map[string]int{
		"telemetry_sink_insert_errors_total": len(schema.Tables()),
		"telemetry_sink_rows_total":          len(schema.Tables()),
		"telemetry_sink_batches_total":       len(schema.Tables()),
		"telemetry_sink_records_total":       len(topics),
		"telemetry_sink_deadletters_total":   len(DeadLetterReasons()),
	} {
		if series[name] != want {
			t.Errorf("%s: %d series before any increment, want %d", name, series[name], want)
		}
	}
}
