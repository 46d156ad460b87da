package wire

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// dropUnknown clears unknown fields recursively (SampleDecoder skips them).
func dropUnknown(m protoreflect.Message) {
	if !m.IsValid() {
		return // a nil message (in a list)
	}
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				dropUnknown(v.List().Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			dropUnknown(v.Message())
		}
		return true
	})
}

func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrUnknownVersion):
		return "version"
	case errors.Is(err, ErrEmpty):
		return "empty"
	}
	return "other: " + err.Error()
}

const t0 = int64(1_700_000_000_000_000_000)

// testSamples covers every body kind, zero values and full values.
func testSamples() []*wirepb.Sample {
	return []*wirepb.Sample{
		{Version: 1, Site: "fra", Device: "d1", DeviceTimeUnixNano: t0, ReceiveTimeUnixNano: t0 + 5e6, Collector: "c1", Seq: 42, Tenant: "acme",
			Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{
				Interface: "Ethernet1", SpeedBps: 1e9, OperStatus: wirepb.OperStatus_UP, LastClearUnixNano: t0 - 1e12,
				Counters: []*wirepb.CounterValue{
					{Counter: wirepb.Counter_IN_OCTETS, Value: 1 << 40},
					{Counter: wirepb.Counter_OUT_DISCARDS, Value: 7},
					{Counter: wirepb.Counter_IN_ERRORS},
					{},
				},
			}}},
		{Version: 1, Site: "fra", Device: "d1", DeviceTimeUnixNano: t0,
			Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{
				PeerSite: "ams", PeerDevice: "d9", MinDelayUs: 1000, MaxDelayUs: 1234.5, AvgDelayUs: 1100,
				StddevDelayUs: 2.5, JitterUs: 10, LossPercentage: 2, ProbesSent: 100, ProbesReceived: 98,
			}}},
		{Version: 1, Site: "s", Device: "d", Tenant: "default", Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "a:1", State: wirepb.DeviceState_DEVICE_UP, LastError: "x"}}},
		{Version: 2, Site: "s", Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{}}},
		{Version: 1, Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{}}},
		{Version: 1, Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{}}},
		{Version: 1, Site: "s"},
		{},
	}
}

func decoderSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range testSamples() {
		b, err := proto.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkAgrees decodes b with the generic proto decoder (ref) and a
// hand-written one (fast): same error class, and on success equal messages
// (unknown fields aside, which the fast decoders skip).
func checkAgrees[M proto.Message](t *testing.T, b []byte, ref func([]byte) (M, error), fast func([]byte) (M, error)) {
	t.Helper()
	want, werr := ref(b)
	got, gerr := fast(b)
	if errClass(werr) != errClass(gerr) {
		t.Fatalf("%x: generic: %v, hand-written: %v", b, werr, gerr)
	}
	if werr != nil {
		if got.ProtoReflect().IsValid() {
			t.Fatalf("%x: hand-written decoder returned a message with error %v", b, gerr)
		}
		return
	}
	dropUnknown(want.ProtoReflect())
	if !proto.Equal(want, got) {
		t.Fatalf("%x:\n generic      %v\n hand-written %v", b, want, got)
	}
}

// checkAgreesOnDamage runs check on every seed, every truncation of it and
// every single-byte corruption with the bytes in xs.
func checkAgreesOnDamage(seeds [][]byte, xs []byte, check func(b []byte)) {
	for _, b := range seeds {
		check(b)
		for i := range b {
			check(b[:i])
			for _, x := range xs {
				c := append([]byte(nil), b...)
				c[i] = x
				check(c)
			}
		}
	}
}

func checkDecoderAgrees(t *testing.T, d *SampleDecoder, b []byte) {
	t.Helper()
	checkAgrees(t, b, func(b []byte) (*wirepb.Sample, error) {
		var s wirepb.Sample
		return &s, DecodeSample(b, &s)
	}, d.Decode)
}

func TestSampleDecoderAgreesWithDecodeSample(t *testing.T) {
	for _, d := range []*SampleDecoder{NewSampleDecoder(), NewAliasingSampleDecoder()} {
		testSampleDecoderAgrees(t, d)
	}
}

func testSampleDecoderAgrees(t *testing.T, d *SampleDecoder) {
	// every seed, truncation and single-byte corruption
	checkAgreesOnDamage(decoderSeeds(t), []byte{0x00, 0xff, 0x80, 0x08, 0x12, 0x42, 0x52, 0x5a, 0x62},
		func(b []byte) { checkDecoderAgrees(t, d, b) })
	// oneof switching and merging
	seeds := decoderSeeds(t)
	a, p, dv := seeds[0], seeds[1], seeds[2]
	checkDecoderAgrees(t, d, append(append([]byte(nil), a...), a...))
	checkDecoderAgrees(t, d, append(append(append([]byte(nil), a...), p...), a...))
	checkDecoderAgrees(t, d, append(append(append([]byte(nil), dv...), a...), dv...))
	checkDecoderAgrees(t, d, append(append([]byte(nil), []byte{0x12, 2, 0xc3, 0x28}...), a...)) // invalid UTF-8 site
	checkDecoderAgrees(t, d, append(append([]byte(nil), a...), 0x42, 2, 0xc3, 0x28))            // invalid UTF-8 tenant
	checkDecoderAgrees(t, d, append(append([]byte(nil), a...), 0x42, 3, 'x', 'y', 'z'))         // the last tenant wins
}

func TestSampleDecoderErrors(t *testing.T) {
	d := NewSampleDecoder()
	if _, err := d.Decode([]byte{0xff, 0xff, 0xff}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: got %v, want ErrMalformed", err)
	}
	b, _ := protoMarshalRaw(&wirepb.Sample{Version: Version + 1, Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{}}})
	if _, err := d.Decode(b); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("future version: got %v, want ErrUnknownVersion", err)
	}
	b, _ = Marshal(nil, &wirepb.Sample{Device: "x"})
	if _, err := d.Decode(b); !errors.Is(err, ErrEmpty) {
		t.Fatalf("no body: got %v, want ErrEmpty", err)
	}
}

func TestSampleDecoderSteadyStateAllocs(t *testing.T) {
	d := NewSampleDecoder()
	seeds := decoderSeeds(t)
	for _, b := range seeds[:3] {
		if _, err := d.Decode(b); err != nil {
			t.Fatal(err)
		}
	}
	n := testing.AllocsPerRun(100, func() {
		for _, b := range seeds[:3] {
			_, _ = d.Decode(b)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
	a := NewAliasingSampleDecoder()
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range seeds[:3] {
			_, _ = a.Decode(b)
		}
	}); n != 0 {
		t.Fatalf("aliasing decoder: %v allocations per run, want 0", n)
	}
}

// TestAliasingDecoderSharesBytes: the aliasing decoders' strings are the
// record's bytes (the contract callers rely on, and why they must copy).
func TestAliasingDecoderSharesBytes(t *testing.T) {
	buf, _ := Marshal(nil, benchSample())
	s, err := NewAliasingSampleDecoder().Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	site := s.GetSite()
	i := bytes.Index(buf, []byte(site))
	buf[i] = 'X'
	if s.GetSite()[0] != 'X' {
		t.Fatalf("site %q does not share the record's bytes", s.GetSite())
	}
}

func FuzzSampleDecoder(f *testing.F) {
	for _, b := range decoderSeeds(f) {
		f.Add(b)
	}
	d, a := NewSampleDecoder(), NewAliasingSampleDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecoderAgrees(t, d, b)
		checkDecoderAgrees(t, a, b)
	})
}

// benchSample is a typical interface sample: 12 counters.
func benchSample() *wirepb.Sample {
	s := &wirepb.Sample{Site: "fra", Device: "dev1", DeviceTimeUnixNano: t0, ReceiveTimeUnixNano: t0 + 3e6, Collector: "c1", Seq: 123456,
		Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "Ethernet1", SpeedBps: 10e9, OperStatus: wirepb.OperStatus_UP}}}
	vals := []uint64{1 << 40, 1 << 30, 1000, 1000, 10, 10, 1 << 40, 1 << 30, 1000, 1000, 10, 10}
	for i, v := range vals {
		s.GetInterface().Counters = append(s.GetInterface().Counters, &wirepb.CounterValue{Counter: wirepb.Counter(i + 1), Value: v})
	}
	return s
}

func BenchmarkDecodeSample(b *testing.B) {
	buf, _ := Marshal(nil, benchSample())
	b.Run("SampleDecoder", func(b *testing.B) {
		d := NewSampleDecoder()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Decode(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeSample", func(b *testing.B) {
		var s wirepb.Sample
		b.ReportAllocs()
		for b.Loop() {
			if err := DecodeSample(buf, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
