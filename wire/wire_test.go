package wire

import (
	"errors"
	"testing"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func TestSampleRoundTrip(t *testing.T) {
	in := &wirepb.Sample{
		Site: "fra", Device: "fra-sw1", DeviceTimeUnixNano: 42,
		Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{
			Interface: "eth0",
			Counters:  []*wirepb.CounterValue{{Counter: wirepb.Counter_IN_OCTETS, Value: 7}},
		}},
	}
	b, err := Marshal(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var out wirepb.Sample
	if err := DecodeSample(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.GetVersion() != Version || out.GetInterface().GetCounters()[0].GetValue() != 7 {
		t.Fatalf("round trip lost data: %v", &out)
	}
	if got := string(SampleKey(nil, &out)); got != "fra-sw1/eth0" {
		t.Fatalf("key = %q", got)
	}
}

func TestDecodeRejects(t *testing.T) {
	var s wirepb.Sample
	if err := DecodeSample([]byte{0xff, 0xff, 0xff}, &s); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: got %v, want ErrMalformed", err)
	}
	future := &wirepb.Sample{Version: Version + 1, Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{}}}
	b, _ := protoMarshalRaw(future)
	if err := DecodeSample(b, &s); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("future version: got %v, want ErrUnknownVersion", err)
	}
	empty, _ := Marshal(nil, &wirepb.Sample{Device: "x"})
	if err := DecodeSample(empty, &s); !errors.Is(err, ErrEmpty) {
		t.Fatalf("no body: got %v, want ErrEmpty", err)
	}
}

func FuzzDecodeSample(f *testing.F) {
	b, _ := Marshal(nil, &wirepb.Sample{Device: "d", Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerSite: "x"}}})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s wirepb.Sample
		if err := DecodeSample(data, &s); err == nil && s.GetVersion() != Version {
			t.Fatalf("accepted version %d", s.GetVersion())
		}
	})
}
