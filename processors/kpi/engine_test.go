package kpi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

const sec = int64(time.Second)

// t0 is a window-aligned device time (an hour's start): the test clock's
// Anchor, like data that meets a server, although only the engine reads
// device times (Kafka keeps records by their produce time).
var t0 = testenv.Anchor().UnixNano()

func testConfig() Configuration {
	c := DefaultConfiguration()
	c.Instance = "test"
	return c
}

type cv = map[wirepb.Counter]uint64

func ifSample(dev, iface string, t int64, speed uint64, counters cv) *wirepb.Sample {
	st := &wirepb.InterfaceState{Interface: iface, SpeedBps: speed, OperStatus: wirepb.OperStatus_UP}
	for c := wirepb.Counter(1); int(c) < numCounters; c++ {
		if v, ok := counters[c]; ok {
			st.Counters = append(st.Counters, &wirepb.CounterValue{Counter: c, Value: v})
		}
	}
	return &wirepb.Sample{Version: 1, Site: "s1", Device: dev, DeviceTimeUnixNano: t,
		ReceiveTimeUnixNano: t + 5*int64(time.Millisecond), Body: &wirepb.Sample_Interface{Interface: st}}
}

// ifaceKPIs returns the interface KPIs of out by window start.
func ifaceKPIs(t *testing.T, out []*wirepb.KPI) map[int64]*wirepb.KPI {
	t.Helper()
	m := map[int64]*wirepb.KPI{}
	for _, k := range out {
		if k.GetInterface() == nil {
			continue
		}
		if _, dup := m[k.WindowStartUnixNano]; dup {
			t.Fatalf("window %d emitted twice", k.WindowStartUnixNano)
		}
		m[k.WindowStartUnixNano] = k
	}
	return m
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %g, want %g ± %g", what, got, want, tol)
	}
}

// constantSeries feeds n samples every step from start with in/out octet
// rates (bytes/s) and packet rates, starting counters at base, counters
// reduced modulo mod (0 = 2^64).
func constantSeries(e *Engine, start, step int64, n int, inBps, pps float64, base, mod uint64) {
	for i := 0; i < n; i++ {
		t := start + int64(i)*step
		el := float64(t-start) / 1e9
		w := func(x float64) uint64 {
			v := base + uint64(x*el)
			if mod != 0 {
				v %= mod
			}
			return v
		}
		e.Add(ifSample("d1", "e1", t, 1e9, cv{
			wirepb.Counter_IN_OCTETS:        w(inBps / 8),
			wirepb.Counter_OUT_OCTETS:       w(inBps / 16),
			wirepb.Counter_IN_UNICAST_PKTS:  w(pps),
			wirepb.Counter_OUT_UNICAST_PKTS: w(pps),
			wirepb.Counter_IN_ERRORS:        w(pps / 100),
			wirepb.Counter_IN_DISCARDS:      0,
			wirepb.Counter_OUT_DISCARDS:     w(pps / 100),
		}), time.Unix(0, t+int64(50*time.Millisecond)))
	}
}

func checkConstant(t *testing.T, out []*wirepb.KPI, wantWindows int, inBps, pps float64) {
	t.Helper()
	m := ifaceKPIs(t, out)
	if len(m) < wantWindows {
		t.Fatalf("%d windows, want at least %d", len(m), wantWindows)
	}
	for ws, k := range m {
		i := k.GetInterface()
		near(t, "util_in", i.UtilIn, inBps/1e9, 1e-4)
		near(t, "util_out", i.UtilOut, inBps/2e9, 1e-4)
		near(t, "in_pps", i.InPps, pps, pps*1e-4+0.2)
		near(t, "in_errors_ps", i.InErrorsPs, pps/100, pps/1e4+0.2)
		// loss = (in_err + out_disc) / (in_pkts + in_err + out_pkts)
		want := (pps/100 + pps/100) / (pps + pps/100 + pps)
		near(t, "loss_ratio", i.LossRatio, want, 1e-3)
		if k.WindowEndUnixNano-ws != 10*sec {
			t.Errorf("window %d: end %d", ws, k.WindowEndUnixNano)
		}
	}
}

func TestConstantRate(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	constantSeries(e, t0, sec, 61, 400e6, 50000, 1000, 0)
	out := e.Collect(time.Unix(0, t0+61*sec), nil)
	// windows [0,10) .. [40,50) close at 52 s; [50,60) needs 62 s
	checkConstant(t, out, 5, 400e6, 50000)
	m := ifaceKPIs(t, out)
	k := m[t0]
	if k == nil || k.Samples != 10 || k.GetInterface().SpeedBps != 1e9 || k.GetInterface().OperStatus != wirepb.OperStatus_UP {
		t.Fatalf("first window: %v", k)
	}
	if k.Id != kpiID("interface", "s1", "d1", "e1", "", t0) || len(k.Id) != 32 {
		t.Errorf("id %q", k.Id)
	}
	near(t, "util_in exact", k.GetInterface().UtilIn, 0.4, 1e-9)
}

func TestUnalignedSamplesStraddle(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	// samples at x.3 s every 700 ms: every window boundary is straddled
	constantSeries(e, t0-sec+300*int64(time.Millisecond), 700*int64(time.Millisecond), 100, 800e6, 1000, 0, 0)
	out := e.Drain(nil)
	m := ifaceKPIs(t, out)
	delete(m, t0-10*sec) // warm-up window (first sample mid-window) is not emitted anyway
	last := int64(0)
	for ws := range m {
		last = max(last, ws)
	}
	delete(m, last) // partial
	checkConstant(t, kpisOf(m), 5, 800e6, 1000)
}

func kpisOf(m map[int64]*wirepb.KPI) []*wirepb.KPI {
	var out []*wirepb.KPI
	for _, k := range m {
		out = append(out, k)
	}
	return out
}

func TestStraddleProportional(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	// 0..10 s at 1000 B/s, then one sample 2 s later carrying 1000+3000 B:
	// interval [10,12) at 2000 B/s... but shift the interval to straddle:
	// samples at 0,1,...,9 (1000 B/s), then 11 (4000 B more over 2 s: [9,10) and [10,11)).
	var v uint64
	for i := int64(0); i <= 9; i++ {
		e.Add(ifSample("d1", "e1", t0+i*sec, 8000, cv{wirepb.Counter_IN_OCTETS: v}), time.Unix(0, t0+i*sec))
		v += 1000
	}
	v = 9000 + 4000
	e.Add(ifSample("d1", "e1", t0+11*sec, 8000, cv{wirepb.Counter_IN_OCTETS: v}), time.Unix(0, t0+11*sec))
	for i := int64(12); i <= 25; i++ {
		v += 2000
		e.Add(ifSample("d1", "e1", t0+i*sec, 8000, cv{wirepb.Counter_IN_OCTETS: v}), time.Unix(0, t0+i*sec))
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+25*sec), nil))
	// window 0: 9 s at 1000 B/s + 1 s of the 2000 B/s interval = 11000 B / 10 s
	near(t, "w0 in_bps", m[t0].GetInterface().InBps, 8*11000.0/10, 1e-6)
	near(t, "w1 in_bps", m[t0+10*sec].GetInterface().InBps, 8*2000.0, 1e-6)
	near(t, "w0 util", m[t0].GetInterface().UtilIn, 11000.0/10*8/8000, 1e-9)
}

func TestWrap64(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	constantSeries(e, t0, sec, 41, 400e6, 50000, math.MaxUint64-200e6, 0)
	out := e.Collect(time.Unix(0, t0+41*sec), nil)
	checkConstant(t, out, 3, 400e6, 50000)
	if s := e.Stats(); s.Wrap64 == 0 || s.Reset != 0 {
		t.Errorf("stats %+v: want 64-bit wraps and no reset", s)
	}
}

func TestWrap32(t *testing.T) {
	for _, bits := range []int{0, 32} {
		cfg := testConfig()
		cfg.CounterBits = bits
		e := NewEngine(cfg, "test")
		// 400 Mb/s = 50 MB/s: a 32-bit octet counter wraps every ~86 s; start near the top
		constantSeries(e, t0, sec, 121, 400e6, 50000, 1<<32-30e6, 1<<32)
		out := e.Collect(time.Unix(0, t0+121*sec), nil)
		checkConstant(t, out, 10, 400e6, 50000)
		if s := e.Stats(); s.Wrap32 == 0 || s.Reset != 0 {
			t.Errorf("bits %d: stats %+v: want 32-bit wraps and no reset", bits, s)
		}
	}
}

func TestCounterReset(t *testing.T) {
	for _, withLastClear := range []bool{false, true} {
		for _, bits := range []int{0, 32, 64} {
			cfg := testConfig()
			cfg.CounterBits = bits
			e := NewEngine(cfg, "test")
			// counters high in the 32-bit range so that auto/32-bit wrap detection is tempted
			base := uint64(4e9)
			for i := int64(0); i <= 60; i++ {
				t1 := t0 + i*sec
				el := uint64(i)
				if i >= 25 { // reboot at 25 s: counters restart from 0
					base, el = 0, uint64(i-25)
				}
				s := ifSample("d1", "e1", t1, 1e9, cv{
					wirepb.Counter_IN_OCTETS:       base + el*50e6,
					wirepb.Counter_IN_UNICAST_PKTS: base/1000 + el*50000,
					wirepb.Counter_IN_ERRORS:       base/1e6 + el*10,
				})
				if withLastClear {
					s.GetInterface().LastClearUnixNano = t0 - 100*sec
					if i >= 25 {
						s.GetInterface().LastClearUnixNano = t0 + 25*sec - sec/2
					}
				}
				e.Add(s, time.Unix(0, t1))
			}
			m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+60*sec), nil))
			if len(m) != 5 {
				t.Fatalf("lastclear=%v bits=%d: %d windows, want 5", withLastClear, bits, len(m))
			}
			for ws, k := range m {
				i := k.GetInterface()
				near(t, "util_in around reset", i.UtilIn, 0.4, 1e-6)
				near(t, "in_errors_ps", i.InErrorsPs, 10, 1e-6)
				if i.UtilIn < 0 || i.InPps < 0 {
					t.Errorf("window %d negative: %v", ws, i)
				}
			}
			if s := e.Stats(); s.Reset == 0 || s.Wrap32 != 0 {
				t.Errorf("lastclear=%v bits=%d: stats %+v: want a reset, no wrap", withLastClear, bits, s)
			}
		}
	}
}

func TestDuplicatesAndOutOfOrder(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	add := func(i int64) {
		t1 := t0 + i*sec
		e.Add(ifSample("d1", "e1", t1, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t1))
	}
	for i := int64(0); i <= 35; i++ {
		add(i)
		if i%5 == 0 {
			add(i) // duplicate
		}
		if i%7 == 0 && i > 2 {
			add(i - 2) // late, out of order
		}
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+35*sec), nil))
	if len(m) != 3 {
		t.Fatalf("%d windows", len(m))
	}
	for _, k := range m {
		near(t, "util_in", k.GetInterface().UtilIn, 0.4, 1e-9)
		if k.Samples != 10 {
			t.Errorf("samples %d, want 10 (duplicates not counted)", k.Samples)
		}
	}
	if s := e.Stats(); s.Duplicate != 8 || s.OutOfOrder != 5 {
		t.Errorf("duplicates %d (want 8), out of order %d (want 5)", s.Duplicate, s.OutOfOrder)
	}
}

func TestPartialSamples(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	// in and out octets in separate notifications with the same timestamp
	for i := int64(0); i <= 25; i++ {
		t1 := t0 + i*sec
		e.Add(ifSample("d1", "e1", t1, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t1))
		e.Add(ifSample("d1", "e1", t1, 0, cv{wirepb.Counter_OUT_OCTETS: uint64(i) * 25e6}), time.Unix(0, t1))
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+25*sec), nil))
	for _, k := range m {
		near(t, "util_in", k.GetInterface().UtilIn, 0.4, 1e-9)
		near(t, "util_out", k.GetInterface().UtilOut, 0.2, 1e-9)
	}
	if len(m) != 2 || e.Stats().Duplicate != 0 {
		t.Errorf("%d windows, stats %+v", len(m), e.Stats())
	}
}

func TestMissingIntervals(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	for i := int64(0); i <= 45; i++ {
		if i >= 13 && i <= 17 || i == 29 || i == 30 {
			continue // lost samples, one across a window boundary
		}
		t1 := t0 + i*sec
		e.Add(ifSample("d1", "e1", t1, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t1))
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+45*sec), nil))
	if len(m) != 4 {
		t.Fatalf("%d windows, want 4", len(m))
	}
	for _, k := range m {
		near(t, "util_in", k.GetInterface().UtilIn, 0.4, 1e-9)
	}
	if m[t0+10*sec].Samples != 5 {
		t.Errorf("samples %d", m[t0+10*sec].Samples)
	}
}

func TestLongGapNotInterpolated(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	for _, i := range []int64{0, 5, 10, 100, 105, 110, 125} {
		t1 := t0 + i*sec
		v := uint64(i) * 50e6
		if i >= 100 {
			v += 1e12 // jump during the gap: must not appear as a rate anywhere
		}
		e.Add(ifSample("d1", "e1", t1, 1e9, cv{wirepb.Counter_IN_OCTETS: v}), time.Unix(0, t1))
	}
	for _, k := range e.Collect(time.Unix(0, t0+125*sec), nil) {
		if u := k.GetInterface().GetUtilIn(); u > 0.41 {
			t.Errorf("window %d: util %g after a gap", (k.WindowStartUnixNano-t0)/sec, u)
		}
	}
	if e.Stats().Gap != 1 {
		t.Errorf("gap %d", e.Stats().Gap)
	}
}

func TestSpeedOverrideAndDefault(t *testing.T) {
	cfg := testConfig()
	cfg.SpeedOverrides = map[string]uint64{"d1/e1": 4e9, "d2": 2e9}
	cfg.DefaultSpeedBps = 8e9
	e := NewEngine(cfg, "test")
	for i := int64(0); i <= 12; i++ {
		t1 := t0 + i*sec
		for _, d := range []string{"d1", "d2", "d3"} {
			e.Add(ifSample(d, "e1", t1, 0, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t1))
		}
	}
	got := map[string]float64{}
	for _, k := range e.Collect(time.Unix(0, t0+12*sec), nil) {
		if k.GetInterface() != nil {
			got[k.Device] = k.GetInterface().UtilIn
		}
	}
	near(t, "override interface", got["d1"], 0.1, 1e-9)
	near(t, "override device", got["d2"], 0.2, 1e-9)
	near(t, "default", got["d3"], 0.05, 1e-9)
}

func probe(t int64, avgUs, jitterUs, lossPct float64, sent, recv uint64) *wirepb.Sample {
	return &wirepb.Sample{Version: 1, Site: "s1", Device: "d1", DeviceTimeUnixNano: t,
		Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerSite: "s2", PeerDevice: "d9",
			AvgDelayUs: avgUs, JitterUs: jitterUs, LossPercentage: lossPct, ProbesSent: sent, ProbesReceived: recv}}}
}

func TestLinkKPIs(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	var sent, recv uint64
	for i := int64(-1); i <= 21; i++ {
		sent += 100
		recv += 98 // 2% loss
		// RTT 10..19 ms within each window
		e.Add(probe(t0+i*sec, float64(10000+1000*((i+10)%10)), 500, 2, sent, recv), time.Unix(0, t0+i*sec))
	}
	out := e.Collect(time.Unix(0, t0+22*sec), nil)
	var links []*wirepb.KPI
	for _, k := range out {
		if k.GetLink() != nil {
			links = append(links, k)
		}
	}
	if len(links) != 1 {
		t.Fatalf("%d link KPIs", len(links))
	}
	l := links[0].GetLink()
	near(t, "rtt mean", l.RttMs, 14.5, 1e-9)
	near(t, "rtt p50", l.RttP50Ms, 14, 1e-9)
	near(t, "rtt p95", l.RttP95Ms, 19, 1e-9)
	near(t, "jitter", l.JitterMs, 0.5, 1e-9)
	// first sample has no previous counts: its loss-percentage stands in
	near(t, "loss", l.LossRatio, 0.02, 1e-9)
	if l.DstSite != "s2" || l.DstDevice != "d9" || links[0].Samples != 10 || l.ProbesSent != 1000 || l.ProbesReceived != 980 {
		t.Errorf("link KPI %v", links[0])
	}

	// without counts: loss-percentage only
	e = NewEngine(testConfig(), "test")
	for i := int64(-1); i <= 22; i++ {
		e.Add(probe(t0+i*sec, 5000, 100, float64((i+10)%10), 0, 0), time.Unix(0, t0+i*sec))
	}
	for _, k := range e.Collect(time.Unix(0, t0+22*sec), nil) {
		if l := k.GetLink(); l != nil {
			near(t, "loss from percentage", l.LossRatio, 0.045, 1e-9)
		}
	}
}

func TestPipelineKPI(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	now := time.Unix(0, t0+3*sec)
	for i := 0; i < 100; i++ {
		// delays 1..100 ms
		e.Add(ifSample("d1", "e1", now.UnixNano()-int64(i+1)*int64(time.Millisecond), 1e9, cv{wirepb.Counter_IN_OCTETS: 1}), now)
	}
	var p *wirepb.PipelineKPI
	for _, k := range e.Collect(now.Add(10*time.Second), nil) {
		if k.GetPipeline() != nil {
			p = k.GetPipeline()
			if k.WindowStartUnixNano != t0 || k.Id != kpiID("pipeline", "", "", "test", "", t0) {
				t.Errorf("pipeline KPI %v", k)
			}
		}
	}
	if p == nil {
		t.Fatal("no pipeline KPI")
	}
	near(t, "p50", p.DelayP50Ms, 50, 0.5)
	near(t, "p99", p.DelayP99Ms, 99, 1)
	near(t, "max", p.DelayMaxMs, 100, 1e-9)
	if p.Samples != 100 || p.Instance != "test" {
		t.Errorf("%v", p)
	}
}

// TestReplayFromNeeded is the engine half of the rebalance guarantee: an
// engine stopped at any point commits Needed(); a new engine replaying from
// there emits every window the first did not, identical to an uninterrupted
// run, and nothing different from what the first emitted.
func TestReplayFromNeeded(t *testing.T) {
	type rec struct {
		s   *wirepb.Sample
		off int64
	}
	var log []rec
	for i := int64(0); i <= 120; i++ {
		for _, d := range []string{"d1", "d2", "d3"} {
			t1 := t0 + i*sec + int64(len(d))*int64(time.Millisecond)
			log = append(log, rec{ifSample(d, "e1", t1, 1e9, cv{
				wirepb.Counter_IN_OCTETS: uint64(i*i) * 1e6, wirepb.Counter_IN_ERRORS: uint64(i),
			}), int64(len(log))})
			if i%3 == 0 {
				log = append(log, rec{probe(t1, float64(1000*(i%7)), 10, 1, 0, 0), int64(len(log))})
				log[len(log)-1].s.Device = d
			}
		}
	}
	run := func(e *Engine, from, to int64) []*wirepb.KPI {
		for _, r := range log[from:to] {
			e.AddFrom(r.s, time.Unix(0, r.s.DeviceTimeUnixNano), Origin{Offset: r.off})
		}
		return e.Collect(time.Unix(0, log[to-1].s.DeviceTimeUnixNano), nil)
	}
	full := map[string]*wirepb.KPI{}
	for _, k := range run(NewEngine(testConfig(), "a"), 0, int64(len(log))) {
		if k.GetPipeline() == nil {
			full[k.Id] = k
		}
	}
	for _, cut := range []int64{17, 100, 205, 333, 470} {
		a := NewEngine(testConfig(), "a")
		first := run(a, 0, cut)
		needed, ok := a.Needed(0)
		if !ok || needed > cut {
			t.Fatalf("cut %d: needed %d %v", cut, needed, ok)
		}
		second := run(NewEngine(testConfig(), "b"), needed, int64(len(log)))
		got := map[string]*wirepb.KPI{}
		for _, k := range append(first, second...) {
			if k.GetPipeline() != nil {
				continue
			}
			want := full[k.Id]
			if want == nil {
				t.Fatalf("cut %d: KPI %s window %d not in the uninterrupted run", cut, k.Device, (k.WindowStartUnixNano-t0)/sec)
			}
			if !sameKPI(want, k) {
				t.Fatalf("cut %d: KPI differs from the uninterrupted run:\n got %v\nwant %v", cut, k, want)
			}
			got[k.Id] = k
		}
		if len(got) != len(full) {
			t.Errorf("cut %d: %d distinct KPIs, uninterrupted run had %d", cut, len(got), len(full))
		}
	}
}

func sameKPI(a, b *wirepb.KPI) bool {
	const tol = 1e-9
	if a.Samples != b.Samples {
		return false
	}
	if x, y := a.GetInterface(), b.GetInterface(); x != nil {
		return math.Abs(x.InBps-y.InBps) <= tol*max(1, x.InBps) && math.Abs(x.InErrorsPs-y.InErrorsPs) <= tol
	}
	if x, y := a.GetLink(), b.GetLink(); x != nil {
		return math.Abs(x.RttMs-y.RttMs) <= tol && x.RttP95Ms == y.RttP95Ms
	}
	if x, y := a.GetDeviceKpi(), b.GetDeviceKpi(); x != nil {
		return y != nil && x.Reachable == y.Reachable && x.State == y.State && x.LastError == y.LastError &&
			math.Abs(x.UpRatio-y.UpRatio) <= tol
	}
	return true
}

// TestEvictIdle: a series that sends nothing for max-gap while others keep
// sending is closed (its partial window emitted) and forgotten.
func TestEvictIdle(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	evictedAt := int64(-1)
	for i := int64(0); i <= 100; i++ {
		now := time.Unix(0, t0+i*sec)
		if i <= 15 {
			e.Add(ifSample("d1", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), now)
		}
		e.Add(ifSample("d1", "e2", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 25e6}), now)
		var e1 []*wirepb.KPI
		for _, k := range e.Collect(now, nil) {
			if k.GetInterface().GetInterface() == "e1" {
				e1 = append(e1, k)
			}
		}
		m := ifaceKPIs(t, e1)
		switch {
		case i == 12:
			if len(m) != 1 || m[t0] == nil {
				t.Fatalf("at %d s: e1 windows %v, want the first one", i, m)
			}
		case len(m) > 0:
			if evictedAt >= 0 || len(m) != 1 || m[t0+10*sec] == nil || e.Series() != 1 {
				t.Fatalf("at %d s: e1 windows %v, %d series; want the partial window once, at eviction", i, m, e.Series())
			}
			evictedAt = i
			near(t, "partial window util", m[t0+10*sec].GetInterface().UtilIn, 0.4, 1e-9)
		}
	}
	// silent for more than max-gap (60 s) while e2 sent; the scan for idle
	// series runs every max-gap/4
	if evictedAt <= 15+60 || evictedAt > 15+60+15+1 {
		t.Errorf("e1 evicted at %d s, want within (75 s, 91 s]", evictedAt)
	}
	if got := e.Stats().Evicted; got != 1 {
		t.Errorf("evicted %d series, want 1", got)
	}
}

// TestIdleClockStandsStillWithoutSamples: while no sample arrives at all
// (Kafka unreachable, or the processor itself paused), series do not age:
// a lone series is not evicted however long, and windows closed once the
// samples come late are those of an uninterrupted run. Only the time while
// others send counts towards max-gap.
func TestIdleClockStandsStillWithoutSamples(t *testing.T) {
	const outage = 200 * sec // more than 3 × max-gap
	// feed adds both interfaces' samples of second i, one poll each (after a
	// pause, the first poll holds only some series).
	feed := func(e *Engine, i int64, now time.Time, out []*wirepb.KPI) []*wirepb.KPI {
		for _, ifc := range []string{"e1", "e2"} {
			e.Add(ifSample("d1", ifc, t0+i*sec, 1e9, cv{
				wirepb.Counter_IN_OCTETS:       uint64(i) * 50e6,
				wirepb.Counter_IN_UNICAST_PKTS: uint64(i * i * 1000), // a rate that changes, so a partial window differs
			}), now)
			out = e.Collect(now, out)
		}
		return out
	}
	run := func(mode string) map[string]*wirepb.KPI {
		e := NewEngine(testConfig(), "test")
		var out []*wirepb.KPI
		late := int64(0) // processing time behind device time
		for i := int64(0); i <= 40; i++ {
			if i == 16 {
				switch mode {
				case "outage": // the processor polls on, nothing arrives
					for s := int64(1); s <= outage/sec; s++ {
						out = e.Collect(time.Unix(0, t0+(i-1)*sec+s*sec), out)
					}
					late = outage
				case "pause": // the processor did not run at all
					late = outage
				}
			}
			now := time.Unix(0, t0+i*sec+late)
			if late > 0 && i > 16 {
				// the backlog: read as fast as possible
				now = time.Unix(0, t0+16*sec+late+(i-16)*int64(time.Millisecond))
			}
			out = feed(e, i, now, out)
		}
		if ev := e.Stats().Evicted; ev != 0 {
			t.Errorf("%s: %d series evicted", mode, ev)
		}
		byID := map[string]*wirepb.KPI{}
		for _, k := range out {
			if k.GetInterface() == nil {
				continue
			}
			if _, dup := byID[k.Id]; dup {
				t.Errorf("%s: %s emitted twice", mode, k.Id)
			}
			byID[k.Id] = k
		}
		return byID
	}
	want := run("steady")
	if len(want) != 2*3 {
		t.Fatalf("steady run: %d interface KPIs, want 6", len(want))
	}
	for _, mode := range []string{"outage", "pause"} {
		got := run(mode)
		if len(got) != len(want) {
			t.Errorf("%s: %d interface KPIs, want %d", mode, len(got), len(want))
		}
		for id, k := range want {
			if g := got[id]; g == nil || !proto.Equal(g, k) {
				t.Errorf("%s: window %s: got %v, want %v", mode, id, g, k)
			}
		}
	}

	// A lone series: nothing else arrives, it stays open; once others send
	// for max-gap, it is evicted.
	e := NewEngine(testConfig(), "test")
	for i := int64(0); i <= 15; i++ {
		e.Add(ifSample("d1", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t0+i*sec))
	}
	for s := int64(16); s < 1000; s++ {
		e.Collect(time.Unix(0, t0+s*sec), nil)
	}
	if e.Series() != 1 {
		t.Fatalf("lone series evicted while nothing arrived")
	}
	for s := int64(1000); s <= 1062; s++ {
		e.Add(ifSample("d2", "e1", t0+s*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(s) * 50e6}), time.Unix(0, t0+s*sec))
		e.Collect(time.Unix(0, t0+s*sec), nil)
	}
	if e.Series() != 1 || e.Stats().Evicted != 1 {
		t.Errorf("after max-gap of samples from another series: %d series, %d evicted; want d1/e1 evicted", e.Series(), e.Stats().Evicted)
	}
}

// TestNeededNotPinnedBySilentCounter: a counter sent once (suppressed while
// unchanged) stops holding the commit back after max-gap.
func TestNeededNotPinnedBySilentCounter(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	e.AddFrom(ifSample("d1", "e1", t0, 1e9, cv{wirepb.Counter_IN_OCTETS: 0, wirepb.Counter_IN_ERRORS: 0}), time.Unix(0, t0), Origin{Offset: 0})
	for i := int64(1); i <= 100; i++ {
		e.AddFrom(ifSample("d1", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 100}), time.Unix(0, t0+i*sec), Origin{Offset: i})
		e.Collect(time.Unix(0, t0+i*sec), nil)
	}
	if n, ok := e.Needed(0); !ok || n < 80 {
		t.Errorf("needed offset %d (%v): pinned by the silent counter", n, ok)
	}
}

// TestDeviceClockRestart: after a reboot the device clock starts over an
// hour back; the series restarts without spike or negative rate.
func TestDeviceClockRestart(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	for i := int64(0); i <= 15; i++ {
		e.Add(ifSample("d1", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t0+i*sec))
	}
	back := t0 - 3600*sec
	for i := int64(0); i <= 35; i++ {
		e.Add(ifSample("d1", "e1", back+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 25e6}), time.Unix(0, t0+(16+i)*sec))
	}
	out := e.Collect(time.Unix(0, t0+52*sec), nil)
	var after int
	for _, k := range out {
		i := k.GetInterface()
		if i == nil {
			continue
		}
		want := 0.4
		if k.WindowStartUnixNano < t0 {
			want = 0.2
			after++
		}
		near(t, "util_in", i.UtilIn, want, 1e-9)
	}
	if after != 3 || e.Stats().Reset != 1 {
		t.Errorf("%d windows after the restart (want 3), stats %+v", after, e.Stats())
	}
}

// TestLastClearSeparateSample: last-clear comes in its own notification
// (an on_change subscription) before the counters after a reboot; the
// counters are near the top of the 32-bit range so they look like a wrap.
func TestLastClearSeparateSample(t *testing.T) {
	cfg := testConfig()
	cfg.CounterBits = 32
	e := NewEngine(cfg, "test")
	boot := t0 - 1000*sec
	for i := int64(0); i <= 45; i++ {
		t1 := t0 + i*sec
		v := uint64(3_900_000_000) + uint64(i)*5e6 // 40 Mb/s
		if i >= 23 {
			v = uint64(i-23) * 5e6
			if i == 23 {
				lc := ifSample("d1", "e1", t1-sec/2, 0, nil)
				lc.GetInterface().LastClearUnixNano = t1 - sec/2
				e.Add(lc, time.Unix(0, t1))
			}
		}
		s := ifSample("d1", "e1", t1, 1e9, cv{wirepb.Counter_IN_OCTETS: v})
		if i == 0 {
			s.GetInterface().LastClearUnixNano = boot
		}
		e.Add(s, time.Unix(0, t1))
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+45*sec), nil))
	if len(m) != 4 {
		t.Fatalf("%d windows", len(m))
	}
	for _, k := range m {
		near(t, "util_in", k.GetInterface().UtilIn, 0.04, 1e-9)
	}
	if s := e.Stats(); s.Reset != 1 || s.Wrap32 != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestPartialSampleSlightlyLate: in and out counters come in separate
// notifications that may arrive out of order; both are used.
func TestPartialSampleSlightlyLate(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	for i := int64(0); i <= 25; i++ {
		t1 := t0 + i*sec
		e.Add(ifSample("d1", "e1", t1, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t1))
		if i > 0 {
			// out octets of the previous second arrive after this second's in octets
			e.Add(ifSample("d1", "e1", t1-sec, 0, cv{wirepb.Counter_OUT_OCTETS: uint64(i-1) * 25e6}), time.Unix(0, t1))
		}
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+25*sec), nil))
	for _, k := range m {
		near(t, "util_in", k.GetInterface().UtilIn, 0.4, 1e-9)
		near(t, "util_out", k.GetInterface().UtilOut, 0.2, 1e-9)
	}
	if len(m) != 2 || e.Stats().OutOfOrder != 0 {
		t.Errorf("%d windows, stats %+v", len(m), e.Stats())
	}
}

// TestDeviceClockRestartSmallJump: after a reboot the clock restarts 20 s
// back (less than max-gap); the reboot is seen in the counters and the
// series restarts at once instead of dropping samples as out of order.
func TestDeviceClockRestartSmallJump(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	for i := int64(0); i <= 35; i++ {
		s := ifSample("d1", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6})
		s.GetInterface().LastClearUnixNano = t0 - 1000*sec
		e.Add(s, time.Unix(0, t0+i*sec))
	}
	back := t0 + 15*sec
	for i := int64(0); i <= 45; i++ {
		s := ifSample("d1", "e1", back+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 25e6})
		s.GetInterface().LastClearUnixNano = back
		e.Add(s, time.Unix(0, t0+(36+i)*sec))
	}
	if s := e.Stats(); s.OutOfOrder != 0 || s.Reset != 1 {
		t.Errorf("stats %+v", s)
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+80*sec), nil)) // fails on a window emitted twice
	// before: [0,10) [10,20) [20,30) at 0.4 and the partial [30,40);
	// after the restart nothing before 40 s again, then [40,50) at 0.2
	for ws, k := range m {
		want := 0.4
		if ws >= t0+40*sec {
			want = 0.2
		}
		near(t, "util_in", k.GetInterface().UtilIn, want, 1e-9)
	}
	if len(m) != 5 {
		t.Errorf("%d windows", len(m))
	}
}

// TestWrap32SeveralPerInterval: a configured 32-bit octet counter at
// 9 Gb/s wraps every 3.8 s; a 4.5 s gap in sampling hides one wrap, which
// the port speed and the previous rate recover.
func TestWrap32SeveralPerInterval(t *testing.T) {
	cfg := testConfig()
	cfg.CounterBits = 32
	e := NewEngine(cfg, "test")
	const rate = 9e9 / 8
	half := sec / 2
	for ts := t0; ts <= t0+35*sec; ts += half {
		if ts > t0+12*sec && ts < t0+16*sec+half {
			continue // 12 s .. 16.5 s: no samples
		}
		v := uint64(rate*float64(ts-t0)/1e9) % two32
		e.Add(ifSample("d1", "e1", ts, 10e9, cv{wirepb.Counter_IN_OCTETS: v}), time.Unix(0, ts))
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+35*sec), nil))
	if len(m) != 3 {
		t.Fatalf("%d windows", len(m))
	}
	for ws, k := range m {
		near(t, fmt.Sprintf("window %d util_in", (ws-t0)/sec), k.GetInterface().UtilIn, 0.9, 1e-6)
	}
}

// TestWrap32InferenceWithinLineRate: the number of extra wraps in a long
// interval is inferred from the previous rate, but never so many that the
// interval's rate exceeds the port's. Here a 10 Gb/s port at line rate
// drops to 60 % as a 6.5 s sampling gap begins: the true count (one wrap
// and 0.58e9) is below the previous rate's prediction by 0.76 wraps, and
// the count nearest that prediction (two wraps) would make the gap 113 %
// of line rate and the window's utilization 1.02 instead of 0.68.
func TestWrap32InferenceWithinLineRate(t *testing.T) {
	cfg := testConfig()
	cfg.CounterBits = 32
	e := NewEngine(cfg, "test")
	const line = 10e9 / 8
	drop := t0 + 12*sec
	bytesAt := func(ts int64) float64 {
		if ts <= drop {
			return line * float64(ts-t0) / 1e9
		}
		return line*float64(drop-t0)/1e9 + 0.6*line*float64(ts-drop)/1e9
	}
	for ts := t0; ts <= t0+35*sec; ts += sec / 2 {
		if ts > drop && ts < drop+13*sec/2 {
			continue // 12 s .. 18.5 s: no samples
		}
		v := uint64(bytesAt(ts)) % two32
		e.Add(ifSample("d1", "e1", ts, 10e9, cv{wirepb.Counter_IN_OCTETS: v}), time.Unix(0, ts))
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+35*sec), nil))
	k := m[t0+10*sec]
	if k == nil {
		t.Fatalf("no window at +10 s: %d windows", len(m))
	}
	near(t, "util_in of the window with the gap", k.GetInterface().UtilIn, 0.68, 1e-6)
	for ws, k := range m {
		if u := k.GetInterface().UtilIn; u > 1 {
			t.Errorf("window +%d s: util_in %.4f above line rate", (ws-t0)/sec, u)
		}
	}
}

// TestProbeCountsTelescope: cumulative counts sampled mid-second step
// unevenly (received may step more than sent in one interval); the window
// loss is still exact.
func TestProbeCountsTelescope(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	step := 250 * int64(time.Millisecond)
	for ts := t0 - sec; ts <= t0+22*sec; ts += step {
		el := float64(ts-(t0-sec)) / 1e9
		sent := uint64(math.Floor(10 * el))      // 10 probes/s
		recv := uint64(math.Floor(10 * el * .9)) // 10% lost
		e.Add(probe(ts, 5000, 100, 10, sent, recv), time.Unix(0, ts))
	}
	for _, k := range e.Collect(time.Unix(0, t0+22*sec), nil) {
		if l := k.GetLink(); l != nil {
			near(t, "probe loss", l.LossRatio, 0.1, 0.002)
		}
	}
}

// TestStateSampleDoesNotStartWindows: a successor that replays from a
// state-only sample (oper-status, speed) lying exactly at a window's start,
// the counters sample of that instant being already committed, must not
// emit that window: it would miss the counters' first interval and differ
// from the copy the predecessor emitted.
func TestStateSampleDoesNotStartWindows(t *testing.T) {
	e := NewEngine(testConfig(), "test")
	state := ifSample("d1", "e1", t0, 1e9, nil) // window [t0, t0+10s) starts here
	e.Add(state, time.Unix(0, t0))
	for i := int64(1); i <= 25; i++ {
		e.Add(ifSample("d1", "e1", t0+i*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(i) * 50e6}), time.Unix(0, t0+i*sec))
	}
	m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+25*sec), nil))
	if _, ok := m[t0]; ok {
		t.Fatal("window at the state sample emitted without the counters of its first second")
	}
	k := m[t0+10*sec]
	if k == nil {
		t.Fatal("the next window, fully covered by counters, is missing")
	}
	near(t, "util_in of the first full window", k.GetInterface().UtilIn, 0.4, 1e-9)
}

// TestWrap32FromLowerHalfAfterGap: at 10 Gb/s a 32-bit octet counter
// advances by more than 2^31 in 1.7 s, so after a longer sampling gap it can
// wrap from the lower half of its range. That is a wrap (the port can carry
// it), not a reboot: the interval counts, and the window's utilization,
// which changes within it, is exact.
func TestWrap32FromLowerHalfAfterGap(t *testing.T) {
	for _, bits := range []int{32, 0} {
		cfg := testConfig()
		cfg.CounterBits = bits
		e := NewEngine(cfg, "test")
		const speed = 10e9
		// line rate 99.9 % until 24 s, then 27 %
		octets := func(ts int64) uint64 {
			s := float64(ts-t0) / 1e9
			b := 0.999 * min(s, 24)
			if s > 24 {
				b += 0.27 * (s - 24)
			}
			return uint64(3.1e9+b*speed/8) % two32
		}
		ms := int64(time.Millisecond)
		for ts := t0 + 153*ms; ts < t0+40*sec; ts += 500 * ms {
			if ts > t0+19*sec+700*ms && ts < t0+21*sec+600*ms {
				continue // no samples from 19.653 s to 21.653 s
			}
			e.Add(ifSample("d1", "e1", ts, speed, cv{wirepb.Counter_IN_OCTETS: octets(ts)}), time.Unix(0, ts))
		}
		if prev, next := octets(t0+19653*ms), octets(t0+21653*ms); prev >= two31 || next >= prev {
			t.Fatalf("the gap must wrap from the lower half: %d -> %d", prev, next)
		}
		m := ifaceKPIs(t, e.Collect(time.Unix(0, t0+40*sec), nil))
		near(t, fmt.Sprintf("bits %d: window 10 util_in", bits), m[t0+10*sec].GetInterface().UtilIn, 0.999, 1e-6)
		near(t, fmt.Sprintf("bits %d: window 20 util_in", bits), m[t0+20*sec].GetInterface().UtilIn, (4*0.999+6*0.27)/10, 1e-6)
		if s := e.Stats(); s.Reset != 0 {
			t.Errorf("bits %d: a wrap taken for a reset: %+v", bits, s)
		}
	}
}

// TestConstantRateRandomSampling is a property test: a port carrying a
// constant rate, sampled at random, uneven intervals (jitter, and now and
// then a gap of several intervals, as when a collector or the network
// stalls), must give that rate in every window, with no interval taken for
// a reset, whatever the counter width and speed, as long as the width can
// represent the interval: in auto mode an interval may hold at most one
// 32-bit wrap (the documented limit), configured 32-bit infers several from
// the previous interval's rate.
func TestConstantRateRandomSampling(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		bits := []int{0, 32, 64}[rng.IntN(3)]
		speed := []float64{1e9, 10e9, 100e9}[rng.IntN(3)]
		util := 0.05 + 0.95*rng.Float64()
		octetsPS := util * speed / 8
		pktsPS := octetsPS / 700
		// counters wrap at 2^32, or at 2^64 when configured 64-bit
		base := rng.Uint64() % (1 << 32)
		if bits == 64 {
			base = math.MaxUint64 - uint64(rng.IntN(int(30*octetsPS))) // wraps at 2^64 within 30 s
		}
		wrapEvery := float64(1<<32) / octetsPS // seconds per 32-bit wrap of the octet counter
		step := 0.1 + 1.9*rng.Float64()
		limit := func(first bool) float64 { // the longest interval the width can represent
			if bits == 0 || bits == 32 && first {
				return 0.95 * wrapEvery
			}
			return 50
		}
		cfg := testConfig()
		cfg.CounterBits = bits
		e := NewEngine(cfg, "test")
		value := func(ts int64, perSec float64) uint64 {
			x := uint64(float64(ts-t0) / 1e9 * perSec) // exact to within one unit
			if bits == 64 {
				return base + x // modulo 2^64
			}
			return (base + x) % (1 << 32)
		}
		ts, n := t0+int64(rng.Float64()*float64(sec)), 0
		for ts < t0+120*sec {
			e.Add(ifSample("d1", "e1", ts, uint64(speed), cv{
				wirepb.Counter_IN_OCTETS:       value(ts, octetsPS),
				wirepb.Counter_IN_UNICAST_PKTS: value(ts, pktsPS),
			}), time.Unix(0, ts))
			dt := unevenStep(rng, step)
			ts += int64(min(dt, limit(n == 0)) * 1e9)
			n++
		}
		m := ifaceKPIs(t, e.Collect(time.Unix(0, ts), nil))
		if len(m) < 8 {
			t.Fatalf("seed %d: %d windows", seed, len(m))
		}
		for ws, k := range m {
			i := k.GetInterface()
			what := fmt.Sprintf("seed %d (bits %d, speed %g, step %.2f s, wrap every %.2f s) window %d", seed, bits, speed, step, wrapEvery, (ws-t0)/sec)
			near(t, what+" util_in", i.UtilIn, util, util*1e-5)
			near(t, what+" in_pps", i.InPps, pktsPS, pktsPS*1e-4+0.5)
		}
		if s := e.Stats(); s.Reset != 0 || s.Gap != 0 || s.Late != 0 {
			t.Errorf("seed %d (bits %d, speed %g, step %.2f s): stats %+v", seed, bits, speed, step, s)
		}
	}
}

// TestConstantLinkRandomSampling is the same property for probe results: a
// link with a constant RTT, jitter and loss, sampled at random uneven
// intervals with stalls, gives them in every window.
func TestConstantLinkRandomSampling(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		rttUs, jitUs := 100+50000*rng.Float64(), 10+1000*rng.Float64()
		loss := 0.2 * rng.Float64()
		probesPS := []float64{1, 10, 100}[rng.IntN(3)]
		step := 0.1 + 1.9*rng.Float64()
		e := NewEngine(testConfig(), "test")
		ts := t0 + int64(rng.Float64()*float64(sec))
		for ts < t0+120*sec {
			el := float64(ts-t0) / 1e9
			sent := uint64(el * probesPS)
			recv := uint64(el * probesPS * (1 - loss))
			e.Add(probe(ts, rttUs, jitUs, 100*loss, sent, recv), time.Unix(0, ts))
			dt := unevenStep(rng, step)
			ts += int64(dt * 1e9)
		}
		n := 0
		for _, k := range e.Collect(time.Unix(0, ts), nil) {
			l := k.GetLink()
			if l == nil {
				continue
			}
			n++
			what := fmt.Sprintf("seed %d (step %.2f s, %g probes/s) window %d", seed, step, probesPS, (k.WindowStartUnixNano-t0)/sec)
			near(t, what+" rtt", l.RttMs, rttUs/1e3, 1e-9)
			near(t, what+" jitter", l.JitterMs, jitUs/1e3, 1e-9)
			// the counts are whole probes: a window's loss is exact to about
			// one probe in the window's count
			near(t, what+" loss", l.LossRatio, loss, 2/max(float64(l.ProbesSent), 1)+1e-9)
		}
		if n < 8 {
			t.Fatalf("seed %d: %d link windows", seed, n)
		}
		if s := e.Stats(); s.Reset != 0 || s.Late != 0 {
			t.Errorf("seed %d: stats %+v", seed, s)
		}
	}
}

// unevenStep is the next sampling interval (s) of the random-sampling
// property tests: step ±20 %, and one time in 20 a stall of 2 to 6 steps.
func unevenStep(rng *rand.Rand, step float64) float64 {
	dt := step * (0.8 + 0.4*rng.Float64())
	if rng.IntN(20) == 0 {
		dt *= 2 + 4*rng.Float64() // a stall
	}
	return dt
}
