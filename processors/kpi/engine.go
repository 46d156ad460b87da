package kpi

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// numCounters is one past the highest wirepb.Counter value.
const numCounters = int(wirepb.Counter_CARRIER_TRANSITIONS) + 1

// Origin is where a sample came from (Kafka partition and offset). The
// engine uses it only to tell which offsets open windows still need.
type Origin struct {
	Partition int32
	Offset    int64
}

// EngineStats counts what the engine saw and dropped.
type EngineStats struct {
	SamplesIn uint64
	// Ignored: samples without a body the engine uses.
	Ignored uint64
	// NoDevice: device-state samples without a device name; UnknownState:
	// device-state samples whose state is not CONNECTING, DEVICE_UP or
	// DEVICE_DOWN. Both are dropped.
	NoDevice, UnknownState uint64
	// Duplicate: same series, same device time, nothing new.
	Duplicate uint64
	// OutOfOrder: device time before the series' latest.
	OutOfOrder uint64
	// Reset: counter intervals ended by a reset (decrease, last-clear change, clock restart).
	Reset uint64
	// Wrap32 and Wrap64: counter wraps taken as such.
	Wrap32 uint64
	Wrap64 uint64
	// Gap: counter intervals longer than max-gap, not interpolated.
	Gap uint64
	// Late: interval parts that fell in windows already closed.
	Late uint64
	// LateState: device-state records whose window the partition's clock
	// had closed (typically records a collector buffered through a Kafka
	// outage); not dropped: the state holds from the first open window.
	LateState uint64
	// Warmup: windows not emitted because this engine did not see the series
	// before the window started (the previous owner or nobody did).
	Warmup uint64
	// Evicted: series forgotten after max-gap of silence (device series:
	// once their state expired, see devTimeout).
	Evicted uint64
	// StuckSeries: interface and link series closed because their device
	// time did not advance for max-gap while their samples kept arriving
	// (a device with a stuck clock); StuckClock: samples of such a series
	// dropped after it was closed, until its time moves on.
	StuckSeries, StuckClock uint64
	// KPIs emitted, by kind.
	InterfaceKPIs uint64
	LinkKPIs      uint64
	PipelineKPIs  uint64
	DeviceKPIs    uint64
}

// Series keys start with the tenant (keyTenant: "" for the default one),
// so two tenants' series never mix, whatever their names.
type ifKey struct{ tenant, site, device, iface string }

type linkKey struct{ tenant, site, device, peerSite, peerDevice string }

// ifWindow accumulates one interface over one window.
type ifWindow struct {
	start      int64
	baseOffset int64
	delta      [numCounters]float64
	cov        [numCounters]int64
	samples    uint32
	oper       wirepb.OperStatus
	speed      uint64
}

type ifSeries struct {
	key       ifKey
	partition int32
	// firstSeen is the device time of the series' first sample carrying
	// counters (the rates' baseline); notYet until one comes. A state-only
	// sample (oper-status, speed) does not start the series' windows: a
	// successor that replays from a state sample at a window's start must
	// not emit that window without the counters sample of the same instant.
	firstSeen   int64
	lastTime    int64
	lastOffset  int64
	lastArrival int64
	// advancedAt is the idle clock when lastTime last advanced (or the
	// series started): a series whose samples keep arriving without it
	// advancing for max-gap has a stuck clock.
	advancedAt int64
	lastClear  int64
	speed      uint64
	oper       wirepb.OperStatus
	override   uint64
	bits       int
	prevVal    [numCounters]uint64
	prevTime   [numCounters]int64
	prevOff    [numCounters]int64
	lastD      [numCounters]uint64 // last interval's delta and length (ns, 0: unknown)
	lastDt     [numCounters]int64
	big        [numCounters]bool // value seen at or above 2^32: not a 32-bit counter
	wins       []ifWindow
	closedUpTo int64
	// windows in [blockFrom, blockTo) were emitted before a clock restart
	blockFrom, blockTo int64
	// the latest sample that carried speed, oper-status, last-clear (these
	// often come only on change): kept readable for a successor within
	// state-horizon
	stateOff, stateT [3]int64
}

const (
	stateSpeed = iota
	stateOper
	stateClear
)

// closed says whether the window starting at ws takes no more data.
func (se *ifSeries) closed(ws, window int64) bool {
	return ws+window <= se.closedUpTo || ws >= se.blockFrom && ws < se.blockTo
}

type linkWindow struct {
	start      int64
	baseOffset int64
	rtts       []float64 // avg-delay observations, ms
	// weighted sums (ms): weight = received fraction; tw* also × the time
	// since the previous sample (used when non-zero)
	weight, rttSum, jitterSum    float64
	tweight, trttSum, tjitterSum float64
	lossSum                      float64 // loss-percentage/100 of samples without usable counts
	lossN                        uint32
	sent, recv                   float64 // probe count increments attributed to the window
	samples                      uint32
}

type linkSeries struct {
	key         linkKey
	partition   int32
	firstSeen   int64
	lastTime    int64
	lastOffset  int64
	lastArrival int64
	advancedAt  int64 // as ifSeries.advancedAt
	havePrev    bool
	prevT       int64
	prevSent    uint64
	prevRecv    uint64
	wins        []linkWindow
	free        [][]float64
	closedUpTo  int64
	// windows in [blockFrom, blockTo) were emitted before a clock restart
	blockFrom, blockTo int64
}

func (se *linkSeries) closed(ws, window int64) bool {
	return ws+window <= se.closedUpTo || ws >= se.blockFrom && ws < se.blockTo
}

// Engine computes KPIs from samples. It does no I/O and is not safe for
// concurrent use. Feed it with Add/AddFrom in partition order, take closed
// windows with Collect.
type Engine struct {
	window   int64
	lateness int64
	maxGap   int64
	// stateHorizon: how far back (device time) the last speed/oper/last-clear
	// sample of a series is kept uncommitted
	stateHorizon int64
	instance     string
	// tenants tells the default tenant (a sample without a tenant is
	// its) and what a KPI of a tenant carries (Stamp); nil: one tenant.
	tenants   *tenant.Resolver
	defSpeed  uint64
	overrides map[string]uint64
	bits      int
	bitsOver  map[string]int

	ifs   map[ifKey]*ifSeries
	links map[linkKey]*linkSeries
	devs  map[devKey]*devSeries
	// stuckIfs and stuckLinks are the series closed for a stuck clock:
	// their samples are dropped until their time moves past the time it
	// stopped at (or jumps back by more than max-gap); forgotten after
	// max-gap of silence. stuck lists those closed since TakeStuck.
	stuckIfs   map[ifKey]*stuckSeries
	stuckLinks map[linkKey]*stuckSeries
	stuck      []StuckSeries

	// parts are the clocks device windows close on, by partition.
	parts []partClock
	// devTimeout: a device's state is believed this long after its newest
	// record (max of state-horizon and max-gap), then the series is
	// forgotten.
	devTimeout int64

	pipe     delayHist
	pipeWin  int64 // start of the open pipeline window (processing time), 0 when none
	lastScan int64
	// idle is the clock of idle eviction (ns, from 0): the processing time
	// between consecutive samples, each step capped at max-gap/4. It stands
	// still while no sample arrives at all, so a stall of the processor
	// (paused process, starved CPU) or of its input (Kafka unreachable)
	// does not age the series whose samples are only late; lastNow is the
	// processing time of the latest sample.
	idle, lastNow int64

	out   []*wirepb.KPI
	stats EngineStats
}

// NewEngine builds an engine from a validated configuration; instance names
// the pipeline KPIs.
func NewEngine(cfg Configuration, instance string) *Engine {
	return &Engine{
		window:       int64(cfg.Window),
		lateness:     int64(cfg.AllowedLateness),
		maxGap:       int64(cfg.MaxGap),
		stateHorizon: int64(cfg.StateHorizon),
		instance:     instance,
		defSpeed:     cfg.DefaultSpeedBps,
		overrides:    cfg.SpeedOverrides,
		bits:         cfg.CounterBits,
		bitsOver:     cfg.CounterBitsOverrides,
		ifs:          map[ifKey]*ifSeries{},
		links:        map[linkKey]*linkSeries{},
		devs:         map[devKey]*devSeries{},
		stuckIfs:     map[ifKey]*stuckSeries{},
		stuckLinks:   map[linkKey]*stuckSeries{},
		devTimeout:   int64(max(cfg.StateHorizon, cfg.MaxGap)),
	}
}

// Stats returns the counters so far.
func (e *Engine) Stats() EngineStats { return e.stats }

// Series returns how many interface, link and device series are open.
func (e *Engine) Series() int { return len(e.ifs) + len(e.links) + len(e.devs) }

func (e *Engine) floor(t int64) int64 {
	m := t % e.window
	if m < 0 {
		m += e.window
	}
	return t - m
}

// Add feeds one sample; now is the processing time (for the pipeline delay
// KPI and idle eviction).
func (e *Engine) Add(s *wirepb.Sample, now time.Time) {
	e.AddFrom(s, now, Origin{Offset: -1})
}

// AddFrom is Add with the sample's Kafka origin.
func (e *Engine) AddFrom(s *wirepb.Sample, now time.Time, o Origin) {
	e.stats.SamplesIn++
	t := s.GetDeviceTimeUnixNano()
	if t == 0 {
		t = s.GetReceiveTimeUnixNano()
	}
	nowNs := now.UnixNano()
	if d := nowNs - e.lastNow; e.lastNow != 0 && d > 0 {
		e.idle += min(d, e.maxGap/4)
	}
	e.lastNow = max(e.lastNow, nowNs)
	// The partition's clock for device windows: the collector's receive
	// time, never ahead of the processing time.
	rt := s.GetReceiveTimeUnixNano()
	if rt == 0 {
		rt = t
	}
	pc := e.part(o.Partition)
	pc.t = max(pc.t, min(rt, nowNs))
	switch b := s.GetBody().(type) {
	case *wirepb.Sample_Interface:
		e.addInterface(s, b.Interface, t, e.idle, o)
	case *wirepb.Sample_Probe:
		e.addProbe(s, b.Probe, t, e.idle, o)
	case *wirepb.Sample_DeviceState:
		e.addDevice(s, b.DeviceState, t, o)
		return
	default:
		e.stats.Ignored++
		return
	}
	e.observeDelay(nowNs, t)
}

// observeDelay records the telemetry delay of one sample in the pipeline
// window of processing time now.
func (e *Engine) observeDelay(now, t int64) {
	w := e.floor(now)
	if e.pipeWin != w {
		if e.pipeWin != 0 {
			e.closePipeline()
		}
		e.pipeWin = w
	}
	e.pipe.add(float64(now-t) / 1e3)
}

func (e *Engine) closePipeline() {
	if e.pipe.n == 0 {
		e.pipeWin = 0
		return
	}
	start := e.pipeWin
	k := &wirepb.KPI{
		Version:             1,
		Id:                  kpiID("pipeline", "", "", e.instance, "", start),
		Tenant:              e.tenants.Stamp(""),
		WindowStartUnixNano: start,
		WindowEndUnixNano:   start + e.window,
		Samples:             uint32(min(e.pipe.n, math.MaxUint32)),
		Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{
			Instance:   e.instance,
			DelayP50Ms: e.pipe.quantile(0.50) / 1e3,
			DelayP99Ms: e.pipe.quantile(0.99) / 1e3,
			DelayMaxMs: e.pipe.max / 1e3,
			Samples:    e.pipe.n,
		}},
	}
	e.out = append(e.out, k)
	e.stats.PipelineKPIs++
	e.pipe.reset()
	e.pipeWin = 0
}

// notYet marks an interface series that has seen no counters sample yet.
const notYet = math.MaxInt64

func (e *Engine) newIfSeries(k ifKey, t int64, o Origin, idle int64) *ifSeries {
	se := &ifSeries{key: k, partition: o.Partition, firstSeen: notYet, lastTime: t, lastOffset: o.Offset, lastArrival: idle, advancedAt: idle}
	if v, ok := e.overrides[k.device+"/"+k.iface]; ok {
		se.override = v
	} else if v, ok := e.overrides[k.device]; ok {
		se.override = v
	}
	se.bits = e.bits
	if v, ok := e.bitsOver[k.device]; ok {
		se.bits = v
	}
	e.ifs[k] = se
	return se
}

// addInterface adds an interface sample of device time t; idle is the
// engine's idle clock.
func (e *Engine) addInterface(s *wirepb.Sample, st *wirepb.InterfaceState, t, idle int64, o Origin) {
	k := ifKey{e.keyTenant(s), s.GetSite(), s.GetDevice(), st.GetInterface()}
	se := e.ifs[k]
	if se == nil {
		ts := e.stuckIfs[k]
		if ts.holds(t, idle, e.maxGap) {
			e.stats.StuckClock++
			return
		}
		se = e.newIfSeries(k, t, o, idle)
		if ts != nil {
			// its clock moves again: a new series that never emits again a
			// window the stuck one emitted
			delete(e.stuckIfs, k)
			se.blockFrom, se.blockTo, se.lastClear = ts.blockFrom, ts.blockTo, ts.lastClear
		}
	} else if se.lastTime-t > e.maxGap || t < se.lastTime && rebooted(se, st) {
		// The device clock restarted (jumped back by more than max-gap, or
		// back at all with a reboot): close what we have, start afresh, but
		// never emit again a window already emitted for this series.
		e.stats.Reset++
		e.closeIf(se, true)
		delete(e.ifs, k)
		old := se
		se = e.newIfSeries(k, t, o, idle)
		if old.firstSeen != notYet { // it may have emitted windows
			se.blockFrom, se.blockTo = e.floor(old.firstSeen), old.closedUpTo
		}
		se.lastClear = old.lastClear
	}
	se.lastArrival = idle
	if se.firstSeen == notYet && len(st.GetCounters()) > 0 {
		se.firstSeen = t
	}

	reset := false
	if lc := st.GetLastClearUnixNano(); lc != 0 {
		if se.lastClear != 0 && lc != se.lastClear {
			reset = true
		}
		se.lastClear = lc
		se.stateOff[stateClear], se.stateT[stateClear] = o.Offset, t
	}
	if sp := st.GetSpeedBps(); sp != 0 {
		se.speed = sp
		se.stateOff[stateSpeed], se.stateT[stateSpeed] = o.Offset, t
	}
	if os := st.GetOperStatus(); os != 0 {
		se.oper = os
		se.stateOff[stateOper], se.stateT[stateOper] = o.Offset, t
	}
	counters := st.GetCounters()
	if !reset {
		// A counter that decreases from the lower half of the 32-bit range
		// has not wrapped (that would be an increase of 2^31 or more) unless
		// the port could carry that much since the previous sample (a
		// 10 Gb/s octet counter in 1.7 s). Otherwise the device rebooted (or
		// cleared its counters), and every decrease in this sample is a
		// reset, not a wrap. Packet counters, bounded at minimum-size
		// frames, still reveal a reboot after a long gap.
		for _, cv := range counters {
			c := int(cv.GetCounter())
			if c > 0 && c < numCounters && se.prevTime[c] != 0 && se.prevTime[c] < t &&
				cv.GetValue() < se.prevVal[c] && se.prevVal[c] < two31 &&
				!e.wrapPossible(se, c, se.prevVal[c], cv.GetValue(), t-se.prevTime[c]) {
				reset = true
				break
			}
		}
	}
	fresh := len(counters) == 0 && t >= se.lastTime // a state-only notification
	wsT := e.floor(t)
	var wT *ifWindow // the window of wsT, once looked up
	counted := false
	for _, cv := range counters {
		c := int(cv.GetCounter())
		if c <= 0 || c >= numCounters {
			continue
		}
		v := cv.GetValue()
		pt := se.prevTime[c]
		if pt != 0 && t <= pt {
			continue // this counter at this time: already seen
		}
		fresh = true
		// the interval contains the last counter clear: a reset
		cleared := reset || se.lastClear > pt && se.lastClear <= t
		if pt != 0 && cleared && !counted {
			e.stats.Reset++
			counted = true
		}
		if pt != 0 && !cleared {
			prev := se.prevVal[c]
			d, ok := v-prev, true
			if v < prev {
				d, ok = e.counterDelta(se, c, prev, v, t-pt)
			}
			if ok && se.bits == 32 {
				d += e.extraWraps32(se, c, d, t-pt) * two32
			}
			switch {
			case !ok:
				if !counted {
					e.stats.Reset++
					counted = true
				}
			case t-pt > e.maxGap:
				e.stats.Gap++
			case pt >= wsT && !se.closed(wsT, e.window):
				// fast path: the interval lies in the sample's window
				if wT == nil {
					wT = se.win(wsT, se.prevOff[c])
				} else if off := se.prevOff[c]; off < wT.baseOffset {
					wT.baseOffset = off
				}
				wT.delta[c] += float64(d)
				wT.cov[c] += t - pt
				se.lastD[c], se.lastDt[c] = d, t-pt
			default:
				e.attribute(se, c, pt, t, float64(d), se.prevOff[c])
				wT = nil // windows may have moved
				se.lastD[c], se.lastDt[c] = d, t-pt
			}
		}
		se.prevVal[c], se.prevTime[c], se.prevOff[c] = v, t, o.Offset
		if v >= two32 {
			se.big[c] = true
		}
	}
	if !fresh {
		if t < se.lastTime {
			e.stats.OutOfOrder++
		} else {
			e.stats.Duplicate++
		}
		return
	}
	if !se.closed(wsT, e.window) {
		w := se.win(wsT, o.Offset)
		w.samples++
		if sp := st.GetSpeedBps(); sp != 0 {
			w.speed = sp
		}
		if os := st.GetOperStatus(); os != 0 {
			w.oper = os
		}
	}
	if t > se.lastTime {
		se.lastTime = t
		se.advancedAt = idle
	}
	se.lastOffset = o.Offset
	for len(se.wins) > 0 && se.wins[0].start+e.window+e.lateness <= se.lastTime {
		e.closeIfWindow(se)
	}
}

// rebooted says whether a sample reports a reboot: a changed last-clear.
// (A lower counter alone is not enough here: a stale sample looks the same.)
func rebooted(se *ifSeries, st *wirepb.InterfaceState) bool {
	lc := st.GetLastClearUnixNano()
	return lc != 0 && se.lastClear != 0 && lc != se.lastClear
}

// win returns the open window starting at start, creating it in order.
func (se *ifSeries) win(start, off int64) *ifWindow {
	i := len(se.wins)
	for i > 0 && se.wins[i-1].start > start {
		i--
	}
	if i > 0 && se.wins[i-1].start == start {
		w := &se.wins[i-1]
		if off < w.baseOffset {
			w.baseOffset = off
		}
		return w
	}
	se.wins = slices.Insert(se.wins, i, ifWindow{start: start, baseOffset: off})
	return &se.wins[i]
}

// attribute spreads a counter delta over [t0, t1) proportionally to the
// time each window covers.
func (e *Engine) attribute(se *ifSeries, c int, t0, t1 int64, d float64, off int64) {
	span := float64(t1 - t0)
	for ws := e.floor(t0); ws < t1; ws += e.window {
		lo, hi := max(t0, ws), min(t1, ws+e.window)
		if hi <= lo {
			continue
		}
		if se.closed(ws, e.window) {
			e.stats.Late++
			continue
		}
		w := se.win(ws, off)
		w.delta[c] += d * float64(hi-lo) / span
		w.cov[c] += hi - lo
	}
}

const (
	two32 = uint64(1) << 32
	two30 = uint64(1) << 30
	two31 = uint64(1) << 31
	two63 = uint64(1) << 63
)

// counterDelta returns the increase of a counter from prev to v over dt ns,
// taking wraps into account; ok is false for a reset.
func (e *Engine) counterDelta(se *ifSeries, c int, prev, v uint64, dt int64) (uint64, bool) {
	if v >= prev {
		return v - prev, true
	}
	if se.bits != 64 && prev < two32 && v < two32 {
		d := two32 - prev + v
		p := e.plausible(se, c, d, dt)
		var wrap bool
		if se.bits == 32 {
			// configured 32-bit: any decrease is a wrap unless the delta is
			// more than the port can carry (or, speed unknown, prev is in the
			// bottom half of the range: then it is a reset).
			wrap = p > 0 || p == 0 && prev >= two31
		} else if !se.big[c] {
			// auto, for a counter never seen at or above 2^32: with the port
			// speed known, a wrap if the delta is possible at that speed;
			// without it, only if prev is in the top quarter of the range, v
			// in the bottom quarter and the rate at most 3x the previous one.
			// (Reboots are caught before: last-clear, or another counter
			// decreasing from below 2^31.)
			wrap = p > 0 || p == 0 && prev >= 3*two30 && v < two30 &&
				(se.lastDt[c] == 0 || perSecond(d, dt) <= 3*perSecond(se.lastD[c], se.lastDt[c])+1)
		}
		if wrap {
			e.stats.Wrap32++
			return d, true
		}
	}
	if se.bits != 32 && prev >= two63 {
		d := v - prev // modulo 2^64
		if e.plausible(se, c, d, dt) >= 0 && d < two63 {
			e.stats.Wrap64++
			return d, true
		}
	}
	return 0, false
}

// wrapPossible says whether a 32-bit counter going down from prev to v over
// dt ns may have wrapped: the counter is not 64-bit (configured), and the
// port speed is known and can carry the increase the wrap implies.
func (e *Engine) wrapPossible(se *ifSeries, c int, prev, v uint64, dt int64) bool {
	return se.bits != 64 && prev < two32 && v < two32 && e.plausible(se, c, two32-prev+v, dt) > 0
}

// rateOf is d per second over dt ns.
func perSecond(d uint64, dt int64) float64 { return float64(d) / (float64(dt) / 1e9) }

// maxPerSec is the most a counter can grow per second at the port speed
// (0: speed unknown): octets at line rate, packets at minimum-size frames
// (64 bytes plus 20 bytes of preamble and gap).
func (e *Engine) maxPerSec(se *ifSeries, c int) float64 {
	sp := e.speedOf(se, 0)
	if sp == 0 {
		return 0
	}
	switch wirepb.Counter(c) {
	case wirepb.Counter_IN_OCTETS, wirepb.Counter_OUT_OCTETS:
		return float64(sp) / 8
	case wirepb.Counter_CARRIER_TRANSITIONS:
		return 1000
	}
	return float64(sp) / (84 * 8)
}

// wrapInferenceHeadroom bounds the rate of an interval whose extra wraps
// are inferred, as a multiple of the port's most: such an interval is
// longer than a wrap at line rate (3.4 s for octets at 10 Gb/s), so the
// jitter of device timestamps is a small part of it, and a count the port
// cannot carry is certainly wrong. plausible keeps 1.25 for the single
// wraps of short intervals, where timestamp jitter weighs more.
const wrapInferenceHeadroom = 1.01

// plausible says whether a delta over dt is possible at the port speed:
// 1 yes, -1 no, 0 unknown (no speed).
func (e *Engine) plausible(se *ifSeries, c int, d uint64, dt int64) int {
	m := e.maxPerSec(se, c)
	if m == 0 || dt <= 0 {
		return 0
	}
	if perSecond(d, dt) <= m*1.25 {
		return 1
	}
	return -1
}

// extraWraps32 infers how many more whole 32-bit wraps than the one (or
// none) visible happened in an interval: only for configured 32-bit
// counters, when the port speed allows more than one (long interval, fast
// port) and the previous rate is known; it picks the count that makes the
// rate closest to the previous interval's, among those the port can carry
// (wrapInferenceHeadroom).
func (e *Engine) extraWraps32(se *ifSeries, c int, d uint64, dt int64) uint64 {
	m := e.maxPerSec(se, c)
	if m == 0 || se.lastDt[c] == 0 || dt <= 0 {
		return 0
	}
	maxD := wrapInferenceHeadroom * m * float64(dt) / 1e9
	if float64(d)+float64(two32) > maxD {
		return 0 // one more wrap is not possible at port speed
	}
	want := perSecond(se.lastD[c], se.lastDt[c]) * float64(dt) / 1e9
	k := math.Round((want - float64(d)) / float64(two32))
	k = min(max(k, 0), math.Floor((maxD-float64(d))/float64(two32)))
	e.stats.Wrap32 += uint64(k)
	return uint64(k)
}

// speedOf picks the port speed: override, then telemetry (in the window,
// then latest), then the default.
func (e *Engine) speedOf(se *ifSeries, winSpeed uint64) uint64 {
	switch {
	case se.override != 0:
		return se.override
	case winSpeed != 0:
		return winSpeed
	case se.speed != 0:
		return se.speed
	}
	return e.defSpeed
}

// closeIf closes every open window of a series (partial ones too when force).
func (e *Engine) closeIf(se *ifSeries, force bool) {
	for len(se.wins) > 0 {
		if !force && se.wins[0].start+e.window+e.lateness > se.lastTime {
			return
		}
		e.closeIfWindow(se)
	}
}

func (e *Engine) closeIfWindow(se *ifSeries) {
	w := &se.wins[0]
	se.closedUpTo = w.start + e.window
	if w.start < se.firstSeen {
		e.stats.Warmup++
	} else {
		e.out = append(e.out, e.interfaceKPI(se, w))
		e.stats.InterfaceKPIs++
	}
	se.wins = append(se.wins[:0], se.wins[1:]...)
}

func (w *ifWindow) rate(c wirepb.Counter) float64 {
	if w.cov[c] <= 0 {
		return 0
	}
	return w.delta[c] / (float64(w.cov[c]) / 1e9)
}

func (e *Engine) interfaceKPI(se *ifSeries, w *ifWindow) *wirepb.KPI {
	inErr := w.rate(wirepb.Counter_IN_ERRORS)
	inDisc := w.rate(wirepb.Counter_IN_DISCARDS)
	outErr := w.rate(wirepb.Counter_OUT_ERRORS)
	outDisc := w.rate(wirepb.Counter_OUT_DISCARDS)
	inPps := w.rate(wirepb.Counter_IN_UNICAST_PKTS) + w.rate(wirepb.Counter_IN_MULTICAST_PKTS) + w.rate(wirepb.Counter_IN_BROADCAST_PKTS)
	outPps := w.rate(wirepb.Counter_OUT_UNICAST_PKTS) + w.rate(wirepb.Counter_OUT_MULTICAST_PKTS) + w.rate(wirepb.Counter_OUT_BROADCAST_PKTS)
	inBps := 8 * w.rate(wirepb.Counter_IN_OCTETS)
	outBps := 8 * w.rate(wirepb.Counter_OUT_OCTETS)
	speed := e.speedOf(se, w.speed)
	var utilIn, utilOut float64
	if speed != 0 {
		utilIn, utilOut = inBps/float64(speed), outBps/float64(speed)
	}
	loss := 0.0
	if offered := inPps + inErr + inDisc + outPps; offered > 0 {
		loss = min(max((inErr+inDisc+outDisc)/offered, 0), 1)
	}
	oper := w.oper
	if oper == 0 {
		oper = se.oper
	}
	k := se.key
	return &wirepb.KPI{
		Version:             1,
		Id:                  e.id(k.tenant, "interface", k.site, k.device, k.iface, "", w.start),
		Tenant:              e.tenants.Stamp(k.tenant),
		Site:                k.site,
		Device:              k.device,
		WindowStartUnixNano: w.start,
		WindowEndUnixNano:   w.start + e.window,
		Samples:             w.samples,
		Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{
			Interface:     k.iface,
			UtilIn:        utilIn,
			UtilOut:       utilOut,
			LossRatio:     loss,
			InErrorsPs:    inErr,
			InDiscardsPs:  inDisc,
			OutDiscardsPs: outDisc,
			OutErrorsPs:   outErr,
			SpeedBps:      speed,
			InBps:         inBps,
			OutBps:        outBps,
			InPps:         inPps,
			OutPps:        outPps,
			OperStatus:    oper,
		}},
	}
}

// addProbe adds a probe sample of device time t; idle is the engine's idle
// clock.
func (e *Engine) addProbe(s *wirepb.Sample, p *wirepb.ProbeResult, t, idle int64, o Origin) {
	k := linkKey{e.keyTenant(s), s.GetSite(), s.GetDevice(), p.GetPeerSite(), p.GetPeerDevice()}
	se := e.links[k]
	if se == nil {
		ts := e.stuckLinks[k]
		if ts.holds(t, idle, e.maxGap) {
			e.stats.StuckClock++
			return
		}
		se = &linkSeries{key: k, partition: o.Partition, firstSeen: t, lastTime: t - 1, lastOffset: o.Offset, advancedAt: idle}
		if ts != nil {
			delete(e.stuckLinks, k)
			se.blockFrom, se.blockTo = ts.blockFrom, ts.blockTo
		}
		e.links[k] = se
	}
	// Arriving, even as a duplicate: a series whose samples come without
	// its time advancing is stuck (closed on the idle clock), not silent.
	se.lastArrival = idle
	if t <= se.lastTime {
		if t == se.lastTime {
			e.stats.Duplicate++
			return
		}
		if se.lastTime-t <= e.maxGap {
			e.stats.OutOfOrder++
			return
		}
		e.stats.Reset++
		e.closeLink(se, true)
		old := se
		se = &linkSeries{key: k, partition: o.Partition, firstSeen: t, lastTime: t - 1, lastOffset: o.Offset,
			blockFrom: e.floor(old.firstSeen), blockTo: old.closedUpTo, lastArrival: idle, advancedAt: idle}
		e.links[k] = se
	}
	base := o.Offset
	if se.havePrev {
		base = se.lastOffset
	}
	sent, recv := p.GetProbesSent(), p.GetProbesReceived()
	counted := false
	// cumulative counts: any monotonic step counts (over a short interval
	// received may even exceed sent: probes in flight); the window's loss is
	// 1 - Σreceived/Σsent, so the steps telescope
	if se.havePrev && (sent > 0 || recv > 0) && sent >= se.prevSent && recv >= se.prevRecv && t-se.prevT <= e.maxGap {
		counted = true
		e.attributeProbes(se, se.prevT, t, float64(sent-se.prevSent), float64(recv-se.prevRecv), base)
	}
	ws := e.floor(t)
	if se.closed(ws, e.window) {
		e.stats.Late++
	} else {
		w := se.win(ws, base)
		w.samples++
		lp := p.GetLossPercentage()
		if wt := 1 - lp/100; wt > 0 && wt <= 1 {
			rtt := p.GetAvgDelayUs() / 1e3
			w.rtts = append(w.rtts, rtt)
			jit := p.GetJitterUs() / 1e3
			w.weight += wt
			w.rttSum += wt * rtt
			w.jitterSum += wt * jit
			if se.havePrev && t-se.prevT <= e.maxGap {
				tw := wt * float64(t-se.prevT) / 1e9
				w.tweight += tw
				w.trttSum += tw * rtt
				w.tjitterSum += tw * jit
			}
		}
		if !counted {
			w.lossSum += min(max(lp/100, 0), 1)
			w.lossN++
		}
	}
	se.prevT = t
	se.prevSent, se.prevRecv, se.havePrev = p.GetProbesSent(), p.GetProbesReceived(), true
	se.lastTime = t
	se.advancedAt = idle
	se.lastOffset = o.Offset
	for len(se.wins) > 0 && se.wins[0].start+e.window+e.lateness <= se.lastTime {
		e.closeLinkWindow(se)
	}
}

// attributeProbes spreads probe count increments over [t0, t1) like counters.
func (e *Engine) attributeProbes(se *linkSeries, t0, t1 int64, ds, dr float64, off int64) {
	span := float64(t1 - t0)
	for ws := e.floor(t0); ws < t1; ws += e.window {
		lo, hi := max(t0, ws), min(t1, ws+e.window)
		if hi <= lo {
			continue
		}
		if se.closed(ws, e.window) {
			e.stats.Late++
			continue
		}
		w := se.win(ws, off)
		f := float64(hi-lo) / span
		w.sent += ds * f
		w.recv += dr * f
	}
}

func (se *linkSeries) win(start, off int64) *linkWindow {
	i := len(se.wins)
	for i > 0 && se.wins[i-1].start > start {
		i--
	}
	if i > 0 && se.wins[i-1].start == start {
		w := &se.wins[i-1]
		if off < w.baseOffset {
			w.baseOffset = off
		}
		return w
	}
	var buf []float64
	if n := len(se.free); n > 0 {
		buf, se.free = se.free[n-1][:0], se.free[:n-1]
	}
	se.wins = slices.Insert(se.wins, i, linkWindow{start: start, baseOffset: off, rtts: buf})
	return &se.wins[i]
}

func (e *Engine) closeLink(se *linkSeries, force bool) {
	for len(se.wins) > 0 {
		if !force && se.wins[0].start+e.window+e.lateness > se.lastTime {
			return
		}
		e.closeLinkWindow(se)
	}
}

func (e *Engine) closeLinkWindow(se *linkSeries) {
	w := &se.wins[0]
	se.closedUpTo = w.start + e.window
	// strict: a sample exactly at the window start needs its predecessor
	// (time weight), which the engine must have seen too
	if w.start <= se.firstSeen {
		e.stats.Warmup++
	} else if w.samples > 0 {
		e.out = append(e.out, e.linkKPI(se, w))
		e.stats.LinkKPIs++
	}
	se.free = append(se.free, w.rtts[:0])
	w.rtts = nil
	se.wins = append(se.wins[:0], se.wins[1:]...)
}

// quantile is the nearest-rank quantile of sorted xs.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (e *Engine) linkKPI(se *linkSeries, w *linkWindow) *wirepb.KPI {
	slices.Sort(w.rtts)
	var rtt, jitter, loss float64
	switch {
	case w.tweight > 0:
		rtt, jitter = w.trttSum/w.tweight, w.tjitterSum/w.tweight
	case w.weight > 0:
		rtt, jitter = w.rttSum/w.weight, w.jitterSum/w.weight
	}
	switch {
	case w.sent > 0:
		loss = 1 - w.recv/w.sent // clamped below
	case w.lossN > 0:
		loss = w.lossSum / float64(w.lossN)
	}
	k := se.key
	return &wirepb.KPI{
		Version:             1,
		Id:                  e.id(k.tenant, "link", k.site, k.device, k.peerSite, k.peerDevice, w.start),
		Tenant:              e.tenants.Stamp(k.tenant),
		Site:                k.site,
		Device:              k.device,
		WindowStartUnixNano: w.start,
		WindowEndUnixNano:   w.start + e.window,
		Samples:             w.samples,
		Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{
			DstSite:        k.peerSite,
			DstDevice:      k.peerDevice,
			RttMs:          rtt,
			RttP50Ms:       quantile(w.rtts, 0.50),
			RttP95Ms:       quantile(w.rtts, 0.95),
			RttP99Ms:       quantile(w.rtts, 0.99),
			JitterMs:       jitter,
			LossRatio:      min(max(loss, 0), 1),
			ProbesSent:     uint64(math.Round(w.sent)),
			ProbesReceived: uint64(math.Round(w.recv)),
		}},
	}
}

// Collect closes what is due at processing time now (the pipeline window,
// series idle for max-gap on the idle clock: while other samples arrived,
// device windows on their partition's clock) and appends every closed
// window since the last call to out.
func (e *Engine) Collect(now time.Time, out []*wirepb.KPI) []*wirepb.KPI {
	n := now.UnixNano()
	if e.pipeWin != 0 && n >= e.pipeWin+e.window {
		e.closePipeline()
	}
	e.collectDevices()
	if n-e.lastScan >= max(int64(time.Second), e.maxGap/4) {
		e.lastScan = n
		for k, se := range e.ifs {
			switch {
			case e.idle-se.lastArrival > e.maxGap:
				e.closeIf(se, true)
				delete(e.ifs, k)
				e.stats.Evicted++
			case e.idle-se.advancedAt > e.maxGap:
				e.closeIf(se, true)
				delete(e.ifs, k)
				ts := &stuckSeries{partition: se.partition, at: se.lastTime, lastArrival: se.lastArrival, lastClear: se.lastClear}
				if se.firstSeen != notYet {
					ts.blockFrom, ts.blockTo = e.floor(se.firstSeen), se.closedUpTo
				}
				e.stuckIfs[k] = ts
				e.stuckFound(StuckSeries{Kind: "interface", Site: k.site, Device: k.device, Entity: k.iface,
					Partition: se.partition, DeviceTime: se.lastTime})
			}
		}
		for k, se := range e.links {
			switch {
			case e.idle-se.lastArrival > e.maxGap:
				e.closeLink(se, true)
				delete(e.links, k)
				e.stats.Evicted++
			case e.idle-se.advancedAt > e.maxGap:
				e.closeLink(se, true)
				delete(e.links, k)
				e.stuckLinks[k] = &stuckSeries{partition: se.partition, at: se.lastTime, lastArrival: se.lastArrival,
					blockFrom: e.floor(se.firstSeen), blockTo: se.closedUpTo}
				e.stuckFound(StuckSeries{Kind: "link", Site: k.site, Device: k.device, Entity: k.peerSite + "/" + k.peerDevice,
					Partition: se.partition, DeviceTime: se.lastTime})
			}
		}
		for k, ts := range e.stuckIfs {
			if e.idle-ts.lastArrival > e.maxGap {
				delete(e.stuckIfs, k)
			}
		}
		for k, ts := range e.stuckLinks {
			if e.idle-ts.lastArrival > e.maxGap {
				delete(e.stuckLinks, k)
			}
		}
	}
	out = append(out, e.out...)
	clear(e.out)
	e.out = e.out[:0]
	return out
}

// Drain closes every open window, partial ones included, and returns them
// with anything not collected yet (end of a finite stream; the Processor
// does not call it: at Stop, open windows are left to the next owner).
func (e *Engine) Drain(out []*wirepb.KPI) []*wirepb.KPI {
	for _, se := range e.ifs {
		e.closeIf(se, true)
	}
	for _, se := range e.links {
		e.closeLink(se, true)
	}
	e.drainDevices()
	if e.pipeWin != 0 {
		e.closePipeline()
	}
	out = append(out, e.out...)
	clear(e.out)
	e.out = e.out[:0]
	return out
}

// Needed returns the lowest offset of partition p that an open window (or a
// series' baseline) still needs; ok is false when no series is open there.
func (e *Engine) Needed(p int32) (offset int64, ok bool) {
	offset, ok = e.NeededAll(nil)[p]
	return offset, ok
}

// NeededAll is Needed for every partition with an open series, in one pass.
func (e *Engine) NeededAll(into map[int32]int64) map[int32]int64 {
	if into == nil {
		into = map[int32]int64{}
	}
	take := func(p int32, o int64) {
		if cur, ok := into[p]; !ok || o < cur {
			into[p] = o
		}
	}
	for _, se := range e.ifs {
		o := se.lastOffset
		if len(se.wins) > 0 {
			o = min(o, se.wins[0].baseOffset)
		}
		for c := range se.prevOff {
			// a baseline older than max-gap is not needed: its next interval
			// would not be interpolated (a counter never re-sent because it
			// does not change must not pin the commits)
			if se.prevTime[c] != 0 && se.lastTime-se.prevTime[c] <= e.maxGap {
				o = min(o, se.prevOff[c])
			}
		}
		for i, st := range se.stateT {
			if st != 0 && se.lastTime-st <= e.stateHorizon {
				o = min(o, se.stateOff[i])
			}
		}
		take(se.partition, o)
	}
	for _, se := range e.links {
		o := se.lastOffset
		if len(se.wins) > 0 {
			o = min(o, se.wins[0].baseOffset)
		}
		take(se.partition, o)
	}
	for _, se := range e.devs {
		take(se.partition, se.needed())
	}
	return into
}

// DropPartition forgets every series of partition p without emitting.
func (e *Engine) DropPartition(p int32) {
	for k, se := range e.ifs {
		if se.partition == p {
			delete(e.ifs, k)
		}
	}
	for k, se := range e.links {
		if se.partition == p {
			delete(e.links, k)
		}
	}
	for k, se := range e.devs {
		if se.partition == p {
			delete(e.devs, k)
		}
	}
	for k, ts := range e.stuckIfs {
		if ts.partition == p {
			delete(e.stuckIfs, k)
		}
	}
	for k, ts := range e.stuckLinks {
		if ts.partition == p {
			delete(e.stuckLinks, k)
		}
	}
	if p >= 0 && int(p) < len(e.parts) {
		e.parts[p] = partClock{}
	}
}

// StuckSeries is an interface or link series closed because its device
// time stopped advancing for max-gap (on the idle clock) while its samples
// kept arriving: a device with a stuck clock. Its open windows were
// emitted with the coverage they had, and its samples are dropped
// (stuck_clock) until its time moves past DeviceTime.
type StuckSeries struct {
	// Kind is "interface" or "link".
	Kind         string
	Site, Device string
	// Entity is the interface, or dst_site/dst_device for a link.
	Entity    string
	Partition int32
	// DeviceTime is the device time the series stopped at (Unix ns).
	DeviceTime int64
}

// stuckSeries is what is kept of a series closed for a stuck clock.
type stuckSeries struct {
	partition int32
	// at is the device time it stopped at; lastArrival the idle clock of
	// its latest sample (forgotten after max-gap of silence).
	at, lastArrival    int64
	blockFrom, blockTo int64
	lastClear          int64
}

// holds says whether a sample of device time t of a series closed for a
// stuck clock (ts, nil if none) is dropped: its time has not moved past
// the time it stopped at, and has not jumped back by more than max-gap (a
// clock restart starts the series afresh). It notes the arrival.
func (ts *stuckSeries) holds(t, idle, maxGap int64) bool {
	if ts == nil || t > ts.at || ts.at-t > maxGap {
		return false
	}
	ts.lastArrival = idle
	return true
}

func (e *Engine) stuckFound(s StuckSeries) {
	e.stats.StuckSeries++
	e.stuck = append(e.stuck, s)
}

// TakeStuck appends the series closed for a stuck clock since the last
// call to into (once each, for the log).
func (e *Engine) TakeStuck(into []StuckSeries) []StuckSeries {
	into = append(into, e.stuck...)
	clear(e.stuck)
	e.stuck = e.stuck[:0]
	return into
}

// keyTenant is the tenant of a sample in series keys: "" for the default
// tenant, written or not (the cheapest key, and one series whichever way
// its samples say it), else the sample's.
func (e *Engine) keyTenant(s *wirepb.Sample) string {
	if tn := s.GetTenant(); tn != e.tenants.Default() {
		return tn
	}
	return ""
}

// id is the deterministic id of a KPI of the key tenant tn: kpiID for the
// default tenant (the ids of an installation from before tenants, so a
// replay still de-duplicates), tenantKPIID for the others.
func (e *Engine) id(tn, kind, site, device, a, b string, start int64) string {
	return tenantKPIID(tn, kind, site, device, a, b, start)
}

// kpiID is the deterministic id of a KPI of the default tenant: kind,
// entity and window start.
func kpiID(kind, site, device, a, b string, start int64) string {
	return tenantKPIID("", kind, site, device, a, b, start)
}

// tenantKPIID is the deterministic id of a KPI of tenant tn (kpiID when
// tn is ""): kind, entity, tenant and window start. The tenant, which
// starts with a letter, comes before the start, which does not: an id
// with a tenant never hashes the bytes of one without.
func tenantKPIID(tn, kind, site, device, a, b string, start int64) string {
	h := sha256.New()
	var buf [20]byte
	for _, s := range [...]string{kind, site, device, a, b} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if tn != "" {
		h.Write([]byte(tn))
		h.Write([]byte{0})
	}
	h.Write(strconv.AppendInt(buf[:0], start, 10))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
