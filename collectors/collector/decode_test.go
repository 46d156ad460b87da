package collector

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// decodeCheck decodes n with the reference decoder d and checks that the
// wire-bytes decoder gives the same samples and the same error counts:
// cold, warm (walk cache filled) and with a walk cache too small to hold
// the notification's paths.
func decodeCheck(t testing.TB, d *decoder, n *gnmi.Notification, recv int64) []*wirepb.Sample {
	t.Helper()
	out, want := reference(d, n, recv)
	b := wireUpdate(t, n)
	r := newDecoder(d.m, d.device, d.site, d.collector, d.maxUpdates)
	small := newDecoder(d.m, d.device, d.site, d.collector, d.maxUpdates)
	small.maxCache = 3
	for i, dec := range []*decoder{r, r, r, small, small} {
		if err := rawAgrees(dec, b, recv, out, want); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	return out
}

// reference decodes n with the reference decoder d: the samples and the
// errors it counted for n.
func reference(d *decoder, n *gnmi.Notification, recv int64) ([]*wirepb.Sample, [numReasons]uint64) {
	before := d.errs
	out := d.decode(n, recv)
	var errs [numReasons]uint64
	for i := range before {
		errs[i] = d.errs[i] - before[i]
	}
	return out, errs
}

// wireUpdate is n as the collector receives it: a SubscribeResponse's bytes.
func wireUpdate(t testing.TB, n *gnmi.Notification) []byte {
	t.Helper()
	b, err := proto.Marshal(&gnmi.SubscribeResponse{Response: &gnmi.SubscribeResponse_Update{Update: n}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawAgrees decodes the SubscribeResponse b with r and compares the
// samples with want and the errors counted with wantErrs.
func rawAgrees(r *decoder, b []byte, recv int64, want []*wirepb.Sample, wantErrs [numReasons]uint64) error {
	before := r.errs
	rout, sync, rerr := r.decodeRaw(b, recv)
	if sync || rerr != nil {
		return fmt.Errorf("raw: sync %v err %v", sync, rerr)
	}
	if len(rout) != len(want) {
		return fmt.Errorf("raw decoder: %d samples, reference %d:\n raw %v\n ref %v", len(rout), len(want), rout, want)
	}
	for i := range want {
		if !proto.Equal(want[i], rout[i]) {
			return fmt.Errorf("raw decoder differs:\n raw %v\n ref %v", rout[i], want[i])
		}
	}
	for i := range before {
		if r.errs[i]-before[i] != wantErrs[i] {
			return fmt.Errorf("raw decoder errors %v (before %v), reference %v", r.errs, before, wantErrs)
		}
	}
	if n := cacheSize(r); n != r.cached || n > r.maxCache {
		return fmt.Errorf("walk cache holds %d (counted %d), bound %d", n, r.cached, r.maxCache)
	}
	return nil
}

// cacheSize counts the entries of d's walk cache.
func cacheSize(d *decoder) int {
	n := len(d.prefixes)
	for _, e := range d.prefixes {
		n += len(e.paths) + len(e.seq)
	}
	return n
}

func testMatcher(t testing.TB) *matcher {
	t.Helper()
	m, err := compileMappings(DefaultMappings())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ifPath(iface string, elems ...string) *gnmi.Path {
	p := &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": iface}}}}
	for _, e := range elems {
		p.Elem = append(p.Elem, &gnmi.PathElem{Name: e})
	}
	return p
}

func probePath(site, dev, leaf string) *gnmi.Path {
	return &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "probes"}, {Name: "probe", Key: map[string]string{"name": site}},
		{Name: "tests"}, {Name: "test", Key: map[string]string{"name": dev}}, {Name: "results"}, {Name: "state"}, {Name: leaf}}}
}

func uval(v uint64) *gnmi.TypedValue {
	return &gnmi.TypedValue{Value: &gnmi.TypedValue_UintVal{UintVal: v}}
}
func sval(v string) *gnmi.TypedValue {
	return &gnmi.TypedValue{Value: &gnmi.TypedValue_StringVal{StringVal: v}}
}
func dval(v float64) *gnmi.TypedValue {
	return &gnmi.TypedValue{Value: &gnmi.TypedValue_DoubleVal{DoubleVal: v}}
}

var counterLeaves = []struct {
	leaf string
	c    wirepb.Counter
}{
	{"in-octets", wirepb.Counter_IN_OCTETS}, {"in-unicast-pkts", wirepb.Counter_IN_UNICAST_PKTS},
	{"in-broadcast-pkts", wirepb.Counter_IN_BROADCAST_PKTS}, {"in-multicast-pkts", wirepb.Counter_IN_MULTICAST_PKTS},
	{"in-errors", wirepb.Counter_IN_ERRORS}, {"in-discards", wirepb.Counter_IN_DISCARDS},
	{"out-octets", wirepb.Counter_OUT_OCTETS}, {"out-unicast-pkts", wirepb.Counter_OUT_UNICAST_PKTS},
	{"out-broadcast-pkts", wirepb.Counter_OUT_BROADCAST_PKTS}, {"out-multicast-pkts", wirepb.Counter_OUT_MULTICAST_PKTS},
	{"out-errors", wirepb.Counter_OUT_ERRORS}, {"out-discards", wirepb.Counter_OUT_DISCARDS},
	{"in-fcs-errors", wirepb.Counter_IN_FCS_ERRORS}, {"carrier-transitions", wirepb.Counter_CARRIER_TRANSITIONS},
}

// countersNotification is what a switch sends for one interface: prefix
// down to the interface, relative leaf paths.
func countersNotification(target, iface string, ts int64, base uint64) *gnmi.Notification {
	n := &gnmi.Notification{Timestamp: ts, Prefix: &gnmi.Path{Target: target,
		Elem: []*gnmi.PathElem{{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": iface}},
			{Name: "state"}, {Name: "counters"}}}}
	for i, cl := range counterLeaves[:12] {
		n.Update = append(n.Update, &gnmi.Update{Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: cl.leaf}}}, Val: uval(base + uint64(i))})
	}
	n.Update = append(n.Update, &gnmi.Update{Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "last-clear"}}}, Val: uval(1700000000000000000)})
	return n
}

func TestDecodeEveryInterfaceLeaf(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	n := &gnmi.Notification{Timestamp: ts, Prefix: &gnmi.Path{Target: "site1-sw1"}}
	for i, cl := range counterLeaves {
		n.Update = append(n.Update, &gnmi.Update{Path: ifPath("eth0", "state", "counters", cl.leaf), Val: uval(uint64(100 + i))})
	}
	n.Update = append(n.Update,
		&gnmi.Update{Path: ifPath("eth0", "state", "counters", "last-clear"), Val: uval(12345)},
		&gnmi.Update{Path: ifPath("eth0", "state", "oper-status"), Val: sval("UP")},
		&gnmi.Update{Path: ifPath("eth0", "ethernet", "state", "port-speed"), Val: sval("openconfig-if-ethernet:SPEED_10GB")},
		// another interface in the same notification → a second sample
		&gnmi.Update{Path: ifPath("eth1", "state", "oper-status"), Val: sval("lower_layer_down")},
		&gnmi.Update{Path: ifPath("eth1", "aggregation", "state", "lag-speed"), Val: uval(40000)},
	)
	out := decodeCheck(t, d, n, ts+1000)
	if len(out) != 2 {
		t.Fatalf("got %d samples, want 2", len(out))
	}
	for r, c := range d.errs {
		if c != 0 {
			t.Errorf("unexpected decode error %s: %d", reason(r), c)
		}
	}
	s := out[0]
	if s.Device != "site1-sw1" || s.Site != "site1" || s.Collector != "c1" || s.DeviceTimeUnixNano != ts || s.ReceiveTimeUnixNano != ts+1000 {
		t.Errorf("header: %v", s)
	}
	st := s.GetInterface()
	if st.Interface != "eth0" || st.OperStatus != wirepb.OperStatus_UP || st.SpeedBps != 10e9 || st.LastClearUnixNano != 12345 {
		t.Errorf("eth0: %v", st)
	}
	if len(st.Counters) != len(counterLeaves) {
		t.Fatalf("got %d counters, want %d", len(st.Counters), len(counterLeaves))
	}
	for i, cl := range counterLeaves {
		if st.Counters[i].Counter != cl.c || st.Counters[i].Value != uint64(100+i) {
			t.Errorf("counter %s: %v", cl.leaf, st.Counters[i])
		}
	}
	st1 := out[1].GetInterface()
	if st1.Interface != "eth1" || st1.OperStatus != wirepb.OperStatus_LOWER_LAYER_DOWN || st1.SpeedBps != 40e9 {
		t.Errorf("eth1: %v", st1)
	}
	if d.updates != uint64(len(n.Update)) {
		t.Errorf("updates %d", d.updates)
	}
}

func TestDecodePrefixAndReuse(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	out := decodeCheck(t, d, countersNotification("site1-sw1", "eth3", ts, 10), ts)
	if len(out) != 1 || len(out[0].GetInterface().Counters) != 12 || out[0].GetInterface().LastClearUnixNano != 1700000000000000000 {
		t.Fatalf("got %v", out)
	}
	// reuse: the next notification has fewer leaves, nothing leaks over
	n := &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{{Path: ifPath("eth9", "state", "counters", "in-octets"), Val: uval(7)}}}
	out = decodeCheck(t, d, n, ts)
	st := out[0].GetInterface()
	if len(out) != 1 || st.Interface != "eth9" || len(st.Counters) != 1 || st.Counters[0].Value != 7 || st.LastClearUnixNano != 0 {
		t.Fatalf("reuse leaked: %v", st)
	}
}

func TestDecodeProbes(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	n := &gnmi.Notification{Timestamp: ts}
	add := func(leaf string, v *gnmi.TypedValue) {
		n.Update = append(n.Update, &gnmi.Update{Path: probePath("site2", "site2-sw1", leaf), Val: v})
	}
	add("min-delay", uval(100))
	add("max-delay", dval(900.5))
	add("avg-delay", &gnmi.TypedValue{Value: &gnmi.TypedValue_DecimalVal{DecimalVal: &gnmi.Decimal64{Digits: 4005, Precision: 1}}})
	add("stddev-delay", &gnmi.TypedValue{Value: &gnmi.TypedValue_FloatVal{FloatVal: 12.5}})
	add("jitter", &gnmi.TypedValue{Value: &gnmi.TypedValue_JsonIetfVal{JsonIetfVal: []byte(`"33.25"`)}})
	add("loss-percentage", dval(1.5))
	add("probes-sent", &gnmi.TypedValue{Value: &gnmi.TypedValue_IntVal{IntVal: 1000}})
	add("probes-received", &gnmi.TypedValue{Value: &gnmi.TypedValue_JsonVal{JsonVal: []byte(`985`)}})
	n.Update = append(n.Update, &gnmi.Update{Path: probePath("site3", "site3-sw2", "avg-delay"), Val: uval(5)})
	out := decodeCheck(t, d, n, ts)
	if len(out) != 2 {
		t.Fatalf("got %d samples", len(out))
	}
	p := out[0].GetProbe()
	want := &wirepb.ProbeResult{PeerSite: "site2", PeerDevice: "site2-sw1", MinDelayUs: 100, MaxDelayUs: 900.5, AvgDelayUs: 400.5,
		StddevDelayUs: 12.5, JitterUs: 33.25, LossPercentage: 1.5, ProbesSent: 1000, ProbesReceived: 985}
	if !proto.Equal(p, want) {
		t.Errorf("probe:\n got %v\nwant %v", p, want)
	}
	if q := out[1].GetProbe(); q.PeerSite != "site3" || q.PeerDevice != "site3-sw2" || q.AvgDelayUs != 5 {
		t.Errorf("second probe: %v", q)
	}
}

func TestDecodeBadInputsCounted(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 5)
	ts := time.Now().UnixNano()
	long := string(make([]byte, 300))
	cases := []struct {
		name string
		u    *gnmi.Update
		want reason
	}{
		{"negative int", &gnmi.Update{Path: ifPath("e", "state", "counters", "in-octets"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_IntVal{IntVal: -5}}}, reasonNegative},
		{"NaN", &gnmi.Update{Path: probePath("s", "d", "avg-delay"), Val: dval(math.NaN())}, reasonNotFinite},
		{"Inf", &gnmi.Update{Path: ifPath("e", "state", "counters", "in-octets"), Val: dval(math.Inf(1))}, reasonNotFinite},
		{"negative double", &gnmi.Update{Path: probePath("s", "d", "jitter"), Val: dval(-1)}, reasonNegative},
		{"loss > 100", &gnmi.Update{Path: probePath("s", "d", "loss-percentage"), Val: dval(250)}, reasonOutOfRange},
		{"absurd delay", &gnmi.Update{Path: probePath("s", "d", "max-delay"), Val: dval(1e15)}, reasonOutOfRange},
		{"unknown leaf", &gnmi.Update{Path: ifPath("e", "state", "counters", "in-pkts"), Val: uval(1)}, reasonUnknownPath},
		{"unknown tree", &gnmi.Update{Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "system"}}}, Val: uval(1)}, reasonUnknownPath},
		{"container", &gnmi.Update{Path: ifPath("e", "state"), Val: uval(1)}, reasonUnknownPath},
		{"missing key", &gnmi.Update{Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "interfaces"}, {Name: "interface"}, {Name: "state"}, {Name: "oper-status"}}}, Val: sval("UP")}, reasonMissingKey},
		{"huge name", &gnmi.Update{Path: ifPath(long, "state", "oper-status"), Val: sval("UP")}, reasonOversized},
		{"huge string", &gnmi.Update{Path: ifPath("e", "state", "oper-status"), Val: sval(long)}, reasonOversized},
		{"bad oper", &gnmi.Update{Path: ifPath("e", "state", "oper-status"), Val: sval("SIDEWAYS")}, reasonBadValue},
		{"oper as int", &gnmi.Update{Path: ifPath("e", "state", "oper-status"), Val: uval(1)}, reasonBadType},
		{"bool counter", &gnmi.Update{Path: ifPath("e", "state", "counters", "in-octets"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_BoolVal{BoolVal: true}}}, reasonBadType},
		{"string counter", &gnmi.Update{Path: ifPath("e", "state", "counters", "in-octets"), Val: sval("12x")}, reasonBadValue},
		{"overflow string", &gnmi.Update{Path: ifPath("e", "state", "counters", "in-octets"), Val: sval("99999999999999999999999")}, reasonOutOfRange},
		{"no value", &gnmi.Update{Path: ifPath("e", "state", "counters", "in-octets")}, reasonNoValue},
		{"bad speed", &gnmi.Update{Path: ifPath("e", "ethernet", "state", "port-speed"), Val: sval("FAST")}, reasonBadValue},
		{"bad last-clear", &gnmi.Update{Path: ifPath("e", "state", "counters", "last-clear"), Val: sval("yesterday")}, reasonBadValue},
		{"legacy container", &gnmi.Update{Path: &gnmi.Path{Element: []string{"interfaces"}}, Val: uval(1)}, reasonUnknownPath},
		{"legacy unterminated key", &gnmi.Update{Path: &gnmi.Path{Element: []string{"interfaces", "interface[name=e", "state", "oper-status"}}, Val: sval("UP")}, reasonLegacyPath},
	}
	for _, tc := range cases {
		d.errs = [numReasons]uint64{}
		out := decodeCheck(t, d, &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{tc.u}}, ts)
		if len(out) != 0 {
			t.Errorf("%s: produced %v", tc.name, out)
		}
		if d.errs[tc.want] != 1 {
			t.Errorf("%s: errs %v, want 1 × %s", tc.name, d.errs, tc.want)
		}
	}
	// notification-level problems
	d.errs = [numReasons]uint64{}
	out := decodeCheck(t, d, &gnmi.Notification{Timestamp: ts, Prefix: &gnmi.Path{Target: "other"},
		Update: []*gnmi.Update{{Path: ifPath("e", "state", "oper-status"), Val: sval("UP")}}}, ts)
	if len(out) != 0 || d.errs[reasonWrongTarget] != 1 {
		t.Errorf("wrong target: %v %v", out, d.errs)
	}
	d.errs = [numReasons]uint64{}
	out = decodeCheck(t, d, &gnmi.Notification{Timestamp: -1, Update: []*gnmi.Update{{Path: ifPath("e", "state", "oper-status"), Val: sval("UP")}}}, ts)
	if len(out) != 1 || d.errs[reasonBadTimestamp] != 1 || out[0].DeviceTimeUnixNano != ts {
		t.Errorf("bad timestamp: %v %v", out, d.errs)
	}
	d.errs = [numReasons]uint64{}
	n := countersNotification("", "e", ts, 0) // 13 updates, limit 5
	out = decodeCheck(t, d, n, ts)
	if len(out) != 1 || d.errs[reasonTooManyUpdates] != 8 || len(out[0].GetInterface().Counters) != 5 {
		t.Errorf("too many updates: %v %v", out, d.errs)
	}
}

func TestDecodeJSONAndIdentityForms(t *testing.T) {
	d := newDecoder(testMatcher(t), "d", "s", "c", 100)
	ts := time.Now().UnixNano()
	n := &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{
		{Path: ifPath("e", "state", "counters", "in-octets"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_JsonIetfVal{JsonIetfVal: []byte(`"18446744073709551615"`)}}},
		{Path: ifPath("e", "state", "oper-status"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_JsonIetfVal{JsonIetfVal: []byte(`"openconfig-interfaces:DOWN"`)}}},
		{Path: ifPath("e", "ethernet", "state", "port-speed"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_AsciiVal{AsciiVal: "SPEED_2500MB"}}},
		{Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "openconfig-interfaces:interfaces"}, {Name: "interface", Key: map[string]string{"name": "e"}},
			// fixed date: a last-clear value to parse; no server reads it
			{Name: "state"}, {Name: "counters"}, {Name: "last-clear"}}}, Val: sval("2026-01-02T03:04:05Z")},
	}}
	out := decodeCheck(t, d, n, ts)
	if len(out) != 1 {
		t.Fatalf("%v %v", out, d.errs)
	}
	st := out[0].GetInterface()
	// fixed date: the last-clear string above, parsed; no server reads it
	lastClear := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	if st.Counters[0].Value != math.MaxUint64 || st.OperStatus != wirepb.OperStatus_DOWN || st.SpeedBps != 2500e6 ||
		st.LastClearUnixNano != lastClear {
		t.Errorf("got %v (errs %v)", st, d.errs)
	}
}

func TestMappingsValidation(t *testing.T) {
	bad := [][]Mapping{
		{{Path: "/a/b", Field: "counters.NOPE"}},
		{{Path: "/a/b", Field: "counters.IN_OCTETS"}}, // no $interface capture
		{{Path: "a/b[name=$interface]", Field: "oper_status"}},
		{{Path: "/a[name=$bogus]/b", Field: "oper_status"}},
		{{Path: "/a[name=$interface]/b", Field: "oper_status"}, {Path: "/a[name=$interface]/b", Field: "speed_bps"}},
		{{Path: "/p[name=$peer_site]/x", Field: "probe.jitter_us"}},
		{{Path: "/a[name=$interface]/b", Field: "whatever"}},
	}
	for i, ms := range bad {
		if _, err := compileMappings(ms); err == nil {
			t.Errorf("case %d: accepted %v", i, ms)
		}
	}
	// A vendor tree added as data.
	ms := append(DefaultMappings(), Mapping{Path: "/vendor/twamp/session[peer=$peer_site][dev=$peer_device]/rtt", Field: "probe.avg_delay_us", Scale: 1000})
	m, err := compileMappings(ms)
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder(m, "d", "s", "c", 100)
	ts := time.Now().UnixNano()
	out := decodeCheck(t, d, &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{{Path: &gnmi.Path{Elem: []*gnmi.PathElem{
		{Name: "vendor"}, {Name: "twamp"}, {Name: "session", Key: map[string]string{"peer": "s2", "dev": "s2-x"}}, {Name: "rtt"}}}, Val: dval(1.5)}}}, ts)
	if len(out) != 1 || out[0].GetProbe().AvgDelayUs != 1500 || out[0].GetProbe().PeerDevice != "s2-x" {
		t.Errorf("vendor mapping: %v %v", out, d.errs)
	}
}

// BenchmarkDecode measures notification → samples: a typical switch
// notification (one interface, 12 counters + last-clear). Reported per
// notification; allocs/op must stay 0 once warm (≤ 1 per update is the
// budget).
func BenchmarkDecode(b *testing.B) {
	d := newDecoder(testMatcher(b), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	ns := make([]*gnmi.Notification, 48)
	for i := range ns {
		ns[i] = countersNotification("site1-sw1", "Ethernet"+string(rune('A'+i%26))+string(rune('a'+i/26)), ts, uint64(i))
	}
	updates := len(ns[0].Update)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := d.decode(ns[i%len(ns)], ts)
		if len(out) != 1 {
			b.Fatal(len(out))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*updates), "ns/update")
}

// BenchmarkDecodeRaw is BenchmarkDecode on the wire bytes (the path the
// collector uses): SubscribeResponse bytes → samples.
func BenchmarkDecodeRaw(b *testing.B) {
	d := newDecoder(testMatcher(b), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	bufs := make([][]byte, 48)
	for i := range bufs {
		n := countersNotification("site1-sw1", "Ethernet"+string(rune('A'+i%26))+string(rune('a'+i/26)), ts, uint64(i))
		bufs[i] = wireUpdate(b, n)
	}
	updates := 13
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, _, _ := d.decodeRaw(bufs[i%len(bufs)], ts)
		if len(out) != 1 {
			b.Fatal(len(out))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*updates), "ns/update")
}

func TestDecodeAllocs(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	n := countersNotification("site1-sw1", "eth0", ts, 1)
	p := &gnmi.Notification{Timestamp: ts}
	for _, l := range []string{"min-delay", "max-delay", "avg-delay", "jitter", "loss-percentage", "probes-sent"} {
		p.Update = append(p.Update, &gnmi.Update{Path: probePath("site2", "site2-sw1", l), Val: dval(3)})
	}
	d.decode(n, ts)
	d.decode(p, ts)
	allocs := testing.AllocsPerRun(200, func() {
		d.decode(n, ts)
		d.decode(p, ts)
	})
	if allocs > 0 {
		t.Errorf("decode allocates %.1f times per run, want 0 once warm", allocs)
	}
	rn, rp := wireUpdate(t, n), wireUpdate(t, p)
	d.decodeRaw(rn, ts)
	d.decodeRaw(rp, ts)
	allocs = testing.AllocsPerRun(200, func() {
		d.decodeRaw(rn, ts)
		d.decodeRaw(rp, ts)
	})
	if allocs > 0 {
		t.Errorf("decodeRaw allocates %.1f times per run, want 0 once warm", allocs)
	}
}

// FuzzDecode feeds arbitrary notifications (from fuzzed protobuf bytes)
// to both decoders: neither may panic, every sample must be well-formed,
// and when the bytes are a valid Notification the wire-bytes decoder must
// give exactly what the reference decoder gives.
func FuzzDecode(f *testing.F) {
	ts := time.Now().UnixNano()
	for _, n := range []*gnmi.Notification{
		countersNotification("site1-sw1", "eth0", ts, 1),
		{Timestamp: ts, Update: []*gnmi.Update{{Path: probePath("a", "b", "jitter"), Val: dval(math.NaN())}}},
		{Timestamp: ts, Update: []*gnmi.Update{{Path: ifPath("e", "ethernet", "state", "port-speed"), Val: sval("SPEED_100GB")}}},
		{Timestamp: ts, Update: []*gnmi.Update{{Path: probePath("a", "b", "avg-delay"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_DecimalVal{DecimalVal: &gnmi.Decimal64{Digits: 15, Precision: 1}}}}}},
		{Timestamp: ts, Update: []*gnmi.Update{{Path: ifPath("e", "state", "oper-status"), Val: &gnmi.TypedValue{Value: &gnmi.TypedValue_JsonIetfVal{JsonIetfVal: []byte(`"UP"`)}}}}},
	} {
		b, _ := proto.Marshal(n)
		f.Add(b)
	}
	for _, n := range legacySeeds(ts) {
		b, _ := proto.Marshal(n)
		f.Add(b)
	}
	m := testMatcher(f)
	// one decoder with a tiny walk cache lives across inputs: the cache
	// churns, and must never change a result
	churn := newDecoder(m, "site1-sw1", "site1", "c1", 1000)
	churn.maxCache = 5
	f.Fuzz(func(t *testing.T, data []byte) {
		// SubscribeResponse{update: data} on the wire
		raw := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), data)
		checkRaw(t, m, churn, raw, ts)
	})
}

// checkSamples checks what any decoder may output.
func checkSamples(t *testing.T, out []*wirepb.Sample) {
	t.Helper()
	for _, s := range out {
		if s.Body == nil || s.Device != "site1-sw1" {
			t.Fatalf("malformed sample %v", s)
		}
		if p := s.GetProbe(); p != nil {
			for _, v := range []float64{p.MinDelayUs, p.MaxDelayUs, p.AvgDelayUs, p.StddevDelayUs, p.JitterUs, p.LossPercentage} {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					t.Fatalf("bad probe value in %v", p)
				}
			}
		}
		if _, err := proto.Marshal(s); err != nil {
			t.Fatal(err)
		}
	}
}

// checkRaw decodes the SubscribeResponse raw with the wire-bytes decoder
// (cold, warm, and with churn's cache) and, when proto unmarshals it, with
// the reference decoder: the samples must be the same. It returns how many
// there were.
func checkRaw(t *testing.T, m *matcher, churn *decoder, raw []byte, ts int64) int {
	t.Helper()
	r := newDecoder(m, "site1-sw1", "site1", "c1", 1000)
	rout, _, _ := r.decodeRaw(raw, ts)
	checkSamples(t, rout)
	// warm (the walk cache filled by the first decode) and churning: the
	// same as cold
	cold := make([]*wirepb.Sample, len(rout))
	for i, s := range rout {
		cold[i] = proto.Clone(s).(*wirepb.Sample)
	}
	coldErrs := r.errs
	if err := rawAgrees(r, raw, ts, cold, coldErrs); err != nil {
		t.Fatalf("warm: %v", err)
	}
	if churn != nil {
		if err := rawAgrees(churn, raw, ts, cold, coldErrs); err != nil {
			t.Fatalf("churning cache: %v", err)
		}
	}
	var resp gnmi.SubscribeResponse
	if err := proto.Unmarshal(raw, &resp); err != nil || resp.GetUpdate() == nil {
		return len(cold)
	}
	d := newDecoder(m, "site1-sw1", "site1", "c1", 1000)
	out := d.decode(resp.GetUpdate(), ts)
	checkSamples(t, out)
	if len(out) != len(cold) {
		t.Fatalf("raw %d samples, reference %d:\n raw %v\n ref %v", len(cold), len(out), cold, out)
	}
	for i := range out {
		if !proto.Equal(out[i], cold[i]) {
			t.Fatalf("raw decoder differs:\n raw %v\n ref %v", cold[i], out[i])
		}
	}
	return len(out)
}

// TestDecodeMergedFields: protobuf merges an embedded message sent more
// than once (and takes the last of a scalar); the wire-bytes decoder must
// read such messages as proto.Unmarshal does.
func TestDecodeMergedFields(t *testing.T) {
	m := testMatcher(t)
	ts := time.Now().UnixNano()
	mb := func(msg proto.Message) []byte {
		b, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	n := countersNotification("site1-sw1", "eth0", ts, 7)
	full := mb(n)
	tsField := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(ts))
	resp := func(notifs ...[]byte) []byte {
		var b []byte
		for _, x := range notifs {
			b = field(b, 1, x)
		}
		return b
	}
	// the prefix in two parts
	head := &gnmi.Notification{Timestamp: ts, Prefix: &gnmi.Path{Target: "site1-sw1", Elem: n.Prefix.Elem[:2]}}
	tail := &gnmi.Notification{Prefix: &gnmi.Path{Elem: n.Prefix.Elem[2:]}, Update: n.Update}
	split := append(mb(head), mb(tail)...)
	// the target named twice: the last counts
	other := mb(&gnmi.Notification{Prefix: &gnmi.Path{Target: "site1-sw2"}})
	mine := mb(&gnmi.Notification{Prefix: &gnmi.Path{Target: "site1-sw1"}})
	// ... within one prefix field
	twoTargets := field(tsField, 2, append(mb(&gnmi.Path{Target: "site1-sw2"}), mb(n.Prefix)...))
	for _, x := range n.Update {
		twoTargets = field(twoTargets, 4, mb(x))
	}
	// an update whose path comes in two parts, and one with val before path
	u := mb(&gnmi.Update{Path: ifPath("eth1", "state"), Val: uval(1)})
	u = field(u, 1, mb(&gnmi.Path{Elem: []*gnmi.PathElem{{Name: "counters"}, {Name: "in-octets"}}}))
	valFirst := field(field(nil, 3, mb(uval(5))), 1, mb(ifPath("eth2", "state", "counters", "out-octets")))
	// a decimal_val in two parts: digits, then precision
	dec := field(nil, 7, mb(&gnmi.Decimal64{Digits: 15}))
	dec = field(dec, 7, mb(&gnmi.Decimal64{Precision: 1}))
	decUpd := field(field(nil, 1, mb(probePath("a", "b", "avg-delay"))), 3, dec)
	ups := field(field(tsField, 4, u), 4, valFirst)
	ups = field(ups, 4, decUpd)
	for _, c := range []struct {
		name    string
		raw     []byte
		samples int
	}{
		{"whole", resp(full), 1},
		{"prefix in 2 parts", resp(split), 1},
		{"notification split", resp(mb(head), mb(tail)), 1},
		{"sync between", append(append(resp(mb(head)), 0x18, 1), resp(mb(tail))...), 0},
		{"target other, mine", resp(append(append([]byte(nil), other...), append(mine, full...)...)), 1},
		{"target mine, other", resp(append(append([]byte(nil), full...), other...)), 0},
		{"merged updates", resp(ups), 3},
		{"two targets, one prefix", resp(twoTargets), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := checkRaw(t, m, nil, c.raw, ts); n != c.samples {
				t.Fatalf("%d samples, want %d", n, c.samples)
			}
		})
	}
}

// TestWalkCache: a warm session matches paths from the cache, including
// when a target reorders its updates, changes values, or sends more
// distinct paths than the cache holds (it stays bounded and correct).
func TestWalkCache(t *testing.T) {
	m := testMatcher(t)
	ts := time.Now().UnixNano()
	ref := newDecoder(m, "site1-sw1", "site1", "c1", 1000)
	raw := newDecoder(m, "site1-sw1", "site1", "c1", 1000)
	raw.maxCache = 200
	check := func(n *gnmi.Notification) {
		t.Helper()
		out, want := reference(ref, n, ts)
		if err := rawAgrees(raw, wireUpdate(t, n), ts, out, want); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		for i := range 40 { // 40 × (1 prefix + 13 paths + 13 positions) > 200
			n := countersNotification("site1-sw1", fmt.Sprintf("Ethernet%d", i), ts, uint64(round*1000+i))
			if round == 1 { // reordered
				for j, k := 0, len(n.Update)-1; j < k; j, k = j+1, k-1 {
					n.Update[j], n.Update[k] = n.Update[k], n.Update[j]
				}
			}
			if round == 2 && i%5 == 0 { // an unknown path and a bad key in the middle
				n.Update[3].Path.Elem[0].Name = "no-such-leaf"
				n.Prefix.Elem[1].Key = map[string]string{"other": "x"}
			}
			check(n)
		}
	}
	// another target's name in the prefix, twice
	n := countersNotification("site1-sw2", "Ethernet1", ts, 1)
	check(n)
	check(n)
	// probes with full paths and no prefix, twice
	p := &gnmi.Notification{Timestamp: ts}
	for _, l := range []string{"min-delay", "max-delay", "avg-delay", "jitter", "loss-percentage", "probes-sent"} {
		p.Update = append(p.Update, &gnmi.Update{Path: probePath("site2", "site2-sw1", l), Val: dval(3)})
	}
	check(p)
	check(p)
}

// TestWalkCacheHoldsLargeTarget: a target of 500 interfaces stays cached
// (with a bound of 4 096 entries, 150 interfaces already emptied and
// refilled the cache every few notifications, doubling the decode cost).
func TestWalkCacheHoldsLargeTarget(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	const ifaces = 500
	bufs := make([][]byte, ifaces)
	for i := range bufs {
		n := countersNotification("site1-sw1", fmt.Sprintf("Ethernet%d", i), ts, uint64(i))
		bufs[i] = wireUpdate(t, n)
	}
	for round := range 3 {
		for _, b := range bufs {
			if out, _, err := d.decodeRaw(b, ts); err != nil || len(out) != 1 {
				t.Fatalf("round %d: %d samples, %v", round, len(out), err)
			}
		}
		if len(d.prefixes) != ifaces {
			t.Fatalf("round %d: %d prefixes cached, want all %d (the cache was emptied)", round, len(d.prefixes), ifaces)
		}
	}
	if d.cached > d.maxCache {
		t.Fatalf("cache holds %d, bound %d", d.cached, d.maxCache)
	}
}
