package guest

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestCodecRoundTrip: a batch decoded and encoded again, unchanged or
// with counters edited, is what the host's own codec reads back.
func TestCodecRoundTrip(t *testing.T) {
	in := []*wirepb.Sample{
		{Site: "s1", Device: "d1", DeviceTimeUnixNano: 5, ReceiveTimeUnixNano: 6, Collector: "c", Seq: 7,
			Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "Ethernet1", SpeedBps: 1e9,
				OperStatus: wirepb.OperStatus_UP, LastClearUnixNano: 9,
				Counters: []*wirepb.CounterValue{{Counter: wirepb.Counter_IN_OCTETS, Value: 300}, {Counter: wirepb.Counter_OUT_ERRORS, Value: 2}}}}},
		{Site: "s1", Device: "d1", Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerSite: "s2", PeerDevice: "d2",
			AvgDelayUs: 1.5, LossPercentage: 2, ProbesSent: 10, ProbesReceived: 9}}},
		{Site: "s1", Device: "d1", Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "a:1", State: wirepb.DeviceState_DEVICE_UP}}},
	}
	var batch []byte
	for _, s := range in {
		var err error
		if batch, err = wasm.AppendSample(batch, s); err != nil {
			t.Fatal(err)
		}
	}
	var tt Tester
	for _, edit := range []bool{false, true} {
		out, changed, err := tt.Samples(batch, func(ss []*Sample) ([]*Sample, bool) {
			if edit {
				ss[0].Interface.Counters()[0].Value = 301
			}
			return ss, true
		})
		if err != nil || !changed {
			t.Fatal(err, changed)
		}
		i := 0
		if err := wasm.EachRecord(out, func(rec []byte) error {
			got := &wirepb.Sample{}
			if err := wire.DecodeSample(rec, got); err != nil {
				return err
			}
			want := proto.Clone(in[i]).(*wirepb.Sample)
			want.Version = 1
			if edit && i == 0 {
				want.GetInterface().Counters[0].Value = 301
			}
			if !proto.Equal(got, want) {
				t.Errorf("edit %v, sample %d: %v, want %v", edit, i, got, want)
			}
			i++
			return nil
		}); err != nil || i != len(in) {
			t.Fatal(err, i)
		}
	}
}

// TestCodecKPIRoundTrip: KPIs with fields survive a decode and an encode.
func TestCodecKPIRoundTrip(t *testing.T) {
	in := &wirepb.KPI{Id: "x", Site: "s", Device: "d", WindowStartUnixNano: 1, WindowEndUnixNano: 2, Samples: 3,
		Fields: map[string]float64{"b": 2, "a": 1},
		Body:   &wirepb.KPI_Link{Link: &wirepb.LinkKPI{DstSite: "s2", DstDevice: "d2", RttMs: 4, LossRatio: 0.5, ProbesSent: 8}}}
	batch, err := wasm.AppendKPI(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var tt Tester
	out, _, err := tt.KPIs(batch, func(ks []*KPI) ([]*KPI, bool) { return ks, true })
	if err != nil {
		t.Fatal(err)
	}
	got := &wirepb.KPI{}
	if err := wasm.EachRecord(out, func(rec []byte) error { return wire.DecodeKPI(rec, got) }); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, in) {
		t.Errorf("%v, want %v", got, in)
	}
}

// FuzzDecodeSamples: no batch makes the guest's decoder panic.
func FuzzDecodeSamples(f *testing.F) {
	b, _ := wasm.AppendSample(nil, &wirepb.Sample{Site: "s", Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "e",
		Counters: []*wirepb.CounterValue{{Counter: 1, Value: 2}}}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var tt Tester
		_, _, _ = tt.Samples(b, func(ss []*Sample) ([]*Sample, bool) {
			for _, s := range ss {
				if s.Interface != nil {
					s.Interface.Counters()
				}
			}
			return ss, true
		})
		_, _, _ = tt.KPIs(b, func(ks []*KPI) ([]*KPI, bool) { return ks, true })
	})
}
