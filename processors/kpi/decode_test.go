package kpi

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// dropUnknown clears unknown fields recursively (the fast decoder skips them).
func dropUnknown(m protoreflect.Message) {
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
	case errors.Is(err, wire.ErrMalformed):
		return "malformed"
	case errors.Is(err, wire.ErrUnknownVersion):
		return "version"
	case errors.Is(err, wire.ErrEmpty):
		return "empty"
	}
	return "other: " + err.Error()
}

func decoderSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range []*wirepb.Sample{
		ifSample("d1", "Ethernet1", t0, 1e9, cv{wirepb.Counter_IN_OCTETS: 1 << 40, wirepb.Counter_OUT_DISCARDS: 7}),
		probe(t0, 1234.5, 10, 2.5, 100, 98),
		{Version: 1, Site: "s", Device: "d", Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: "a:1", State: 2, LastError: "x"}}},
		{Version: 2, Site: "s", Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{}}},
		{Version: 1, Site: "s"},
	} {
		b, err := proto.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func checkDecoderAgrees(t *testing.T, d *sampleDecoder, b []byte) {
	var want wirepb.Sample
	werr := wire.DecodeSample(b, &want)
	got, gerr := d.decode(b)
	if errClass(werr) != errClass(gerr) {
		t.Fatalf("%x: wire.DecodeSample: %v, fast decoder: %v", b, werr, gerr)
	}
	if werr != nil {
		return
	}
	dropUnknown(want.ProtoReflect())
	if !proto.Equal(&want, got) {
		t.Fatalf("%x:\n wire %v\n fast %v", b, &want, got)
	}
}

func TestDecoderAgreesWithWire(t *testing.T) {
	d := newSampleDecoder()
	for _, b := range decoderSeeds(t) {
		checkDecoderAgrees(t, d, b)
	}
	// every truncation and single-byte corruption of the seeds
	for _, b := range decoderSeeds(t) {
		for i := range b {
			checkDecoderAgrees(t, d, b[:i])
			for _, x := range []byte{0x00, 0xff, 0x80, 0x08, 0x12, 0x52, 0x5a, 0x62} {
				c := append([]byte(nil), b...)
				c[i] = x
				checkDecoderAgrees(t, d, c)
			}
		}
	}
	// oneof switching and merging
	a, _ := proto.Marshal(ifSample("d1", "e1", t0, 1, cv{wirepb.Counter_IN_OCTETS: 5}))
	p, _ := proto.Marshal(probe(t0, 1, 1, 1, 1, 1))
	checkDecoderAgrees(t, d, append(append([]byte(nil), a...), a...))
	checkDecoderAgrees(t, d, append(append(append([]byte(nil), a...), p...), a...))
	checkDecoderAgrees(t, d, append(append([]byte(nil), []byte{0x12, 2, 0xc3, 0x28}...), a...)) // invalid UTF-8 site
}

func FuzzDecoder(f *testing.F) {
	for _, b := range decoderSeeds(f) {
		f.Add(b)
	}
	d := newSampleDecoder()
	f.Fuzz(func(t *testing.T, b []byte) { checkDecoderAgrees(t, d, b) })
}

func BenchmarkDecoder(b *testing.B) {
	s := ifSample("dev1", "Ethernet1", t0, 10e9, cv{
		wirepb.Counter_IN_OCTETS: 1 << 40, wirepb.Counter_IN_UNICAST_PKTS: 1 << 30, wirepb.Counter_IN_BROADCAST_PKTS: 1000,
		wirepb.Counter_IN_MULTICAST_PKTS: 1000, wirepb.Counter_IN_ERRORS: 10, wirepb.Counter_IN_DISCARDS: 10,
		wirepb.Counter_OUT_OCTETS: 1 << 40, wirepb.Counter_OUT_UNICAST_PKTS: 1 << 30, wirepb.Counter_OUT_BROADCAST_PKTS: 1000,
		wirepb.Counter_OUT_MULTICAST_PKTS: 1000, wirepb.Counter_OUT_ERRORS: 10, wirepb.Counter_OUT_DISCARDS: 10,
	})
	buf, _ := wire.Marshal(nil, s)
	b.Run("fast", func(b *testing.B) {
		d := newSampleDecoder()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.decode(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		var s wirepb.Sample
		b.ReportAllocs()
		for b.Loop() {
			if err := wire.DecodeSample(buf, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
