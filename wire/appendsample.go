package wire

import (
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Field tags (field number and wire type, as one varint, all one byte) of
// the Sample message and its bodies; see wire.proto.
const (
	tagSampleVersion     = 1<<3 | 0
	tagSampleSite        = 2<<3 | 2
	tagSampleDevice      = 3<<3 | 2
	tagSampleDeviceTime  = 4<<3 | 0
	tagSampleReceiveTime = 5<<3 | 0
	tagSampleCollector   = 6<<3 | 2
	tagSampleSeq         = 7<<3 | 0
	tagSampleTenant      = 8<<3 | 2
	tagSampleInterface   = 10<<3 | 2
	tagSampleProbe       = 11<<3 | 2
	tagSampleDevState    = 12<<3 | 2

	tagIfName      = 1<<3 | 2
	tagIfCounters  = 2<<3 | 2
	tagIfSpeed     = 3<<3 | 0
	tagIfOper      = 4<<3 | 0
	tagIfLastClear = 5<<3 | 0

	tagCVCounter = 1<<3 | 0
	tagCVValue   = 2<<3 | 0

	tagProbePeerSite   = 1<<3 | 2
	tagProbePeerDevice = 2<<3 | 2
	tagProbeMinDelay   = 3<<3 | 1
	tagProbeSent       = 9<<3 | 0
	tagProbeReceived   = 10<<3 | 0

	tagDevAddress   = 1<<3 | 2
	tagDevState     = 2<<3 | 0
	tagDevLastError = 3<<3 | 2
)

// AppendSample stamps s with the current Version and appends its encoding
// to buf (which may be nil), like Marshal(buf, s) but without reflection
// (several times faster: BenchmarkMarshalSample). The bytes are exactly those
// proto.MarshalOptions{}.MarshalAppend writes (fields in field-number
// order, proto3 zero values omitted, a typed nil body written as no body),
// which TestAppendSampleMatchesProto and FuzzAppendSample check, with one
// exception: unknown fields, which only a Sample decoded by proto.Unmarshal
// from a newer writer's record can carry, are not written (use Marshal to
// keep them). As with Marshal, a string field that is not valid UTF-8 is
// an error and the returned slice is then nil.
func AppendSample(buf []byte, s *wirepb.Sample) ([]byte, error) {
	s.Version = Version
	if err := validSample(s); err != nil {
		return nil, fmt.Errorf("marshal %T: %w", s, err)
	}
	b := buf
	b = appendVarintField(b, tagSampleVersion, uint64(s.Version))
	b = appendStringField(b, tagSampleSite, s.Site)
	b = appendStringField(b, tagSampleDevice, s.Device)
	b = appendVarintField(b, tagSampleDeviceTime, uint64(s.DeviceTimeUnixNano))
	b = appendVarintField(b, tagSampleReceiveTime, uint64(s.ReceiveTimeUnixNano))
	b = appendStringField(b, tagSampleCollector, s.Collector)
	b = appendVarintField(b, tagSampleSeq, s.Seq)
	b = appendStringField(b, tagSampleTenant, s.Tenant)
	switch body := s.Body.(type) {
	case *wirepb.Sample_Interface:
		if body == nil {
			break // proto writes a typed nil body as no body
		}
		b = append(b, tagSampleInterface, 0)
		start := len(b)
		b = appendInterface(b, body.Interface)
		b = FixLength(b, start)
	case *wirepb.Sample_Probe:
		if body == nil {
			break
		}
		b = append(b, tagSampleProbe, 0)
		start := len(b)
		b = appendProbe(b, body.Probe)
		b = FixLength(b, start)
	case *wirepb.Sample_DeviceState:
		if body == nil {
			break
		}
		b = append(b, tagSampleDevState, 0)
		start := len(b)
		b = appendDevice(b, body.DeviceState)
		b = FixLength(b, start)
	}
	return b, nil
}

// FixLength sets the length of the nested message b[start:], written after
// a one-byte placeholder at b[start-1], moving the message up when its
// length needs more than one byte (proto writes lengths as minimal varints).
func FixLength(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, k-1)...)
	copy(b[start+k-1:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n)) // in place: k bytes fit
	return b
}

// validSample reports a string field of s that is not valid UTF-8, which
// proto3 forbids and proto.Marshal refuses.
func validSample(s *wirepb.Sample) error {
	ok := utf8.ValidString(s.Site) && utf8.ValidString(s.Device) && utf8.ValidString(s.Collector) && utf8.ValidString(s.Tenant)
	switch body := s.Body.(type) {
	case *wirepb.Sample_Interface:
		ok = ok && (body == nil || utf8.ValidString(body.Interface.GetInterface()))
	case *wirepb.Sample_Probe:
		ok = ok && (body == nil || utf8.ValidString(body.Probe.GetPeerSite()) && utf8.ValidString(body.Probe.GetPeerDevice()))
	case *wirepb.Sample_DeviceState:
		ok = ok && (body == nil || utf8.ValidString(body.DeviceState.GetAddress()) && utf8.ValidString(body.DeviceState.GetLastError()))
	}
	if !ok {
		return errInvalidUTF8
	}
	return nil
}

func appendVarintField(b []byte, tag byte, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(append(b, tag), v)
}

func appendStringField(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendVarint(append(b, tag), uint64(len(s)))
	return append(b, s...)
}

// appendDoubleField writes a one-byte tag and fixed64 f; proto3 omits +0
// (but not -0).
func appendDoubleField(b []byte, tag byte, f float64) []byte {
	v := math.Float64bits(f)
	if v == 0 {
		return b
	}
	return protowire.AppendFixed64(append(b, tag), v)
}

// enum turns an enum into its varint: negative values are sign-extended.
func enum(v int32) uint64 { return uint64(int64(v)) }

func appendInterface(b []byte, st *wirepb.InterfaceState) []byte {
	if st == nil {
		return b
	}
	b = appendStringField(b, tagIfName, st.Interface)
	for _, cv := range st.Counters {
		b = append(b, tagIfCounters, 0)
		if cv == nil {
			continue
		}
		// at most 2×(1+10) bytes: the length always fits one byte
		start := len(b)
		b = appendVarintField(b, tagCVCounter, enum(int32(cv.Counter)))
		b = appendVarintField(b, tagCVValue, cv.Value)
		b[start-1] = byte(len(b) - start)
	}
	b = appendVarintField(b, tagIfSpeed, st.SpeedBps)
	b = appendVarintField(b, tagIfOper, enum(int32(st.OperStatus)))
	return appendVarintField(b, tagIfLastClear, uint64(st.LastClearUnixNano))
}

func appendProbe(b []byte, p *wirepb.ProbeResult) []byte {
	if p == nil {
		return b
	}
	b = appendStringField(b, tagProbePeerSite, p.PeerSite)
	b = appendStringField(b, tagProbePeerDevice, p.PeerDevice)
	for i, f := range [...]float64{p.MinDelayUs, p.MaxDelayUs, p.AvgDelayUs, p.StddevDelayUs, p.JitterUs, p.LossPercentage} {
		b = appendDoubleField(b, tagProbeMinDelay+byte(i)<<3, f)
	}
	b = appendVarintField(b, tagProbeSent, p.ProbesSent)
	return appendVarintField(b, tagProbeReceived, p.ProbesReceived)
}

func appendDevice(b []byte, d *wirepb.Device) []byte {
	if d == nil {
		return b
	}
	b = appendStringField(b, tagDevAddress, d.Address)
	b = appendVarintField(b, tagDevState, enum(int32(d.State)))
	return appendStringField(b, tagDevLastError, d.LastError)
}
