package wire

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// testKPIs covers every body kind, zero values and full values.
func testKPIs() []*wirepb.KPI {
	return []*wirepb.KPI{
		{Version: 1, Id: "if/fra/d1/Ethernet1/1700000000", Site: "fra", Device: "d1", WindowStartUnixNano: t0, WindowEndUnixNano: t0 + 10e9, Samples: 10,
			Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{
				Interface: "Ethernet1", UtilIn: 0.5, UtilOut: 0.25, LossRatio: 0.001, InErrorsPs: 1, InDiscardsPs: 2, OutDiscardsPs: 3, OutErrorsPs: 4,
				SpeedBps: 10e9, InBps: 5e9, OutBps: 2.5e9, InPps: 1e6, OutPps: 5e5, OperStatus: wirepb.OperStatus_UP,
			}}},
		{Version: 1, Id: "ln/fra/d1/ams/d9/1700000000", Site: "fra", Device: "d1", Tenant: "globex", WindowStartUnixNano: t0, WindowEndUnixNano: t0 + 10e9, Samples: 3,
			Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{
				DstSite: "ams", DstDevice: "d9", RttMs: 12.5, RttP50Ms: 12, RttP95Ms: 15, RttP99Ms: 17, JitterMs: 0.5, LossRatio: 0.02, ProbesSent: 100, ProbesReceived: 98,
			}}},
		{Version: 1, Id: "pl/p1", Site: "pipeline", WindowStartUnixNano: t0,
			Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{Instance: "p1", DelayP50Ms: 100, DelayP99Ms: 900, DelayMaxMs: 1200, Samples: 5000}}},
		{Version: 1, Id: "dv/fra/d1/1700000000", Site: "fra", Device: "d1", Tenant: "acme", WindowStartUnixNano: t0, WindowEndUnixNano: t0 + 10e9, Samples: 1,
			Body: &wirepb.KPI_DeviceKpi{DeviceKpi: &wirepb.DeviceKPI{
				State: wirepb.DeviceState_DEVICE_DOWN, LastError: "rpc error: code = Unavailable", UpRatio: 0.25,
			}}},
		{Version: 1, Body: &wirepb.KPI_DeviceKpi{DeviceKpi: &wirepb.DeviceKPI{Reachable: 1, State: wirepb.DeviceState_DEVICE_UP, UpRatio: 1}}},
		{Version: 1, Body: &wirepb.KPI_DeviceKpi{DeviceKpi: &wirepb.DeviceKPI{State: 99}}},
		{Version: 2, Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{}}},
		{Version: 1, Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{UtilIn: -1}}},
		{Version: 1, Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{}}},
		{Version: 1, Site: "s"},
		{},
	}
}

func kpiSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, k := range testKPIs() {
		b, err := proto.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func checkKPIDecoderAgrees(t *testing.T, d *KPIDecoder, b []byte) {
	t.Helper()
	checkAgrees(t, b, func(b []byte) (*wirepb.KPI, error) {
		var k wirepb.KPI
		return &k, DecodeKPI(b, &k)
	}, d.Decode)
}

func TestKPIDecoderAgreesWithDecodeKPI(t *testing.T) {
	for _, d := range []*KPIDecoder{NewKPIDecoder(), NewAliasingKPIDecoder()} {
		testKPIDecoderAgrees(t, d)
	}
}

func testKPIDecoderAgrees(t *testing.T, d *KPIDecoder) {
	seeds := kpiSeeds(t)
	// every seed, truncation and single-byte corruption
	checkAgreesOnDamage(seeds, []byte{0x00, 0xff, 0x80, 0x08, 0x11, 0x12, 0x42, 0x52, 0x5a, 0x62, 0x6a, 0x48},
		func(b []byte) { checkKPIDecoderAgrees(t, d, b) })
	// oneof switching and merging
	i, l, p := seeds[0], seeds[1], seeds[2]
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, x := range parts {
			out = append(out, x...)
		}
		return out
	}
	checkKPIDecoderAgrees(t, d, cat(i, i))
	checkKPIDecoderAgrees(t, d, cat(i, l, i))
	checkKPIDecoderAgrees(t, d, cat(p, i, p))
	dv := seeds[3]
	checkKPIDecoderAgrees(t, d, cat(dv, dv))
	checkKPIDecoderAgrees(t, d, cat(i, dv))
	checkKPIDecoderAgrees(t, d, cat(dv, l, dv))
	checkKPIDecoderAgrees(t, d, cat([]byte{0x1a, 2, 0xc3, 0x28}, i)) // invalid UTF-8 site
	checkKPIDecoderAgrees(t, d, cat(l, []byte{0x42, 2, 0xc3, 0x28})) // invalid UTF-8 tenant
	checkKPIDecoderAgrees(t, d, cat(l, []byte{0x42, 1, 'x'}))        // the last tenant wins
}

func TestKPIDecoderErrors(t *testing.T) {
	d := NewKPIDecoder()
	if _, err := d.Decode([]byte{0xff, 0xff, 0xff}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: got %v, want ErrMalformed", err)
	}
	b, _ := proto.Marshal(&wirepb.KPI{Version: Version + 1, Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{}}})
	if _, err := d.Decode(b); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("future version: got %v, want ErrUnknownVersion", err)
	}
	b, _ = Marshal(nil, &wirepb.KPI{Device: "x"})
	if _, err := d.Decode(b); !errors.Is(err, ErrEmpty) {
		t.Fatalf("no body: got %v, want ErrEmpty", err)
	}
}

func TestKPIDecoderSteadyStateAllocs(t *testing.T) {
	d := NewKPIDecoder()
	seeds := kpiSeeds(t)[:4]
	for _, b := range seeds {
		if _, err := d.Decode(b); err != nil {
			t.Fatal(err)
		}
	}
	n := testing.AllocsPerRun(100, func() {
		for _, b := range seeds {
			_, _ = d.Decode(b)
		}
	})
	if n != 4 { // the four ids (a device KPI's last error is interned)
		t.Fatalf("%v allocations per run, want 4 (one id each)", n)
	}
	a := NewAliasingKPIDecoder()
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range seeds {
			_, _ = a.Decode(b)
		}
	}); n != 0 {
		t.Fatalf("aliasing decoder: %v allocations per run, want 0", n)
	}
}

func FuzzKPIDecoder(f *testing.F) {
	for _, b := range kpiSeeds(f) {
		f.Add(b)
	}
	d, a := NewKPIDecoder(), NewAliasingKPIDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		checkKPIDecoderAgrees(t, d, b)
		checkKPIDecoderAgrees(t, a, b)
	})
}

func BenchmarkDecodeKPI(b *testing.B) {
	buf, _ := Marshal(nil, testKPIs()[0])
	for _, c := range []struct {
		name string
		d    *KPIDecoder
	}{{"KPIDecoder", NewKPIDecoder()}, {"aliasing", NewAliasingKPIDecoder()}} {
		d := c.d
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("DecodeKPI", func(b *testing.B) {
		var k wirepb.KPI
		b.ReportAllocs()
		for b.Loop() {
			if err := DecodeKPI(buf, &k); err != nil {
				b.Fatal(err)
			}
		}
	})
}
