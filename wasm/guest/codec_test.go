package guest

import (
	"strings"
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
		{Site: "s1", Device: "d1", DeviceTimeUnixNano: 5, ReceiveTimeUnixNano: 6, Collector: "c", Seq: 7, Tenant: "t1",
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
	for _, edit := range []string{"", "counters", "rename", "speed", "site", "add"} {
		out, changed, err := tt.Samples(batch, func(ss []*Sample) ([]*Sample, bool) {
			switch edit {
			case "counters":
				ss[0].Interface.Counters()[0].Value = 301
			case "rename":
				ss[0].Interface.Name = "a-much-longer-interface-name-than-before-" + strings.Repeat("x", 100)
			case "speed":
				ss[0].Interface.SpeedBps = 2e9
			case "site":
				ss[1].Site = "s9"
			case "add":
				ss = append(ss, &Sample{Site: "s3", Device: "d3", Interface: &Interface{Name: "new"}})
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
			var want *wirepb.Sample
			if i < len(in) {
				want = proto.Clone(in[i]).(*wirepb.Sample)
			} else {
				want = &wirepb.Sample{Site: "s3", Device: "d3", Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "new"}}}
			}
			want.Version = 1
			switch {
			case edit == "counters" && i == 0:
				want.GetInterface().Counters[0].Value = 301
			case edit == "rename" && i == 0:
				want.GetInterface().Interface = "a-much-longer-interface-name-than-before-" + strings.Repeat("x", 100)
			case edit == "speed" && i == 0:
				want.GetInterface().SpeedBps = 2e9
			case edit == "site" && i == 1:
				want.Site = "s9"
			}
			if !proto.Equal(got, want) {
				t.Errorf("edit %v, sample %d: %v, want %v", edit, i, got, want)
			}
			i++
			return nil
		}); err != nil || (i != len(in) && edit != "add") || (edit == "add" && i != len(in)+1) {
			t.Fatal(edit, err, i)
		}
	}
}

// TestCodecKPIRoundTrip: KPIs with fields survive a decode and an encode.
func TestCodecKPIRoundTrip(t *testing.T) {
	in := &wirepb.KPI{Id: "x", Site: "s", Device: "d", WindowStartUnixNano: 1, WindowEndUnixNano: 2, Samples: 3, Tenant: "t1",
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
