package collector

import (
	"flag"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"
	fakegnmi "github.com/openconfig/gnmi/testing/fake/gnmi"
	fpb "github.com/openconfig/gnmi/testing/fake/proto"
	"github.com/openconfig/gnmi/testing/fake/queue"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// fakeAgent serves openconfig's fake gNMI agent (gnmi/testing/fake/gnmi)
// with config cfg on a loopback port, and records what it sends.
//
// fakegnmi.New and NewFromServer listen on every interface (":port"), so
// the agent's listener is not used: each Subscribe stream runs the agent's
// own per-subscription Client (what Agent.Subscribe runs: the value queue,
// the generators, the Value → SubscribeResponse conversion), on a copy of
// cfg since the queue advances the values it is given.
type fakeAgent struct {
	gnmi.UnimplementedGNMIServer
	cfg  *fpb.Config
	mu   sync.Mutex
	sent []*gnmi.SubscribeResponse
}

func (a *fakeAgent) Subscribe(stream gnmi.GNMI_SubscribeServer) error {
	c := fakegnmi.NewClient(proto.Clone(a.cfg).(*fpb.Config))
	defer c.Close()
	return c.Run(recordingStream{stream, a})
}

func (a *fakeAgent) responses() []*gnmi.SubscribeResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*gnmi.SubscribeResponse(nil), a.sent...)
}

// recordingStream keeps a copy of each response the agent sends.
type recordingStream struct {
	gnmi.GNMI_SubscribeServer
	a *fakeAgent
}

func (r recordingStream) Send(m *gnmi.SubscribeResponse) error {
	r.a.mu.Lock()
	r.a.sent = append(r.a.sent, proto.Clone(m).(*gnmi.SubscribeResponse))
	r.a.mu.Unlock()
	return r.GNMI_SubscribeServer.Send(m)
}

// startFakeAgent starts a fake agent with the text-format config cfg on
// 127.0.0.1 and returns it and its address.
func startFakeAgent(t *testing.T, cfg string) (*fakeAgent, string) {
	t.Helper()
	a := &fakeAgent{cfg: &fpb.Config{}}
	if err := prototext.Unmarshal([]byte(cfg), a.cfg); err != nil {
		t.Fatalf("fake agent config: %v\n%s", err, cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	gnmi.RegisterGNMIServer(s, a)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return a, ln.Addr().String()
}

// TestCollectorFakeAgentLegacyPaths: openconfig's fake gNMI agent, whose
// value generator sends every update as a notification with a deprecated
// string path (Path.element), configured with OpenConfig interface counter,
// oper-status and probe paths (keys in brackets, a "/" and an escaped "]"
// in key values), and a second agent replaying a notification with a
// legacy prefix (its fixed generator). The collector turns every update
// the agents send into the sample its elem form gives, and counts no
// decode error.
func TestCollectorFakeAgentLegacyPaths(t *testing.T) {
	// The agent logs with glog, which writes files in the temporary
	// directory by default.
	if f := flag.Lookup("logtostderr"); f != nil {
		old := f.Value.String()
		_ = f.Value.Set("true")
		t.Cleanup(func() { _ = f.Value.Set(old) })
	}
	t0 := time.Now().UnixNano()
	ts := fmt.Sprintf("timestamp { timestamp: %d delta_min: 1000000 delta_max: 1000000 }", t0)
	path := func(els ...string) string {
		var b strings.Builder
		for _, e := range els {
			fmt.Fprintf(&b, "path: %q ", e)
		}
		return b.String()
	}
	ifc := func(name string, leaf ...string) string {
		return path(append([]string{"interfaces", "interface[name=" + name + "]"}, leaf...)...)
	}
	counter := `uint_value { value: 1000 range { minimum: 0 maximum: 1000000000000 delta_min: 100 delta_max: 100000 } }`
	// the values generator: random cumulative counters, a cycled string, a
	// random double; 4 to 6 updates each, 1 ms apart
	values := []string{
		ifc("eth0", "state", "counters", "in-octets") + ts + " repeat: 6 seed: 1 " + counter,
		ifc("eth0", "state", "counters", "out-octets") + ts + " repeat: 6 seed: 2 " + counter,
		ifc("Ethernet1/1", "state", "counters", "in-unicast-pkts") + ts + " repeat: 5 seed: 3 " + counter,
		ifc(`odd\]name`, "state", "counters", "in-errors") + ts + " repeat: 4 seed: 4 " + counter,
		ifc("eth0", "state", "oper-status") + ts + ` repeat: 4 string_value { value: "UP" list { options: "DOWN" options: "UP" } }`,
		path("probes", "probe[name=site2]", "tests", "test[name=site2-sw1]", "results", "state", "loss-percentage") + ts +
			" repeat: 5 seed: 6 double_value { value: 1 range { minimum: 0 maximum: 100 } }",
	}
	var cfg strings.Builder
	cfg.WriteString("target: \"fake1\"\nclient_type: GRPC_GNMI\nseed: 7\ndisable_eof: true\n")
	for _, v := range values {
		fmt.Fprintf(&cfg, "values { %s }\n", v)
	}
	agent1, addr1 := startFakeAgent(t, cfg.String())
	// the fixed generator: one notification, legacy prefix and leaves
	agent2, addr2 := startFakeAgent(t, fmt.Sprintf(`target: "fake2" client_type: GRPC_GNMI disable_eof: true
fixed { responses { update {
  timestamp: %d
  prefix { element: "openconfig-interfaces:interfaces" element: "interface[name=eth9]" element: "state" element: "counters" }
  update { path { element: "in-octets" } val { uint_val: 42 } }
  update { path { element: "out-octets" } val { uint_val: 43 } }
} } }`, t0))

	// What the agent's values generator gives for this config: its own
	// queue, replayed (the sync the agent adds is not a value).
	var replay fpb.Config
	if err := prototext.Unmarshal([]byte(cfg.String()), &replay); err != nil {
		t.Fatal(err)
	}
	q := queue.New(false, replay.Seed, replay.Values)
	want := map[string]bool{}
	for {
		x, err := q.Next()
		if err != nil {
			t.Fatal(err)
		}
		if x == nil {
			break
		}
		v := x.(*fpb.Value)
		want[sampleKey("fake1", v.Timestamp.Timestamp, fakeBody(t, v))] = true
	}
	want[sampleKey("fake2", t0, &wirepb.Sample{Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{
		Interface: "eth9", Counters: []*wirepb.CounterValue{
			{Counter: wirepb.Counter_IN_OCTETS, Value: 42}, {Counter: wirepb.Counter_OUT_OCTETS, Value: 43}}}}})] = true
	if len(want) != 6+6+5+4+4+5+1 {
		t.Fatalf("the generator gave %d distinct updates", len(want))
	}

	kc, _ := kafkatest.Fake(t, 4)
	got := consume(t, kc)
	ccfg := testConfig("c1")
	ccfg.Subscriptions = ccfg.Subscriptions[:1]
	ccfg.Targets = []TargetConfig{{Name: "fake1", Address: addr1}, {Name: "fake2", Address: addr2}}
	c := startCollector(t, ccfg, kc)

	seen := map[string]bool{}
	var extra []string
	testenv.Eventually(t, 10*time.Second, "a sample for every update the agents sent", func() bool {
		for _, s := range got.snapshot() {
			if s.GetDeviceState() != nil {
				continue
			}
			k := sampleKey(s.Device, s.DeviceTimeUnixNano, s)
			if !want[k] && !seen[k] {
				extra = append(extra, s.String())
			}
			seen[k] = true
		}
		for k := range want {
			if !seen[k] {
				return false
			}
		}
		return true
	})
	if len(extra) > 0 {
		t.Errorf("%d samples the agents did not send, e.g. %s", len(extra), extra[0])
	}
	// the agents did send deprecated string paths, nothing else
	updates := 0
	for _, a := range []*fakeAgent{agent1, agent2} {
		for _, r := range a.responses() {
			n := r.GetUpdate()
			if n == nil {
				continue
			}
			if len(n.GetPrefix().GetElem()) > 0 {
				t.Fatalf("agent sent a prefix with elems: %v", n)
			}
			for _, u := range n.Update {
				updates++
				if len(u.GetPath().GetElem()) > 0 || len(u.GetPath().GetElement()) == 0 {
					t.Fatalf("agent sent an update without a legacy path: %v", n)
				}
			}
		}
	}
	if updates < len(want)+1 {
		t.Fatalf("agents sent %d updates, want at least %d", updates, len(want)+1)
	}
	for _, target := range []string{"fake1", "fake2"} {
		if v := counterValue(c.m.decodeErrors.WithLabelValues(target, "legacy_path")); v != 0 {
			t.Errorf("%s: decode_errors_total{reason=legacy_path} = %v", target, v)
		}
	}
	if st := c.Stats(); st.DecodeErrors != 0 || st.Updates < uint64(updates) {
		t.Errorf("stats %+v: want every one of %d updates decoded, no decode error", st, updates)
	}
}

// fakeBody is the sample body the collector makes of one value of the
// fake agent's generator (a path of the config above).
func fakeBody(t *testing.T, v *fpb.Value) *wirepb.Sample {
	t.Helper()
	tv := queue.TypedValueOf(v)
	iface := func(name string, st *wirepb.InterfaceState) *wirepb.Sample {
		st.Interface = name
		return &wirepb.Sample{Body: &wirepb.Sample_Interface{Interface: st}}
	}
	cnt := func(c wirepb.Counter) *wirepb.InterfaceState {
		return &wirepb.InterfaceState{Counters: []*wirepb.CounterValue{{Counter: c, Value: tv.GetUintVal()}}}
	}
	switch p := strings.Join(v.Path, "/"); p {
	case "interfaces/interface[name=eth0]/state/counters/in-octets":
		return iface("eth0", cnt(wirepb.Counter_IN_OCTETS))
	case "interfaces/interface[name=eth0]/state/counters/out-octets":
		return iface("eth0", cnt(wirepb.Counter_OUT_OCTETS))
	case "interfaces/interface[name=Ethernet1/1]/state/counters/in-unicast-pkts":
		return iface("Ethernet1/1", cnt(wirepb.Counter_IN_UNICAST_PKTS))
	case `interfaces/interface[name=odd\]name]/state/counters/in-errors`:
		return iface("odd]name", cnt(wirepb.Counter_IN_ERRORS))
	case "interfaces/interface[name=eth0]/state/oper-status":
		return iface("eth0", &wirepb.InterfaceState{OperStatus: wirepb.OperStatus(wirepb.OperStatus_value[tv.GetStringVal()])})
	case "probes/probe[name=site2]/tests/test[name=site2-sw1]/results/state/loss-percentage":
		return &wirepb.Sample{Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerSite: "site2", PeerDevice: "site2-sw1",
			LossPercentage: tv.GetDoubleVal()}}}
	default:
		t.Fatalf("no expected sample for path %s", p)
		return nil
	}
}

// sampleKey identifies a sample by device, device time and body.
func sampleKey(device string, ts int64, s *wirepb.Sample) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&wirepb.Sample{Body: s.Body})
	return fmt.Sprintf("%s/%d/%x", device, ts, b)
}
