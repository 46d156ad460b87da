package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// SampleDecoder decodes telemetry.samples record values without allocating
// in steady state: it reuses one Sample, its bodies and counter values, and
// interns strings (site, device, interface, peer names, addresses and
// tenants repeat). It accepts exactly what DecodeSample accepts (FuzzSampleDecoder
// checks it against DecodeSample) and returns the same error classes:
// errors wrapping ErrMalformed or ErrUnknownVersion, or ErrEmpty. Unknown
// fields are skipped, not kept.
//
// The Sample that Decode returns, and everything it points to, belongs to
// the decoder and is overwritten by the next call to Decode: copy what must
// outlive it (proto.Clone). A SampleDecoder is not safe for concurrent use;
// use one per goroutine.
type SampleDecoder struct {
	s       wirepb.Sample
	ifBody  wirepb.Sample_Interface
	ifState wirepb.InterfaceState
	prBody  wirepb.Sample_Probe
	probe   wirepb.ProbeResult
	devBody wirepb.Sample_DeviceState
	dev     wirepb.Device
	cvs     []*wirepb.CounterValue // pool; the first ncv are in use
	ncv     int
	interner
}

// maxInterned bounds the intern table; when full it is emptied and refilled.
const maxInterned = 1 << 20

// NewSampleDecoder returns a decoder with an empty intern table.
func NewSampleDecoder() *SampleDecoder {
	d := &SampleDecoder{interner: interner{intern: map[string]string{}}}
	d.ifBody.Interface = &d.ifState
	d.prBody.Probe = &d.probe
	d.devBody.DeviceState = &d.dev
	return d
}

// NewAliasingSampleDecoder returns a decoder whose strings are not interned
// but point into the bytes given to Decode: no map lookup and no copy per
// string. They are valid only while those bytes are neither modified nor
// reused, so it suits a reader that copies what it keeps right away (the
// ClickHouse sink appends every string to its column buffers).
func NewAliasingSampleDecoder() *SampleDecoder {
	d := NewSampleDecoder()
	d.alias = true
	return d
}

var errInvalidUTF8 = errors.New("string field contains invalid UTF-8")

// interner turns the bytes of string fields into strings, validated as
// UTF-8 (as proto3 requires): shared between records (intern), or, with
// alias set, pointing into the record's own bytes.
type interner struct {
	intern map[string]string
	alias  bool
}

func (d *interner) str(b []byte) (string, error) {
	if d.alias {
		return aliased(b)
	}
	if s, ok := d.intern[string(b)]; ok {
		return s, nil
	}
	if !utf8.Valid(b) {
		return "", errInvalidUTF8
	}
	if len(d.intern) >= maxInterned {
		clear(d.intern)
	}
	s := string(b)
	d.intern[s] = s
	return s, nil
}

// once returns a string seen once (a KPI id, an error text): a copy, or
// with alias set the record's own bytes.
func (d *interner) once(b []byte) (string, error) {
	if d.alias {
		return aliased(b)
	}
	if !utf8.Valid(b) {
		return "", errInvalidUTF8
	}
	return string(b), nil
}

// aliased returns b as a string without copying it.
func aliased(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errInvalidUTF8
	}
	if len(b) == 0 {
		return "", nil
	}
	return unsafe.String(&b[0], len(b)), nil
}

func malformed(err error) error { return fmt.Errorf("%w: %w", ErrMalformed, err) }

// field reads one field header and value; v is the varint/fixed value,
// b the bytes of a length-delimited field.
func field(buf []byte) (num protowire.Number, typ protowire.Type, v uint64, b []byte, n int, err error) {
	// Fast path: a one-byte tag (field numbers 1 to 15) and a varint, a
	// fixed64 or a one-byte length, which is every field a Sample writer
	// sends but long strings. Same result as fieldSlow.
	if len(buf) >= 2 && buf[0] >= 1<<3 && buf[0] < 0x80 {
		num, typ = protowire.Number(buf[0]>>3), protowire.Type(buf[0]&7)
		switch typ {
		case protowire.VarintType:
			if buf[1] < 0x80 {
				return num, typ, uint64(buf[1]), nil, 2, nil
			}
			if x, m := protowire.ConsumeVarint(buf[1:]); m > 0 {
				return num, typ, x, nil, 1 + m, nil
			}
		case protowire.BytesType:
			if l := int(buf[1]); l < 0x80 && 2+l <= len(buf) {
				return num, typ, 0, buf[2 : 2+l], 2 + l, nil
			}
		case protowire.Fixed64Type:
			if len(buf) >= 9 {
				return num, typ, binary.LittleEndian.Uint64(buf[1:]), nil, 9, nil
			}
		}
	}
	return fieldSlow(buf)
}

// fieldSlow is field for any field.
func fieldSlow(buf []byte) (num protowire.Number, typ protowire.Type, v uint64, b []byte, n int, err error) {
	num, typ, n = protowire.ConsumeTag(buf)
	if n < 0 {
		return 0, 0, 0, nil, 0, protowire.ParseError(n)
	}
	if num > protowire.MaxValidNumber || num < protowire.MinValidNumber {
		return 0, 0, 0, nil, 0, errors.New("invalid field number")
	}
	var m int
	switch typ {
	case protowire.VarintType:
		v, m = protowire.ConsumeVarint(buf[n:])
	case protowire.Fixed64Type:
		v, m = protowire.ConsumeFixed64(buf[n:])
	case protowire.Fixed32Type:
		var x uint32
		x, m = protowire.ConsumeFixed32(buf[n:])
		v = uint64(x)
	case protowire.BytesType:
		b, m = protowire.ConsumeBytes(buf[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, buf[n:])
	}
	if m < 0 {
		return 0, 0, 0, nil, 0, protowire.ParseError(m)
	}
	return num, typ, v, b, n + m, nil
}

// Decode decodes a telemetry.samples record value. The error wraps
// ErrMalformed or ErrUnknownVersion, or is ErrEmpty, like DecodeSample.
// The returned Sample is reused by the next call (see SampleDecoder).
func (d *SampleDecoder) Decode(buf []byte) (*wirepb.Sample, error) {
	s := &d.s
	*s = wirepb.Sample{}
	var body int // 0 none, 10 interface, 11 probe, 12 device
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return nil, malformed(err)
		}
		buf = buf[n:]
		want := protowire.VarintType
		switch num {
		case 2, 3, 6, 8, 10, 11, 12:
			want = protowire.BytesType
		case 1, 4, 5, 7:
		default:
			continue // unknown field: skipped, as proto does
		}
		if typ != want {
			// proto would keep a mismatched wire type as an unknown field
			continue
		}
		switch num {
		case 1:
			s.Version = uint32(v)
		case 2:
			if s.Site, err = d.str(b); err != nil {
				return nil, malformed(err)
			}
		case 3:
			if s.Device, err = d.str(b); err != nil {
				return nil, malformed(err)
			}
		case 4:
			s.DeviceTimeUnixNano = int64(v)
		case 5:
			s.ReceiveTimeUnixNano = int64(v)
		case 6:
			if s.Collector, err = d.str(b); err != nil {
				return nil, malformed(err)
			}
		case 7:
			s.Seq = v
		case 8:
			if s.Tenant, err = d.str(b); err != nil {
				return nil, malformed(err)
			}
		case 10:
			if body != 10 {
				d.resetInterface()
			}
			body = 10
			if err := d.decodeInterface(b); err != nil {
				return nil, malformed(err)
			}
		case 11:
			if body != 11 {
				d.probe = wirepb.ProbeResult{}
			}
			body = 11
			if err := d.decodeProbe(b); err != nil {
				return nil, malformed(err)
			}
		case 12:
			if body != 12 {
				d.dev = wirepb.Device{}
			}
			body = 12
			if err := d.decodeDevice(b); err != nil {
				return nil, malformed(err)
			}
		}
	}
	if s.Version == 0 || s.Version > Version {
		return nil, fmt.Errorf("%w: %d (this build reads up to %d)", ErrUnknownVersion, s.Version, Version)
	}
	switch body {
	case 10:
		d.ifState.Counters = append(d.ifState.Counters[:0], d.cvs[:d.ncv]...)
		s.Body = &d.ifBody
	case 11:
		s.Body = &d.prBody
	case 12:
		s.Body = &d.devBody
	default:
		return nil, ErrEmpty
	}
	return s, nil
}

func (d *SampleDecoder) resetInterface() {
	counters := d.ifState.Counters[:0]
	d.ifState = wirepb.InterfaceState{Counters: counters}
	d.ncv = 0
}

func (d *SampleDecoder) decodeInterface(buf []byte) error {
	st := &d.ifState
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return err
		}
		buf = buf[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			if st.Interface, err = d.str(b); err != nil {
				return err
			}
		case num == 2 && typ == protowire.BytesType:
			if d.ncv == len(d.cvs) {
				d.cvs = append(d.cvs, &wirepb.CounterValue{})
			}
			cv := d.cvs[d.ncv]
			d.ncv++
			cv.Counter, cv.Value = 0, 0
			for len(b) > 0 {
				cn, ct, cvv, _, m, err := field(b)
				if err != nil {
					return err
				}
				b = b[m:]
				switch {
				case cn == 1 && ct == protowire.VarintType:
					cv.Counter = wirepb.Counter(int32(cvv))
				case cn == 2 && ct == protowire.VarintType:
					cv.Value = cvv
				}
			}
		case num == 3 && typ == protowire.VarintType:
			st.SpeedBps = v
		case num == 4 && typ == protowire.VarintType:
			st.OperStatus = wirepb.OperStatus(int32(v))
		case num == 5 && typ == protowire.VarintType:
			st.LastClearUnixNano = int64(v)
		}
	}
	return nil
}

func (d *SampleDecoder) decodeProbe(buf []byte) error {
	p := &d.probe
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return err
		}
		buf = buf[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			if p.PeerSite, err = d.str(b); err != nil {
				return err
			}
		case num == 2 && typ == protowire.BytesType:
			if p.PeerDevice, err = d.str(b); err != nil {
				return err
			}
		case num >= 3 && num <= 8 && typ == protowire.Fixed64Type:
			f := math.Float64frombits(v)
			switch num {
			case 3:
				p.MinDelayUs = f
			case 4:
				p.MaxDelayUs = f
			case 5:
				p.AvgDelayUs = f
			case 6:
				p.StddevDelayUs = f
			case 7:
				p.JitterUs = f
			case 8:
				p.LossPercentage = f
			}
		case num == 9 && typ == protowire.VarintType:
			p.ProbesSent = v
		case num == 10 && typ == protowire.VarintType:
			p.ProbesReceived = v
		}
	}
	return nil
}

func (d *SampleDecoder) decodeDevice(buf []byte) error {
	dv := &d.dev
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return err
		}
		buf = buf[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			if dv.Address, err = d.str(b); err != nil {
				return err
			}
		case num == 2 && typ == protowire.VarintType:
			dv.State = wirepb.DeviceState(int32(v))
		case num == 3 && typ == protowire.BytesType:
			if dv.LastError, err = d.once(b); err != nil {
				return err
			}
		}
	}
	return nil
}
