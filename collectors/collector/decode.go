package collector

import (
	"math"
	"strings"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// reason is why an update (or a notification) was not decoded.
type reason uint8

// Decode error reasons: the reason label of
// telemetry_collector_decode_errors_total.
const (
	reasonUnknownPath reason = iota
	reasonMissingKey
	reasonBadType
	reasonNoValue
	reasonNegative
	reasonNotFinite
	reasonOutOfRange
	reasonOversized
	reasonBadValue
	reasonBadTimestamp
	reasonWrongTarget
	reasonTooManyUpdates
	reasonLegacyPath
	numReasons
)

var reasonNames = [numReasons]string{
	reasonUnknownPath:    "unknown_path",
	reasonMissingKey:     "missing_key",
	reasonBadType:        "bad_type",
	reasonNoValue:        "no_value",
	reasonNegative:       "negative_value",
	reasonNotFinite:      "not_finite",
	reasonOutOfRange:     "out_of_range",
	reasonOversized:      "oversized",
	reasonBadValue:       "bad_value",
	reasonBadTimestamp:   "bad_timestamp",
	reasonWrongTarget:    "wrong_target",
	reasonTooManyUpdates: "too_many_updates",
	reasonLegacyPath:     "legacy_path",
}

func (r reason) String() string { return reasonNames[r] }

// Limits on what a device may send.
const (
	maxNameLen = 256 // interface and peer names
	// maxDelayUs bounds a probe delay (1000 s): beyond is garbage.
	maxDelayUs = 1e9
	// maxFuture is how far ahead of the receive time a device timestamp may be.
	maxFuture = time.Hour
)

// slot is one reusable sample with its bodies, so decoding allocates
// nothing once warm.
type slot struct {
	s       wirepb.Sample
	iface   wirepb.InterfaceState
	probe   wirepb.ProbeResult
	ifw     wirepb.Sample_Interface
	pw      wirepb.Sample_Probe
	isProbe bool
}

// decoder turns the notifications of one target into samples. It is not
// safe for concurrent use: one per session.
type decoder struct {
	m          *matcher
	device     string
	site       string
	collector  string
	maxUpdates int

	slots []*slot
	n     int
	out   []*wirepb.Sample
	// errs counts decode errors by reason since the last takeErrors.
	errs [numReasons]uint64
	// updates counts updates seen since the last takeErrors.
	updates uint64
}

func newDecoder(m *matcher, device, site, collector string, maxUpdates int) *decoder {
	return &decoder{m: m, device: device, site: site, collector: collector, maxUpdates: maxUpdates}
}

func (d *decoder) fail(r reason) { d.errs[r]++ }

// slotFor returns the slot of this notification for the interface (probe
// false) or the probe (peer site, peer device), opening one when needed.
func (d *decoder) slotFor(probe bool, a, b string) *slot {
	for _, s := range d.slots[:d.n] {
		if s.isProbe != probe {
			continue
		}
		if probe {
			if s.probe.PeerSite == a && s.probe.PeerDevice == b {
				return s
			}
		} else if s.iface.Interface == a {
			return s
		}
	}
	if d.n == len(d.slots) {
		s := &slot{}
		s.ifw.Interface = &s.iface
		s.pw.Probe = &s.probe
		d.slots = append(d.slots, s)
	}
	s := d.slots[d.n]
	d.n++
	s.isProbe = probe
	if probe {
		s.probe.PeerSite, s.probe.PeerDevice = a, b
		s.probe.MinDelayUs, s.probe.MaxDelayUs, s.probe.AvgDelayUs = 0, 0, 0
		s.probe.StddevDelayUs, s.probe.JitterUs, s.probe.LossPercentage = 0, 0, 0
		s.probe.ProbesSent, s.probe.ProbesReceived = 0, 0
		s.s.Body = &s.pw
	} else {
		s.iface.Interface = a
		s.iface.Counters = s.iface.Counters[:0]
		s.iface.SpeedBps, s.iface.OperStatus, s.iface.LastClearUnixNano = 0, 0, 0
		s.s.Body = &s.ifw
	}
	return s
}

// decode turns one notification into samples (one per interface or probe
// it mentions). The samples and their bodies belong to the decoder and are
// valid until the next call. Bad updates are counted in d.errs and skipped.
func (d *decoder) decode(n *gnmi.Notification, recvNano int64) []*wirepb.Sample {
	d.n = 0
	d.out = d.out[:0]
	if n == nil {
		return d.out
	}
	prefix := n.GetPrefix()
	if t := prefix.GetTarget(); t != "" && t != d.device {
		d.fail(reasonWrongTarget)
		return d.out
	}
	ts := n.GetTimestamp()
	if ts <= 0 || ts > recvNano+int64(maxFuture) {
		d.fail(reasonBadTimestamp)
		ts = recvNano
	}
	ups := n.GetUpdate()
	if len(ups) > d.maxUpdates {
		d.errs[reasonTooManyUpdates] += uint64(len(ups) - d.maxUpdates)
		ups = ups[:d.maxUpdates]
	}
	d.updates += uint64(len(ups))
	if len(prefix.GetElement()) > 0 {
		d.errs[reasonLegacyPath] += uint64(len(ups))
		return d.out
	}
	// Walk the prefix once; every update continues from there.
	var w walk
	w.nd = &d.m.root
	if r := w.elems(prefix.GetElem()); r != 0 {
		d.errs[r-1] += uint64(len(ups))
		return d.out
	}
	for _, u := range ups {
		d.update(w, u)
	}
	for _, s := range d.slots[:d.n] {
		if !s.isProbe && len(s.iface.Counters) == 0 && s.iface.SpeedBps == 0 &&
			s.iface.OperStatus == 0 && s.iface.LastClearUnixNano == 0 {
			continue // every update of it was bad
		}
		smp := &s.s
		smp.Site, smp.Device, smp.Collector = d.site, d.device, d.collector
		smp.DeviceTimeUnixNano, smp.ReceiveTimeUnixNano = ts, recvNano
		smp.Seq = 0
		d.out = append(d.out, smp)
	}
	return d.out
}

// walk is a position in the mapping trie with the keys captured so far.
type walk struct {
	nd                          *node
	iface, peerSite, peerDevice string
}

// elems advances w over elems; it returns reason+1 on failure.
func (w *walk) elems(elems []*gnmi.PathElem) reason {
	for _, el := range elems {
		name := el.GetName()
		if j := strings.IndexByte(name, ':'); j >= 0 {
			name = name[j+1:] // module prefix
		}
		w.nd = w.nd.children[name]
		if w.nd == nil {
			return reasonUnknownPath + 1
		}
		for _, c := range w.nd.caps {
			v, ok := el.GetKey()[c.key]
			if !ok || v == "" {
				return reasonMissingKey + 1
			}
			if len(v) > maxNameLen {
				return reasonOversized + 1
			}
			switch c.v {
			case capInterface:
				w.iface = v
			case capPeerSite:
				w.peerSite = v
			case capPeerDevice:
				w.peerDevice = v
			}
		}
	}
	return 0
}

// update decodes one update into its slot; w is the walk past the prefix.
func (d *decoder) update(w walk, u *gnmi.Update) {
	p := u.GetPath()
	if len(p.GetElement()) > 0 {
		d.fail(reasonLegacyPath)
		return
	}
	if r := w.elems(p.GetElem()); r != 0 {
		d.fail(r - 1)
		return
	}
	nd, iface, peerSite, peerDevice := w.nd, w.iface, w.peerSite, w.peerDevice
	lf := nd.leaf
	if lf == nil {
		d.fail(reasonUnknownPath)
		return
	}
	tv := u.GetVal()
	if tv == nil || tv.GetValue() == nil {
		d.fail(reasonNoValue)
		return
	}
	if lf.kind.isProbe() {
		d.probeLeaf(lf, tv, peerSite, peerDevice)
		return
	}
	switch lf.kind {
	case fieldCounter:
		v, r := uintOf(tv, lf.scale)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		st := &d.slotFor(false, iface, "").iface
		for _, c := range st.Counters {
			if c.Counter == lf.counter {
				c.Value = v
				return
			}
		}
		k := len(st.Counters)
		if k < cap(st.Counters) {
			st.Counters = st.Counters[:k+1]
			if st.Counters[k] == nil {
				st.Counters[k] = &wirepb.CounterValue{}
			}
		} else {
			st.Counters = append(st.Counters, &wirepb.CounterValue{})
		}
		st.Counters[k].Counter, st.Counters[k].Value = lf.counter, v
	case fieldOperStatus:
		os, r := operOf(tv)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		d.slotFor(false, iface, "").iface.OperStatus = os
	case fieldSpeed:
		bps, r := speedOf(tv, lf.scale)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		d.slotFor(false, iface, "").iface.SpeedBps = bps
	case fieldLastClear:
		v, r := lastClearOf(tv)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		d.slotFor(false, iface, "").iface.LastClearUnixNano = v
	}
}

func (d *decoder) probeLeaf(lf *leaf, tv *gnmi.TypedValue, site, dev string) {
	switch lf.kind {
	case fieldProbeSent, fieldProbeReceived:
		v, r := uintOf(tv, lf.scale)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		p := &d.slotFor(true, site, dev).probe
		if lf.kind == fieldProbeSent {
			p.ProbesSent = v
		} else {
			p.ProbesReceived = v
		}
		return
	}
	f, r := floatOf(tv)
	if r != 0 {
		d.fail(r - 1)
		return
	}
	f *= lf.scale
	if lf.kind == fieldProbeLoss {
		if f > 100 {
			d.fail(reasonOutOfRange)
			return
		}
	} else if f > maxDelayUs {
		d.fail(reasonOutOfRange)
		return
	}
	p := &d.slotFor(true, site, dev).probe
	switch lf.kind {
	case fieldProbeMin:
		p.MinDelayUs = f
	case fieldProbeMax:
		p.MaxDelayUs = f
	case fieldProbeAvg:
		p.AvgDelayUs = f
	case fieldProbeStddev:
		p.StddevDelayUs = f
	case fieldProbeJitter:
		p.JitterUs = f
	case fieldProbeLoss:
		p.LossPercentage = f
	}
}

// The value helpers return reason+1 on failure (0 = ok), so the zero value
// means success without a separate bool.

// uintOf reads a non-negative integer leaf.
func uintOf(tv *gnmi.TypedValue, scale float64) (uint64, reason) {
	var v uint64
	switch x := tv.GetValue().(type) {
	case *gnmi.TypedValue_UintVal:
		v = x.UintVal
	case *gnmi.TypedValue_IntVal:
		if x.IntVal < 0 {
			return 0, reasonNegative + 1
		}
		v = uint64(x.IntVal)
	case *gnmi.TypedValue_DoubleVal, *gnmi.TypedValue_FloatVal, *gnmi.TypedValue_DecimalVal:
		f, r := floatOf(tv)
		if r != 0 {
			return 0, r
		}
		if f >= math.MaxUint64 {
			return 0, reasonOutOfRange + 1
		}
		v = uint64(f)
	case *gnmi.TypedValue_StringVal:
		return parseUint(x.StringVal, scale)
	case *gnmi.TypedValue_AsciiVal:
		return parseUint(x.AsciiVal, scale)
	case *gnmi.TypedValue_JsonVal:
		return parseUint(x.JsonVal, scale)
	case *gnmi.TypedValue_JsonIetfVal:
		return parseUint(x.JsonIetfVal, scale)
	default:
		return 0, reasonBadType + 1
	}
	if scale != 1 {
		f := float64(v) * scale
		if f >= math.MaxUint64 {
			return 0, reasonOutOfRange + 1
		}
		v = uint64(f)
	}
	return v, 0
}

// unquote strips JSON quotes ("123" → 123).
func unquote[T string | []byte](s T) (T, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1], true
	}
	return s, false
}

// parseUint parses decimal digits (optionally JSON-quoted) without allocating.
func parseUint[T string | []byte](s T, scale float64) (uint64, reason) {
	s, _ = unquote(s)
	if len(s) == 0 {
		return 0, reasonBadValue + 1
	}
	if len(s) > 64 {
		return 0, reasonOversized + 1
	}
	if s[0] == '-' {
		return 0, reasonNegative + 1
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, reasonBadValue + 1
		}
		if v > math.MaxUint64/10 || (v == math.MaxUint64/10 && uint64(c-'0') > math.MaxUint64%10) {
			return 0, reasonOutOfRange + 1
		}
		v = v*10 + uint64(c-'0')
	}
	if scale != 1 {
		f := float64(v) * scale
		if f >= math.MaxUint64 {
			return 0, reasonOutOfRange + 1
		}
		v = uint64(f)
	}
	return v, 0
}

// floatOf reads a finite, non-negative number.
func floatOf(tv *gnmi.TypedValue) (float64, reason) {
	var f float64
	switch x := tv.GetValue().(type) {
	case *gnmi.TypedValue_DoubleVal:
		f = x.DoubleVal
	case *gnmi.TypedValue_FloatVal:
		f = float64(x.FloatVal)
	case *gnmi.TypedValue_UintVal:
		f = float64(x.UintVal)
	case *gnmi.TypedValue_IntVal:
		f = float64(x.IntVal)
	case *gnmi.TypedValue_DecimalVal:
		p := x.DecimalVal.GetPrecision()
		if p > 18 {
			return 0, reasonOutOfRange + 1
		}
		f = float64(x.DecimalVal.GetDigits()) / math.Pow10(int(p))
	case *gnmi.TypedValue_StringVal:
		return parseFloat(x.StringVal)
	case *gnmi.TypedValue_AsciiVal:
		return parseFloat(x.AsciiVal)
	case *gnmi.TypedValue_JsonVal:
		return parseFloat(x.JsonVal)
	case *gnmi.TypedValue_JsonIetfVal:
		return parseFloat(x.JsonIetfVal)
	default:
		return 0, reasonBadType + 1
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, reasonNotFinite + 1
	}
	if f < 0 {
		return 0, reasonNegative + 1
	}
	return f, 0
}

// parseFloat parses a plain decimal number ("12", "12.5", quoted or not)
// without allocating; exponents are not accepted.
func parseFloat[T string | []byte](s T) (float64, reason) {
	s, _ = unquote(s)
	if len(s) == 0 {
		return 0, reasonBadValue + 1
	}
	if len(s) > 64 {
		return 0, reasonOversized + 1
	}
	if s[0] == '-' {
		return 0, reasonNegative + 1
	}
	var ip, fp uint64
	var fd int
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9':
			if dot {
				if fd < 18 {
					fp = fp*10 + uint64(c-'0')
					fd++
				}
			} else {
				if ip > (math.MaxUint64-9)/10 {
					return 0, reasonOutOfRange + 1
				}
				ip = ip*10 + uint64(c-'0')
			}
		default:
			return 0, reasonBadValue + 1
		}
	}
	return float64(ip) + float64(fp)/math.Pow10(fd), 0
}

// operOf reads an oper-status (UP, "up", "openconfig-interfaces:UP", ...).
func operOf(tv *gnmi.TypedValue) (wirepb.OperStatus, reason) {
	switch x := tv.GetValue().(type) {
	case *gnmi.TypedValue_StringVal:
		return operName(x.StringVal)
	case *gnmi.TypedValue_AsciiVal:
		return operName(x.AsciiVal)
	case *gnmi.TypedValue_JsonVal:
		return operName(x.JsonVal)
	case *gnmi.TypedValue_JsonIetfVal:
		return operName(x.JsonIetfVal)
	}
	return 0, reasonBadType + 1
}

func operName[T string | []byte](s T) (wirepb.OperStatus, reason) {
	s, _ = unquote(s)
	var buf [32]byte
	n, r := identity(s, buf[:])
	if r != 0 {
		return 0, r
	}
	v, ok := wirepb.OperStatus_value[string(buf[:n])]
	if !ok || v == 0 {
		return 0, reasonBadValue + 1
	}
	return wirepb.OperStatus(v), 0
}

// identity copies an identity name into buf, upper case, module prefix
// stripped; it returns the length.
func identity[T string | []byte](s T, buf []byte) (int, reason) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			s = s[i+1:]
			break
		}
	}
	if len(s) == 0 {
		return 0, reasonBadValue + 1
	}
	if len(s) > len(buf) {
		return 0, reasonOversized + 1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return len(s), 0
}

// speedOf reads a port speed: an identity SPEED_<n><MB|GB|TB> or a number
// times scale.
func speedOf(tv *gnmi.TypedValue, scale float64) (uint64, reason) {
	switch x := tv.GetValue().(type) {
	case *gnmi.TypedValue_StringVal:
		return speedName(x.StringVal)
	case *gnmi.TypedValue_AsciiVal:
		return speedName(x.AsciiVal)
	case *gnmi.TypedValue_JsonVal:
		if len(x.JsonVal) > 0 && x.JsonVal[0] == '"' {
			return speedName(x.JsonVal)
		}
	case *gnmi.TypedValue_JsonIetfVal:
		if len(x.JsonIetfVal) > 0 && x.JsonIetfVal[0] == '"' {
			return speedName(x.JsonIetfVal)
		}
	}
	return uintOf(tv, scale)
}

func speedName[T string | []byte](s T) (uint64, reason) {
	s, _ = unquote(s)
	var buf [32]byte
	n, r := identity(s, buf[:])
	if r != 0 {
		return 0, r
	}
	b := buf[:n]
	if len(b) < 7 || string(b[:6]) != "SPEED_" {
		return 0, reasonBadValue + 1
	}
	b = b[6:]
	if string(b) == "UNKNOWN" {
		return 0, 0
	}
	var mult uint64
	switch string(b[len(b)-2:]) {
	case "MB":
		mult = 1e6
	case "GB":
		mult = 1e9
	case "TB":
		mult = 1e12
	default:
		return 0, reasonBadValue + 1
	}
	v, r := parseUint(b[:len(b)-2], 1)
	if r != 0 {
		return 0, r
	}
	if v > math.MaxUint64/mult {
		return 0, reasonOutOfRange + 1
	}
	return v * mult, 0
}

// lastClearOf reads last-clear: ns since the epoch, or an RFC 3339 string.
func lastClearOf(tv *gnmi.TypedValue) (int64, reason) {
	var s string
	switch x := tv.GetValue().(type) {
	case *gnmi.TypedValue_StringVal:
		s = x.StringVal
	case *gnmi.TypedValue_AsciiVal:
		s = x.AsciiVal
	default:
		v, r := uintOf(tv, 1)
		if r != 0 {
			return 0, r
		}
		if v > math.MaxInt64 {
			return 0, reasonOutOfRange + 1
		}
		return int64(v), 0
	}
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-T:") {
		v, r := parseUint(s, 1)
		if r != 0 {
			return 0, r
		}
		if v > math.MaxInt64 {
			return 0, reasonOutOfRange + 1
		}
		return int64(v), 0
	}
	if len(s) > 64 {
		return 0, reasonOversized + 1
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, reasonBadValue + 1
	}
	return t.UnixNano(), 0
}

// encodings maps the encoding key to gNMI.
var encodings = map[string]gnmi.Encoding{
	"proto": gnmi.Encoding_PROTO, "json": gnmi.Encoding_JSON, "json_ietf": gnmi.Encoding_JSON_IETF,
	"ascii": gnmi.Encoding_ASCII, "bytes": gnmi.Encoding_BYTES,
}
