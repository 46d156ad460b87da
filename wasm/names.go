package wasm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

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
	f := rec[sp.nameStart:sp.nameEnd]
	_, _, n := protowire.ConsumeTag(f)
	name, _ := protowire.ConsumeBytes(f[n:])
	return name
}

// find locates the interface and its name in the record rec.
func (sp *span) find(rec []byte) error {
	sp.ifStart, sp.nameStart = -1, -1
	for at := 0; at < len(rec); {
		num, typ, n := protowire.ConsumeTag(rec[at:])
		if n < 0 {
			return errBatch
		}
		m := protowire.ConsumeFieldValue(num, typ, rec[at+n:])
		if m < 0 {
			return errBatch
		}
		switch {
		case num == 10 && typ == protowire.BytesType:
			body, k := protowire.ConsumeBytes(rec[at+n:])
			sp.ifStart, sp.ifBody, sp.ifEnd, sp.nameStart = at, at+n+k-len(body), at+n+m, -1
			for bt := sp.ifBody; bt < sp.ifEnd; {
				num, typ, n := protowire.ConsumeTag(rec[bt:sp.ifEnd])
				if n < 0 {
					return errBatch
				}
				m := protowire.ConsumeFieldValue(num, typ, rec[bt+n:sp.ifEnd])
				if m < 0 {
					return errBatch
				}
				if num == 1 && typ == protowire.BytesType {
					sp.nameStart, sp.nameEnd = bt, bt+n+m
				}
				bt += n + m
			}
		case num == 11 || num == 12:
			sp.ifStart, sp.nameStart = -1, -1 // the last body wins (proto3 oneof)
		}
		at += n + m
	}
	return nil
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
	dst = fixLen(dst, body)
	dst = append(dst, rec[sp.ifEnd:]...)
	return fixLen(dst, start)
}
