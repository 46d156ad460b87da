package wasm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/meshtelemetry/telemetry/wire"
	"google.golang.org/protobuf/encoding/protowire"
)

// The names view of the collect hook (export telemetry_collect_names,
// docs/wasm.md): instead of the batch, the module gets the interface name
// of each sample and answers edits (rename, drop); the host keeps the
// encoded records and applies the edits natively. A module that only
// looks at interface names decodes and encodes nothing.
const exportCollectNames = "telemetry_collect_names"

// editDrop is the length of an edit that drops its sample.
const editDrop = 0xffffffff

// span is where the interface of one record is: the interface field (tag
// to end), its body, and its name field (tag to end); ifStart -1: the
// record has no interface; nameStart -1: the interface has no name.
type span struct {
	start, end                                 int // the record in the batch
	ifStart, ifBody, ifEnd, nameStart, nameEnd int // offsets in the record
}

// namesView is one instance's buffers for the names view.
type namesView struct {
	spans []span
	view  []byte
}

// build writes the view of the batch b: u32 count, count × (u32 offset,
// u32 length) of each sample's interface name in the view, then the
// names (all little-endian).
func (nv *namesView) build(b []byte) error {
	nv.spans = nv.spans[:0]
	at := 0
	for at < len(b) {
		num, typ, n := protowire.ConsumeTag(b[at:])
		if n < 0 {
			return errBatch
		}
		at += n
		if num != 1 || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b[at:])
			if m < 0 {
				return errBatch
			}
			at += m
			continue
		}
		rec, m := protowire.ConsumeBytes(b[at:])
		if m < 0 {
			return errBatch
		}
		start := at + m - len(rec)
		at += m
		sp := span{start: start, end: at}
		if err := sp.find(rec); err != nil {
			return fmt.Errorf("record %d: %w", len(nv.spans), err)
		}
		nv.spans = append(nv.spans, sp)
	}
	count := len(nv.spans)
	v := nv.view[:0]
	v = binary.LittleEndian.AppendUint32(v, uint32(count))
	names := 4 + 8*count
	off := names
	for i := range nv.spans {
		sp := &nv.spans[i]
		l := 0
		if sp.nameStart >= 0 {
			l = len(nameOf(b[sp.start:sp.end], sp))
		}
		v = binary.LittleEndian.AppendUint32(v, uint32(off))
		v = binary.LittleEndian.AppendUint32(v, uint32(l))
		off += l
	}
	for i := range nv.spans {
		sp := &nv.spans[i]
		if sp.nameStart >= 0 {
			v = append(v, nameOf(b[sp.start:sp.end], sp)...)
		}
	}
	nv.view = v
	return nil
}

// nameOf is the name in the record rec (sp.nameStart >= 0).
func nameOf(rec []byte, sp *span) []byte {
	_, _, val, end := fieldAt(rec[:sp.nameEnd], sp.nameStart)
	return rec[val:end]
}

// find locates the interface and its name in the record rec.
func (sp *span) find(rec []byte) error {
	sp.ifStart, sp.nameStart = -1, -1
	for at := 0; at < len(rec); {
		num, typ, val, end := fieldAt(rec, at)
		if end < 0 {
			return errBatch
		}
		switch {
		case num == 10 && typ == protowire.BytesType:
			sp.ifStart, sp.ifBody, sp.ifEnd, sp.nameStart = at, val, end, -1
			for bt := val; bt < end; {
				if rec[bt] == 2<<3|2 && bt+1 < end && rec[bt+1] < 0x80 { // a counter: skipped inline
					if bt += 2 + int(rec[bt+1]); bt > end {
						return errBatch
					}
					continue
				}
				num, typ, _, fend := fieldAt(rec[:end], bt)
				if fend < 0 {
					return errBatch
				}
				if num == 1 && typ == protowire.BytesType {
					sp.nameStart, sp.nameEnd = bt, fend
				}
				bt = fend
			}
		case num == 11 || num == 12:
			sp.ifStart, sp.nameStart = -1, -1 // the last body wins (proto3 oneof)
		}
		at = end
	}
	return nil
}

// fieldAt reads the field at b[at:]: its number and type, where its value
// starts (for a length-delimited field, its bytes) and where it ends; end
// -1 when it is malformed. One-byte tags and lengths, what samples are
// made of, are read without calls.
func fieldAt(b []byte, at int) (num protowire.Number, typ protowire.Type, val, end int) {
	if at+1 < len(b) && b[at] < 0x80 {
		num, typ = protowire.Number(b[at]>>3), protowire.Type(b[at]&7)
		switch {
		case typ == protowire.BytesType && b[at+1] < 0x80:
			if end = at + 2 + int(b[at+1]); end <= len(b) && num > 0 {
				return num, typ, at + 2, end
			}
			return 0, 0, 0, -1
		case typ == protowire.VarintType:
			for p := at + 1; p < len(b) && p <= at+10; p++ {
				if b[p] < 0x80 {
					if num == 0 {
						return 0, 0, 0, -1
					}
					return num, typ, at + 1, p + 1
				}
			}
			return 0, 0, 0, -1
		}
	}
	num, typ, n := protowire.ConsumeTag(b[at:])
	if n < 0 {
		return 0, 0, 0, -1
	}
	if typ == protowire.BytesType {
		v, m := protowire.ConsumeBytes(b[at+n:])
		if m < 0 {
			return 0, 0, 0, -1
		}
		return num, typ, at + n + m - len(v), at + n + m
	}
	m := protowire.ConsumeFieldValue(num, typ, b[at+n:])
	if m < 0 {
		return 0, 0, 0, -1
	}
	return num, typ, at + n, at + n + m
}

var errEdits = errors.New("malformed edits")

// apply appends to dst the batch b with the module's edits e (u32 index,
// u32 length or editDrop, then the new name; indexes increasing). It
// returns the number of records out.
func (nv *namesView) apply(dst, b, e []byte) ([]byte, int, error) {
	out := 0
	next := 0 // next record to copy
	copyTo := func(end int) {
		for ; next < end; next++ {
			sp := &nv.spans[next]
			dst = AppendSampleRecord(dst, b[sp.start:sp.end])
			out++
		}
	}
	for len(e) > 0 {
		if len(e) < 8 {
			return dst, 0, errEdits
		}
		idx, l := binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])
		e = e[8:]
		if int64(idx) < int64(next) || int64(idx) >= int64(len(nv.spans)) {
			return dst, 0, fmt.Errorf("%w: edit of sample %d (of %d) out of order", errEdits, idx, len(nv.spans))
		}
		copyTo(int(idx))
		sp := &nv.spans[idx]
		next = int(idx) + 1
		if l == editDrop {
			continue
		}
		if uint64(l) > uint64(len(e)) {
			return dst, 0, fmt.Errorf("%w: name of %d bytes past the end", errEdits, l)
		}
		name := e[:l]
		e = e[l:]
		if sp.ifStart < 0 {
			return dst, 0, fmt.Errorf("%w: rename of sample %d, which has no interface", errEdits, idx)
		}
		if !utf8.Valid(name) {
			return dst, 0, fmt.Errorf("%w: name of sample %d is not UTF-8", errEdits, idx)
		}
		dst = spliceName(dst, b[sp.start:sp.end], sp, name)
		out++
	}
	copyTo(len(nv.spans))
	return dst, out, nil
}

// spliceName appends the record rec with its interface name replaced, as
// one record of a batch.
func spliceName(dst, rec []byte, sp *span, name []byte) []byte {
	dst = append(dst, batchTag, 0)
	start := len(dst)
	dst = append(dst, rec[:sp.ifStart]...)
	dst = append(dst, 10<<3|2, 0)
	body := len(dst)
	rest := rec[sp.ifBody:sp.ifEnd]
	if sp.nameStart >= 0 {
		dst = append(dst, rec[sp.ifBody:sp.nameStart]...)
		rest = rec[sp.nameEnd:sp.ifEnd]
	}
	if len(name) > 0 {
		dst = protowire.AppendBytes(append(dst, 1<<3|2), name)
	}
	dst = append(dst, rest...)
	dst = wire.FixLength(dst, body)
	dst = append(dst, rec[sp.ifEnd:]...)
	return wire.FixLength(dst, start)
}
