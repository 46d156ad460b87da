package simulator

import (
	"bytes"
	"math"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// The hand encoder must produce exactly what proto.Marshal produces.
func TestEncodeMatchesProto(t *testing.T) {
	sc := writeScenario(t, "- {type: link_down, device: site1-sw1, interface: Ethernet2}\n- {type: latency, sites: [site1, site3], loss: 1}\n")
	cfg := DefaultConfiguration()
	cfg.Scenario = sc
	cfg.CounterBits = 32
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	d := f.byName["site1-sw1"]
	tns := time.Now().Add(2 * time.Second).UnixNano()
	for _, e := range f.entities(d) {
		for _, mask := range []uint32{1<<16 - 1, 1, 1<<13 | 1<<14, 1 << 5} {
			es := f.newEntSub(d.name, e, mask&(1<<len(f.schema.leaves(e.kind))-1))
			f.eval(es, tns)
			es.build(tns, false)
			got := es.encode().Materialize()
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&gpb.SubscribeResponse{
				Response: &gpb.SubscribeResponse_Update{Update: es.fill()}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%v mask %x: encoded\n%x\nwant\n%x", e.elems, mask, got, want)
			}
		}
	}
}

// Streams may sample an interface at instants older than one another
// already used; values must still be exact.
func TestSampleOutOfOrder(t *testing.T) {
	sc := writeScenario(t, "- {type: counter_reset, device: site1-sw1, start: 2s}\n- {type: latency, sites: [site1, site2], rtt-ms: 5, loss: 0.3}\n")
	cfg := DefaultConfiguration()
	cfg.Scenario = sc
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	d := f.byName["site1-sw1"]
	ifc := d.ifaces[0]
	l := d.links[0]
	e0 := f.Epoch().UnixNano()
	for _, off := range []float64{5.3, 4.9, 5.1, 3.2, 0.5, 2.5, 6.7, 1.9} {
		tns := e0 + int64(off*1e9)
		var got ifSample
		f.sampleIface(ifc, tns, &got)
		want, _ := f.Truth().Counters(d.name, ifc.name, time.Unix(0, tns))
		if got.ctr[cInOctets] != want.InOctets || got.ctr[cOutUnicast] != want.OutUnicastPkts || got.lastClear != want.LastClear {
			t.Fatalf("at +%gs: sampled %d/%d/%d, truth %d/%d/%d", off, got.ctr[cInOctets], got.ctr[cOutUnicast], got.lastClear,
				want.InOctets, want.OutUnicastPkts, want.LastClear)
		}
		var ps probeSample
		f.sampleLink(l, tns, &ps)
		lt, _ := f.Truth().Link(d.name, l.dst.name, f.Epoch(), time.Unix(0, tns))
		if math.Abs(float64(ps.sent)-lt.ProbesSent) > 1 || math.Abs(float64(ps.received)-lt.ProbesReceived) > 1 {
			t.Fatalf("at +%gs: probes %d/%d, truth %g/%g", off, ps.sent, ps.received, lt.ProbesSent, lt.ProbesReceived)
		}
	}
}
