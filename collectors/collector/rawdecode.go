package collector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// The fast path: SubscribeResponse messages are not unmarshalled into the
// gNMI Go types (a dozen allocations per update); the receive loop keeps
// the wire bytes (rawCodec) and decodeRaw walks them with protowire,
// matching path elements against the mapping trie as it goes. Names
// (interfaces, peers) are interned per session, so a warm session decodes
// without allocating. decode (on gnmi.Notification) is the reference; the
// differential fuzz test holds them to the same output.

// gNMI field numbers (proto/gnmi/gnmi.proto).
const (
	fSubRespUpdate = 1 // SubscribeResponse.update (Notification)
	fSubRespSync   = 3 // SubscribeResponse.sync_response
	fSubRespError  = 4 // SubscribeResponse.error (deprecated)
	fNotifTS       = 1 // Notification.timestamp
	fNotifPrefix   = 2 // Notification.prefix
	fNotifUpdate   = 4 // Notification.update
	fPathElement   = 1 // Path.element (deprecated strings)
	fPathElem      = 3 // Path.elem
	fPathTarget    = 4 // Path.target
	fElemName      = 1 // PathElem.name
	fElemKey       = 2 // PathElem.key (map entry: 1 key, 2 value)
	fUpdatePath    = 1 // Update.path
	fUpdateValue   = 2 // Update.value (deprecated Value)
	fUpdateVal     = 3 // Update.val (TypedValue)
	fErrorMessage  = 2 // Error.message
)

// maxInterned bounds the names a stream remembers (a switch has a few
// hundred interfaces and peers; names are ≤ 256 bytes, so ≤ 1 MiB even for
// a target sending random names); past it names are copied per use (still
// correct, just slower).
const maxInterned = 4096

// rawResponse receives one SubscribeResponse as wire bytes, in a buffer
// reused from message to message.
type rawResponse struct{ buf []byte }

// rawCodec is the proto codec, except that a *rawResponse receives the
// bytes instead of being unmarshalled.
type rawCodec struct{ base encoding.CodecV2 }

func newRawCodec() rawCodec { return rawCodec{base: encoding.GetCodecV2("proto")} }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*rawResponse)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	if cap(r.buf) > 4<<20 && data.Len() < 64<<10 {
		r.buf = nil // one huge message does not pin memory forever
	}
	r.buf = r.buf[:0]
	for _, b := range data {
		r.buf = append(r.buf, b.ReadOnlyData()...)
	}
	return nil
}

func (rawCodec) Name() string { return "proto" }

// field is one protobuf field: its number, wire type, and value (v for
// varints and fixed, b for bytes).
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// next consumes one field of b; n < 0 on malformed input.
func next(b []byte) (f field, n int) {
	// Fast path: a one-byte tag and a one-byte length or varint, which is
	// nearly every field of a notification. Same result as nextSlow.
	if len(b) >= 2 && b[0] >= 1<<3 && b[0] < 0x80 && b[1] < 0x80 {
		switch protowire.Type(b[0] & 7) {
		case protowire.BytesType:
			if l := int(b[1]); l+2 <= len(b) {
				return field{num: protowire.Number(b[0] >> 3), typ: protowire.BytesType, b: b[2 : 2+l]}, 2 + l
			}
		case protowire.VarintType:
			return field{num: protowire.Number(b[0] >> 3), typ: protowire.VarintType, v: uint64(b[1])}, 2
		}
	}
	return nextSlow(b)
}

// nextSlow is next for any field.
func nextSlow(b []byte) (f field, n int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return f, n
	}
	f.num, f.typ = num, typ
	var m int
	switch typ {
	case protowire.VarintType:
		f.v, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed32Type:
		var x uint32
		x, m = protowire.ConsumeFixed32(b[n:])
		f.v = uint64(x)
	case protowire.Fixed64Type:
		f.v, m = protowire.ConsumeFixed64(b[n:])
	case protowire.BytesType:
		f.b, m = protowire.ConsumeBytes(b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		return f, m
	}
	return f, n + m
}

// intern returns b as a string, remembered so the next time costs nothing.
func (d *decoder) intern(b []byte) (string, bool) {
	if s, ok := d.names[string(b)]; ok {
		return s, true
	}
	if !utf8.Valid(b) {
		return "", false
	}
	s := string(b)
	if d.names == nil {
		d.names = map[string]string{}
	}
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s, true
}

// decodeRaw decodes one SubscribeResponse from its wire bytes. It returns
// the samples (valid until the next call), whether the message was a
// sync_response, and the target's error for an error response.
func (d *decoder) decodeRaw(b []byte, recvNano int64) (out []*wirepb.Sample, sync bool, err error) {
	d.n = 0
	d.out = d.out[:0]
	var notif []byte
	hasNotif, parts := false, 0
	for len(b) > 0 {
		f, n := next(b)
		if n < 0 {
			d.fail(reasonMalformed)
			return d.out, false, nil
		}
		b = b[n:]
		switch {
		case f.num == fSubRespUpdate && f.typ == protowire.BytesType:
			// a oneof: another member replaces it, the same one merges
			if !hasNotif {
				parts = 0
			}
			notif, parts = merge(&d.notifBuf, notif, f.b, parts)
			hasNotif, sync = true, false
		case f.num == fSubRespSync && f.typ == protowire.VarintType:
			sync, hasNotif = f.v != 0, false
		case f.num == fSubRespError && f.typ == protowire.BytesType:
			msg := "error response"
			for eb := f.b; len(eb) > 0; {
				ef, m := next(eb)
				if m < 0 {
					break
				}
				eb = eb[m:]
				if ef.num == fErrorMessage && ef.typ == protowire.BytesType {
					msg = string(ef.b)
				}
			}
			return d.out, false, errors.New(msg)
		}
	}
	if hasNotif {
		d.notificationRaw(notif, recvNano)
	}
	for _, buf := range []*[]byte{&d.notifBuf, &d.prefixBuf, &d.pathBuf, &d.valBuf} {
		if cap(*buf) > 1<<20 {
			*buf = nil // one huge message does not pin memory
		}
	}
	return d.out, sync, nil
}

// merge returns the bytes of an embedded message that occurred parts times
// so far (cur) and occurs again (add): protobuf merges the occurrences,
// which is what decoding their concatenation does. The first occurrence is
// used in place; later ones are concatenated in *buf.
func merge(buf *[]byte, cur, add []byte, parts int) ([]byte, int) {
	switch parts {
	case 0:
		return add, 1
	case 1:
		*buf = append(append((*buf)[:0], cur...), add...)
	default:
		*buf = append(*buf, add...)
	}
	return *buf, parts + 1
}

func (d *decoder) notificationRaw(b []byte, recvNano int64) {
	var ts int64
	var prefix []byte
	updates, prefixParts := 0, 0
	clear(d.ups) // no stale references into old receive buffers
	d.ups = d.ups[:0]
	for rest := b; len(rest) > 0; {
		f, n := next(rest)
		if n < 0 {
			d.fail(reasonMalformed)
			return
		}
		rest = rest[n:]
		switch {
		case f.num == fNotifTS && f.typ == protowire.VarintType:
			ts = int64(f.v)
		case f.num == fNotifPrefix && f.typ == protowire.BytesType:
			prefix, prefixParts = merge(&d.prefixBuf, prefix, f.b, prefixParts)
		case f.num == fNotifUpdate && f.typ == protowire.BytesType:
			if updates < d.maxUpdates {
				d.ups = append(d.ups, f.b)
			}
			updates++
		}
	}
	pe := d.prefixOf(prefix)
	if pe.early != 0 {
		d.fail(pe.early - 1)
		return
	}
	ts, ok := deviceTime(ts, recvNano)
	if !ok {
		d.fail(reasonBadTimestamp)
	}
	if updates > d.maxUpdates {
		d.errs[reasonTooManyUpdates] += uint64(updates - d.maxUpdates)
		updates = d.maxUpdates
	}
	d.updates += uint64(updates)
	if pe.r != 0 {
		d.errs[pe.r-1] += uint64(updates)
		return
	}
	for i, u := range d.ups {
		d.updateRaw(pe, i, u)
	}
	d.finish(ts, recvNano)
}

// The walk cache. A target sends the same few paths every tick (a prefix
// per interface or probe, a dozen update paths under it), so the trie walk
// of a path (element names, module prefixes, key captures, interning) is
// done once per distinct (prefix bytes, update path bytes) and remembered
// per session. A warm session finds a prefix with one map lookup, and an
// update path by comparing its bytes with the path the same update (by
// position) had last time, falling back to a map lookup. The result of a
// walk depends only on those bytes (and on the session's fixed mapping
// table and target name), errors included, so a cached result is exactly
// what walking again would give.
const (
	// maxWalkCache bounds the cached prefixes, paths and positions of a
	// session; past it the cache is emptied and refills with what is in use.
	// An interface with the default subscriptions takes about 27 entries (a
	// prefix, its update paths and their positions), so this holds about
	// 600 interfaces per target (at most about 6 MiB a session, for a target
	// sending random 256-byte paths). It was 4 096 (150 interfaces): a target
	// with more thrashed the cache, and the collector's decode cost doubled.
	maxWalkCache = 1 << 14
	// maxCachedPath is the longest path (wire bytes) the cache keeps;
	// longer ones are walked every time.
	maxCachedPath = 256
)

// prefixEntry is what a notification prefix decodes to.
type prefixEntry struct {
	key string
	// early is reason+1 when the notification is dropped before its
	// updates are counted (malformed prefix, another target's name).
	early reason
	// r is reason+1 when walking the prefix failed; w is the walk past it.
	r reason
	w walk
	// paths caches the walks of update paths from w (nil: do not cache);
	// seq[i] is the path the i-th update under this prefix had last time.
	paths map[string]*pathEntry
	seq   []*pathEntry
}

// pathEntry is the walk of one update path (key) from its prefix: r is
// reason+1 on failure, w the walk past the path.
type pathEntry struct {
	key string
	r   reason
	w   walk
}

// prefixOf decodes a notification prefix, from the cache when it can.
func (d *decoder) prefixOf(prefix []byte) *prefixEntry {
	if e, ok := d.prefixes[string(prefix)]; ok {
		return e
	}
	var e *prefixEntry
	if len(prefix) <= maxCachedPath {
		if d.cached >= d.maxCache {
			d.resetCache()
		}
		if d.prefixes == nil {
			d.prefixes = map[string]*prefixEntry{}
		}
		e = &prefixEntry{key: string(prefix), paths: map[string]*pathEntry{}}
		d.prefixes[e.key] = e
		d.cached++
	} else {
		e = &d.uncached
		*e = prefixEntry{}
	}
	if e.early = d.scanPrefix(prefix); e.early != 0 {
		return e
	}
	e.w.nd = &d.m.root
	e.r = d.walkRaw(&e.w, prefix)
	return e
}

// scanPrefix checks a prefix's framing and target name; reason+1 when the
// notification is to be dropped.
func (d *decoder) scanPrefix(prefix []byte) reason {
	var target []byte // the last one counts
	for rest := prefix; len(rest) > 0; {
		f, n := next(rest)
		if n < 0 {
			return reasonMalformed + 1
		}
		rest = rest[n:]
		if f.num == fPathTarget && f.typ == protowire.BytesType {
			target = f.b
		}
	}
	if len(target) > 0 && string(target) != d.device {
		return reasonWrongTarget + 1
	}
	return 0
}

// resetCache empties the walk cache.
func (d *decoder) resetCache() {
	for _, e := range d.prefixes {
		// an entry still in use by the current notification stops caching
		e.paths, e.seq = nil, nil
	}
	clear(d.prefixes)
	d.cached = 0
}

// pathOf walks the path of the i-th update under prefix pe, from the
// cache when it can. The result is valid until the next call.
func (d *decoder) pathOf(pe *prefixEntry, i int, path []byte) *pathEntry {
	if i < len(pe.seq) && pe.seq[i].key == string(path) {
		return pe.seq[i]
	}
	if pe.paths == nil {
		return d.walkPath(pe, path)
	}
	e, ok := pe.paths[string(path)]
	if !ok {
		if len(path) > maxCachedPath {
			return d.walkPath(pe, path)
		}
		if d.cached >= d.maxCache {
			d.resetCache()
			return d.walkPath(pe, path)
		}
		e = &pathEntry{key: string(path), w: pe.w}
		e.r = d.walkRaw(&e.w, path)
		pe.paths[e.key] = e
		d.cached++
	}
	switch {
	case i < len(pe.seq):
		pe.seq[i] = e
	case i == len(pe.seq) && d.cached < d.maxCache:
		pe.seq = append(pe.seq, e)
		d.cached++
	}
	return e
}

// walkPath walks path from pe without caching.
func (d *decoder) walkPath(pe *prefixEntry, path []byte) *pathEntry {
	e := &d.uncachedPath
	*e = pathEntry{w: pe.w}
	e.r = d.walkRaw(&e.w, path)
	return e
}

// walkRaw advances w over the elems of the wire Path p, or over its
// deprecated string elements when it has no elem (as walk.path).
func (d *decoder) walkRaw(w *walk, p []byte) reason {
	elems, legacy := false, false
	for rest := p; len(rest) > 0; {
		f, n := next(rest)
		if n < 0 {
			return reasonMalformed + 1
		}
		rest = rest[n:]
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fPathElement:
			legacy = true
		case fPathElem:
			elems = true
			if r := d.elemRaw(w, f.b); r != 0 {
				return r
			}
		}
	}
	if legacy && !elems {
		return elementsRaw(w, p)
	}
	return 0
}

// elementsRaw advances w over the deprecated string elements of the
// well-formed wire Path p (legacy.go). Not the hot path: the walk cache
// keeps the result.
func elementsRaw(w *walk, p []byte) reason {
	for len(p) > 0 {
		f, n := next(p)
		p = p[n:]
		if f.num == fPathElement && f.typ == protowire.BytesType {
			if r := w.element(string(f.b)); r != 0 {
				return r
			}
		}
	}
	return 0
}

// elemRaw advances w over one wire PathElem.
func (d *decoder) elemRaw(w *walk, e []byte) reason {
	var name []byte
	for rest := e; len(rest) > 0; {
		f, n := next(rest)
		if n < 0 {
			return reasonMalformed + 1
		}
		rest = rest[n:]
		if f.num == fElemName && f.typ == protowire.BytesType {
			name = f.b
		}
	}
	if j := bytes.IndexByte(name, ':'); j >= 0 {
		name = name[j+1:] // module prefix, as stripModule
	}
	w.nd = w.nd.children[string(name)]
	if w.nd == nil {
		return reasonUnknownPath + 1
	}
	for _, c := range w.nd.caps {
		var v []byte
		found := false
		for rest := e; len(rest) > 0; {
			f, n := next(rest)
			if n < 0 {
				return reasonMalformed + 1
			}
			rest = rest[n:]
			if f.num != fElemKey || f.typ != protowire.BytesType {
				continue
			}
			var k, kv []byte
			for eb := f.b; len(eb) > 0; {
				ef, m := next(eb)
				if m < 0 {
					return reasonMalformed + 1
				}
				eb = eb[m:]
				if ef.typ == protowire.BytesType && ef.num == 1 {
					k = ef.b
				} else if ef.typ == protowire.BytesType && ef.num == 2 {
					kv = ef.b
				}
			}
			if string(k) == c.key {
				v, found = kv, true // last entry wins, as in a Go map
			}
		}
		if !found || len(v) == 0 {
			return reasonMissingKey + 1
		}
		if len(v) > maxNameLen {
			return reasonOversized + 1
		}
		s, ok := d.intern(v)
		if !ok {
			return reasonBadValue + 1
		}
		if r := nameReason(s); r != 0 {
			return r
		}
		w.capture(c.v, s)
	}
	return 0
}

// updateRaw decodes the i-th wire Update under its prefix pe.
func (d *decoder) updateRaw(pe *prefixEntry, i int, u []byte) {
	path, tv, hasVal := splitUpdate(u)
	if !hasVal { // not the usual layout: field by field
		var pathParts, valParts int
		for rest := u; len(rest) > 0; {
			f, n := next(rest)
			if n < 0 {
				d.fail(reasonMalformed)
				return
			}
			rest = rest[n:]
			if f.typ != protowire.BytesType {
				continue
			}
			switch f.num {
			case fUpdatePath:
				path, pathParts = merge(&d.pathBuf, path, f.b, pathParts)
			case fUpdateVal:
				tv, valParts = merge(&d.valBuf, tv, f.b, valParts)
				hasVal = true
			case fUpdateValue:
			}
		}
	}
	pw := d.pathOf(pe, i, path)
	if pw.r != 0 {
		d.fail(pw.r - 1)
		return
	}
	w := &pw.w
	if w.nd.leaf == nil {
		d.fail(reasonUnknownPath)
		return
	}
	if !hasVal {
		d.fail(reasonNoValue)
		return
	}
	v, r := rawVal(tv)
	if r != 0 {
		d.fail(r - 1)
		return
	}
	if v.kind == valNone {
		d.fail(reasonNoValue)
		return
	}
	d.apply(w.nd.leaf, w, v)
}

// splitUpdate takes apart the usual wire Update: path then val, each with
// a one-byte length, nothing else. ok false: decode it field by field.
func splitUpdate(u []byte) (path, tv []byte, ok bool) {
	if len(u) < 2 || u[0] != fUpdatePath<<3|byte(protowire.BytesType) || u[1] >= 0x80 {
		return nil, nil, false
	}
	l := 2 + int(u[1])
	if l+2 > len(u) || u[l] != fUpdateVal<<3|byte(protowire.BytesType) || u[l+1] >= 0x80 || l+2+int(u[l+1]) != len(u) {
		return nil, nil, false
	}
	return u[2:l], u[l+2:], true
}

// rawVal decodes a wire TypedValue (a oneof: the last field wins).
func rawVal(b []byte) (val, reason) {
	var v val
	// fast path: one uint_val, int_val or double_val field
	if len(b) >= 2 {
		switch b[0] {
		case 3<<3 | byte(protowire.VarintType), 2<<3 | byte(protowire.VarintType):
			if x, n := protowire.ConsumeVarint(b[1:]); n == len(b)-1 {
				if b[0] == 3<<3|byte(protowire.VarintType) {
					return val{kind: valUint, u: x}, 0
				}
				return val{kind: valInt, i: int64(x)}, 0
			}
		case 14<<3 | byte(protowire.Fixed64Type):
			if len(b) == 9 {
				return val{kind: valDouble, f: math.Float64frombits(binary.LittleEndian.Uint64(b[1:]))}, 0
			}
		}
	}
	for len(b) > 0 {
		f, n := next(b)
		if n < 0 {
			return v, reasonMalformed + 1
		}
		b = b[n:]
		switch {
		case (f.num == 1 || f.num == 12) && f.typ == protowire.BytesType: // string_val, ascii_val
			v = val{kind: valText, raw: true, b: f.b}
		case f.num == 2 && f.typ == protowire.VarintType:
			v = val{kind: valInt, i: int64(f.v)}
		case f.num == 3 && f.typ == protowire.VarintType:
			v = val{kind: valUint, u: f.v}
		case f.num == 6 && f.typ == protowire.Fixed32Type:
			v = val{kind: valDouble, f: float64(math.Float32frombits(uint32(f.v)))}
		case f.num == 14 && f.typ == protowire.Fixed64Type:
			v = val{kind: valDouble, f: math.Float64frombits(f.v)}
		case f.num == 7 && f.typ == protowire.BytesType: // Decimal64
			if v.kind != valDecimal { // a second decimal_val merges into the first
				v = val{kind: valDecimal}
			}
			for db := f.b; len(db) > 0; {
				df, m := next(db)
				if m < 0 {
					return v, reasonMalformed + 1
				}
				db = db[m:]
				if df.typ != protowire.VarintType {
					continue
				}
				if df.num == 1 {
					v.i = int64(df.v)
				} else if df.num == 2 {
					v.prec = uint32(df.v)
				}
			}
		case (f.num == 10 || f.num == 11) && f.typ == protowire.BytesType:
			v = val{kind: valJSON, raw: true, b: f.b}
		case f.num == 4 && f.typ == protowire.VarintType,
			(f.num == 5 || f.num == 8 || f.num == 9 || f.num == 13) && f.typ == protowire.BytesType:
			v = val{kind: valOther}
		}
	}
	return v, 0
}
