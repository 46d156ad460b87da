// Package accuracy checks the KPI processor against the simulator's ground
// truth, end to end (simulator → collector → Kafka → processor → Kafka). It
// lives apart from package kpi so that the engine's own tests do not depend
// on the simulator and collector packages.
package accuracy

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// accuracyScenario has loss, congestion, latency with probe loss and a
// device reboot; the fabric runs with 32-bit counters at 10 Gb/s, so octet
// counters wrap every ~10 s of device time.
const accuracyScenario = `faults:
  - {type: latency, sites: [site1, site2], rtt-ms: 20, jitter-ms: 2, loss: 0.1, start: 15s, duration: 40s}
  - {type: loss, device: site1-sw1, interface: Ethernet1, ratio: 0.05, start: 25s, duration: 30s}
  - {type: congestion, device: site2-sw1, interface: Ethernet2, load: 1.3, start: 34s, duration: 22s}
  - {type: counter_reset, device: site2-sw1, start: 63s}
`

// TestAccuracyAgainstSimulator runs simulator → collector → Kafka (kfake) →
// processor → Kafka and compares every emitted window with the simulator's
// ground truth. Device time runs 10× faster than real time
// (one sample per device second; the RTT mean is exact only when every
// probe second is sampled once, so a faster clock makes timing jitter show).
func TestAccuracyAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ~11 s of real time")
	}
	const speed = 10
	const deviceRun = 100 * time.Second
	dir := t.TempDir()
	scen := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(scen, []byte(accuracyScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	// device clock: starts 0.4 s after a window boundary, runs 10× real time
	realStart := time.Now()
	devStart := realStart.Truncate(10 * time.Second).Add(-20 * time.Second).Add(400 * time.Millisecond)
	clock := func() time.Time { return devStart.Add(time.Since(realStart) * speed) }

	scfg := simulator.DefaultConfiguration()
	scfg.Listen = "127.0.0.1:0"
	scfg.Sites, scfg.SwitchesPerSite, scfg.InterfacesPerSwitch = 2, 1, 2
	scfg.CounterBits = 32
	scfg.ErrorRate = 0.001
	scfg.Scenario = scen
	fab, err := simulator.New(scfg, simulator.Dependencies{Registerer: prometheus.NewRegistry(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := fab.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fab.Stop() }()
	epoch := fab.Epoch()

	kc, _ := kafkatest.Fake(t, 2)
	ccfg := collector.DefaultConfiguration()
	ccfg.Instance = "c1"
	interval := time.Second / speed / 2 // two samples per device second
	for i := range ccfg.Subscriptions {
		switch {
		case ccfg.Subscriptions[i].Name == "probes":
			// probe results are point observations of the current second: the
			// RTT mean errs by up to step × interval / window at a latency
			// step, so sample them 4× per device second
			ccfg.Subscriptions[i].SampleInterval = interval / 2
		case ccfg.Subscriptions[i].SampleInterval != 0:
			ccfg.Subscriptions[i].SampleInterval = interval
		}
	}
	for _, tg := range fab.Targets() {
		ccfg.Targets = append(ccfg.Targets, collector.TargetConfig{Name: tg.Name, Address: fab.Addr(), Insecure: true})
	}
	col, err := collector.New(ccfg, collector.Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	collectorStopped := false
	defer func() {
		if !collectorStopped {
			_ = col.Stop()
		}
	}()

	// two processors on the same stream: counter-bits configured 32, and auto-detect
	type run struct {
		bits   int
		maxGap time.Duration
		kc     *kafka.Configuration
		p      *kpi.Processor
	}
	var runs []*run
	for _, bits := range []int{32, 0} {
		rkc := *kc
		rkc.Topics.KPIs = kc.Topics.KPIs + "-" + strconv.Itoa(bits)
		pcfg := kpi.DefaultConfiguration()
		pcfg.Instance = "acc" + strconv.Itoa(bits)
		pcfg.GroupID = "g-" + strconv.Itoa(bits)
		pcfg.CounterBits = bits
		p, err := kpi.New(pcfg, kpi.Dependencies{Registerer: prometheus.NewRegistry(), Kafka: &rkc, KafkaOpts: kafkatest.FastGroup()})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Stop() }()
		runs = append(runs, &run{bits: bits, maxGap: pcfg.MaxGap, kc: &rkc, p: p})
	}

	testenv.Eventually(t, deviceRun/speed+30*time.Second, fmt.Sprintf("the device clock to run %s", deviceRun),
		func() bool { return clock().Sub(epoch) >= deviceRun })
	if err := col.Stop(); err != nil {
		t.Errorf("collector stop: %v", err)
	}
	collectorStopped = true
	// every window ending by deviceRun-10s must be out
	lastEnd := epoch.Add(deviceRun - 10*time.Second).Truncate(10 * time.Second)
	truth := fab.Truth()
	samples := readSampleTimes(t, kc, col.Stats().Produced, 20*time.Second)
	for _, r := range runs {
		t.Run("counter-bits="+strconv.Itoa(r.bits), func(t *testing.T) {
			byID := readKPIs(t, r.kc, 20*time.Second, func(m map[string]*wirepb.KPI) bool {
				n := 0
				for _, k := range m {
					if k.GetInterface() != nil && k.WindowEndUnixNano == lastEnd.UnixNano() {
						n++
					}
				}
				return n == 4
			})
			if err := r.p.Stop(); err != nil {
				t.Fatal(err)
			}
			checkAgainstTruth(t, truth, samples, byID, epoch, lastEnd, scfg.PortSpeedBps, r.bits, r.maxGap, r.p.Stats())
		})
	}
}

// checkAgainstTruth compares every KPI window inside [epoch, lastEnd] with
// what the samples the collector produced give, computed from the truth
// (which is the truth itself where sampling kept pace): samples holds their
// device times per interface and per link (see ifaceSeen and
// linkSeen); maxGap is the processor's.
func checkAgainstTruth(t *testing.T, truth *simulator.Truth, samples map[seriesID][]int64, byID map[string]*wirepb.KPI, epoch, lastEnd time.Time, speed uint64, bits int, maxGap time.Duration, st kpi.Stats) {
	var ifChecked, linkChecked, gapWindows int
	var worstUtil, worstLoss, worstRTT, worstSeen, worstIfSeen float64
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k := byID[id]
		from, to := time.Unix(0, k.WindowStartUnixNano), time.Unix(0, k.WindowEndUnixNano)
		if from.Before(epoch) || to.After(lastEnd) {
			continue
		}
		w := from.Sub(epoch).Round(time.Second)
		switch {
		case k.GetInterface() != nil:
			ik := k.GetInterface()
			tr, err := truth.Interface(k.Device, ik.Interface, from, to)
			if err != nil {
				t.Fatal(err)
			}
			ifChecked++
			sn := ifaceSeen(t, truth, samples[seriesID{k.Device, ik.Interface}], k.Device, ik.Interface, from, to, tr, bits, maxGap)
			if sn.gaps > 0 {
				gapWindows++
				t.Logf("%s %s window +%v: sampling gaps of %v in all (device time); the samples give util in/out %.5f/%.5f, loss %.5f (truth %.5f/%.5f, %.5f)",
					k.Device, ik.Interface, w, sn.gaps, sn.utilIn, sn.utilOut, sn.loss, tr.UtilIn, tr.UtilOut, tr.LossRatio)
			}
			for _, c := range []struct {
				what            string
				got, want, seen float64
				worst           *float64
			}{
				{"util_in", ik.UtilIn, tr.UtilIn, sn.utilIn, &worstUtil},
				{"util_out", ik.UtilOut, tr.UtilOut, sn.utilOut, &worstUtil},
				{"loss_ratio", ik.LossRatio, tr.LossRatio, sn.loss, &worstLoss},
			} {
				*c.worst = max(*c.worst, math.Abs(c.got-c.want))
				d := math.Abs(c.got - c.seen)
				worstIfSeen = max(worstIfSeen, d)
				if d > ifaceTolerance || math.IsNaN(c.got) {
					t.Errorf("%s %s window +%v: %s = %.5f, the samples give %.5f (tolerance %.3f; truth %.5f, sampling gaps of %v)",
						k.Device, ik.Interface, w, c.what, c.got, c.seen, ifaceTolerance, c.want, sn.gaps)
					logGaps(t, truth, samples[seriesID{k.Device, ik.Interface}], k.Device, ik.Interface, from, to)
				}
			}
			if ik.UtilIn > 1.01 || ik.UtilOut > 1.01 || ik.UtilIn < 0 || ik.UtilOut < 0 {
				t.Errorf("%s %s window +%v: spike %v", k.Device, ik.Interface, w, ik)
			}
			if ik.SpeedBps != speed {
				t.Errorf("speed %d", ik.SpeedBps)
			}
		case k.GetLink() != nil:
			lk := k.GetLink()
			tr, err := truth.Link(k.Device, lk.DstDevice, from, to)
			if err != nil {
				t.Fatal(err)
			}
			linkChecked++
			seen, gap := linkSeen(t, truth, samples[seriesID{k.Device, lk.DstDevice}], k.Device, lk.DstDevice, from, to, maxGap)
			if gap > 0 || math.Abs(seen-tr.RTTMs) > rttTolerance {
				gapWindows++
				t.Logf("%s>%s window +%v: sampling gaps of %v in all (device time); the samples give rtt %.3f ms (truth %.3f)",
					k.Device, lk.DstDevice, w, gap, seen, tr.RTTMs)
			}
			worstRTT = max(worstRTT, math.Abs(lk.RttMs-tr.RTTMs))
			d := math.Abs(lk.RttMs - seen)
			worstSeen = max(worstSeen, d)
			if d > rttTolerance || math.IsNaN(lk.RttMs) {
				t.Errorf("%s>%s window +%v: rtt %.3f ms, the samples give %.3f (tolerance %.2f ms; truth %.3f, sampling gaps of %v)",
					k.Device, lk.DstDevice, w, lk.RttMs, seen, rttTolerance, tr.RTTMs, gap)
			}
			if math.Abs(lk.LossRatio-tr.LossRatio) > 0.02 {
				t.Errorf("%s>%s window +%v: probe loss %.4f, truth %.4f", k.Device, lk.DstDevice, w, lk.LossRatio, tr.LossRatio)
			}
		}
	}
	t.Logf("checked %d interface and %d link windows (%d with sampling gaps); worst |Δutil| %.5f, |Δloss| %.5f, |Δrtt| %.3f ms (%.4f ms from what the samples give; interfaces %.5f); stats %+v",
		ifChecked, linkChecked, gapWindows, worstUtil, worstLoss, worstRTT, worstSeen, worstIfSeen, st)
	if ifChecked < 4*6 || linkChecked < 2*6 {
		t.Errorf("only %d interface and %d link windows checked", ifChecked, linkChecked)
	}
	if st.Wrap32 == 0 || st.Drops["reset"] == 0 {
		t.Errorf("expected 32-bit wraps and a reset in the run: %+v", st)
	}
}

// maxNominalGap is the longest interval between two samples of an
// interface that ifaceSeen leaves to ifaceTolerance (but the one holding a
// reboot): the collector samples interfaces every 0.5 and probes every 0.25
// device seconds. The device clock runs at 10× real time and keeps running
// while a stage is starved of CPU, so a stall of 100 ms makes a gap of a
// device second; across a rate or latency step such a gap moves a window's
// KPI by more than the tolerance, and that made this test flaky on a loaded
// machine. Each check is therefore against what the samples the collector
// actually produced give, computed from the truth. linkSeen models every
// interval and uses maxNominalGap only to report gaps.
const maxNominalGap = time.Second

// ifaceTolerance is how far a window's utilization and loss ratio may be
// from what its samples give (ifaceSeen), which is the truth when
// sampling kept pace: the simulator's counters are integers, its truth
// rates exact.
const ifaceTolerance = 0.005

// rttTolerance is how far a window's RTT may be from what its samples give
// (linkSeen), in ms: the simulator rounds each second's RTT to a µs.
const rttTolerance = 0.05

// seriesID names an interface (device, interface) or a link (device, peer).
type seriesID struct{ device, name string }

// gap is an interval between two consecutive samples of a series.
type gap struct{ from, to time.Time }

// longGaps returns the gaps longer than maxNominalGap among the sample
// times ts (sorted) that overlap the window [from, to).
func longGaps(ts []int64, from, to time.Time) []gap {
	var out []gap
	for i := 1; i < len(ts); i++ {
		g := gap{time.Unix(0, ts[i-1]), time.Unix(0, ts[i])}
		if g.to.Sub(g.from) > maxNominalGap && g.from.Before(to) && g.to.After(from) {
			out = append(out, g)
		}
	}
	return out
}

// seenKPIs is what an interface window's samples give, and the sampling
// gaps (longer than maxNominalGap) among them.
type seenKPIs struct {
	gaps                  time.Duration
	utilIn, utilOut, loss float64
}

// ifaceSeen computes the KPIs the processor must make of an interface
// window from the samples it got (device times ts): the truth where
// sampling kept pace, else what the gaps make of it. The processor
// spreads a counter increment evenly over the interval between two samples,
// so a gap across the window's edge puts len/(gap) of the increment in the
// window where the truth has the increment of the part inside. It drops the
// interval in which the device rebooted (counters reset), long or short (the
// latest reboot only: the scenario has one), and its rates are
// over the time its intervals cover, so a long dropped interval leaves the
// window's rate to the rest of it. With counter-bits auto (0) it sees at most
// one 32-bit wrap in an interval (the documented limit: the counter width is
// not known), so an octet counter that wrapped k more times in a gap (longer
// than 3.4 s at 10 Gb/s line rate) is under-counted by k·2^32 bytes; with
// counter-bits 32 it infers the extra wraps (wraps32).
func ifaceSeen(t *testing.T, truth *simulator.Truth, ts []int64, device, ifc string, from, to time.Time, tw simulator.InterfaceTruth, bits int, maxGap time.Duration) seenKPIs {
	t.Helper()
	var counted map[int64][2]float64
	if bits == 32 && len(longGaps(ts, from, to)) > 0 {
		counted = wraps32(t, truth, ts, device, ifc, tw.SpeedBps, maxGap)
	}
	type amounts struct{ bitsIn, bitsOut, lost, pkts float64 }
	over := func(a, b time.Time) amounts {
		tr, err := truth.Interface(device, ifc, a, b)
		if err != nil {
			t.Fatal(err)
		}
		d := b.Sub(a).Seconds()
		return amounts{tr.InBps * d, tr.OutBps * d,
			(tr.InErrorsPs + tr.InDiscardsPs + tr.OutDiscardsPs) * d,
			(tr.InPps + tr.OutPps + tr.InDiscardsPs + tr.InErrorsPs) * d}
	}
	seen := func(g gap, all amounts) (float64, float64) { // what the processor counts of the octets of a gap
		switch bits {
		case 0:
			return 8 * math.Mod(all.bitsIn/8, 1<<32), 8 * math.Mod(all.bitsOut/8, 1<<32)
		case 32:
			c := counted[g.from.UnixNano()]
			return c[0], c[1]
		}
		return all.bitsIn, all.bitsOut
	}
	a := seenKPIs{utilIn: tw.UtilIn, utilOut: tw.UtilOut, loss: tw.LossRatio}
	seenW := over(from, to) // the window as the processor sees it
	covered := to.Sub(from)
	gs := longGaps(ts, from, to)
	if g, ok := rebootInterval(t, truth, ts, device, ifc); ok && g.to.Sub(g.from) <= maxNominalGap && g.from.Before(to) && g.to.After(from) {
		gs = append(gs, g) // dropped even when short
	}
	for _, g := range gs {
		if g.to.Sub(g.from) > maxNominalGap {
			a.gaps += g.to.Sub(g.from)
		}
		lo, hi := maxTime(g.from, from), minTime(g.to, to)
		all, in := over(g.from, g.to), over(lo, hi)
		c, err := truth.Counters(device, ifc, g.to)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastClear > g.from.UnixNano() { // rebooted in the gap: the interval is dropped
			seenW.bitsIn -= in.bitsIn
			seenW.bitsOut -= in.bitsOut
			seenW.lost -= in.lost
			seenW.pkts -= in.pkts
			covered -= hi.Sub(lo)
			continue
		}
		share := hi.Sub(lo).Seconds() / g.to.Sub(g.from).Seconds()
		seenIn, seenOut := seen(g, all)
		seenW.bitsIn += share*seenIn - in.bitsIn
		seenW.bitsOut += share*seenOut - in.bitsOut
		seenW.lost += share*all.lost - in.lost
		seenW.pkts += share*all.pkts - in.pkts
	}
	if len(gs) == 0 || covered <= 0 {
		return a
	}
	capacity := float64(tw.SpeedBps) * covered.Seconds()
	a.utilIn, a.utilOut, a.loss = seenW.bitsIn/capacity, seenW.bitsOut/capacity, 0
	if seenW.pkts > 0 {
		a.loss = seenW.lost / seenW.pkts
	}
	return a
}

// rebootInterval returns the interval between consecutive samples ts of
// an interface that holds its latest reboot (counter clear), if a sample
// follows it: the processor drops that interval, however short.
func rebootInterval(t *testing.T, truth *simulator.Truth, ts []int64, device, ifc string) (gap, bool) {
	t.Helper()
	if len(ts) == 0 {
		return gap{}, false
	}
	c, err := truth.Counters(device, ifc, time.Unix(0, ts[len(ts)-1]))
	if err != nil {
		t.Fatal(err)
	}
	i := sort.Search(len(ts), func(i int) bool { return ts[i] >= c.LastClear })
	if i == 0 || i == len(ts) {
		return gap{}, false
	}
	return gap{time.Unix(0, ts[i-1]), time.Unix(0, ts[i])}, true
}

// wraps32 returns the octets, in bits (in, out), that the processor counts
// with counter-bits 32 in each interval between consecutive samples ts of an
// interface, keyed by the interval's start: the true increment modulo 2^32
// plus the extra wraps it infers from the previous counted interval's rate,
// at most 1.01 × line rate (docs/kpis.md, "Wraps"). When the rate changed
// in an interval longer than a wrap at line rate, that count is off by whole
// wraps; that is the documented limit of 32-bit counters sampled slower than
// they wrap, which the 10× device clock turns a CPU stall into. Intervals
// the processor drops (a reboot in them, or longer than maxGap) are absent.
func wraps32(t *testing.T, truth *simulator.Truth, ts []int64, device, ifc string, speedBps uint64, maxGap time.Duration) map[int64][2]float64 {
	t.Helper()
	const two32 = 1 << 32
	maxPerSec := float64(speedBps) / 8
	out := map[int64][2]float64{}
	var lastD, lastDt [2]float64 // the previous counted interval, per counter
	var prev simulator.Counters
	for i, tn := range ts {
		cur, err := truth.Counters(device, ifc, time.Unix(0, tn))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && cur.LastClear <= ts[i-1] && time.Duration(tn-ts[i-1]) <= maxGap && tn > ts[i-1] {
			dt := float64(tn-ts[i-1]) / 1e9
			var c [2]float64
			for j, inc := range [2]uint64{cur.InOctets - prev.InOctets, cur.OutOctets - prev.OutOctets} {
				d := float64(inc % two32)
				if maxD := 1.01 * maxPerSec * dt; lastDt[j] > 0 && d+two32 <= maxD {
					k := math.Round((lastD[j]/lastDt[j]*dt - d) / two32)
					d += min(max(k, 0), math.Floor((maxD-d)/two32)) * two32
				}
				c[j] = 8 * d
				lastD[j], lastDt[j] = d, dt
			}
			out[ts[i-1]] = c
		}
		prev = cur
	}
	return out
}

// linkSeen returns the RTT the processor must compute for the window
// [from, to) from the probe samples the collector produced (device times ts,
// sorted), and the sampling gaps longer than maxNominalGap among them. The
// simulator reports the RTT and loss of the current device second, and the
// processor weights each sample by the time since the series' previous one
// (none after more than maxGap) times its received fraction, so a sample
// stands for an interval that may reach into other seconds, and the seconds
// after a window's last sample are not represented. That is what sampling
// can know, not an error of the processor: the result, computed from the
// truth of each sample's second, is exact, and the distance between it and
// the window's truth is how far the sampling moved the mean. Intervals of
// under a second (no gap by maxNominalGap) that crossed a 20 ms latency
// step have moved a window's mean by 1.1 ms under the race detector.
func linkSeen(t *testing.T, truth *simulator.Truth, ts []int64, src, dst string, from, to time.Time, maxGap time.Duration) (float64, time.Duration) {
	t.Helper()
	lo, hi := from.UnixNano(), to.UnixNano()
	first := sort.Search(len(ts), func(i int) bool { return ts[i] >= lo })
	end := sort.Search(len(ts), func(i int) bool { return ts[i] >= hi })
	var gaps time.Duration
	var weight, sum, tweight, tsum float64
	for i := first; i < end; i++ {
		if i > 0 && ts[i] == ts[i-1] {
			continue // a duplicate: the processor drops it
		}
		sec := time.Unix(0, ts[i]).Truncate(time.Second)
		lt, err := truth.Link(src, dst, sec, sec.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		wt := 1 - lt.LossRatio
		if wt <= 0 {
			continue
		}
		weight += wt
		sum += wt * lt.RTTMs
		if i == 0 {
			continue
		}
		dt := time.Duration(ts[i] - ts[i-1])
		if dt > maxNominalGap {
			gaps += dt
		}
		if dt <= maxGap {
			tweight += wt * dt.Seconds()
			tsum += wt * dt.Seconds() * lt.RTTMs
		}
	}
	if tail := time.Duration(hi - ts[max(end, 1)-1]); end > first && tail > maxNominalGap {
		gaps += tail
	}
	switch {
	case tweight > 0:
		return tsum / tweight, gaps
	case weight > 0:
		return sum / weight, gaps
	}
	return 0, gaps // no received probe: the processor's RTT is 0
}

// logGaps logs the sample intervals that overlap [from, to) and are longer
// than maxNominalGap, with the interface's truth over each, to tell a
// processor error from a case ifaceSeen does not model.
func logGaps(t *testing.T, truth *simulator.Truth, ts []int64, device, ifc string, from, to time.Time) {
	t.Helper()
	for _, g := range longGaps(ts, from, to) {
		tr, err := truth.Interface(device, ifc, g.from, g.to)
		if err != nil {
			t.Fatal(err)
		}
		c, err := truth.Counters(device, ifc, g.to)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("  gap %v .. %v (%v): truth util in/out %.5f/%.5f, last clear %v",
			g.from.Sub(from), g.to.Sub(from), g.to.Sub(g.from), tr.UtilIn, tr.UtilOut, time.Unix(0, c.LastClear).Sub(from))
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// readSampleTimes reads the samples topic from the start until it has read
// want records (what the collector had acknowledged) and returns the device
// times of the interface and probe samples per series, in order.
func readSampleTimes(t testing.TB, kc *kafka.Configuration, want uint64, d time.Duration) map[seriesID][]int64 {
	t.Helper()
	out := map[seriesID][]int64{}
	var n uint64
	readTopic(t, kc, kc.Topics.Samples, d, func() (bool, string) {
		return n >= want, fmt.Sprintf("%d of %d sample records read", n, want)
	}, func(rec *kgo.Record) {
		n++
		s := &wirepb.Sample{}
		if err := wire.DecodeSample(rec.Value, s); err != nil {
			t.Errorf("bad sample record: %v", err)
			return
		}
		var id seriesID
		switch {
		case s.GetProbe() != nil:
			id = seriesID{s.Device, s.GetProbe().PeerDevice}
		case s.GetInterface() != nil && len(s.GetInterface().Counters) > 0:
			id = seriesID{s.Device, s.GetInterface().Interface}
		default:
			return // inventory and state-only samples carry no counters
		}
		out[id] = append(out[id], s.DeviceTimeUnixNano)
	})
	for _, ts := range out {
		slices.Sort(ts)
	}
	return out
}

// readTopic reads a topic from the start, handing each record to each,
// until done says so; past d it fails with done's description.
func readTopic(t testing.TB, kc *kafka.Configuration, topic string, d time.Duration, done func() (bool, string), each func(*kgo.Record)) {
	t.Helper()
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(d)
	for {
		ok, what := done()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeout reading %s: %s", topic, what)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(each)
	}
}

// readKPIs reads the kpis topic from the start until cond holds, keyed by id.
func readKPIs(t testing.TB, kc *kafka.Configuration, d time.Duration, cond func(map[string]*wirepb.KPI) bool) map[string]*wirepb.KPI {
	t.Helper()
	m := map[string]*wirepb.KPI{}
	readTopic(t, kc, kc.Topics.KPIs, d, func() (bool, string) {
		return cond(m), fmt.Sprintf("%d distinct KPIs read", len(m))
	}, func(rec *kgo.Record) {
		k := &wirepb.KPI{}
		if err := wire.DecodeKPI(rec.Value, k); err != nil {
			t.Errorf("bad KPI record: %v", err)
			return
		}
		m[k.Id] = k
	})
	return m
}
