// Package accuracy checks the KPI processor against the simulator's ground
// truth, end to end (simulator → collector → Kafka → processor → Kafka). It
// lives apart from package kpi so that the engine's own tests do not depend
// on the simulator and collector packages.
package accuracy

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/kafka"
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

	kc := fakeKafka(t, 2)
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
		bits int
		kc   *kafka.Configuration
		p    *kpi.Processor
	}
	var runs []*run
	for _, bits := range []int{32, 0} {
		rkc := *kc
		rkc.Topics.KPIs = kc.Topics.KPIs + "-" + strconv.Itoa(bits)
		pcfg := kpi.DefaultConfiguration()
		pcfg.Instance = "acc" + strconv.Itoa(bits)
		pcfg.GroupID = "g-" + strconv.Itoa(bits)
		pcfg.CounterBits = bits
		p, err := kpi.New(pcfg, kpi.Dependencies{Registerer: prometheus.NewRegistry(), Kafka: &rkc, KafkaOpts: fastGroup()})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Stop() }()
		runs = append(runs, &run{bits: bits, kc: &rkc, p: p})
	}

	for clock().Sub(epoch) < deviceRun {
		time.Sleep(50 * time.Millisecond)
	}
	if err := col.Stop(); err != nil {
		t.Errorf("collector stop: %v", err)
	}
	collectorStopped = true
	// every window ending by deviceRun-10s must be out
	lastEnd := epoch.Add(deviceRun - 10*time.Second).Truncate(10 * time.Second)
	truth := fab.Truth()
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
			checkAgainstTruth(t, truth, byID, epoch, lastEnd, scfg.PortSpeedBps, r.p.Stats())
		})
	}
}

// checkAgainstTruth compares every KPI window inside [epoch, lastEnd] with the truth.
func checkAgainstTruth(t *testing.T, truth *simulator.Truth, byID map[string]*wirepb.KPI, epoch, lastEnd time.Time, speed uint64, st kpi.Stats) {
	var ifChecked, linkChecked int
	var worstUtil, worstLoss, worstRTT float64
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
			for _, c := range []struct {
				what      string
				got, want float64
				tol       float64
				worst     *float64
			}{
				{"util_in", ik.UtilIn, tr.UtilIn, 0.005, &worstUtil},
				{"util_out", ik.UtilOut, tr.UtilOut, 0.005, &worstUtil},
				{"loss_ratio", ik.LossRatio, tr.LossRatio, 0.005, &worstLoss},
			} {
				d := math.Abs(c.got - c.want)
				*c.worst = max(*c.worst, d)
				if d > c.tol || math.IsNaN(c.got) {
					t.Errorf("%s %s window +%v: %s = %.5f, truth %.5f", k.Device, ik.Interface, w, c.what, c.got, c.want)
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
			d := math.Abs(lk.RttMs - tr.RTTMs)
			worstRTT = max(worstRTT, d)
			if d > 1 {
				t.Errorf("%s>%s window +%v: rtt %.3f ms, truth %.3f", k.Device, lk.DstDevice, w, lk.RttMs, tr.RTTMs)
			}
			if math.Abs(lk.LossRatio-tr.LossRatio) > 0.02 {
				t.Errorf("%s>%s window +%v: probe loss %.4f, truth %.4f", k.Device, lk.DstDevice, w, lk.LossRatio, tr.LossRatio)
			}
		}
	}
	t.Logf("checked %d interface and %d link windows; worst |Δutil| %.5f, |Δloss| %.5f, |Δrtt| %.3f ms; stats %+v",
		ifChecked, linkChecked, worstUtil, worstLoss, worstRTT, st)
	if ifChecked < 4*6 || linkChecked < 2*6 {
		t.Errorf("only %d interface and %d link windows checked", ifChecked, linkChecked)
	}
	if st.Wrap32 == 0 || st.Drops["reset"] == 0 {
		t.Errorf("expected 32-bit wraps and a reset in the run: %+v", st)
	}
}

func fakeKafka(t testing.TB, partitions int32) *kafka.Configuration {
	t.Helper()
	kc := kafka.DefaultConfiguration()
	kc.Partitions = partitions
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, kc.Topics.All()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc.Brokers = c.ListenAddrs()
	return &kc
}

func fastGroup() []kgo.Opt {
	return []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond), kgo.FetchMaxWait(100 * time.Millisecond)}
}

// readKPIs reads the kpis topic from the start until cond holds, keyed by id.
func readKPIs(t testing.TB, kc *kafka.Configuration, d time.Duration, cond func(map[string]*wirepb.KPI) bool) map[string]*wirepb.KPI {
	t.Helper()
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.KPIs), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	m := map[string]*wirepb.KPI{}
	deadline := time.Now().Add(d)
	for !cond(m) {
		if time.Now().After(deadline) {
			t.Fatalf("timeout: %d distinct KPIs read", len(m))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(rec *kgo.Record) {
			k := &wirepb.KPI{}
			if err := wire.DecodeKPI(rec.Value, k); err != nil {
				t.Errorf("bad KPI record: %v", err)
				return
			}
			m[k.Id] = k
		})
	}
	return m
}
