package collector

import (
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
	reasonMalformed
	reasonFlood
	reasonBadName
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
	reasonMalformed:      "malformed",
	reasonFlood:          "flood",
	reasonBadName:        "bad_name",
}

func (r reason) String() string { return reasonNames[r] }

// DecodeErrorReasons returns the reasons an update or a notification is
// not decoded for: the label values of
// telemetry_collector_decode_errors_total and the keys of
// Stats.DecodeErrorsByReason.
func DecodeErrorReasons() []string { return append([]string(nil), reasonNames[:]...) }

// Limits on what a device may send.
const (
	maxNameLen = 256 // interface and peer names
	// maxDelayUs bounds a probe delay (1000 s): beyond is garbage.
	maxDelayUs = 1e9
	// maxFuture is how far ahead of the receive time a device timestamp may be.
	maxFuture = time.Hour
	// minDeviceTime is the earliest device timestamp taken (2000-01-01
	// UTC, in ns): anything before is a unit mistake (seconds or
	// milliseconds sent as nanoseconds, 1 ns) or an unset clock, which
	// would be stored as 1970.
	minDeviceTime = 946_684_800 * int64(time.Second)
)

// deviceTime is the device time of a notification stamped ts and received
// at recvNano: ts, or the receive time with ok false (counted
// bad_timestamp by the caller) when ts is implausible: missing, before
// minDeviceTime, or more than maxFuture ahead. Both decoders use it.
func deviceTime(ts, recvNano int64) (t int64, ok bool) {
	if ts < minDeviceTime || ts > recvNano+int64(maxFuture) {
		return recvNano, false
	}
	return ts, true
}

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
	// names interns interface and peer names (raw path).
	names map[string]string
	// ups are the updates of the notification being decoded (raw path),
	// at most maxUpdates.
	ups [][]byte
	// notifBuf, prefixBuf, pathBuf and valBuf hold the concatenated
	// occurrences of a message field sent more than once (raw path).
	notifBuf, prefixBuf, pathBuf, valBuf []byte
	// prefixes is the walk cache (raw path, see rawdecode.go): cached
	// prefixes and paths number cached, at most maxCache.
	prefixes map[string]*prefixEntry
	cached   int
	maxCache int
	// the entries of a prefix or path not cached
	uncached     prefixEntry
	uncachedPath pathEntry
}

func newDecoder(m *matcher, device, site, collector string, maxUpdates int) *decoder {
	return &decoder{m: m, device: device, site: site, collector: collector, maxUpdates: maxUpdates, maxCache: maxWalkCache}
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
	ts, ok := deviceTime(n.GetTimestamp(), recvNano)
	if !ok {
		d.fail(reasonBadTimestamp)
	}
	ups := n.GetUpdate()
	if len(ups) > d.maxUpdates {
		d.errs[reasonTooManyUpdates] += uint64(len(ups) - d.maxUpdates)
		ups = ups[:d.maxUpdates]
	}
	d.updates += uint64(len(ups))
	// Walk the prefix once; every update continues from there.
	var w walk
	w.nd = &d.m.root
	if r := w.path(prefix); r != 0 {
		d.errs[r-1] += uint64(len(ups))
		return d.out
	}
	for _, u := range ups {
		d.update(w, u)
	}
	d.finish(ts, recvNano)
	return d.out
}

// finish stamps the slots filled by a notification and lists them in d.out.
func (d *decoder) finish(ts, recvNano int64) {
	for _, s := range d.slots[:d.n] {
		if !s.isProbe && len(s.iface.Counters) == 0 && s.iface.SpeedBps == 0 &&
			s.iface.OperStatus == 0 && s.iface.LastClearUnixNano == 0 {
			continue // nothing but SPEED_UNKNOWN
		}
		smp := &s.s
		smp.Site, smp.Device, smp.Collector = d.site, d.device, d.collector
		smp.DeviceTimeUnixNano, smp.ReceiveTimeUnixNano = ts, recvNano
		smp.Seq = 0
		d.out = append(d.out, smp)
	}
}

// walk is a position in the mapping trie with the keys captured so far.
type walk struct {
	nd                          *node
	iface, peerSite, peerDevice string
}

// path advances w over p: its elems, or its deprecated string elements
// when it has no elem (legacy.go); it returns reason+1 on failure.
func (w *walk) path(p *gnmi.Path) reason {
	elems := p.GetElem()
	if len(elems) == 0 {
		if els := p.GetElement(); len(els) > 0 {
			return w.elements(els)
		}
	}
	for _, el := range elems {
		name := el.GetName()
		if j := strings.IndexByte(name, ':'); j >= 0 {
			name = name[j+1:] // module prefix, as stripModule
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
			if r := nameReason(v); r != 0 {
				return r
			}
			w.capture(c.v, v)
		}
	}
	return 0
}

// update decodes one update into its slot; w is the walk past the prefix.
func (d *decoder) update(w walk, u *gnmi.Update) {
	if r := w.path(u.GetPath()); r != 0 {
		d.fail(r - 1)
		return
	}
	nd := w.nd
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
	d.apply(nd.leaf, &w, valOf(tv))
}

// apply sets the field of leaf lf (nil: unknown path) from v.
func (d *decoder) apply(lf *leaf, w *walk, v val) {
	if lf == nil {
		d.fail(reasonUnknownPath)
		return
	}
	if lf.kind.isProbe() {
		d.probeLeaf(lf, v, w.peerSite, w.peerDevice)
		return
	}
	switch lf.kind {
	case fieldCounter:
		x, r := uintOf(v, lf.scale)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		st := &d.slotFor(false, w.iface, "").iface
		for _, c := range st.Counters {
			if c.Counter == lf.counter {
				c.Value = x
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
		st.Counters[k].Counter, st.Counters[k].Value = lf.counter, x
	case fieldOperStatus:
		os, r := operOf(v)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		d.slotFor(false, w.iface, "").iface.OperStatus = os
	case fieldSpeed:
		bps, r := speedOf(v, lf.scale)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		d.slotFor(false, w.iface, "").iface.SpeedBps = bps
	case fieldLastClear:
		x, r := lastClearOf(v)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		d.slotFor(false, w.iface, "").iface.LastClearUnixNano = x
	}
}

func (d *decoder) probeLeaf(lf *leaf, v val, site, dev string) {
	switch lf.kind {
	case fieldProbeSent, fieldProbeReceived:
		x, r := uintOf(v, lf.scale)
		if r != 0 {
			d.fail(r - 1)
			return
		}
		p := &d.slotFor(true, site, dev).probe
		if lf.kind == fieldProbeSent {
			p.ProbesSent = x
		} else {
			p.ProbesReceived = x
		}
		return
	}
	f, r := floatOf(v)
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

// encodings maps the encoding key to gNMI.
var encodings = map[string]gnmi.Encoding{
	"proto": gnmi.Encoding_PROTO, "json": gnmi.Encoding_JSON, "json_ietf": gnmi.Encoding_JSON_IETF,
	"ascii": gnmi.Encoding_ASCII, "bytes": gnmi.Encoding_BYTES,
}
