package collector

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func simTargets(f *simulator.Fabric) []TargetConfig {
	var out []TargetConfig
	for _, t := range f.Targets() {
		out = append(out, TargetConfig{Name: t.Name, Address: f.Addr()})
	}
	return out
}

// coverage tells which (device, interface) and (device, peer) pairs have
// samples, and the device states seen.
func coverage(ss []*wirepb.Sample) (ifs, probes map[string]int, states map[string][]wirepb.DeviceState) {
	ifs, probes, states = map[string]int{}, map[string]int{}, map[string][]wirepb.DeviceState{}
	for _, s := range ss {
		switch b := s.Body.(type) {
		case *wirepb.Sample_Interface:
			ifs[s.Device+"/"+b.Interface.Interface]++
		case *wirepb.Sample_Probe:
			probes[s.Device+">"+b.Probe.PeerDevice]++
		case *wirepb.Sample_DeviceState:
			states[s.Device] = append(states[s.Device], b.DeviceState.State)
		}
	}
	return
}

func TestCollectorWithSimulator(t *testing.T) {
	sim := simtest.Start(t, 2, 2, 3)
	kc, _ := kafkatest.Fake(t, 4)
	got := consume(t, kc)
	cfg := testConfig("c1")
	cfg.Targets = simTargets(sim)
	baseline := steadyGoroutines(t)
	c := startCollector(t, cfg, kc)

	testenv.Eventually(t, 10*time.Second, "samples of every interface and probe", func() bool {
		ifs, probes, _ := coverage(got.snapshot())
		for _, tg := range sim.Targets() {
			for _, i := range tg.Interfaces {
				if ifs[tg.Name+"/"+i] < 2 {
					return false
				}
			}
			for _, p := range tg.Peers {
				if probes[tg.Name+">"+p.Device] < 1 {
					return false
				}
			}
		}
		return true
	})
	ss := got.snapshot()
	_, _, states := coverage(ss)
	seqs := map[string]uint64{}
	var full *wirepb.InterfaceState
	for _, s := range ss {
		if s.Collector != "c1" || s.Site != strings.SplitN(s.Device, "-", 2)[0] || s.DeviceTimeUnixNano == 0 || s.ReceiveTimeUnixNano == 0 {
			t.Fatalf("bad header %v", s)
		}
		if s.Seq <= seqs[s.Device] {
			// per-device seq is increasing per partition key; across keys order may interleave,
			// so only check uniqueness below
		}
		seqs[s.Device] = max(seqs[s.Device], s.Seq)
		if st := s.GetInterface(); st != nil && len(st.Counters) == 12 && st.SpeedBps != 0 {
			full = st
		}
	}
	if full == nil {
		// speed and counters may come in separate notifications; at least check speed arrived
		var speed bool
		for _, s := range ss {
			if st := s.GetInterface(); st != nil && st.SpeedBps == 10e9 && st.OperStatus == wirepb.OperStatus_UP {
				speed = true
			}
		}
		if !speed {
			t.Error("no sample with speed and oper-status")
		}
	}
	for _, tg := range sim.Targets() {
		if st := states[tg.Name]; len(st) < 2 || st[0] != wirepb.DeviceState_CONNECTING || st[1] != wirepb.DeviceState_DEVICE_UP {
			t.Errorf("%s: inventory states %v, want connecting, up, ...", tg.Name, st)
		}
	}
	if got.bad != 0 {
		t.Errorf("%d records with bad key, header or value", got.bad)
	}
	st := c.Stats()
	if st.TargetsUp != 4 || st.TargetsAssigned != 4 || st.DecodeErrors != 0 || st.Updates == 0 || st.Produced == 0 || st.Inventory < 8 {
		t.Errorf("stats %+v", st)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// No goroutine left behind (the simulator's stream goroutines wind down too).
	testenv.Eventually(t, 5*time.Second, "goroutines back to the baseline", func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}

// steadyGoroutines waits until the number of goroutines stays the same over
// three polls (the simulator, broker and consumer started above have
// settled) and returns it.
func steadyGoroutines(t *testing.T) int {
	t.Helper()
	last, same := -1, 0
	testenv.Eventually(t, 5*time.Second, "a steady number of goroutines", func() bool {
		n := runtime.NumGoroutine()
		if n == last {
			same++
		} else {
			last, same = n, 0
		}
		return same >= 2
	})
	return last
}

func TestRendezvous(t *testing.T) {
	members := []string{"a", "b", "c", "d"}
	targets := make([]string, 4000)
	for i := range targets {
		targets[i] = fmt.Sprintf("site%d-sw%d", i/4, i%4)
	}
	// Deterministic: the same answer every time (and on every instance).
	if Owner(members, "site1-sw1") != Owner([]string{"d", "c", "b", "a"}, "site1-sw1") {
		t.Error("owner depends on member order")
	}
	// Golden: the hash is part of the contract between instances of
	// different versions; changing it moves targets.
	for _, g := range [][2]string{{"site1-sw1", "c3"}, {"site1-sw2", "c1"}, {"site2-sw1", "c3"}, {"site3-sw2", "c2"}, {"site4-sw1", "c2"}} {
		if o := Owner([]string{"c1", "c2", "c3"}, g[0]); o != g[1] {
			t.Errorf("Owner(c1,c2,c3; %s) = %s, want %s", g[0], o, g[1])
		}
	}
	count := map[string]int{}
	before := map[string]string{}
	for _, tg := range targets {
		o := Owner(members, tg)
		before[tg] = o
		count[o]++
	}
	for _, m := range members {
		if n := count[m]; math.Abs(float64(n)-1000) > 120 {
			t.Errorf("member %s got %d of 4000 targets, want about 1000", m, n)
		}
	}
	// A member leaves: only its targets move, spread over the others.
	moved := map[string]int{}
	for _, tg := range targets {
		o := Owner([]string{"a", "b", "d"}, tg)
		if before[tg] != "c" && o != before[tg] {
			t.Fatalf("%s moved from %s to %s although %s stayed", tg, before[tg], o, before[tg])
		}
		if before[tg] == "c" {
			moved[o]++
		}
	}
	for _, m := range []string{"a", "b", "d"} {
		if moved[m] < 250 || moved[m] > 420 {
			t.Errorf("after c left, %s took %d of its ~1000 targets", m, moved[m])
		}
	}
	// A member joins: it only takes targets, about 1/5.
	took := 0
	for _, tg := range targets {
		o := Owner(append(members, "e"), tg)
		if o != before[tg] {
			if o != "e" {
				t.Fatalf("%s moved between old members", tg)
			}
			took++
		}
	}
	if took < 680 || took > 920 {
		t.Errorf("new member took %d of 4000", took)
	}
	if Owner(nil, "x") != "" || !owns("a", nil, "x") {
		t.Error("empty member list")
	}
}

func TestBackoffBounds(t *testing.T) {
	cfg := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second, Factor: 2}
	for _, r := range []float64{0, 0.5, 0.999999} {
		b := newBackoff(cfg)
		b.rand = func() float64 { return r }
		nominal := cfg.Min
		for i := 0; i < 20; i++ {
			d := b.next()
			if d < cfg.Min || d > cfg.Max {
				t.Fatalf("attempt %d: %s outside [%s, %s]", i, d, cfg.Min, cfg.Max)
			}
			if d < nominal/2 || d > nominal {
				t.Fatalf("attempt %d: %s outside [%s, %s]", i, d, nominal/2, nominal)
			}
			nominal = min(time.Duration(float64(nominal)*cfg.Factor), cfg.Max)
		}
		if d := b.next(); r == 0 && d != cfg.Max/2 {
			t.Errorf("capped jitter low end: %s", d)
		}
		b.reset()
		if d := b.next(); d != cfg.Min {
			t.Errorf("after reset: %s", d)
		}
	}
	// real randomness stays in bounds too
	b := newBackoff(cfg)
	for i := 0; i < 1000; i++ {
		if d := b.next(); d < cfg.Min || d > cfg.Max {
			t.Fatal(d)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestBufferBoundDropsWhenKafkaUnreachable(t *testing.T) {
	addr := serveFake(t, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		return floodPrepared(target, srv, 4, 5000)
	})
	kc, _ := kafkatest.Fake(t, 4)
	kc.Brokers = []string{closedPort(t)}
	kc.DialTimeout = 200 * time.Millisecond
	cfg := testConfig("c1")
	cfg.Subscriptions = cfg.Subscriptions[:1]
	cfg.Buffer = Buffer{MaxRecords: 50, MaxBytes: 1 << 20, MaxBlock: 20 * time.Millisecond}
	cfg.FlushTimeout = 200 * time.Millisecond
	cfg.Targets = []TargetConfig{{Name: "site1-sw1", Address: addr}}
	c, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the whole flood read and dropped", func() bool {
		st := c.Stats()
		if st.Buffered > 50 {
			t.Fatalf("buffer above its bound: %d", st.Buffered)
		}
		return st.Samples == 5000
	})
	st := c.Stats()
	if st.Dropped[dropBufferFull.String()] < 5000-50 || st.Produced != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := c.Stop(); err == nil {
		t.Error("Stop flushed to an unreachable Kafka?")
	}
	st = c.Stats()
	// Every sample is accounted for: produced, or dropped with a reason
	// (inventory records included on the shutdown side).
	if st.Buffered != 0 || totalDropped(st) < 5000 {
		t.Errorf("after stop: %+v", st)
	}
}

// TestBackpressureSlowKafka: a broker that takes 10 ms per produce request
// and a 20-record buffer: the collector slows its gNMI reads down to what
// Kafka takes, stays within the bound, and drops nothing.
func TestBackpressureSlowKafka(t *testing.T) {
	const n = 1500
	addr := serveFake(t, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		return floodPrepared(target, srv, 4, n)
	})
	kc, cluster := kafkatest.Fake(t, 4)
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		time.Sleep(10 * time.Millisecond) // the slow broker: time passing is the scenario
		return nil, nil, false
	})
	cfg := testConfig("c1")
	cfg.Subscriptions = cfg.Subscriptions[:1]
	cfg.Buffer = Buffer{MaxRecords: 20, MaxBytes: 1 << 20, MaxBlock: 10 * time.Second}
	cfg.Targets = []TargetConfig{{Name: "site1-sw1", Address: addr}}
	start := time.Now()
	c := startCollector(t, cfg, kc)
	maxBuf := 0
	testenv.Eventually(t, 30*time.Second, "everything produced", func() bool {
		st := c.Stats()
		maxBuf = max(maxBuf, st.Buffered)
		return st.Produced >= n+st.Inventory
	})
	el := time.Since(start)
	st := c.Stats()
	if totalDropped(st) != 0 || maxBuf > 20 || st.Samples != n {
		t.Errorf("stats %+v, max buffered %d", st, maxBuf)
	}
	// 1500 records through a 20-record window at ≥10 ms a round trip: the
	// reads were paced by Kafka, not by the target (which sends in ~ms).
	if el < 500*time.Millisecond {
		t.Errorf("took %s: not paced by the slow broker?", el)
	}
	t.Logf("%d samples through a slow broker in %s, max buffered %d", n, el, maxBuf)
}

func TestBadTargetsCountedNotFatal(t *testing.T) {
	stalled := make(chan struct{}, 10)
	addr := serveFake(t, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		switch target {
		case "site1-stall":
			if err := sendSync(srv); err != nil {
				return err
			}
			select {
			case stalled <- struct{}{}:
			default:
			}
			<-srv.Context().Done()
			return nil
		case "site1-flood":
			return floodPrepared(target, srv, 4, 20000)
		case "site1-garbage":
			nan := &gnmi.TypedValue{Value: &gnmi.TypedValue_DoubleVal{DoubleVal: math.NaN()}}
			for i := 0; srv.Context().Err() == nil; i++ {
				n := &gnmi.Notification{Timestamp: time.Now().UnixNano(), Update: []*gnmi.Update{
					{Path: ifPath("e1", "state", "counters", "in-octets"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_IntVal{IntVal: -1}}},
					{Path: probePath("s", "d", "jitter"), Val: nan},
					{Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "weird"}}}, Val: uval(1)},
					{Path: ifPath("e1", "state", "oper-status"), Val: sval("UP")},
				}}
				if err := srv.Send(&gnmi.SubscribeResponse{Response: &gnmi.SubscribeResponse_Update{Update: n}}); err != nil {
					return err
				}
				time.Sleep(time.Millisecond) // the garbage target's pace, about 1000 notifications/s
			}
			return nil
		}
		return nil
	})
	kc, _ := kafkatest.Fake(t, 4)
	got := consume(t, kc)
	cfg := testConfig("c1")
	cfg.StallTimeout = 300 * time.Millisecond
	cfg.MaxUpdatesPerSecond = 2000
	cfg.Targets = []TargetConfig{{Name: "site1-stall", Address: addr}, {Name: "site1-garbage", Address: addr}, {Name: "site1-flood", Address: addr}}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Dependencies{Registerer: reg, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	testenv.Eventually(t, 10*time.Second, "stall detected and garbage counted", func() bool {
		var stall uint64
		for _, ts := range c.Targets() {
			if ts.Name == "site1-stall" {
				stall = ts.Errors["stalled"]
			}
		}
		if stall < 1 {
			return false
		}
		// The garbage target's own counts: the total also holds the
		// flood's, which can pass 30 before ten garbage notifications.
		for _, r := range []string{"negative_value", "not_finite", "unknown_path"} {
			if counterValue(c.m.decodeErrors.WithLabelValues("site1-garbage", r)) < 10 {
				return false
			}
		}
		return true
	})
	for _, r := range []string{"negative_value", "not_finite", "unknown_path"} {
		if v := counterValue(c.m.decodeErrors.WithLabelValues("site1-garbage", r)); v < 10 {
			t.Errorf("decode_errors_total{reason=%s} = %v", r, v)
		}
	}
	testenv.Eventually(t, 5*time.Second, "flood capped", func() bool {
		return counterValue(c.m.decodeErrors.WithLabelValues("site1-flood", "flood")) > 100000
	})
	if v := counterValue(c.m.samples.WithLabelValues("site1-flood")); v > 2000 {
		t.Errorf("flooding target got %v samples through a 2000 updates/s cap", v)
	}
	if v := counterValue(c.m.targetErrors.WithLabelValues("site1-stall", "stalled")); v < 1 {
		t.Errorf("target_errors_total{cause=stalled} = %v", v)
	}
	// the good update in the garbage still made it
	testenv.Eventually(t, 5*time.Second, "oper-status samples from the garbage target", func() bool {
		for _, s := range got.snapshot() {
			if s.Device == "site1-garbage" && s.GetInterface().GetOperStatus() == wirepb.OperStatus_UP {
				return true
			}
		}
		return false
	})
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfiguration()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mut  func(c *Configuration)
		want string
	}{
		{func(c *Configuration) { c.Instance = "" }, "instance:"},
		{func(c *Configuration) { c.Members = []string{"x", "y"} }, "members:"},
		{func(c *Configuration) { c.Targets = []TargetConfig{{Name: "a", Address: "nope"}} }, "targets[0].address:"},
		{func(c *Configuration) {
			c.Targets = []TargetConfig{{Name: "a", Address: "h:1", Insecure: true}, {Name: "a", Address: "h:2", Insecure: true}}
		}, "targets[1].name:"},
		{func(c *Configuration) {
			c.Targets = []TargetConfig{{Name: "a", Address: "h:1", Insecure: true, TLS: TargetTLS{CAFile: "x"}}}
		}, "targets[0].insecure:"},
		{func(c *Configuration) {
			c.Targets = []TargetConfig{{Name: "a", Address: "h:1", Subscriptions: []string{"nope"}}}
		}, "targets[0].subscriptions:"},
		{func(c *Configuration) { c.Subscriptions[0].Mode = "sometimes" }, "subscriptions[0].mode:"},
		{func(c *Configuration) { c.Subscriptions[0].StreamMode = "x" }, "subscriptions[0].stream-mode:"},
		{func(c *Configuration) { c.Subscriptions[0].SampleInterval = 0 }, "subscriptions[0].sample-interval:"},
		{func(c *Configuration) { c.Subscriptions[1].Encoding = "xml" }, "subscriptions[1].encoding:"},
		{func(c *Configuration) { c.Subscriptions[1].Paths = []string{"no-slash"} }, "subscriptions[1].paths:"},
		{func(c *Configuration) { c.Mappings = []Mapping{{Path: "/a", Field: "b"}} }, "mappings[0].field:"},
		{func(c *Configuration) { c.Backoff.Max = time.Millisecond }, "backoff.max:"},
		{func(c *Configuration) { c.Buffer.MaxRecords = 0 }, "buffer.max-records:"},
		{func(c *Configuration) { c.Compression = "rar" }, "compression:"},
	} {
		c := DefaultConfiguration()
		c.Subscriptions = DefaultSubscriptions()
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want an error starting with %q", err, tc.want)
		}
	}
	n := DefaultConfiguration()
	n.Subscriptions = []Subscription{{Name: "x", Paths: []string{"/a"}, SampleInterval: time.Second}, {Name: "y", Paths: []string{"/b"}}}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := n.Subscriptions[0]; s.Mode != "stream" || s.StreamMode != "sample" || s.Encoding != "proto" {
		t.Errorf("normalized %+v", s)
	}
	if s := n.Subscriptions[1]; s.StreamMode != "on_change" {
		t.Errorf("normalized %+v", s)
	}
	sub := func(mode, sm string, iv, hb time.Duration) Subscription {
		return Subscription{Mode: mode, StreamMode: sm, SampleInterval: iv, HeartbeatInterval: hb}
	}
	for _, tc := range []struct {
		subs []Subscription
		want time.Duration
	}{
		{[]Subscription{sub("stream", "on_change", 0, 0)}, 0},
		{[]Subscription{sub("once", "", 0, 0)}, 0},
		{[]Subscription{sub("stream", "on_change", 0, 0), sub("stream", "sample", time.Second, 0)}, time.Minute},
		{[]Subscription{sub("stream", "sample", time.Minute, 0)}, 3 * time.Minute},
		{[]Subscription{sub("stream", "on_change", 0, 30*time.Second)}, 90 * time.Second},
		// A slow heartbeat beside a fast sample stream: the fast one sets the pace.
		{[]Subscription{sub("stream", "sample", time.Second, 0), sub("stream", "on_change", 0, 5*time.Minute)}, time.Minute},
	} {
		if got := stallTimeoutFor(time.Minute, tc.subs); got != tc.want {
			t.Errorf("stallTimeoutFor(%+v) = %s, want %s", tc.subs, got, tc.want)
		}
	}
	b := newBucket(100)
	now := time.Now()
	if !b.take(150, now) || b.take(1, now) || b.take(1, now.Add(400*time.Millisecond)) || !b.take(1, now.Add(time.Second)) {
		t.Error("bucket")
	}
	if SiteOf("site1-sw1") != "site1" || SiteOf("core") != "core" {
		t.Error("SiteOf")
	}
	tg, err := ParseTargetFlag("site2-sw1=127.0.0.1:57400")
	if err != nil || tg.Name != "site2-sw1" || tg.Address != "127.0.0.1:57400" {
		t.Errorf("ParseTargetFlag: %v %v", tg, err)
	}
	if _, err := ParseTargetFlag("x"); err == nil {
		t.Error("ParseTargetFlag accepted x")
	}
	d := TargetConfig{Username: "u", PasswordEnv: "PW", Insecure: true}
	if w := (TargetConfig{Name: "s9-x"}).withDefaults(d); w.Site != "s9" || w.Username != "u" || w.PasswordEnv != "PW" || !w.Insecure {
		t.Errorf("withDefaults: %+v", w)
	}
}

// BenchmarkEndToEnd: gNMI over loopback (a fake target flooding prepared
// counters notifications, 13 updates each, on 8 targets) → collector →
// in-process Kafka (kfake). Reports updates/s through the whole path
// (counted once the samples are acknowledged by the broker).
func BenchmarkEndToEnd(b *testing.B) {
	const targets, ifaces = 8, 16
	per := b.N/targets + 1
	addr := serveFake(b, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		return floodPrepared(target, srv, ifaces, per)
	})
	kc, _ := kafkatest.Fake(b, 4)
	cfg := testConfig("bench")
	cfg.Subscriptions = cfg.Subscriptions[:1]
	cfg.Linger = 5 * time.Millisecond
	for i := 0; i < targets; i++ {
		cfg.Targets = append(cfg.Targets, TargetConfig{Name: fmt.Sprintf("site%d-sw1", i), Address: addr})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	c := startCollector(b, cfg, kc)
	want := uint64(per * targets)
	for {
		st := c.Stats()
		if st.Produced >= want+st.Inventory {
			break
		}
		if totalDropped(st) > 0 {
			b.Fatalf("dropped: %+v", st)
		}
		// A 1 ms poll, not testenv.Eventually's 20 ms: the wait is the
		// measurement, and its resolution is the figure's error.
		time.Sleep(time.Millisecond)
	}
	el, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	st := c.Stats()
	b.ReportMetric(float64(st.Updates)/el.Seconds(), "updates/s")
	// CPU of the whole process (fake targets and broker included): the
	// figure that holds on a machine shared with other work.
	b.ReportMetric(float64(st.Updates)/cpu.Seconds(), "updates/cpu-s")
	b.ReportMetric(float64(st.Samples)/el.Seconds(), "samples/s")
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return math.NaN()
	}
	return m.GetCounter().GetValue()
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestTargetsFileFormat(t *testing.T) {
	b, err := os.ReadFile("../../deploy/targets.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseTargetsFile(b, TargetConfig{})
	if err != nil {
		t.Fatalf("deploy/targets.example.yaml: %v", err)
	}
	if len(f.Targets) != 3 || f.Targets[2].TLS.CAFile == "" || !f.Targets[0].Insecure {
		t.Errorf("parsed %+v", f)
	}
	if _, err := parseTargetsFile(nil, TargetConfig{}); err != errNoTargets {
		t.Errorf("empty file: %v, want errNoTargets", err)
	}
	for _, bad := range []string{
		"targets:\n  - name: a\n    adress: x:1\n",                                 // unknown key
		"targets:\n  - name: a\n    address: nope\n",                               // bad address
		"members: [a, a]\ntargets: []\n",                                           // duplicate member
		"targets:\n  - {name: a, address: 'h:1'}\n  - {name: a, address: 'h:2'}\n", // duplicate
	} {
		if _, err := parseTargetsFile([]byte(bad), TargetConfig{}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestStopCountsUnacknowledgedAsUnconfirmed: the broker holds every produce
// request (frozen, not dead) until after Stop gave up flushing. The records
// the client held are counted "unconfirmed", not "shutdown" (a certain
// loss): they may have been stored. faults.TestKafkaBrokerFrozen shows a
// real broker storing some of them.
func TestStopCountsUnacknowledgedAsUnconfirmed(t *testing.T) {
	const n = 400
	addr := serveFake(t, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		return floodPrepared(target, srv, 4, n)
	})
	kc, cluster := kafkatest.Fake(t, 4)
	var held atomic.Int32
	release := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		held.Add(1)
		<-release
		return nil, nil, false
	})
	defer close(release)
	cfg := testConfig("c1")
	cfg.Subscriptions = cfg.Subscriptions[:1]
	cfg.FlushTimeout = 200 * time.Millisecond
	cfg.InventoryInterval = time.Hour
	cfg.Targets = []TargetConfig{{Name: "site1-sw1", Address: addr}}
	c := startCollector(t, cfg, kc)
	testenv.Eventually(t, 10*time.Second, "the flood read and a produce request held", func() bool {
		return c.Stats().Samples == n && held.Load() > 0
	})
	if err := c.Stop(); err == nil {
		t.Error("Stop flushed through a broker holding every request?")
	}
	st := c.Stats()
	dropped := totalDropped(st)
	if st.Dropped[dropUnconfirmed.String()] == 0 || dropped != st.Dropped[dropUnconfirmed.String()] || st.Produced+dropped != uint64(n)+st.Inventory {
		t.Errorf("stats %+v: want every record produced or unconfirmed, some unconfirmed", st)
	}
}

// totalDropped is the sum of the collector's drops over every reason.
func totalDropped(st Stats) uint64 {
	var n uint64
	for _, d := range st.Dropped {
		n += d
	}
	return n
}

// TestInventoryWhileDown: a target that never answers keeps saying so every
// inventory-interval, not only when its state changes, so the processor's
// device KPI goes on believing it down (process.state-horizon).
func TestInventoryWhileDown(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 4)
	got := consume(t, kc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: every dial is refused
	cfg := testConfig("c1")
	cfg.InventoryInterval = 200 * time.Millisecond
	cfg.Targets = []TargetConfig{{Name: "site9-sw1", Address: addr}}
	startCollector(t, cfg, kc)
	downs := func() int {
		n := 0
		for _, s := range got.snapshot() {
			if s.GetDeviceState().GetState() == wirepb.DeviceState_DEVICE_DOWN {
				n++
			}
		}
		return n
	}
	testenv.Eventually(t, 10*time.Second, "4 device-down records of a target that never answers", func() bool { return downs() >= 4 })
}
