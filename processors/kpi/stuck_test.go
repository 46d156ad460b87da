package kpi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestStuckClockSeriesClosed: an interface and a link whose device time
// stops advancing (the same timestamp on every sample) while their samples
// keep coming are closed after max-gap on the idle clock, reported once
// each (TakeStuck, StuckSeries), their later samples dropped as
// stuck_clock, and they no longer hold the partition's commits back; the
// healthy series' KPIs are exact throughout; once the stuck clock moves on
// the series starts afresh and never emits a window twice. Issue 18.
func TestStuckClockSeriesClosed(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	const stopAt, resumeAt, end = 20, 150, 200
	var off int64
	add := func(s *wirepb.Sample, now time.Time) int64 {
		off++
		e.AddFrom(s, now, Origin{Offset: off})
		return off
	}
	emitted := map[string]map[int64]*wirepb.KPI{} // entity → window start → KPI
	var reported []StuckSeries
	closedAt := int64(-1)
	var stuckOff int64 // offset of the stuck interface's first sample at its stopped time
	for i := int64(0); i < end; i++ {
		now := time.Unix(0, t0+i*sec)
		add(ifSample("d1", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), now)
		add(ifSample("d1", "e2", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 25e6}), now)
		ts := t0 + i*sec
		if i >= stopAt && i < resumeAt {
			ts = t0 + stopAt*sec // stuck; the counters still grow
		}
		o := add(ifSample("d1", "e3", ts, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 10e6}), now)
		if i == stopAt {
			stuckOff = o
		}
		add(probe(ts, 1000, 10, 0, uint64(i)*10, uint64(i)*10), now)
		for _, k := range e.Collect(now, nil) {
			ent := k.GetInterface().GetInterface()
			if k.GetLink() != nil {
				ent = "link"
			}
			if ent == "" {
				continue
			}
			if emitted[ent] == nil {
				emitted[ent] = map[int64]*wirepb.KPI{}
			}
			if _, dup := emitted[ent][k.WindowStartUnixNano]; dup {
				t.Fatalf("%s window %d emitted twice", ent, (k.WindowStartUnixNano-t0)/sec)
			}
			emitted[ent][k.WindowStartUnixNano] = k
		}
		before := len(reported)
		reported = e.TakeStuck(reported)
		if len(reported) > before && closedAt < 0 {
			closedAt = i
		}
		needed, ok := e.Needed(0)
		switch {
		case !ok:
			t.Fatalf("at %d s: no offset needed", i)
		case closedAt < 0 && i > stopAt+12 && needed > stuckOff:
			t.Fatalf("at %d s: needed offset %d past the stuck series' open window (%d) before it was closed", i, needed, stuckOff)
		case closedAt >= 0 && needed <= stuckOff+4*(closedAt-stopAt-20):
			// Commits move on with the healthy series: at most their
			// open windows (10 s + 2 s of lateness) behind.
			t.Fatalf("at %d s: needed offset %d still held back by the stuck series (its window at %d)", i, needed, stuckOff)
		}
	}
	// Closed max-gap (60 s) after its time stopped, at the next scan
	// (every max-gap/4).
	if closedAt <= stopAt+60 || closedAt > stopAt+60+15+1 {
		t.Errorf("stuck series closed at %d s, want within (%d s, %d s]", closedAt, stopAt+60, stopAt+60+16)
	}
	if len(reported) != 2 {
		t.Fatalf("reported %v, want the interface and the link once each", reported)
	}
	for _, r := range reported {
		if r.DeviceTime != t0+stopAt*sec || r.Site != "s1" || r.Device != "d1" ||
			!(r.Kind == "interface" && r.Entity == "e3" || r.Kind == "link" && r.Entity == "s2/d9") {
			t.Errorf("reported %+v", r)
		}
	}
	st := e.Stats()
	if st.StuckSeries != 2 {
		t.Errorf("StuckSeries = %d, want 2", st.StuckSeries)
	}
	// Both series' samples from the close to the resume are dropped.
	if lo := uint64(2 * (resumeAt - closedAt - 1)); st.StuckClock < lo {
		t.Errorf("StuckClock = %d, want at least %d", st.StuckClock, lo)
	}
	// Healthy series: every window up to the last closed one, exact.
	for ent, util := range map[string]float64{"e1": 0.4, "e2": 0.2} {
		for w := int64(0); w < end/10-1; w++ {
			k := emitted[ent][t0+w*10*sec]
			if k == nil {
				t.Errorf("%s window %d missing", ent, w)
				continue
			}
			near(t, ent+" util_in", k.GetInterface().UtilIn, util, 1e-12)
		}
	}
	// The stuck interface: its windows before the stop, exact; the window
	// it stopped in, with the coverage it had; nothing until it resumed,
	// then every window again (its first sample after is a window start).
	for w := int64(0); w < end/10-1; w++ {
		k := emitted["e3"][t0+w*10*sec]
		switch {
		case w < stopAt/10:
			if k == nil {
				t.Errorf("e3 window %d missing", w)
			} else {
				near(t, "e3 util_in", k.GetInterface().UtilIn, 0.08, 1e-12)
			}
		case w < resumeAt/10:
			if k != nil && w != stopAt/10 {
				t.Errorf("e3 window %d emitted while its clock was stuck", w)
			}
		default:
			if k == nil {
				t.Errorf("e3 window %d missing after its clock moved on", w)
			} else {
				near(t, "e3 util_in after its clock moved on", k.GetInterface().UtilIn, 0.08, 1e-12)
			}
		}
	}
}

// TestStuckDeviceClockDoesNotPinCommits: a stream in real time where one
// interface's device time stops advancing while its samples keep coming
// and two others advance (issue 18: the same timestamp on every
// notification kept that interface's window open and its partition's
// committed offset still, so a restart replayed everything since). The
// stuck series is closed after max-gap, counted
// (telemetry_processor_stuck_series_total, drops{reason=stuck_clock}) and
// logged once; the group's committed offset moves on with the healthy
// series; their KPIs are exact. kfake.
func TestStuckDeviceClockDoesNotPinCommits(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 1)
	var logs testenv.Logs
	cfg := DefaultConfiguration()
	cfg.Instance = "stuck"
	cfg.GroupID = "g-" + kc.Topics.Samples
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.Window, cfg.AllowedLateness, cfg.MaxGap, cfg.StateHorizon = time.Second, 0, 2*time.Second, 0
	cfg.StallAfter = 5 * time.Second
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Dependencies{Logger: logs.JSONLogger(), Registerer: reg, Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop() }()

	// 60 rounds, 100 ms apart in device time and in real time: e1 and e2
	// at 100 kbit/s; e3's clock stops at round 10 while its counters grow.
	const rounds, stopAt = 60, 10
	step := int64(100 * time.Millisecond)
	cl := producer(t, kc)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := int64(0); i < rounds; i++ {
		<-tick.C
		var recs []*kgo.Record
		for _, ifc := range []string{"e1", "e2", "e3"} {
			ts := t0 + i*step
			if ifc == "e3" && i > stopAt {
				ts = t0 + stopAt*step
			}
			recs = append(recs, sampleRecord(t, ifSample("d1", ifc, ts, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 1250})))
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	const total = 3 * rounds
	adm := kadm.NewClient(cl)
	var committed int64
	// e1's and e2's open window (the last second) and the interval into it
	// are all the commits may wait for: 3 × 11 records.
	testenv.Eventually(t, 15*time.Second, "the committed offset past the stuck series", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, cfg.GroupID)
		if err != nil {
			return false
		}
		if o, ok := offs.Lookup(kc.Topics.Samples, 0); ok {
			committed = o.At
		}
		return p.Stats().SamplesIn == total && committed >= total-3*11
	})
	st := p.Stats()
	if st.StuckSeries != 1 || st.Drops["stuck_clock"] == 0 {
		t.Errorf("stuck series %d, stuck_clock drops %d; want 1 and some", st.StuckSeries, st.Drops["stuck_clock"])
	}
	if v := testenv.Series(t, reg, "telemetry_processor_drops_total", "reason")["stuck_clock"]; v != float64(st.Drops["stuck_clock"]) {
		t.Errorf("drops_total{reason=stuck_clock} = %v, Stats %d", v, st.Drops["stuck_clock"])
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "telemetry_processor_stuck_series_total" && mf.GetMetric()[0].GetCounter().GetValue() != 1 {
			t.Errorf("stuck_series_total = %v, want 1", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "device clock stopped") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"entity":"e3"`) || !strings.Contains(lines[0], `"device":"d1"`) {
		t.Errorf("log lines of the stuck clock %q, want one naming d1 e3", lines)
	}
	t.Logf("committed %d of %d; stats: stuck %d, stuck_clock drops %d, duplicates %d", committed, total,
		st.StuckSeries, st.Drops["stuck_clock"], st.Drops["duplicate"])

	// The healthy series: every window the stream closed (0 to 4 s), exact:
	// 1250 bytes per 100 ms is 100 kbit/s, utilization 1e-4 of 1 Gbit/s.
	r := newKPIReader(t, kc)
	r.until(t, 10*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= 2*5 })
	seen := map[string]int{}
	for _, ks := range r.byID {
		ik := ks[0].GetInterface()
		if ik == nil || ik.Interface == "e3" {
			continue
		}
		w := (ks[0].WindowStartUnixNano - t0) / int64(time.Second)
		seen[ik.Interface]++
		if w < 0 || w > 4 || ks[0].Samples != 10 {
			t.Errorf("%s window %d with %d samples, want windows 0-4 of 10 samples", ik.Interface, w, ks[0].Samples)
		}
		near(t, fmt.Sprintf("%s window %d in_bps", ik.Interface, w), ik.InBps, 1e5, 1e-9)
		near(t, fmt.Sprintf("%s window %d util_in", ik.Interface, w), ik.UtilIn, 1e-4, 1e-9)
	}
	if seen["e1"] != 5 || seen["e2"] != 5 {
		t.Errorf("healthy windows %v, want 5 each", seen)
	}
}
