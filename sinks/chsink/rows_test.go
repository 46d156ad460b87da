package chsink

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// valueAt returns the value of row i of a buffered column: int64 Unix ns
// for a timestamp, the Go value otherwise.
func valueAt(v vec, i int) any {
	switch x := v.(type) {
	case *tsVec:
		return x.v[i]
	case *strVec:
		return strings.Clone(x.at(i))
	case *vecOf[float64]:
		return x.v[i]
	case *vecOf[uint64]:
		return x.v[i]
	case *vecOf[uint32]:
		return x.v[i]
	case *vecOf[uint8]:
		return x.v[i]
	case *vecOf[int32]:
		return x.v[i]
	case *vecOf[int64]:
		return x.v[i]
	}
	return fmt.Sprintf("unknown vec %T", v)
}

// rowCase is one row of one table built by the sink's row builders from
// the generated data, with the value each column must hold.
type rowCase struct {
	table string
	build func(b *buffers) error
	row   int // the row to check (earlier rows set up state)
	want  map[string]any
}

func rowCases() []rowCase {
	t := genStart.UnixNano()
	ik := genInterfaceKPIs(1, 1)[0]
	ik.GetInterface().UtilIn, ik.GetInterface().LossRatio = 0.5, 0.003 // every value of the row distinct
	ii := ik.GetInterface()
	lk := genLinkKPIs(1)[0]
	lk.GetLink().RttMs = 12
	ll := lk.GetLink()
	pk := genPipelineKPI()
	dk := genDeviceKPIs(4)[3]
	samples := genSamples()
	counters := samples[0]
	counters.GetInterface().Counters = nil
	for c := wirepb.Counter_IN_OCTETS; c <= wirepb.Counter_OUT_DISCARDS; c++ {
		counters.GetInterface().Counters = append(counters.GetInterface().Counters, &wirepb.CounterValue{Counter: c, Value: 100 + uint64(c)})
	}
	state := genStateSample()
	probe := samples[1]
	ev := genEvents()[1]
	ev.DstSite, ev.DstDevice, ev.Attempt = "site1", "dev1", 2
	return []rowCase{
		{schema.InterfaceKPIs, func(b *buffers) error { return b.addKPI(ik) }, 0, map[string]any{
			"ts": ik.WindowStartUnixNano, "site": "site0", "device": "dev0", "interface": "eth0",
			"util_in": 0.5, "util_out": ii.UtilOut, "loss_ratio": 0.003, "in_errors_ps": ii.InErrorsPs, "in_discards_ps": ii.InDiscardsPs,
			"out_discards_ps": ii.OutDiscardsPs, "out_errors_ps": ii.OutErrorsPs, "speed_bps": ii.SpeedBps,
			"in_bps": ii.InBps, "out_bps": ii.OutBps, "in_pps": ii.InPps, "out_pps": ii.OutPps, "oper_status": "UP",
			"window_s": uint32(1), "samples": uint32(2), "kpi_id": ik.Id, "tenant": "default"}},
		{schema.LinkKPIs, func(b *buffers) error { return b.addKPI(lk) }, 0, map[string]any{
			"ts": lk.WindowStartUnixNano, "src_site": "site0", "src_device": "dev0", "dst_site": ll.DstSite, "dst_device": ll.DstDevice,
			"rtt_ms": 12.0, "rtt_p50_ms": ll.RttP50Ms, "rtt_p95_ms": ll.RttP95Ms, "rtt_p99_ms": ll.RttP99Ms, "jitter_ms": ll.JitterMs,
			"loss_ratio": ll.LossRatio, "probes_sent": ll.ProbesSent, "probes_received": ll.ProbesReceived,
			"window_s": uint32(10), "kpi_id": lk.Id, "tenant": "default"}},
		{schema.PipelineKPIs, func(b *buffers) error { return b.addKPI(pk) }, 0, map[string]any{
			"ts": pk.WindowStartUnixNano, "instance": "p1", "delay_p50_ms": 5.0, "delay_p99_ms": 50.0, "delay_max_ms": 80.0,
			"samples": uint64(1000), "window_s": uint32(10), "tenant": "default"}},
		{schema.DeviceKPIs, func(b *buffers) error { return b.addKPI(dk) }, 0, map[string]any{
			"ts": dk.WindowStartUnixNano, "site": "site0", "device": "dev0", "reachable": uint8(0), "state": "down",
			"last_error": "connection refused", "up_ratio": 0.25, "window_s": uint32(10), "samples": uint32(1), "kpi_id": dk.Id, "tenant": "default"}},
		{schema.InterfaceCounters, func(b *buffers) error { return b.addSample(counters, true, map[string]int64{}) }, 0, map[string]any{
			"ts": t + 123, "ts_ns": uint64(t + 123), "receive_ts": t + 5_000_000, "site": "site0", "device": "dev0", "interface": "eth0",
			"in_octets": uint64(101), "in_unicast_pkts": uint64(102), "in_broadcast_pkts": uint64(103), "in_multicast_pkts": uint64(104),
			"in_errors": uint64(105), "in_discards": uint64(106), "out_octets": uint64(107), "out_unicast_pkts": uint64(108),
			"out_broadcast_pkts": uint64(109), "out_multicast_pkts": uint64(110), "out_errors": uint64(111), "out_discards": uint64(112),
			"speed_bps": uint64(1e10), "oper_status": "UP", "collector": "c1", "seq": uint64(1), "tenant": "default"}},
		{schema.InterfaceState, func(b *buffers) error { return b.addSample(state, true, map[string]int64{}) }, 0, map[string]any{
			"ts": t + 789, "ts_ns": uint64(t + 789), "receive_ts": t + 7_000_000, "site": "site0", "device": "dev0", "interface": "eth1",
			"speed_bps": uint64(1e9), "oper_status": "DOWN", "last_clear_ns": uint64(t - int64(time.Hour)), "collector": "c1", "seq": uint64(5), "tenant": "default"}},
		{schema.ProbeResults, func(b *buffers) error { return b.addSample(probe, true, map[string]int64{}) }, 0, map[string]any{
			"ts": t + 456, "ts_ns": uint64(t + 456), "src_site": "site0", "src_device": "dev0", "dst_site": "site1", "dst_device": "dev1",
			"min_delay_us": 900.0, "max_delay_us": 1500.0, "avg_delay_us": 1000.0, "stddev_delay_us": 50.0, "jitter_us": 30.0,
			"loss_ratio": 0.02, "probes_sent": uint64(100), "probes_received": uint64(98), "tenant": "default"}},
		{schema.Devices, func(b *buffers) error {
			fs := map[string]int64{}
			return errors.Join(b.addSample(samples[2], true, fs), b.addSample(samples[3], true, fs))
		}, 1, map[string]any{
			"site": "site0", "device": "dev0", "address": "127.0.0.1:57400", "first_seen": t, "last_seen": t + int64(time.Hour),
			"state": "down", "last_error": "EOF", "tenant": "default"}},
		{schema.RemediationEvents, func(b *buffers) error { return b.addRemediation(ev) }, 0, map[string]any{
			"ts": t + int64(time.Minute), "event_id": "ev1", "rule": "high-loss", "state": "dispatched", "severity": "critical",
			"site": "site0", "device": "dev0", "interface": "eth0", "dst_site": "site1", "dst_device": "dev1", "kpi": "loss_ratio",
			"value": 0.05, "threshold": 0.01, "fired_at": t, "action": "gitops", "message": "loss above threshold", "attempt": uint32(2), "tenant": "default"}},
		{schema.DeadLetters, func(b *buffers) error {
			return b.addDeadLetter(t, "processor", "malformed record", "telemetry.samples", 3, 42, []byte("k"), []byte{0xff, 0x00, 'x'})
		}, 0, map[string]any{
			"ts": t, "component": "processor", "reason": "malformed record", "source_topic": "telemetry.samples",
			"source_partition": int32(3), "source_offset": int64(42), "key": "k", "payload": string([]byte{0xff, 0x00, 'x'}), "tenant": "default"}},
	}
}

// TestRowsMatchTables builds one row of every table of the schema with the
// sink's row builders, from the generated data, and compares it with the
// table's column list: every column, in order, holds the value its name
// says, of the Go type its kind says. The values of a row are distinct,
// so two columns swapped by a builder fail too.
func TestRowsMatchTables(t *testing.T) {
	var covered []string
	for _, rc := range rowCases() {
		covered = append(covered, rc.table)
		t.Run(rc.table, func(t *testing.T) {
			tbl, ok := schema.TableNamed(rc.table)
			if !ok {
				t.Fatalf("no table %s in the schema", rc.table)
			}
			var names []string
			for name := range rc.want {
				names = append(names, name)
			}
			slices.Sort(names)
			cols := slices.Sorted(slices.Values(tbl.ColumnNames()))
			if !slices.Equal(names, cols) {
				t.Fatalf("the test's values name columns %v,\nthe table has %v", names, cols)
			}
			seen := map[any]string{}
			for name, v := range rc.want {
				if other, dup := seen[v]; dup {
					t.Fatalf("columns %s and %s have the same value %v in the test row: a swap would go unnoticed", name, other, v)
				}
				seen[v] = name
			}
			b := newBuffers("db")
			if err := rc.build(b); err != nil {
				t.Fatalf("row builder: %v", err)
			}
			tb := b.byName[rc.table]
			if tb.rows != rc.row+1 {
				t.Fatalf("%d rows buffered, want %d", tb.rows, rc.row+1)
			}
			for i, c := range tbl.Columns {
				got := valueAt(tb.cols[i], rc.row)
				if typ := fmt.Sprintf("%T", got); typ != c.Kind.GoType() {
					t.Errorf("column %d %s (%s): buffered as %s, want %s", i+1, c.Name, c.Kind, typ, c.Kind.GoType())
				}
				if got != rc.want[c.Name] {
					t.Errorf("column %d %s: %v (%T), want %v (%T)", i+1, c.Name, got, got, rc.want[c.Name], rc.want[c.Name])
				}
			}
			for name, other := range b.byName {
				if name != rc.table && other.rows != 0 {
					t.Errorf("%d rows in %s too", other.rows, name)
				}
			}
		})
	}
	slices.Sort(covered)
	if want := slices.Sorted(slices.Values(schema.Names())); !slices.Equal(covered, want) {
		t.Errorf("rows built for %v, the schema has %v", covered, want)
	}
}

// tamper replaces table name's buffer in b by one for the definition f
// makes of it: a row builder and a table that disagree.
func tamper(t *testing.T, b *buffers, name string, f func(*schema.Table)) {
	t.Helper()
	tbl, ok := schema.TableNamed(name)
	if !ok {
		t.Fatal(name)
	}
	f(&tbl)
	tb := newTableBuf("db", tbl)
	b.byName[name] = tb
	for i := range b.order {
		if b.order[i].t.Name == name {
			b.order[i] = tb
		}
	}
	b.resolve()
}

// TestRowMismatchIsAnError: a row builder that does not match its table
// (a column missing, one more, two swapped, an unknown table) returns
// ErrRowMismatch naming the table, leaves no half row behind and does not
// panic; the other tables and later rows are not affected.
func TestRowMismatchIsAnError(t *testing.T) {
	kpi := genInterfaceKPIs(1, 1)[0]
	for _, tc := range []struct {
		name   string
		tamper func(*schema.Table)
		want   string
	}{
		{"column missing", func(t *schema.Table) { t.Columns = t.Columns[:len(t.Columns)-1] }, "interface_kpis has 20 columns, the row 21 values"},
		{"column added", func(t *schema.Table) {
			t.Columns = append(t.Columns, schema.Column{Name: "extra", Kind: schema.Float64})
		}, "interface_kpis has 22 columns, the row 21 values"},
		{"columns swapped", func(t *schema.Table) { t.Columns[1], t.Columns[4] = t.Columns[4], t.Columns[1] }, "interface_kpis.util_in (column 2, Float64) given a value of another type than float64"},
		{"unknown kind", func(t *schema.Table) { t.Columns[0].Kind = 99 }, "interface_kpis.ts (column 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuffers("db")
			tamper(t, b, schema.InterfaceKPIs, tc.tamper)
			for range 2 {
				err := b.addKPI(kpi)
				if !errors.Is(err, ErrRowMismatch) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("addKPI: %v, want an ErrRowMismatch saying %q", err, tc.want)
				}
			}
			tb := b.byName[schema.InterfaceKPIs]
			if tb.rows != 0 || tb.i != 0 || tb.badAt != 0 {
				t.Fatalf("after a refused row: rows %d, next column %d, mismatch at %d", tb.rows, tb.i, tb.badAt)
			}
			for i, c := range tb.cols {
				if n := vecLen(c); n != 0 {
					t.Errorf("column %d keeps %d values of refused rows", i+1, n)
				}
			}
			if err := b.addKPI(genLinkKPIs(1)[0]); err != nil || b.byName[schema.LinkKPIs].rows != 1 {
				t.Fatalf("another table after a refused row: %v, %d rows", err, b.byName[schema.LinkKPIs].rows)
			}
		})
	}
	b := newBuffers("db")
	if err := b.table("no_such_table").ts(1).str("x").end(); !errors.Is(err, ErrRowMismatch) || !strings.Contains(err.Error(), "no table no_such_table") {
		t.Fatalf("unknown table: %v", err)
	}
}

func vecLen(v vec) int {
	switch x := v.(type) {
	case *tsVec:
		return len(x.v)
	case *strVec:
		return len(x.end)
	case *vecOf[float64]:
		return len(x.v)
	case *vecOf[uint64]:
		return len(x.v)
	case *vecOf[uint32]:
		return len(x.v)
	case *vecOf[uint8]:
		return len(x.v)
	case *vecOf[int32]:
		return len(x.v)
	case *vecOf[int64]:
		return len(x.v)
	}
	return 0
}

// TestMismatchedRowDeadLettered: in the sink, a record whose row does not
// fit its table is dead-lettered (reason columns, counted), not stored
// shifted and not a panic; a dead letter whose own row does not fit the
// deadletters table is logged and dropped (it cannot loop).
func TestMismatchedRowDeadLettered(t *testing.T) {
	kc := kafka.DefaultConfiguration()
	s, err := New(DefaultConfiguration(), Dependencies{Kafka: &kc})
	if err != nil {
		t.Fatal(err)
	}
	s.cur = newBatch("db")
	tamper(t, s.cur.bufs, schema.InterfaceKPIs, func(t *schema.Table) { t.Columns = t.Columns[:3] })
	tamper(t, s.cur.bufs, schema.DeadLetters, func(t *schema.Table) { t.Columns = t.Columns[1:] })
	v, err := wire.Marshal(nil, genInterfaceKPIs(1, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	s.handle(kc.Topics.KPIs, []*kgo.Record{{Topic: kc.Topics.KPIs, Key: []byte("k"), Value: v, Headers: wire.Headers(wire.SchemaKPI)}})
	if len(s.cur.dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(s.cur.dls))
	}
	var dl wirepb.DeadLetter
	if err := wire.DecodeDeadLetter(s.cur.dls[0].Value, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.GetComponent() != Stage || !strings.Contains(dl.GetReason(), ErrRowMismatch.Error()) || string(dl.GetPayload()) != string(v) {
		t.Errorf("dead letter %q %q, payload kept %t", dl.GetComponent(), dl.GetReason(), string(dl.GetPayload()) == string(v))
	}
	s.handle(kc.Topics.DeadLetter, []*kgo.Record{{Topic: kc.Topics.DeadLetter, Value: []byte{0x08}}})
	st := s.Stats()
	if st.DeadLetterReasons["columns"] != 1 || st.DeadLetters != 2 {
		t.Errorf("dead letters %d, by reason %v", st.DeadLetters, st.DeadLetterReasons)
	}
	if n := s.cur.bufs.rows(); n != 0 {
		t.Errorf("%d rows buffered", n)
	}
}

// TestEnumNames: states and severities are stored in lower case, oper
// status as named, the unspecified value as "", a value this build does
// not know by its number (as protobuf's String names it).
func TestEnumNames(t *testing.T) {
	for _, tc := range []struct {
		state wirepb.EventState
		sev   wirepb.Severity
		want  [2]string
	}{
		{wirepb.EventState_FIRING, wirepb.Severity_CRITICAL, [2]string{"firing", "critical"}},
		{wirepb.EventState_EVENT_STATE_UNSPECIFIED, wirepb.Severity_SEVERITY_UNSPECIFIED, [2]string{"", ""}},
		{wirepb.EventState(99), wirepb.Severity(98), [2]string{"99", "98"}},
	} {
		b := newBuffers("db")
		if err := b.addRemediation(&wirepb.RemediationEvent{State: tc.state, Severity: tc.sev}); err != nil {
			t.Fatal(err)
		}
		tb := b.byName[schema.RemediationEvents]
		got := [2]string{valueAt(tb.cols[3], 0).(string), valueAt(tb.cols[4], 0).(string)}
		if got != tc.want {
			t.Errorf("%v %v stored as %q, want %q", tc.state, tc.sev, got, tc.want)
		}
	}
	for v := range wirepb.OperStatus_name {
		s := wirepb.OperStatus(v)
		want := s.String()
		if s == wirepb.OperStatus_OPER_STATUS_UNSPECIFIED {
			want = ""
		}
		if got := operStatus(s); got != want {
			t.Errorf("oper status %d stored as %q, want %q", v, got, want)
		}
	}
	if got := operStatus(wirepb.OperStatus(42)); got != wirepb.OperStatus(42).String() {
		t.Errorf("unknown oper status stored as %q", got)
	}
	for _, names := range []map[int32]string{wirepb.OperStatus_name, wirepb.EventState_name, wirepb.Severity_name} {
		if !strings.HasSuffix(names[0], "_UNSPECIFIED") {
			t.Errorf("value 0 is %q, not the unspecified value", names[0])
		}
	}
}
