package simulator

import (
	"bytes"
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
