package kpi

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

const refused = "rpc error: code = Unavailable desc = connection refused"

// devSample is a device-state record as the collector writes it: device
// time = receive time = the collector's clock.
func devSample(dev string, t int64, st wirepb.DeviceState, lastErr string) *wirepb.Sample {
	return &wirepb.Sample{Version: 1, Site: "s1", Device: dev, DeviceTimeUnixNano: t, ReceiveTimeUnixNano: t,
		Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "10.0.0.1:57400", State: st, LastError: lastErr}}}
}

// deviceKPIs returns the device KPIs of dev in out by window index (from
// t0, in windows of w), failing on a window emitted twice.
func deviceKPIs(t *testing.T, dev string, w int64, out []*wirepb.KPI, into map[int64]*wirepb.KPI) map[int64]*wirepb.KPI {
	t.Helper()
	if into == nil {
		into = map[int64]*wirepb.KPI{}
	}
	for _, k := range out {
		if k.GetDeviceKpi() == nil || k.Device != dev {
			continue
		}
		i := (k.WindowStartUnixNano - t0) / w
		if _, dup := into[i]; dup {
			t.Fatalf("%s window %d emitted twice", dev, i)
		}
		into[i] = k
	}
	return into
}

type wantDev struct {
	reachable uint32
	state     wirepb.DeviceState
	lastErr   string
	up        float64
	samples   uint32
}

func checkDevice(t *testing.T, what string, k *wirepb.KPI, w wantDev, window int64) {
	t.Helper()
	if k == nil {
		t.Errorf("%s: no device KPI", what)
		return
	}
	d := k.GetDeviceKpi()
	if d.Reachable != w.reachable || d.State != w.state || d.LastError != w.lastErr || math.Abs(d.UpRatio-w.up) > 1e-9 || k.Samples != w.samples {
		t.Errorf("%s: reachable %d state %v last_error %q up_ratio %g samples %d, want %d %v %q %g %d",
			what, d.Reachable, d.State, d.LastError, d.UpRatio, k.Samples, w.reachable, w.state, w.lastErr, w.up, w.samples)
	}
	if k.WindowEndUnixNano-k.WindowStartUnixNano != window || k.Id != kpiID("device", k.Site, k.Device, "", "", k.WindowStartUnixNano) {
		t.Errorf("%s: window [%d, %d) id %s", what, k.WindowStartUnixNano, k.WindowEndUnixNano, k.Id)
	}
}

// TestDeviceReachabilityWhileSilent: a device up, then down and silent for
// 40 s, then up again, while another device's interface samples keep the
// partition's clock going: one DeviceKPI per window, every window, with
// reachable 0 for the windows it said nothing in.
func TestDeviceReachabilityWhileSilent(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	got := map[int64]*wirepb.KPI{}
	for i := int64(0); i <= 100; i++ {
		ts := t0 + i*sec
		now := time.Unix(0, ts+100*int64(time.Millisecond))
		e.Add(ifSample("d2", "e1", ts, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 1e6}), now)
		switch i {
		case 1:
			e.Add(devSample("d1", ts, wirepb.DeviceState_CONNECTING, ""), now)
			e.Add(devSample("d1", ts+50*int64(time.Millisecond), wirepb.DeviceState_DEVICE_UP, ""), now)
		case 21: // inventory heartbeat
			e.Add(devSample("d1", ts, wirepb.DeviceState_DEVICE_UP, ""), now)
		case 35:
			e.Add(devSample("d1", ts, wirepb.DeviceState_DEVICE_DOWN, refused), now)
		case 75:
			e.Add(devSample("d1", ts, wirepb.DeviceState_DEVICE_UP, ""), now)
		}
		got = deviceKPIs(t, "d1", 10*sec, e.Collect(now, nil), got)
	}
	if _, ok := got[0]; ok {
		t.Error("window 0 emitted: the device was first seen after its start (warm-up)")
	}
	up := wantDev{reachable: 1, state: wirepb.DeviceState_DEVICE_UP, up: 1}
	down := wantDev{state: wirepb.DeviceState_DEVICE_DOWN, lastErr: refused}
	checkDevice(t, "window 1", got[1], up, 10*sec)
	up.samples = 1
	checkDevice(t, "window 2 (heartbeat)", got[2], up, 10*sec)
	checkDevice(t, "window 3 (down at 35 s)", got[3], wantDev{state: wirepb.DeviceState_DEVICE_DOWN, lastErr: refused, up: 0.5, samples: 1}, 10*sec)
	for i := int64(4); i <= 6; i++ {
		checkDevice(t, "silent window", got[i], down, 10*sec)
	}
	checkDevice(t, "window 7 (up at 75 s)", got[7], wantDev{reachable: 1, state: wirepb.DeviceState_DEVICE_UP, up: 0.5, samples: 1}, 10*sec)
	up.samples = 0
	checkDevice(t, "window 8", got[8], up, 10*sec)
	if len(got) != 8 { // windows 1..8; 9 closes at 102 s
		t.Errorf("%d device windows, want 8 (1..8)", len(got))
	}
	st := e.Stats()
	if st.DeviceKPIs != 8 || st.Warmup == 0 || st.NoDevice+st.UnknownState+st.Ignored != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestDeviceSilentPartition: the device is alone on its partition, so
// nothing at all arrives once it is down. Fed from a log, its windows wait
// for samples; told the partition is caught up (the processor's end-offset
// listings), they close on the listings' time, and never past the latest
// one: processing time alone (Kafka unreachable, a paused processor) does
// not move them.
func TestDeviceSilentPartition(t *testing.T) {
	ms := int64(time.Millisecond)
	for _, caughtUp := range []bool{false, true} {
		e := NewEngine(testConfig(), "test")
		e.AddFrom(devSample("d1", t0+5*sec, wirepb.DeviceState_DEVICE_UP, ""), time.Unix(0, t0+5*sec+ms), Origin{Partition: 3, Offset: 7})
		e.AddFrom(devSample("d1", t0+15*sec, wirepb.DeviceState_DEVICE_DOWN, refused), time.Unix(0, t0+15*sec+ms), Origin{Partition: 3, Offset: 8})
		got := map[int64]*wirepb.KPI{}
		for now := t0 + 15*sec + ms; now <= t0+60*sec; now += 250 * ms {
			if caughtUp {
				e.CaughtUp(3, time.Unix(0, now-100*ms)) // listed 100 ms ago
			}
			got = deviceKPIs(t, "d1", 10*sec, e.Collect(time.Unix(0, now), nil), got)
		}
		if !caughtUp {
			if len(got) != 0 {
				t.Fatalf("not caught up: %d windows closed with no sample past 15 s", len(got))
			}
			continue
		}
		// listed up to ≈ 59.65 s, less the allowed lateness: windows up to
		// [40, 50), closed at 52 s
		if len(got) != 4 {
			t.Fatalf("caught up: windows %v, want 1..4", keys(got))
		}
		checkDevice(t, "window 1", got[1], wantDev{state: wirepb.DeviceState_DEVICE_DOWN, lastErr: refused, up: 0.5, samples: 1}, 10*sec)
		for i := int64(2); i <= 4; i++ {
			checkDevice(t, "silent window", got[i], wantDev{state: wirepb.DeviceState_DEVICE_DOWN, lastErr: refused}, 10*sec)
		}
		before := e.parts[3].t
		if out := e.Collect(time.Unix(0, t0+360*sec), nil); len(out) != 0 || e.parts[3].t != before {
			t.Errorf("five minutes of processing time without a listing moved the clock by %s, closed %d windows",
				time.Duration(e.parts[3].t-before), len(out))
		}
		if want := t0 + 59*sec + 751*ms - 100*ms - int64(testConfig().AllowedLateness); before != want {
			t.Errorf("clock %s after the last listing, want it less the allowed lateness (%s)",
				time.Unix(0, before).UTC().Format("15:04:05.000"), time.Unix(0, want).UTC().Format("15:04:05.000"))
		}
		e.CaughtUp(3, time.Unix(0, t0+30*sec))
		if e.parts[3].t != before {
			t.Errorf("an older listing moved the clock back by %s", time.Duration(before-e.parts[3].t))
		}
	}
}

func keys(m map[int64]*wirepb.KPI) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDeviceBadInput: a device-state sample without a device name or with
// a state the processor does not know is dropped and counted, never a
// series, never a crash.
func TestDeviceBadInput(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	now := time.Unix(0, t0+sec)
	e.Add(devSample("", t0, wirepb.DeviceState_DEVICE_DOWN, "x"), now)
	e.Add(devSample("d1", t0, wirepb.DeviceState_DEVICE_STATE_UNSPECIFIED, ""), now)
	e.Add(devSample("d1", t0, wirepb.DeviceState(42), ""), now)
	e.Add(&wirepb.Sample{Version: 1, Device: "d1", DeviceTimeUnixNano: t0, Body: &wirepb.Sample_DeviceState{}}, now)
	st := e.Stats()
	if st.NoDevice != 1 || st.UnknownState != 3 || e.Series() != 0 {
		t.Fatalf("no_device %d unknown_state %d series %d, want 1, 3, 0", st.NoDevice, st.UnknownState, e.Series())
	}
	if out := e.Drain(nil); len(out) != 0 {
		t.Fatalf("KPIs from bad input: %v", out)
	}
}

// TestDeviceExpiry: a device's state is believed for state-horizon (at
// least max-gap) after its newest record; then its series is forgotten and
// emits nothing more, until it sends again.
func TestDeviceExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.StateHorizon = 2 * time.Minute
	e := NewEngine(cfg, "test")
	got := map[int64]*wirepb.KPI{}
	for i := int64(0); i <= 200; i++ {
		ts := t0 + i*sec
		now := time.Unix(0, ts+int64(time.Millisecond))
		e.Add(ifSample("d2", "e1", ts, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 1e6}), now)
		switch i {
		case 5:
			e.Add(devSample("d1", ts, wirepb.DeviceState_DEVICE_DOWN, refused), now)
		case 170:
			e.Add(devSample("d1", ts, wirepb.DeviceState_DEVICE_UP, ""), now)
		}
		got = deviceKPIs(t, "d1", 10*sec, e.Collect(now, nil), got)
	}
	// believed until 5 s + 120 s: windows 1..12 (12 starts at 120 s < 125 s)
	for i := int64(1); i <= 12; i++ {
		if k := got[i]; k == nil || k.GetDeviceKpi().Reachable != 0 {
			t.Errorf("window %d: %v, want reachable 0", i, k)
		}
	}
	for i := int64(13); i < 17; i++ {
		if k := got[i]; k != nil {
			t.Errorf("window %d emitted after the state expired: %v", i, k)
		}
	}
	// back at 170 s (window-aligned: its window is whole)
	for i := int64(17); i <= 18; i++ {
		if k := got[i]; k == nil || k.GetDeviceKpi().Reachable != 1 {
			t.Errorf("window %d: %v, want reachable 1", i, k)
		}
	}
	if e.Stats().Evicted != 1 {
		t.Errorf("evicted %d, want 1", e.Stats().Evicted)
	}
}

// TestDeviceOddRecords: duplicates and out-of-order records are dropped
// and counted; a record whose window the partition clock already closed is
// counted late_state, and its state holds from the first open window.
func TestDeviceOddRecords(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	at := func(s int64) time.Time { return time.Unix(0, t0+s*sec+int64(time.Millisecond)) }
	e.Add(devSample("d1", t0+sec, wirepb.DeviceState_DEVICE_UP, ""), at(1))
	e.Add(devSample("d1", t0+sec, wirepb.DeviceState_DEVICE_UP, ""), at(1))
	e.Add(devSample("d1", t0+sec/2, wirepb.DeviceState_CONNECTING, ""), at(1))
	for i := int64(2); i <= 50; i++ {
		e.Add(ifSample("d2", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i)}), at(i))
	}
	got := deviceKPIs(t, "d1", 10*sec, e.Collect(at(50), nil), nil)
	e.Add(devSample("d1", t0+35*sec, wirepb.DeviceState_DEVICE_DOWN, refused), at(51)) // window 3 is closed
	for i := int64(51); i <= 65; i++ {
		e.Add(ifSample("d2", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i)}), at(i))
	}
	got = deviceKPIs(t, "d1", 10*sec, e.Collect(at(65), nil), got)
	st := e.Stats()
	if st.Duplicate != 1 || st.OutOfOrder != 1 || st.LateState != 1 || st.Late != 0 {
		t.Errorf("duplicate %d out_of_order %d late_state %d late %d, want 1, 1, 1, 0", st.Duplicate, st.OutOfOrder, st.LateState, st.Late)
	}
	checkDevice(t, "window 3 (closed before the late record)", got[3], wantDev{reachable: 1, state: wirepb.DeviceState_DEVICE_UP, up: 1}, 10*sec)
	checkDevice(t, "window 4", got[4], wantDev{state: wirepb.DeviceState_DEVICE_DOWN, lastErr: refused}, 10*sec)
	checkDevice(t, "window 5", got[5], wantDev{state: wirepb.DeviceState_DEVICE_DOWN, lastErr: refused}, 10*sec)
}

// TestDeviceReplayFromNeeded: the rebalance guarantee for device windows.
// An engine stopped anywhere commits Needed (which keeps the record in
// effect at its first open window); a successor replaying from there emits
// the windows the first did not, identical to an uninterrupted run, and
// nothing that differs from it.
func TestDeviceReplayFromNeeded(t *testing.T) {
	type rec struct {
		s   *wirepb.Sample
		off int64
	}
	var log []rec
	add := func(s *wirepb.Sample) { log = append(log, rec{s, int64(len(log))}) }
	for i := int64(0); i <= 150; i++ {
		ts := t0 + i*sec
		add(ifSample("d2", "e1", ts, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 1e6}))
		switch {
		case i == 1 || i == 83:
			add(devSample("d1", ts+3*int64(time.Millisecond), wirepb.DeviceState_DEVICE_UP, ""))
		case i == 47:
			add(devSample("d1", ts+3*int64(time.Millisecond), wirepb.DeviceState_DEVICE_DOWN, refused))
		case i%20 == 1 && (i < 47 || i > 83):
			add(devSample("d1", ts+3*int64(time.Millisecond), wirepb.DeviceState_DEVICE_UP, ""))
		}
	}
	run := func(e *Engine, from, to int64) []*wirepb.KPI {
		var out []*wirepb.KPI
		for _, r := range log[from:to] {
			now := time.Unix(0, r.s.ReceiveTimeUnixNano+int64(time.Millisecond))
			e.AddFrom(r.s, now, Origin{Offset: r.off})
			out = e.Collect(now, out)
		}
		return out
	}
	full := map[string]*wirepb.KPI{}
	for _, k := range run(NewEngine(testConfig(), "a"), 0, int64(len(log))) {
		if k.GetDeviceKpi() != nil {
			full[k.Id] = k
		}
	}
	if len(full) != 13 { // windows 1..13 (0: warm-up; 14 closes at 152 s)
		t.Fatalf("uninterrupted run: %d device windows, want 13", len(full))
	}
	for _, cut := range []int64{3, 60, 100, 140, int64(len(log)) - 2} {
		a := NewEngine(testConfig(), "a")
		first := run(a, 0, cut)
		needed, ok := a.Needed(0)
		if !ok || needed > cut {
			t.Fatalf("cut %d: needed %d %v", cut, needed, ok)
		}
		second := run(NewEngine(testConfig(), "b"), needed, int64(len(log)))
		got := map[string]bool{}
		for _, k := range append(first, second...) {
			if k.GetDeviceKpi() == nil {
				continue
			}
			want := full[k.Id]
			if want == nil {
				t.Fatalf("cut %d: device window %d not in the uninterrupted run", cut, (k.WindowStartUnixNano-t0)/(10*sec))
			}
			if !sameKPI(want, k) {
				t.Fatalf("cut %d: device KPI differs from the uninterrupted run:\n got %v\nwant %v", cut, k, want)
			}
			got[k.Id] = true
		}
		if len(got) != len(full) {
			t.Errorf("cut %d: %d distinct device KPIs, uninterrupted run had %d", cut, len(got), len(full))
		}
	}
}

// TestProcessorDeviceWhileSilent: through Kafka (kfake), a device goes down
// and nothing at all is produced after its DEVICE_DOWN record (it is
// alone on the samples topic): the processor keeps emitting its device KPI
// every window, reachable 0, keyed site/device, until it is back. Bad
// device-state records are counted by reason.
func TestProcessorDeviceWhileSilent(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 1)
	cl := producer(t, kc)
	cfg := DefaultConfiguration()
	cfg.Instance = "dev"
	cfg.GroupID = "g-" + kc.Topics.Samples
	cfg.Window = time.Second
	cfg.AllowedLateness = 200 * time.Millisecond
	cfg.MaxGap = 10 * time.Second
	cfg.CommitInterval = 100 * time.Millisecond
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Dependencies{Registerer: reg, Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"no_device", "unknown_state"} {
		if _, ok := testenv.Series(t, reg, "telemetry_processor_drops_total", "reason")[r]; !ok {
			t.Errorf("drops_total{reason=%q} has no series before its first drop", r)
		}
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	send := func(s *wirepb.Sample) {
		t.Helper()
		if err := cl.ProduceSync(context.Background(), sampleRecord(t, s)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	now := func() int64 { return time.Now().UnixNano() }
	send(devSample("d1", now(), wirepb.DeviceState_CONNECTING, ""))
	send(devSample("d1", now(), wirepb.DeviceState_DEVICE_UP, ""))
	send(devSample("", now(), wirepb.DeviceState_DEVICE_DOWN, "no name"))
	send(devSample("d1", now(), wirepb.DeviceState(9), ""))
	time.Sleep(1500 * time.Millisecond) // the scenario: the device is up for a while before it goes down
	down := now()
	send(devSample("d1", down, wirepb.DeviceState_DEVICE_DOWN, refused))

	r := newKPIReader(t, kc)
	silent := func(m map[string][]*wirepb.KPI) (n int) {
		for _, ks := range m {
			k := ks[0]
			if d := k.GetDeviceKpi(); d != nil && k.WindowStartUnixNano > down && d.Reachable == 0 && k.Samples == 0 {
				n++
			}
		}
		return n
	}
	r.until(t, 20*time.Second, func(m map[string][]*wirepb.KPI) bool { return silent(m) >= 4 })
	back := now()
	send(devSample("d1", back, wirepb.DeviceState_DEVICE_UP, ""))
	r.until(t, 20*time.Second, func(m map[string][]*wirepb.KPI) bool {
		for _, ks := range m {
			if d := ks[0].GetDeviceKpi(); d != nil && ks[0].WindowStartUnixNano > back && d.Reachable == 1 {
				return true
			}
		}
		return false
	})
	// every window from the one after the first record to the last read,
	// once each, reachable as the records said
	byStart := map[int64]*wirepb.KPI{}
	var last int64
	for id, ks := range r.byID {
		k := ks[0]
		d := k.GetDeviceKpi()
		if d == nil {
			continue
		}
		if r.keys[id] != "s1/d1" {
			t.Errorf("device KPI key %q, want s1/d1", r.keys[id])
		}
		byStart[k.WindowStartUnixNano] = k
		last = max(last, k.WindowStartUnixNano)
		want := uint32(1)
		if k.WindowEndUnixNano > down && k.WindowEndUnixNano <= back {
			want = 0
		}
		if d.Reachable != want {
			t.Errorf("window ending %s: reachable %d, want %d (down %s, back %s)", time.Unix(0, k.WindowEndUnixNano).Format("15:04:05.000"),
				d.Reachable, want, time.Unix(0, down).Format("15:04:05.000"), time.Unix(0, back).Format("15:04:05.000"))
		}
	}
	w := int64(time.Second)
	for ws := last; ws > down-down%w+w; ws -= w {
		if byStart[ws] == nil {
			t.Errorf("window starting %s missing", time.Unix(0, ws).Format("15:04:05"))
		}
	}
	st := p.Stats()
	if st.Drops["no_device"] != 1 || st.Drops["unknown_state"] != 1 {
		t.Errorf("drops %v, want no_device 1, unknown_state 1", st.Drops)
	}
	for _, r := range []string{"no_device", "unknown_state"} {
		testenv.Eventually(t, 20*time.Second, "drops_total{reason="+r+"} at 1", func() bool {
			v := testenv.Series(t, reg, "telemetry_processor_drops_total", "reason")[r]
			return v == 1
		})
	}
	if v := testenv.Series(t, reg, "telemetry_processor_kpis_total", "kind")["device"]; v < 5 {
		t.Errorf("telemetry_processor_kpis_total{kind=\"device\"} = %g", v)
	}
}
