package wire

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// checkAppendMatches compares AppendSample with Marshal (proto's
// MarshalAppend) on s, after a non-empty prefix. (Not on clones:
// proto.Clone drops -0 doubles.) AppendSample does not write unknown
// fields: they are dropped from s first.
func checkAppendMatches(t *testing.T, s *wirepb.Sample) {
	t.Helper()
	dropUnknown(s.ProtoReflect())
	prefix := []byte{0xde, 0xad}
	v0 := s.Version
	want, werr := Marshal(append([]byte(nil), prefix...), s)
	s.Version = v0
	got, gerr := AppendSample(append([]byte(nil), prefix...), s)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%v: Marshal error %v, AppendSample error %v", s, werr, gerr)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("%v:\n Marshal      %x\n AppendSample %x", s, want, got)
	}
	if s.Version != Version {
		t.Fatalf("version not stamped: %d", s.Version)
	}
}

// randSample builds a sample with every field either zero or a value of
// random size, including negative numbers, -0, NaN, infinities, unknown
// enum values, nil counters and unknown fields (which AppendSample drops).
func randSample(r *rand.Rand) *wirepb.Sample {
	u64 := func() uint64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return uint64(r.IntN(128))
		case 2:
			return r.Uint64() >> r.IntN(64)
		}
		return r.Uint64()
	}
	i64 := func() int64 { return int64(u64()) }
	enumv := func() int32 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return -int32(r.IntN(1 << 20))
		}
		return int32(r.IntN(20))
	}
	f64 := func() float64 {
		switch r.IntN(8) {
		case 0:
			return 0
		case 1:
			return math.Copysign(0, -1)
		case 2:
			return math.NaN()
		case 3:
			return math.Inf(1 - 2*r.IntN(2))
		}
		return r.NormFloat64() * 1e3
	}
	str := func() string {
		switch r.IntN(6) {
		case 0:
			return ""
		case 1:
			return string(bytes.Repeat([]byte("x"), 100+r.IntN(300))) // two-byte length
		case 2:
			return "Ethernet1/ü"
		}
		return []string{"fra", "dev-1", "c1", "10.0.0.1:6030"}[r.IntN(4)]
	}
	unknown := func() []byte {
		if r.IntN(4) != 0 {
			return nil
		}
		b := protowire.AppendTag(nil, protowire.Number(20+r.IntN(100)), protowire.VarintType)
		return protowire.AppendVarint(b, u64())
	}
	s := &wirepb.Sample{
		Version: uint32(u64()), Site: str(), Device: str(), DeviceTimeUnixNano: i64(), ReceiveTimeUnixNano: i64(),
		Collector: str(), Seq: u64(), Tenant: str(),
	}
	switch r.IntN(5) {
	case 0:
		st := &wirepb.InterfaceState{Interface: str(), SpeedBps: u64(), OperStatus: wirepb.OperStatus(enumv()), LastClearUnixNano: i64()}
		for range r.IntN(20) {
			if r.IntN(10) == 0 {
				st.Counters = append(st.Counters, &wirepb.CounterValue{})
				continue
			}
			cv := &wirepb.CounterValue{Counter: wirepb.Counter(enumv()), Value: u64()}
			cv.ProtoReflect().SetUnknown(unknown())
			st.Counters = append(st.Counters, cv)
		}
		st.ProtoReflect().SetUnknown(unknown())
		s.Body = &wirepb.Sample_Interface{Interface: st}
	case 1:
		p := &wirepb.ProbeResult{PeerSite: str(), PeerDevice: str(), MinDelayUs: f64(), MaxDelayUs: f64(), AvgDelayUs: f64(),
			StddevDelayUs: f64(), JitterUs: f64(), LossPercentage: f64(), ProbesSent: u64(), ProbesReceived: u64()}
		p.ProtoReflect().SetUnknown(unknown())
		s.Body = &wirepb.Sample_Probe{Probe: p}
	case 2:
		d := &wirepb.Device{Address: str(), State: wirepb.DeviceState(enumv()), LastError: str()}
		d.ProtoReflect().SetUnknown(unknown())
		s.Body = &wirepb.Sample_DeviceState{DeviceState: d}
	case 3:
		// bodies present but nil
		switch r.IntN(3) {
		case 0:
			s.Body = &wirepb.Sample_Interface{}
		case 1:
			s.Body = &wirepb.Sample_Probe{}
		default:
			s.Body = &wirepb.Sample_DeviceState{}
		}
	}
	s.ProtoReflect().SetUnknown(unknown())
	return s
}

func TestAppendSampleMatchesProto(t *testing.T) {
	for _, s := range testSamples() {
		checkAppendMatches(t, s)
	}
	checkAppendMatches(t, benchSample())
	// every body kind with every field zero, and with one field set
	checkAppendMatches(t, &wirepb.Sample{Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Counters: []*wirepb.CounterValue{{}, nil}}}})
	checkAppendMatches(t, &wirepb.Sample{Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{LossPercentage: math.Copysign(0, -1)}}})
	checkAppendMatches(t, &wirepb.Sample{Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{State: -1}}})
	// typed nil bodies are no body
	checkAppendMatches(t, &wirepb.Sample{Site: "s", Body: (*wirepb.Sample_Interface)(nil)})
	checkAppendMatches(t, &wirepb.Sample{Site: "s", Body: (*wirepb.Sample_Probe)(nil)})
	checkAppendMatches(t, &wirepb.Sample{Site: "s", Body: (*wirepb.Sample_DeviceState)(nil)})
	// invalid UTF-8 anywhere is an error for both
	bad := string([]byte{0xc3, 0x28})
	for _, s := range []*wirepb.Sample{
		{Site: bad}, {Device: bad}, {Collector: bad},
		{Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: bad}}},
		{Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerSite: bad}}},
		{Body: &wirepb.Sample_Probe{Probe: &wirepb.ProbeResult{PeerDevice: bad}}},
		{Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{Address: bad}}},
		{Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{LastError: bad}}},
	} {
		checkAppendMatches(t, s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		checkAppendMatches(t, randSample(r))
	}
}

func TestAppendSampleDropsUnknownFields(t *testing.T) {
	s := benchSample()
	s.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	s.GetInterface().Counters[0].ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	got, err := AppendSample(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	dropUnknown(s.ProtoReflect())
	if want, _ := Marshal(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("unknown fields written:\n got  %x\n want %x", got, want)
	}
}

func TestAppendSampleAllocs(t *testing.T) {
	s := benchSample()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { _, _ = AppendSample(buf[:0], s) }); n != 0 {
		t.Fatalf("%v allocations per call, want 0", n)
	}
}

// FuzzAppendSample checks AppendSample against proto on every sample that
// proto.Unmarshal makes of the input, and on a random sample seeded by the
// input.
func FuzzAppendSample(f *testing.F) {
	for _, b := range decoderSeeds(f) {
		f.Add(b, uint64(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		var s wirepb.Sample
		if proto.Unmarshal(b, &s) == nil {
			checkAppendMatches(t, &s)
		}
		checkAppendMatches(t, randSample(rand.New(rand.NewPCG(seed, uint64(len(b))))))
	})
}

func BenchmarkMarshalSample(b *testing.B) {
	s := benchSample()
	buf := make([]byte, 0, 1024)
	b.Run("AppendSample", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = AppendSample(buf[:0], s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = Marshal(buf[:0], s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
