package guest

import (
	"errors"
	"math"
	"sort"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// errMalformed is a batch that does not decode.
var errMalformed = errors.New("malformed batch")

// version is the record version this package reads and writes.
const version = 1

// maxInterned bounds the intern table (emptied when full).
const maxInterned = 1 << 16

// codec decodes batches into reused values and encodes them back.
type codec struct {
	samples []Sample
	sptrs   []*Sample
	ifaces  []Interface
	probes  []Probe
	devs    []DeviceState

	kpis  []KPI
	kptrs []*KPI
	ikpis []InterfaceKPI
	links []LinkKPI
	pipes []PipelineKPI
	dkpis []DeviceKPI

	recs   [][]byte
	intern map[string]string
	out    []byte
}

func (c *codec) str(b []byte) string {
	if s, ok := c.intern[string(b)]; ok {
		return s
	}
	if c.intern == nil || len(c.intern) >= maxInterned {
		c.intern = make(map[string]string, 256)
	}
	s := string(b)
	c.intern[s] = s
	return s
}

// field is one field of a message.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint and fixed64 values
	b   []byte // bytes
	raw []byte // the whole field, tag included
}

// next reads the field at the start of b.
func next(b []byte) (field, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, 0, errMalformed
	}
	f := field{num: num, typ: typ}
	var m int
	switch typ {
	case protowire.VarintType:
		f.v, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed64Type:
		f.v, m = protowire.ConsumeFixed64(b[n:])
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(b[n:])
		f.v = uint64(v)
	case protowire.BytesType:
		f.b, m = protowire.ConsumeBytes(b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		return field{}, 0, errMalformed
	}
	f.raw = b[:n+m]
	return f, n + m, nil
}

// each calls f for each field of the message b.
func each(b []byte, f func(field) error) error {
	for len(b) > 0 {
		fl, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if err := f(fl); err != nil {
			return err
		}
	}
	return nil
}

func f64(v uint64) float64 { return math.Float64frombits(v) }

// records returns the records (field 1) of a batch, appended to dst.
func records(dst [][]byte, b []byte) ([][]byte, error) {
	for len(b) > 0 {
		num, typ, _, val, n := read(b)
		if n < 0 {
			return dst, errMalformed
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			dst = append(dst, val)
		}
	}
	return dst, nil
}

// decodeSamples decodes a SampleBatch into the codec's reused samples.
func (c *codec) decodeSamples(b []byte) ([]*Sample, error) {
	recs, err := records(c.recs[:0], b)
	c.recs = recs
	if err != nil {
		return nil, err
	}
	n := len(recs)
	if cap(c.samples) < n {
		c.samples = make([]Sample, n)
		c.ifaces = make([]Interface, n)
		c.probes = make([]Probe, n)
		c.devs = make([]DeviceState, n)
	}
	c.samples, c.ifaces, c.probes, c.devs = c.samples[:n], c.ifaces[:n], c.probes[:n], c.devs[:n]
	c.sptrs = c.sptrs[:0]
	for i, rec := range recs {
		s := &c.samples[i]
		if err := c.decodeSample(s, i, rec); err != nil {
			return nil, err
		}
		c.sptrs = append(c.sptrs, s)
	}
	return c.sptrs, nil
}

// read reads the field at the start of b (no closures, no allocation:
// Go's WebAssembly port makes calls and loops dear).
func read(b []byte) (num protowire.Number, typ protowire.Type, v uint64, val []byte, n int) {
	var t uint64
	if len(b) > 0 && b[0] < 0x80 {
		t, n = uint64(b[0]), 1
	} else if t, n = protowire.ConsumeVarint(b); n < 0 {
		return 0, 0, 0, nil, n
	}
	num, typ = protowire.Number(t>>3), protowire.Type(t&7)
	var m int
	switch typ {
	case protowire.VarintType:
		if len(b) > n && b[n] < 0x80 {
			return num, typ, uint64(b[n]), nil, n + 1
		}
		v, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed64Type:
		v, m = protowire.ConsumeFixed64(b[n:])
	case protowire.BytesType:
		if len(b) > n && b[n] < 0x80 && len(b) >= n+1+int(b[n]) {
			l := int(b[n])
			return num, typ, 0, b[n+1 : n+1+l], n + 1 + l
		}
		val, m = protowire.ConsumeBytes(b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		return 0, 0, 0, nil, m
	}
	return num, typ, v, val, n + m
}

func (c *codec) decodeSample(s *Sample, i int, rec []byte) error {
	unknown := s.unknown[:0]
	*s = Sample{}
	o := &s.orig
	o.rec, o.ifStart, o.nameStart = rec, -1, -1
	all := len(rec)
	for len(rec) > 0 {
		at := all - len(rec)
		num, typ, v, b, n := read(rec)
		if n < 0 {
			return errMalformed
		}
		raw := rec[:n]
		rec = rec[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			if v != version {
				return errMalformed
			}
		case num == 2 && typ == protowire.BytesType:
			s.Site = alias(b)
		case num == 3 && typ == protowire.BytesType:
			s.Device = alias(b)
		case num == 4 && typ == protowire.VarintType:
			s.DeviceTime = int64(v)
		case num == 5 && typ == protowire.VarintType:
			s.ReceiveTime = int64(v)
		case num == 6 && typ == protowire.BytesType:
			s.Collector = alias(b)
		case num == 7 && typ == protowire.VarintType:
			s.Seq = v
		case num == 8 && typ == protowire.BytesType:
			s.Tenant = alias(b)
		case num == 10 && typ == protowire.BytesType:
			it := &c.ifaces[i]
			*it = Interface{counters: it.counters[:0]}
			s.Interface, s.Probe, s.DeviceState = it, nil, nil
			o.ifStart, o.ifBody, o.ifEnd = at, at+n-len(b), at+n
			if err := c.decodeInterface(it, b, o); err != nil {
				return err
			}
		case num == 11 && typ == protowire.BytesType:
			p := &c.probes[i]
			*p = Probe{}
			s.Interface, s.Probe, s.DeviceState = nil, p, nil
			if err := c.decodeProbe(p, b); err != nil {
				return err
			}
		case num == 12 && typ == protowire.BytesType:
			d := &c.devs[i]
			*d = DeviceState{}
			s.Interface, s.Probe, s.DeviceState = nil, nil, d
			for len(b) > 0 {
				num, _, v, fb, n := read(b)
				if n < 0 {
					return errMalformed
				}
				b = b[n:]
				switch num {
				case 1:
					d.Address = alias(fb)
				case 2:
					d.State = int32(v)
				case 3:
					d.LastError = alias(fb)
				}
			}
		default:
			unknown = append(unknown, raw...)
			s.unknown = unknown
		}
	}
	o.site, o.device, o.collector, o.tenant = s.Site, s.Device, s.Collector, s.Tenant
	o.deviceTime, o.receiveTime, o.seq = s.DeviceTime, s.ReceiveTime, s.Seq
	if it := s.Interface; it != nil {
		o.iface, o.name, o.speed, o.oper, o.lastClear = it, it.Name, it.SpeedBps, it.OperStatus, it.LastClear
	}
	return nil
}

func (c *codec) decodeInterface(it *Interface, b []byte, o *orig) error {
	start := o.ifBody
	all := len(b)
	for len(b) > 0 {
		// the counters (field 2, one-byte lengths) are the most of it:
		// skipped without decoding
		if b[0] == 0x12 && len(b) > 1 && b[1] < 0x80 && len(b) >= 2+int(b[1]) {
			n := 2 + int(b[1])
			if len(it.raw) == 0 {
				it.raw = b[:n]
			} else if sameEnd(it.raw, b[:n]) {
				it.raw = it.raw[:len(it.raw)+n]
			} else {
				it.raw = append(append([]byte(nil), it.raw...), b[:n]...)
			}
			b = b[n:]
			continue
		}
		at := start + all - len(b)
		num, _, v, fb, n := read(b)
		if n < 0 {
			return errMalformed
		}
		raw := b[:n]
		b = b[n:]
		switch num {
		case 1:
			it.Name = alias(fb)
			o.nameStart, o.nameEnd = at, at+n
		case 2:
			if len(it.raw) > 0 && sameEnd(it.raw, raw) {
				it.raw = it.raw[:len(it.raw)+len(raw)]
			} else if len(it.raw) == 0 {
				it.raw = raw
			} else {
				it.raw = append(append([]byte(nil), it.raw...), raw...)
			}
		case 3:
			it.SpeedBps = v
		case 4:
			it.OperStatus = OperStatus(v)
		case 5:
			it.LastClear = int64(v)
		}
	}
	return nil
}

// same reports whether a and b are the same string: same bytes in memory,
// not only equal ones (no comparison loop; an equal copy counts as a
// change, which only costs an encoding).
func same(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

// appendUnchanged appends s by copying its record, or its record with a
// new interface name spliced in, when that is all that changed; false
// when s must be encoded field by field.
func appendUnchanged(b []byte, s *Sample) ([]byte, bool) {
	o := &s.orig
	if o.rec == nil || s.Probe != nil || s.DeviceState != nil || s.Interface != o.iface ||
		!same(s.Site, o.site) || !same(s.Device, o.device) || !same(s.Collector, o.collector) || !same(s.Tenant, o.tenant) ||
		s.DeviceTime != o.deviceTime || s.ReceiveTime != o.receiveTime || s.Seq != o.seq {
		return b, false
	}
	it := s.Interface
	if it == nil {
		if o.ifStart >= 0 {
			return b, false // the interface was removed
		}
		b = protowire.AppendVarint(append(b, 0x0a), uint64(len(o.rec)))
		return append(b, o.rec...), true
	}
	if it.decoded || it.SpeedBps != o.speed || it.OperStatus != o.oper || it.LastClear != o.lastClear {
		return b, false
	}
	if same(it.Name, o.name) {
		b = protowire.AppendVarint(append(b, 0x0a), uint64(len(o.rec)))
		return append(b, o.rec...), true
	}
	if o.nameStart < 0 {
		return b, false
	}
	b, rec := begin(b, 1)
	b = append(b, o.rec[:o.ifStart]...)
	var st int
	b, st = begin(b, 10)
	b = append(b, o.rec[o.ifBody:o.nameStart]...)
	b = putString(b, 1, it.Name)
	b = append(b, o.rec[o.nameEnd:o.ifEnd]...)
	b = end(b, st)
	b = append(b, o.rec[o.ifEnd:]...)
	return end(b, rec), true
}

// sameEnd reports whether next starts where a ends in one array.
func sameEnd(a, next []byte) bool {
	return cap(a) >= len(a)+len(next) && len(next) > 0 && &a[:len(a)+1][len(a)] == &next[0]
}

// decodeCounters decodes the counter fields raw (InterfaceState field 2,
// tags included) into dst.
func decodeCounters(dst []Counter, raw []byte) []Counter {
	for len(raw) > 0 {
		_, _, _, fb, n := read(raw)
		if n < 0 {
			return dst
		}
		raw = raw[n:]
		var cv Counter
		for len(fb) > 0 {
			num, _, v, _, m := read(fb)
			if m < 0 {
				break
			}
			fb = fb[m:]
			switch num {
			case 1:
				cv.ID = CounterID(v)
			case 2:
				cv.Value = v
			}
		}
		dst = append(dst, cv)
	}
	return dst
}

// alias is b as a string without a copy: valid while the batch is.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (c *codec) decodeProbe(p *Probe, b []byte) error {
	for len(b) > 0 {
		num, _, v, fb, n := read(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		switch num {
		case 1:
			p.PeerSite = alias(fb)
		case 2:
			p.PeerDevice = alias(fb)
		case 3:
			p.MinDelayUs = f64(v)
		case 4:
			p.MaxDelayUs = f64(v)
		case 5:
			p.AvgDelayUs = f64(v)
		case 6:
			p.StddevDelayUs = f64(v)
		case 7:
			p.JitterUs = f64(v)
		case 8:
			p.LossPercentage = f64(v)
		case 9:
			p.ProbesSent = v
		case 10:
			p.ProbesReceived = v
		}
	}
	return nil
}

// Encoding (proto3: zero values omitted, fields in number order).

func tag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(b, num, typ)
}

func putVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(tag(b, num, protowire.VarintType), v)
}

func putString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(tag(b, num, protowire.BytesType), s)
}

func putDouble(b []byte, num protowire.Number, v float64) []byte {
	u := math.Float64bits(v)
	if u == 0 {
		return b
	}
	return protowire.AppendFixed64(tag(b, num, protowire.Fixed64Type), u)
}

// begin writes the tag of a nested message and a one-byte length
// placeholder; end fixes the length.
func begin(b []byte, num protowire.Number) ([]byte, int) {
	b = append(tag(b, num, protowire.BytesType), 0)
	return b, len(b)
}

func end(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, k-1)...)
	copy(b[start+k-1:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// appendSample appends s as one record of a SampleBatch.
func appendSample(b []byte, s *Sample) []byte {
	if out, ok := appendUnchanged(b, s); ok {
		return out
	}
	b, rec := begin(b, 1)
	b = putVarint(b, 1, version)
	b = putString(b, 2, s.Site)
	b = putString(b, 3, s.Device)
	b = putVarint(b, 4, uint64(s.DeviceTime))
	b = putVarint(b, 5, uint64(s.ReceiveTime))
	b = putString(b, 6, s.Collector)
	b = putVarint(b, 7, s.Seq)
	b = putString(b, 8, s.Tenant)
	switch {
	case s.Interface != nil:
		it := s.Interface
		var st int
		b, st = begin(b, 10)
		b = putString(b, 1, it.Name)
		if !it.decoded {
			b = append(b, it.raw...) // as received
		} else {
			for _, cv := range it.counters {
				var cs int
				b, cs = begin(b, 2)
				b = putVarint(b, 1, uint64(int64(cv.ID)))
				b = putVarint(b, 2, cv.Value)
				b = end(b, cs)
			}
		}
		b = putVarint(b, 3, it.SpeedBps)
		b = putVarint(b, 4, uint64(int64(it.OperStatus)))
		b = putVarint(b, 5, uint64(it.LastClear))
		b = end(b, st)
	case s.Probe != nil:
		p := s.Probe
		var st int
		b, st = begin(b, 11)
		b = putString(b, 1, p.PeerSite)
		b = putString(b, 2, p.PeerDevice)
		b = putDouble(b, 3, p.MinDelayUs)
		b = putDouble(b, 4, p.MaxDelayUs)
		b = putDouble(b, 5, p.AvgDelayUs)
		b = putDouble(b, 6, p.StddevDelayUs)
		b = putDouble(b, 7, p.JitterUs)
		b = putDouble(b, 8, p.LossPercentage)
		b = putVarint(b, 9, p.ProbesSent)
		b = putVarint(b, 10, p.ProbesReceived)
		b = end(b, st)
	case s.DeviceState != nil:
		d := s.DeviceState
		var st int
		b, st = begin(b, 12)
		b = putString(b, 1, d.Address)
		b = putVarint(b, 2, uint64(int64(d.State)))
		b = putString(b, 3, d.LastError)
		b = end(b, st)
	}
	b = append(b, s.unknown...)
	return end(b, rec)
}

// EncodeSamples appends samples as a SampleBatch to dst.
func EncodeSamples(dst []byte, samples []*Sample) []byte {
	for _, s := range samples {
		dst = appendSample(dst, s)
	}
	return dst
}

// decodeKPIs decodes a KPIBatch into the codec's reused KPIs.
func (c *codec) decodeKPIs(b []byte) ([]*KPI, error) {
	recs, err := records(c.recs[:0], b)
	c.recs = recs
	if err != nil {
		return nil, err
	}
	n := len(recs)
	if cap(c.kpis) < n {
		c.kpis = make([]KPI, n)
		c.ikpis = make([]InterfaceKPI, n)
		c.links = make([]LinkKPI, n)
		c.pipes = make([]PipelineKPI, n)
		c.dkpis = make([]DeviceKPI, n)
	}
	c.kpis, c.ikpis, c.links, c.pipes, c.dkpis = c.kpis[:n], c.ikpis[:n], c.links[:n], c.pipes[:n], c.dkpis[:n]
	c.kptrs = c.kptrs[:0]
	for i, rec := range recs {
		k := &c.kpis[i]
		if err := c.decodeKPI(k, i, rec); err != nil {
			return nil, err
		}
		c.kptrs = append(c.kptrs, k)
	}
	return c.kptrs, nil
}

func (c *codec) decodeKPI(k *KPI, i int, rec []byte) error {
	unknown := k.unknown[:0]
	*k = KPI{}
	return each(rec, func(f field) error {
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			if f.v != version {
				return errMalformed
			}
		case f.num == 2 && f.typ == protowire.BytesType:
			k.ID = string(f.b)
		case f.num == 3 && f.typ == protowire.BytesType:
			k.Site = c.str(f.b)
		case f.num == 4 && f.typ == protowire.BytesType:
			k.Device = c.str(f.b)
		case f.num == 5 && f.typ == protowire.VarintType:
			k.WindowStart = int64(f.v)
		case f.num == 6 && f.typ == protowire.VarintType:
			k.WindowEnd = int64(f.v)
		case f.num == 7 && f.typ == protowire.VarintType:
			k.Samples = uint32(f.v)
		case f.num == 8 && f.typ == protowire.BytesType:
			k.Tenant = c.str(f.b)
		case f.num == 10 && f.typ == protowire.BytesType:
			x := &c.ikpis[i]
			*x = InterfaceKPI{}
			k.Interface, k.Link, k.Pipeline, k.DeviceKPI = x, nil, nil, nil
			return each(f.b, func(f field) error {
				switch f.num {
				case 1:
					x.Interface = c.str(f.b)
				case 2:
					x.UtilIn = f64(f.v)
				case 3:
					x.UtilOut = f64(f.v)
				case 4:
					x.LossRatio = f64(f.v)
				case 5:
					x.InErrorsPs = f64(f.v)
				case 6:
					x.InDiscardsPs = f64(f.v)
				case 7:
					x.OutDiscardsPs = f64(f.v)
				case 8:
					x.OutErrorsPs = f64(f.v)
				case 9:
					x.SpeedBps = f.v
				case 10:
					x.InBps = f64(f.v)
				case 11:
					x.OutBps = f64(f.v)
				case 12:
					x.InPps = f64(f.v)
				case 13:
					x.OutPps = f64(f.v)
				case 14:
					x.OperStatus = OperStatus(f.v)
				}
				return nil
			})
		case f.num == 11 && f.typ == protowire.BytesType:
			x := &c.links[i]
			*x = LinkKPI{}
			k.Interface, k.Link, k.Pipeline, k.DeviceKPI = nil, x, nil, nil
			return each(f.b, func(f field) error {
				switch f.num {
				case 1:
					x.DstSite = c.str(f.b)
				case 2:
					x.DstDevice = c.str(f.b)
				case 3:
					x.RTTMs = f64(f.v)
				case 4:
					x.RTTP50Ms = f64(f.v)
				case 5:
					x.RTTP95Ms = f64(f.v)
				case 6:
					x.RTTP99Ms = f64(f.v)
				case 7:
					x.JitterMs = f64(f.v)
				case 8:
					x.LossRatio = f64(f.v)
				case 9:
					x.ProbesSent = f.v
				case 10:
					x.ProbesReceived = f.v
				}
				return nil
			})
		case f.num == 12 && f.typ == protowire.BytesType:
			x := &c.pipes[i]
			*x = PipelineKPI{}
			k.Interface, k.Link, k.Pipeline, k.DeviceKPI = nil, nil, x, nil
			return each(f.b, func(f field) error {
				switch f.num {
				case 1:
					x.Instance = c.str(f.b)
				case 2:
					x.DelayP50Ms = f64(f.v)
				case 3:
					x.DelayP99Ms = f64(f.v)
				case 4:
					x.DelayMaxMs = f64(f.v)
				case 5:
					x.Samples = f.v
				}
				return nil
			})
		case f.num == 13 && f.typ == protowire.BytesType:
			x := &c.dkpis[i]
			*x = DeviceKPI{}
			k.Interface, k.Link, k.Pipeline, k.DeviceKPI = nil, nil, nil, x
			return each(f.b, func(f field) error {
				switch f.num {
				case 1:
					x.Reachable = uint32(f.v)
				case 2:
					x.State = int32(f.v)
				case 3:
					x.LastError = string(f.b)
				case 4:
					x.UpRatio = f64(f.v)
				}
				return nil
			})
		case f.num == 20 && f.typ == protowire.BytesType:
			var key string
			var val float64
			if err := each(f.b, func(f field) error {
				switch f.num {
				case 1:
					key = c.str(f.b)
				case 2:
					val = f64(f.v)
				}
				return nil
			}); err != nil {
				return err
			}
			if k.Fields == nil {
				k.Fields = map[string]float64{}
			}
			k.Fields[key] = val
		default:
			unknown = append(unknown, f.raw...)
			k.unknown = unknown
		}
		return nil
	})
}

// appendKPI appends k as one record of a KPIBatch.
func appendKPI(b []byte, k *KPI) []byte {
	b, rec := begin(b, 1)
	b = putVarint(b, 1, version)
	b = putString(b, 2, k.ID)
	b = putString(b, 3, k.Site)
	b = putString(b, 4, k.Device)
	b = putVarint(b, 5, uint64(k.WindowStart))
	b = putVarint(b, 6, uint64(k.WindowEnd))
	b = putVarint(b, 7, uint64(k.Samples))
	b = putString(b, 8, k.Tenant)
	var st int
	switch {
	case k.Interface != nil:
		x := k.Interface
		b, st = begin(b, 10)
		b = putString(b, 1, x.Interface)
		for j, v := range [...]float64{x.UtilIn, x.UtilOut, x.LossRatio, x.InErrorsPs, x.InDiscardsPs, x.OutDiscardsPs, x.OutErrorsPs} {
			b = putDouble(b, protowire.Number(2+j), v)
		}
		b = putVarint(b, 9, x.SpeedBps)
		for j, v := range [...]float64{x.InBps, x.OutBps, x.InPps, x.OutPps} {
			b = putDouble(b, protowire.Number(10+j), v)
		}
		b = putVarint(b, 14, uint64(int64(x.OperStatus)))
		b = end(b, st)
	case k.Link != nil:
		x := k.Link
		b, st = begin(b, 11)
		b = putString(b, 1, x.DstSite)
		b = putString(b, 2, x.DstDevice)
		for j, v := range [...]float64{x.RTTMs, x.RTTP50Ms, x.RTTP95Ms, x.RTTP99Ms, x.JitterMs, x.LossRatio} {
			b = putDouble(b, protowire.Number(3+j), v)
		}
		b = putVarint(b, 9, x.ProbesSent)
		b = putVarint(b, 10, x.ProbesReceived)
		b = end(b, st)
	case k.Pipeline != nil:
		x := k.Pipeline
		b, st = begin(b, 12)
		b = putString(b, 1, x.Instance)
		b = putDouble(b, 2, x.DelayP50Ms)
		b = putDouble(b, 3, x.DelayP99Ms)
		b = putDouble(b, 4, x.DelayMaxMs)
		b = putVarint(b, 5, x.Samples)
		b = end(b, st)
	case k.DeviceKPI != nil:
		x := k.DeviceKPI
		b, st = begin(b, 13)
		b = putVarint(b, 1, uint64(x.Reachable))
		b = putVarint(b, 2, uint64(int64(x.State)))
		b = putString(b, 3, x.LastError)
		b = putDouble(b, 4, x.UpRatio)
		b = end(b, st)
	}
	if len(k.Fields) > 0 {
		keys := make([]string, 0, len(k.Fields))
		for key := range k.Fields {
			keys = append(keys, key)
		}
		sort.Strings(keys) // deterministic output
		for _, key := range keys {
			var es int
			b, es = begin(b, 20)
			// map entries always carry their key and value
			b = protowire.AppendString(tag(b, 1, protowire.BytesType), key)
			b = protowire.AppendFixed64(tag(b, 2, protowire.Fixed64Type), math.Float64bits(k.Fields[key]))
			b = end(b, es)
		}
	}
	b = append(b, k.unknown...)
	return end(b, rec)
}

// EncodeKPIs appends kpis as a KPIBatch to dst.
func EncodeKPIs(dst []byte, kpis []*KPI) []byte {
	for _, k := range kpis {
		dst = appendKPI(dst, k)
	}
	return dst
}

// Run decodes the SampleBatch in, calls f and returns the encoding of its
// answer appended to dst, or nil when f reported no change. It is what
// Collect does inside a module, usable in native tests of a module's
// function.
func (c *codec) runSamples(in, dst []byte, f func([]*Sample) ([]*Sample, bool)) ([]byte, bool, error) {
	samples, err := c.decodeSamples(in)
	if err != nil {
		return nil, false, err
	}
	out, changed := f(samples)
	if !changed {
		return nil, false, nil
	}
	return EncodeSamples(dst, out), true, nil
}

func (c *codec) runKPIs(in, dst []byte, f func([]*KPI) ([]*KPI, bool)) ([]byte, bool, error) {
	kpis, err := c.decodeKPIs(in)
	if err != nil {
		return nil, false, err
	}
	out, changed := f(kpis)
	if !changed {
		return nil, false, nil
	}
	return EncodeKPIs(dst, out), true, nil
}

// Tester runs a module's functions natively (go test on the host), through
// the same decoding and encoding as inside the module.
type Tester struct{ c codec }

// Samples decodes the SampleBatch in, calls f and returns the batch it
// answers (nil and false when f reports no change).
func (t *Tester) Samples(in []byte, f func([]*Sample) ([]*Sample, bool)) ([]byte, bool, error) {
	return t.c.runSamples(in, nil, f)
}

// KPIs decodes the KPIBatch in, calls f and returns the batch it answers.
func (t *Tester) KPIs(in []byte, f func([]*KPI) ([]*KPI, bool)) ([]byte, bool, error) {
	return t.c.runKPIs(in, nil, f)
}

// DecodeSamples decodes a SampleBatch (for tests of a module's output).
func (t *Tester) DecodeSamples(b []byte) ([]*Sample, error) { return t.c.decodeSamples(b) }

// DecodeKPIs decodes a KPIBatch.
func (t *Tester) DecodeKPIs(b []byte) ([]*KPI, error) { return t.c.decodeKPIs(b) }
