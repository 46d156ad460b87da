package simulator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// scaledClock runs speed times faster than real time.
func scaledClock(speed float64) func() time.Time {
	start := time.Now()
	return func() time.Time {
		return start.Add(time.Duration(float64(time.Since(start)) * speed))
	}
}

func startFabric(t testing.TB, mutate func(*Configuration), clock func() time.Time) (*Fabric, gpb.GNMIClient) {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry(), Clock: clock})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return f, gpb.NewGNMIClient(conn)
}

func path(elems ...string) *gpb.Path {
	p := &gpb.Path{}
	for _, e := range elems {
		name, keys, _ := strings.Cut(e, "[")
		pe := &gpb.PathElem{Name: name}
		if keys != "" {
			k, v, _ := strings.Cut(strings.TrimSuffix(keys, "]"), "=")
			pe.Key = map[string]string{k: v}
		}
		p.Elem = append(p.Elem, pe)
	}
	return p
}

func subReq(target string, mode gpb.SubscriptionList_Mode, subs ...*gpb.Subscription) *gpb.SubscribeRequest {
	return &gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Prefix: &gpb.Path{Target: target}, Mode: mode, Encoding: gpb.Encoding_PROTO, Subscription: subs,
	}}}
}

func leafName(u *gpb.Update) string {
	el := u.GetPath().GetElem()
	return el[len(el)-1].GetName()
}

func ifName(n *gpb.Notification) string {
	for _, e := range n.GetPrefix().GetElem() {
		if e.GetName() == "interface" {
			return e.GetKey()["name"]
		}
	}
	return ""
}

func counters(n *gpb.Notification) map[string]uint64 {
	out := map[string]uint64{}
	for _, u := range n.GetUpdate() {
		if v, ok := u.GetVal().GetValue().(*gpb.TypedValue_UintVal); ok {
			out[leafName(u)] = v.UintVal
		}
	}
	return out
}

// recvUntilSync reads notifications up to the sync_response.
func recvUntilSync(t *testing.T, sc grpc.BidiStreamingClient[gpb.SubscribeRequest, gpb.SubscribeResponse]) []*gpb.Notification {
	t.Helper()
	var out []*gpb.Notification
	for {
		r, err := sc.Recv()
		if err != nil {
			t.Fatalf("Recv before sync: %v", err)
		}
		if r.GetSyncResponse() {
			return out
		}
		out = append(out, r.GetUpdate())
	}
}

func TestStreamSample(t *testing.T) {
	f, c := startFabric(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sc, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Send(subReq("site1-sw1", gpb.SubscriptionList_STREAM, &gpb.Subscription{
		Path: path("interfaces", "interface[name=*]", "state", "counters"), Mode: gpb.SubscriptionMode_SAMPLE,
		SampleInterval: uint64(50 * time.Millisecond),
	})); err != nil {
		t.Fatal(err)
	}
	initial := recvUntilSync(t, sc)
	if len(initial) != 8 {
		t.Fatalf("initial update: %d notifications, want 8 (one per interface)", len(initial))
	}
	last := map[string]map[string]uint64{}
	lastTS := map[string]int64{}
	for _, n := range initial {
		last[ifName(n)] = counters(n)
		lastTS[ifName(n)] = n.GetTimestamp()
	}
	seen := 0
	for seen < 8*6 {
		r, err := sc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		n := r.GetUpdate()
		if n == nil {
			t.Fatalf("unexpected response %v", r)
		}
		if n.GetPrefix().GetTarget() != "site1-sw1" {
			t.Fatalf("prefix target %q", n.GetPrefix().GetTarget())
		}
		if got := len(n.GetUpdate()); got != 13 {
			t.Fatalf("%d updates, want 13 counter leaves", got)
		}
		ts := n.GetTimestamp()
		if d := time.Since(time.Unix(0, ts)); d < 0 || d > 2*time.Second {
			t.Fatalf("timestamp %d is not device time in ns (off by %s)", ts, d)
		}
		name := ifName(n)
		if ts <= lastTS[name] {
			t.Fatalf("%s: timestamps not increasing", name)
		}
		cur := counters(n)
		for k, v := range cur {
			if v < last[name][k] {
				t.Fatalf("%s %s decreased: %d -> %d", name, k, last[name][k], v)
			}
		}
		if cur["in-octets"] <= last[name]["in-octets"] {
			t.Fatalf("%s in-octets did not move", name)
		}
		// Served values equal the truth at the notification's timestamp.
		want, err := f.Truth().Counters("site1-sw1", name, time.Unix(0, ts))
		if err != nil {
			t.Fatal(err)
		}
		if cur["in-octets"] != want.InOctets || cur["out-discards"] != want.OutDiscards {
			t.Fatalf("%s served %d/%d, truth %d/%d", name, cur["in-octets"], cur["out-discards"], want.InOctets, want.OutDiscards)
		}
		last[name], lastTS[name] = cur, ts
		seen++
	}
	st := f.Emitted()
	if st.Notifications < 8*7 || st.Updates < 13*8*7 || st.SyncResponses != 1 || st.ActiveStreams != 1 {
		t.Fatalf("emitted %+v", st)
	}
}

func TestOnceAndPoll(t *testing.T) {
	_, c := startFabric(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// ONCE over the whole device: interfaces and probes, then sync, then EOF.
	sc, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The per-subscription mode and interval do not matter for ONCE.
	if err := sc.Send(subReq("site2-sw2", gpb.SubscriptionList_ONCE, &gpb.Subscription{
		Path: &gpb.Path{}, Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: 1})); err != nil {
		t.Fatal(err)
	}
	ns := recvUntilSync(t, sc)
	if len(ns) != 8+3 {
		t.Fatalf("ONCE: %d notifications, want 11 (8 interfaces + 3 probe tests)", len(ns))
	}
	var probes int
	for _, n := range ns {
		if n.GetPrefix().GetElem()[0].GetName() == "probes" {
			probes++
			if len(n.GetUpdate()) != 8 {
				t.Fatalf("probe notification has %d updates, want 8", len(n.GetUpdate()))
			}
			continue
		}
		if len(n.GetUpdate()) != 15 {
			t.Fatalf("interface notification has %d updates, want 15", len(n.GetUpdate()))
		}
	}
	if probes != 3 {
		t.Fatalf("%d probe notifications", probes)
	}
	if _, err := sc.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("ONCE: after sync got %v, want EOF", err)
	}

	// POLL: initial + sync, then each poll gives a fresh snapshot + sync.
	pc, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Send(subReq("site3-sw1", gpb.SubscriptionList_POLL, &gpb.Subscription{
		Path: path("interfaces", "interface[name=Ethernet2]", "state", "counters", "in-octets"),
	})); err != nil {
		t.Fatal(err)
	}
	first := recvUntilSync(t, pc)
	if len(first) != 1 || len(first[0].GetUpdate()) != 1 {
		t.Fatalf("POLL initial: %v", first)
	}
	prev := counters(first[0])["in-octets"]
	for i := 0; i < 3; i++ {
		time.Sleep(20 * time.Millisecond) // traffic between two polls: time passing is the scenario
		if err := pc.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Poll{Poll: &gpb.Poll{}}}); err != nil {
			t.Fatal(err)
		}
		got := recvUntilSync(t, pc)
		if len(got) != 1 {
			t.Fatalf("poll %d: %d notifications", i, len(got))
		}
		v := counters(got[0])["in-octets"]
		if v <= prev {
			t.Fatalf("poll %d: in-octets %d not above %d", i, v, prev)
		}
		prev = v
	}
	_ = pc.CloseSend()
	if _, err := pc.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("POLL after CloseSend: %v", err)
	}
}

func TestOnChangeLinkDown(t *testing.T) {
	f, c := startFabric(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	sc, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Send(subReq("site1-sw1", gpb.SubscriptionList_STREAM, &gpb.Subscription{
		Path: path("interfaces", "interface[name=Ethernet1]", "state", "oper-status"), Mode: gpb.SubscriptionMode_ON_CHANGE,
	})); err != nil {
		t.Fatal(err)
	}
	init := recvUntilSync(t, sc)
	if len(init) != 1 || init[0].GetUpdate()[0].GetVal().GetStringVal() != "UP" {
		t.Fatalf("initial: %v", init)
	}
	at, err := f.Inject(Fault{Type: FaultLinkDown, Device: "site1-sw1", Interface: "Ethernet1", Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DOWN", "UP"}
	for _, w := range want {
		r, err := sc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		n := r.GetUpdate()
		if len(n.GetUpdate()) != 1 || n.GetUpdate()[0].GetVal().GetStringVal() != w {
			t.Fatalf("want %s, got %v", w, n)
		}
		if w == "DOWN" {
			ts := time.Unix(0, n.GetTimestamp())
			if ts.Before(at) || ts.Sub(at) > 500*time.Millisecond {
				t.Fatalf("DOWN reported at %s, fault at %s", ts, at)
			}
			// Probes over that uplink (toward site2) lose everything.
			lt, err := f.Truth().Link("site1-sw1", "site2-sw1", at, at.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if lt.LossRatio != 1 {
				t.Fatalf("link loss during link_down = %g, want 1", lt.LossRatio)
			}
			it, _ := f.Truth().Interface("site1-sw1", "Ethernet1", at, at.Add(time.Second))
			if it.UtilIn != 0 || it.DownSeconds != 1 {
				t.Fatalf("interface truth during link_down: %+v", it)
			}
		}
	}
}

func TestCounterWrap32(t *testing.T) {
	// 10 Gbit/s at ~30% fills 2^32 octets in ~11 s of device time; run the
	// device clock 40x faster.
	f, c := startFabric(t, func(cfg *Configuration) { cfg.CounterBits = 32 }, scaledClock(40))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sc, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Send(subReq("site1-sw2", gpb.SubscriptionList_STREAM, &gpb.Subscription{
		Path: path("interfaces", "interface[name=Ethernet3]", "state", "counters", "in-octets"), Mode: gpb.SubscriptionMode_SAMPLE,
		SampleInterval: uint64(20 * time.Millisecond),
	})); err != nil {
		t.Fatal(err)
	}
	recvUntilSync(t, sc)
	var prev uint64
	wrapped := false
	for i := 0; i < 300 && !wrapped; i++ {
		r, err := sc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		n := r.GetUpdate()
		v := counters(n)["in-octets"]
		if v >= 1<<32 {
			t.Fatalf("value %d beyond 32 bits", v)
		}
		want, _ := f.Truth().Counters("site1-sw2", "Ethernet3", time.Unix(0, n.GetTimestamp()))
		if v != want.InOctets&(1<<32-1) {
			t.Fatalf("served %d, truth %d mod 2^32 = %d", v, want.InOctets, want.InOctets&(1<<32-1))
		}
		if i > 0 && v < prev {
			wrapped = true
			if want.InOctets < 1<<32 {
				t.Fatalf("decrease without wrap: truth %d", want.InOctets)
			}
		}
		prev = v
	}
	if !wrapped {
		t.Fatal("counter never wrapped")
	}
}

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCounterReset(t *testing.T) {
	sc := writeScenario(t, `
faults:
  - type: counter_reset
    device: site2-sw1
    start: 3s
`)
	f, c := startFabric(t, func(cfg *Configuration) { cfg.Scenario = sc }, scaledClock(10))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(subReq("site2-sw1", gpb.SubscriptionList_STREAM,
		&gpb.Subscription{Path: path("interfaces", "interface[name=Ethernet1]", "state", "counters"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(50 * time.Millisecond)},
	)); err != nil {
		t.Fatal(err)
	}
	init := recvUntilSync(t, st)
	prev := counters(init[0])
	boot := prev["last-clear"]
	if boot != uint64(f.Epoch().UnixNano()) {
		t.Fatalf("last-clear %d, want boot %d", boot, f.Epoch().UnixNano())
	}
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		cur := counters(r.GetUpdate())
		if cur["in-octets"] < prev["in-octets"] {
			wantClear := uint64(f.Epoch().Add(3 * time.Second).UnixNano())
			if cur["last-clear"] != wantClear {
				t.Fatalf("after reset last-clear %d, want %d", cur["last-clear"], wantClear)
			}
			want, _ := f.Truth().Counters("site2-sw1", "Ethernet1", time.Unix(0, r.GetUpdate().GetTimestamp()))
			if want.InOctets != cur["in-octets"] {
				t.Fatalf("after reset served %d, truth %d", cur["in-octets"], want.InOctets)
			}
			return
		}
		if cur["last-clear"] != boot {
			t.Fatalf("last-clear changed without a decrease")
		}
		prev = cur
	}
}

// getCounters reads an interface's counters with Get.
func getCounters(t *testing.T, c gpb.GNMIClient, dev, name string) (map[string]uint64, time.Time) {
	t.Helper()
	r, err := c.Get(context.Background(), &gpb.GetRequest{
		Prefix: &gpb.Path{Target: dev}, Encoding: gpb.Encoding_PROTO,
		Path: []*gpb.Path{path("interfaces", "interface[name="+name+"]", "state", "counters")},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := r.GetNotification()[0]
	return counters(n), time.Unix(0, n.GetTimestamp())
}

func TestTruthMatchesCounters(t *testing.T) {
	sc := writeScenario(t, `
- type: loss
  device: site1-sw1
  interface: Ethernet2
  ratio: 0.05
- type: congestion
  device: site1-sw1
  interface: Ethernet3
  load: 1.25
- type: latency
  sites: [site1, site2]
  rtt-ms: 30
  jitter-ms: 4
`)
	f, c := startFabric(t, func(cfg *Configuration) { cfg.Scenario = sc }, scaledClock(20))
	type rec struct {
		c  map[string]uint64
		at time.Time
	}
	ifs := []string{"Ethernet1", "Ethernet2", "Ethernet3"}
	first := map[string]rec{}
	for _, n := range ifs {
		v, at := getCounters(t, c, "site1-sw1", n)
		first[n] = rec{v, at}
	}
	time.Sleep(300 * time.Millisecond) // ~6 s of device time
	for _, n := range ifs {
		v, at := getCounters(t, c, "site1-sw1", n)
		a := first[n]
		tr, err := f.Truth().Interface("site1-sw1", n, a.at, at)
		if err != nil {
			t.Fatal(err)
		}
		secs := at.Sub(a.at).Seconds()
		d := func(k string) float64 { return float64(v[k] - a.c[k]) }
		util := d("in-octets") * 8 / (10e9 * secs)
		if math.Abs(util-tr.UtilIn) > 1e-6 {
			t.Fatalf("%s util_in from counters %g, truth %g", n, util, tr.UtilIn)
		}
		inPkts := d("in-unicast-pkts") + d("in-multicast-pkts") + d("in-broadcast-pkts")
		outPkts := d("out-unicast-pkts") + d("out-multicast-pkts") + d("out-broadcast-pkts")
		loss := (d("in-errors") + d("in-discards") + d("out-discards")) / (inPkts + outPkts + d("in-discards") + d("in-errors"))
		if math.Abs(loss-tr.LossRatio) > 1e-4 {
			t.Fatalf("%s loss from counters %g, truth %g", n, loss, tr.LossRatio)
		}
		switch n {
		case "Ethernet1":
			if tr.LossRatio != 0 || tr.UtilIn < 0.1 || tr.UtilIn > 0.6 {
				t.Fatalf("baseline truth: %+v", tr)
			}
		case "Ethernet2":
			if math.Abs(tr.LossRatio-0.05) > 0.001 {
				t.Fatalf("loss fault: truth loss %g, want 0.05", tr.LossRatio)
			}
		case "Ethernet3":
			if math.Abs(tr.UtilOut-1) > 0.001 || tr.OutDiscardsPs <= 0 {
				t.Fatalf("congestion: %+v", tr)
			}
			want := 0.25 / 1.25 // share of the offered outbound packets discarded
			// out-*-pkts count every packet offered, discarded or not (RFC 2863).
			got := tr.OutDiscardsPs / tr.OutPps
			if math.Abs(got-want) > 0.001 {
				t.Fatalf("congestion discard share %g, want %g", got, want)
			}
		}
	}
	now := f.clock()
	lt, err := f.Truth().Link("site1-sw1", "site2-sw1", now.Add(-3*time.Second), now)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := f.Truth().Link("site1-sw1", "site3-sw1", now.Add(-3*time.Second), now)
	if lt.RTTMs < 30 || lt.RTTMs > 30+25 || lt.JitterMs < 4 || base.RTTMs > 25 || lt.LossRatio != 0 {
		t.Fatalf("latency truth %+v, baseline %+v", lt, base)
	}
}

func TestSetTargetDown(t *testing.T) {
	f, c := startFabric(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	open := func() grpc.BidiStreamingClient[gpb.SubscribeRequest, gpb.SubscribeResponse] {
		sc, err := c.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Send(subReq("site4-sw2", gpb.SubscriptionList_STREAM, &gpb.Subscription{
			Path: path("interfaces"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(100 * time.Millisecond),
		})); err != nil {
			t.Fatal(err)
		}
		return sc
	}
	sc := open()
	recvUntilSync(t, sc)
	if err := f.SetTargetDown("site4-sw2", true); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := sc.Recv()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("stream ended with %v, want Unavailable", err)
			}
			break
		}
	}
	sc2 := open()
	if _, err := sc2.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("subscribe while down: %v", err)
	}
	// Other targets are unaffected.
	if _, err := c.Get(ctx, &gpb.GetRequest{Prefix: &gpb.Path{Target: "site4-sw1"}, Path: []*gpb.Path{path("interfaces")}}); err != nil {
		t.Fatalf("other target: %v", err)
	}
	if err := f.SetTargetDown("site4-sw2", false); err != nil {
		t.Fatal(err)
	}
	sc3 := open()
	if n := recvUntilSync(t, sc3); len(n) != 8 {
		t.Fatalf("after restart: %d notifications", len(n))
	}
}

func TestSubscribeErrors(t *testing.T) {
	_, c := startFabric(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cases := []struct {
		name string
		req  *gpb.SubscribeRequest
		code codes.Code
	}{
		{"no target", subReq("", gpb.SubscriptionList_ONCE), codes.InvalidArgument},
		{"unknown target", subReq("site9-sw1", gpb.SubscriptionList_ONCE), codes.NotFound},
		{"no match", subReq("site1-sw1", gpb.SubscriptionList_ONCE, &gpb.Subscription{Path: path("system")}), codes.NotFound},
		{"interval too small", subReq("site1-sw1", gpb.SubscriptionList_STREAM, &gpb.Subscription{
			Path: path("interfaces"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(time.Millisecond)}), codes.InvalidArgument},
		{"poll first", &gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Poll{Poll: &gpb.Poll{}}}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		sc, err := c.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Send(tc.req); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Recv(); status.Code(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
	}
	caps, err := c.Capabilities(ctx, &gpb.CapabilityRequest{})
	if err != nil || len(caps.GetSupportedModels()) != 3 || len(caps.GetSupportedEncodings()) != 3 {
		t.Fatalf("capabilities: %v %v", caps, err)
	}
}

func TestAuth(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	cfg.Username, cfg.Password = "admin", "secret"
	f, err := New(cfg, Dependencies{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := gpb.NewGNMIClient(conn)
	req := &gpb.GetRequest{Prefix: &gpb.Path{Target: "site1-sw1"}, Path: []*gpb.Path{path("interfaces")}}
	if _, err := c.Get(context.Background(), req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no credentials: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "username", "admin", "password", "secret")
	if _, err := c.Get(ctx, req); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	var m dto.Metric
	if err := f.m.errors.WithLabelValues("unauthenticated").Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Fatalf("unauthenticated counter %v %v", m.GetCounter().GetValue(), err)
	}
}

func TestTruthFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "truth.jsonl")
	f, _ := startFabric(t, func(cfg *Configuration) {
		cfg.TruthFile = p
		cfg.Sites, cfg.SwitchesPerSite, cfg.InterfacesPerSwitch = 2, 1, 2
	}, scaledClock(20))
	// Three seconds of device time written (the event loop flushes every
	// 50 ms); Stop then writes up to the current second.
	testenv.Eventually(t, 5*time.Second, "3 seconds of truth written", func() bool {
		b, _ := os.ReadFile(p)
		return bytes.Count(b, []byte("\n")) >= 3*6
	})
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// Per second: 2 devices × (2 interfaces + 1 link).
	if len(lines) < 3*6 || len(lines)%6 != 0 {
		t.Fatalf("%d truth lines", len(lines))
	}
	if !strings.Contains(lines[0], `"type":"interface"`) || !strings.Contains(b2s(b), `"type":"link"`) {
		t.Fatalf("truth file: %s", lines[0])
	}
}

func b2s(b []byte) string { return string(b) }
