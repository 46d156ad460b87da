package chsink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Timestamps at and beyond the edges of what ClickHouse stores.
var (
	// fixed date: a forged KPI's year, far beyond any TTL or retention; the point is the DateTime range
	year2200 = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	// fixed date: before 1970, the other edge of the DateTime range; never meets a clock
	year1960 = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	// the first and the last nanosecond of the range
	firstStored, lastStored = int64(0), int64(maxStoredNs)
)

// TestTimestampsOutOfRangeRefused: a timestamp out of the range the sink
// stores (before 1970, from 2100 on: a KPI dated 2200 was stored as 2063)
// refuses its row with ErrTimestampRange naming the table
// and the column, in every table's row builder, and leaves no half row;
// the first and last nanosecond of the range are stored.
func TestTimestampsOutOfRangeRefused(t *testing.T) {
	ik := func(ts int64) *wirepb.KPI { k := genInterfaceKPIs(1, 1)[0]; k.WindowStartUnixNano = ts; return k }
	lk := func(ts int64) *wirepb.KPI { k := genLinkKPIs(1)[0]; k.WindowStartUnixNano = ts; return k }
	pk := func(ts int64) *wirepb.KPI { k := genPipelineKPI(); k.WindowStartUnixNano = ts; return k }
	dk := func(ts int64) *wirepb.KPI { k := genDeviceKPIs(1)[0]; k.WindowStartUnixNano = ts; return k }
	counters := func(dev, recv int64) *wirepb.Sample {
		s := genSamples()[0]
		s.DeviceTimeUnixNano, s.ReceiveTimeUnixNano = dev, recv
		return s
	}
	state := func(ts int64) *wirepb.Sample { s := genStateSample(); s.DeviceTimeUnixNano = ts; return s }
	probe := func(ts int64) *wirepb.Sample { s := genSamples()[1]; s.DeviceTimeUnixNano = ts; return s }
	device := func(ts int64) *wirepb.Sample {
		return &wirepb.Sample{Version: 1, Site: "site0", Device: "dev9", DeviceTimeUnixNano: ts, ReceiveTimeUnixNano: ts,
			Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "a", State: wirepb.DeviceState_DEVICE_UP}}}
	}
	event := func(ts, fired int64) *wirepb.RemediationEvent {
		e := genEvents()[0]
		e.TimeUnixNano, e.FiredUnixNano = ts, fired
		return e
	}
	now := testenv.Now().UnixNano()
	for _, tc := range []struct {
		name, column string // column "": stored
		add          func(b *buffers) error
	}{
		{"interface KPI in 2200", "interface_kpis.ts", func(b *buffers) error { return b.addKPI(ik(year2200)) }},
		{"interface KPI in 1960", "interface_kpis.ts", func(b *buffers) error { return b.addKPI(ik(year1960)) }},
		{"interface KPI 1 ns past the range", "interface_kpis.ts", func(b *buffers) error { return b.addKPI(ik(lastStored + 1)) }},
		{"interface KPI 1 ns before 1970", "interface_kpis.ts", func(b *buffers) error { return b.addKPI(ik(-1)) }},
		{"interface KPI at the range's end", "", func(b *buffers) error { return b.addKPI(ik(lastStored)) }},
		{"interface KPI at 1970", "", func(b *buffers) error { return b.addKPI(ik(firstStored)) }},
		{"link KPI in 2200", "link_kpis.ts", func(b *buffers) error { return b.addKPI(lk(year2200)) }},
		{"pipeline KPI in 1960", "pipeline_kpis.ts", func(b *buffers) error { return b.addKPI(pk(year1960)) }},
		{"device KPI in 2200", "device_kpis.ts", func(b *buffers) error { return b.addKPI(dk(year2200)) }},
		{"counters in 2200", "interface_counters.ts", func(b *buffers) error { return b.addSample(counters(year2200, now), true, map[string]int64{}) }},
		{"counters received in 2200", "interface_counters.receive_ts", func(b *buffers) error { return b.addSample(counters(now, year2200), true, map[string]int64{}) }},
		{"state in 1960", "interface_state.ts", func(b *buffers) error { return b.addSample(state(year1960), true, map[string]int64{}) }},
		{"probe in 2200", "probe_results.ts", func(b *buffers) error { return b.addSample(probe(year2200), true, map[string]int64{}) }},
		{"device in 2200", "devices.first_seen", func(b *buffers) error { return b.addSample(device(year2200), true, map[string]int64{}) }},
		{"device in 1960", "devices.first_seen", func(b *buffers) error { return b.addSample(device(year1960), true, map[string]int64{}) }},
		{"event in 2200", "remediation_events.ts", func(b *buffers) error { return b.addRemediation(event(year2200, now)) }},
		{"event fired in 2200", "remediation_events.fired_at", func(b *buffers) error { return b.addRemediation(event(now, year2200)) }},
		{"event never fired", "", func(b *buffers) error { return b.addRemediation(event(now, 0)) }},
		{"dead letter in 2200", "deadletters.ts", func(b *buffers) error {
			return b.addDeadLetter(year2200, "processor", "x", "telemetry.kpis", 0, 1, nil, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuffers("db")
			for range 2 {
				err := tc.add(b)
				if tc.column == "" {
					if err != nil {
						t.Fatal(err)
					}
					continue
				}
				if !errors.Is(err, ErrTimestampRange) || errors.Is(err, ErrRowMismatch) || !strings.Contains(err.Error(), tc.column+" = ") {
					t.Fatalf("%v, want an ErrTimestampRange naming %s", err, tc.column)
				}
			}
			for name, tb := range b.byName {
				want := 0
				if tc.column == "" && name == tb.t.Name && tb.rows > 0 {
					want = 2
				}
				if tb.rows != want || tb.i != 0 || tb.badAt != 0 || tb.badTime {
					t.Errorf("%s: rows %d (want %d), next column %d, refused at %d", name, tb.rows, want, tb.i, tb.badAt)
				}
				for i, c := range tb.cols {
					if n := vecLen(c); n != tb.rows {
						t.Errorf("%s column %d holds %d values for %d rows", name, i+1, n, tb.rows)
					}
				}
			}
		})
	}
	// A device's first sample out of range does not stay its first_seen:
	// the next good one is stored with its own time.
	b := newBuffers("db")
	fs := map[string]int64{}
	if err := b.addSample(device(-5), true, fs); !errors.Is(err, ErrTimestampRange) {
		t.Fatalf("device sample at -5 ns: %v", err)
	}
	if err := b.addSample(device(now), true, fs); err != nil {
		t.Fatalf("the next device sample refused: %v", err)
	}
	if got := valueAt(b.devices.cols[3], 0); got != now {
		t.Fatalf("first_seen %v, want %d", got, now)
	}
	// fixed date: the constant end of the range, checked; never meets a clock
	if end := time.Unix(0, lastStored).UTC().Format(time.RFC3339Nano); end != "2099-12-31T23:59:59.999999999Z" {
		t.Fatalf("the range ends at %s", end)
	}
}

// TestTimestampsOutOfRangeDeadLetteredLive: forged records dated 2200 and
// 1960 on real Kafka are dead-lettered by the sink with reason timestamp
// (counted), not stored wrapped on the real 18.16 server (2200 was stored
// as 2063); the records beside them and the first and last second of the
// range are stored as they are, and the group commits past them.
func TestTimestampsOutOfRangeDeadLetteredLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	kc, prod := liveKafka(t)
	cfg.FlushInterval = 200 * time.Millisecond
	cfg.GroupID = "sinktest-time-" + randomSuffix()
	// No partition-dropping retention: the row at 1970 is the point here.
	cfg.RetentionDays, cfg.RawRetentionDays, cfg.RollupRetentionDays = 0, 0, 0
	s := startSink(t, cfg, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	good := genInterfaceKPIs(8, 4)
	edges := genInterfaceKPIs(2, 1)
	edges[0].Id, edges[0].GetInterface().Interface, edges[0].WindowStartUnixNano = "edge-first", "edge-first", firstStored
	edges[1].Id, edges[1].GetInterface().Interface, edges[1].WindowStartUnixNano = "edge-last", "edge-last", lastStored
	forged := genInterfaceKPIs(2, 1)
	forged[0].Id, forged[0].WindowStartUnixNano = "forged-2200", year2200
	forged[1].Id, forged[1].WindowStartUnixNano = "forged-1960", year1960
	ev := genEvents()[0]
	ev.EventId, ev.FiredUnixNano = "forged-fired", year2200
	smp := genSamples()[0]
	smp.DeviceTimeUnixNano = year2200

	recs := kpiRecords(t, kc, forged)
	recs = append(recs, record(t, kc.Topics.Remediations, wire.SchemaRemediation, []byte(ev.EventId), ev),
		record(t, kc.Topics.Samples, wire.SchemaSample, wire.SampleKey(nil, smp), smp))
	recs = append(recs, kpiRecords(t, kc, append(good, edges...))...)
	produce(t, prod, recs)

	want := uint64(len(good) + len(edges))
	testenv.Eventually(t, 60*time.Second, "the good rows stored and the forged ones dead-lettered", func() bool {
		st := s.Stats()
		return st.Rows[schema.InterfaceKPIs] == want && st.DeadLetterReasons["timestamp"] == 4
	})
	if st := s.Stats(); st.DeadLetters != 4 || st.Rows[schema.RemediationEvents] != 0 || st.Rows[schema.InterfaceCounters] != 0 {
		t.Errorf("dead letters %d (%v), events %d, counters %d rows", st.DeadLetters, st.DeadLetterReasons,
			st.Rows[schema.RemediationEvents], st.Rows[schema.InterfaceCounters])
	}
	q := "SELECT count() FROM " + cfg.Database + "." + schema.InterfaceKPIs
	if n := count(t, conn, q+" WHERE kpi_id LIKE 'forged%'"); n != 0 {
		t.Errorf("%d forged KPIs stored", n)
	}
	if n := count(t, conn, q); n != want {
		t.Errorf("%d interface KPIs stored, want %d", n, want)
	}
	// The edges of the range, stored as they were sent.
	for id, sec := range map[string]uint64{"edge-first": 0, "edge-last": uint64(lastStored) / 1e9} {
		if n := count(t, conn, q+" WHERE kpi_id = ? AND toUnixTimestamp(ts) = ?", id, sec); n != 1 {
			t.Errorf("%s: %d rows at %d s", id, n, sec)
		}
	}
	testenv.Eventually(t, 30*time.Second, "the group's offsets at the end of the topics", func() bool {
		return committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.KPIs) && committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.Remediations) &&
			committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.Samples)
	})
}

// TestTimestampRangeCHDB: on a current server (chdb) the edges of the
// range are stored and read back exactly, also through toDateTime (the
// TTL's expression), and stay under a 400-day TTL; beyond the range
// toDateTime wraps although the DateTime64 column holds the value, and a
// row near DateTime's end (2106) is deleted at once by a 30-day TTL: why
// the sink refuses such timestamps on every server.
func TestTimestampRangeCHDB(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.RetentionDays = 400
	stmts := SchemaStatements(ModernCapabilities(), cfg)
	b := newBuffers(cfg.Database)
	for _, ts := range []int64{firstStored + int64(time.Second), lastStored} {
		k := genInterfaceKPIs(1, 1)[0]
		k.WindowStartUnixNano = ts
		if err := b.addKPI(k); err != nil {
			t.Fatal(err)
		}
	}
	stmts = append(stmts, valuesSQL(b.interfaceKPIs), "OPTIMIZE TABLE telemetry.interface_kpis FINAL")
	queries := []struct{ sql, want string }{
		// 1970 is past a 400-day TTL: deleted, as it should be; the last
		// second of the range is kept, and reads back through toDateTime.
		{"SELECT toUnixTimestamp64Milli(ts), toUnixTimestamp(toDateTime(ts)) FROM telemetry.interface_kpis ORDER BY ts",
			"4102444799999\t4102444799"},
		// fixed date: a literal beyond the range, to show the wrap; never meets a clock
		{"SELECT toDateTime(toDateTime64('2200-01-01 00:00:00', 3, 'UTC'), 'UTC')", "2063-11-24 17:31:44"},
		// fixed date: a literal before the range, to show the wrap; never meets a clock
		{"SELECT toDateTime(toDateTime64('1960-01-01 00:00:00', 3, 'UTC'), 'UTC')", "2096-02-06 06:28:16"},
		{"CREATE TABLE default.ttl_wrap (ts DateTime64(3, 'UTC'), x UInt8) ENGINE = MergeTree ORDER BY ts TTL toDateTime(ts) + toIntervalDay(30)", ""},
		// fixed date: DateTime's last second and the sink's, under a 30-day TTL; never meets a clock
		{"INSERT INTO default.ttl_wrap VALUES (toDateTime64('2106-02-07 06:28:15', 3, 'UTC'), 1), (toDateTime64('2099-12-31 23:59:59', 3, 'UTC'), 2)", ""},
		{"OPTIMIZE TABLE default.ttl_wrap FINAL", ""},
		{"SELECT groupArray(x) FROM (SELECT x FROM default.ttl_wrap ORDER BY x)", "[2]"},
	}
	base := len(stmts)
	for _, q := range queries {
		stmts = append(stmts, q.sql)
	}
	res := runCHDB(t, stmts)
	for i, q := range queries {
		if got := strings.TrimSpace(res[base+i].Output); got != q.want {
			t.Errorf("%s\n got %q\nwant %q", q.sql, got, q.want)
		}
	}
}
