package guest

import (
	"encoding/binary"
	"unsafe"
)

// Names is the names view of a batch of samples (export
// telemetry_collect_names, docs/wasm.md): the interface name of each
// sample, in batch order, and the edits the module makes. The host keeps
// the encoded samples and applies the edits itself, so a module that only
// looks at interface names pays for no decoding or encoding at all.
//
// Name's bytes point into the batch: valid during the call only.
type Names struct {
	in    []byte
	n     int
	edits []byte
	last  int
}

// Reset makes v the view of the view buffer in (the host's encoding:
// u32 count, count × (u32 offset, u32 length), the names), with no edits.
// CollectNames does it inside a module; tests build a view with
// AppendNamesView.
func (v *Names) Reset(in []byte) {
	v.in, v.edits, v.last, v.n = in, v.edits[:0], -1, 0
	if len(in) >= 4 {
		v.n = int(binary.LittleEndian.Uint32(in))
		if uint64(v.n)*8+4 > uint64(len(in)) {
			v.n = 0
		}
	}
}

// Len is the number of samples in the batch.
func (v *Names) Len() int { return v.n }

// Name is the interface name of sample i; empty when the sample is not an
// interface sample (or its interface has no name).
func (v *Names) Name(i int) []byte {
	e := v.in[4+8*i : 12+8*i]
	off, l := *(*uint32)(unsafe.Pointer(&e[0])), *(*uint32)(unsafe.Pointer(&e[4]))
	return v.in[off : off+l : off+l]
}

// Rename gives sample i (an interface sample) the interface name name.
// Edits are made in increasing sample order; an edit of a sample at or
// before the last edited one is ignored.
func (v *Names) Rename(i int, name []byte) {
	// written for Go's WebAssembly code, where each append is a taken
	// branch or two, and a taken branch costs a deadline check
	if uint(i-v.last-1) >= uint(v.n-v.last-1) { // i <= last or i >= n
		return
	}
	k := len(v.edits)
	e := v.room(k + 8 + len(name))
	*(*uint64)(unsafe.Pointer(&e[k])) = uint64(uint32(i)) | uint64(len(name))<<32
	copy(e[k+8:], name)
	v.edits, v.last = e, i
}

// Drop drops sample i (same order rule as Rename).
func (v *Names) Drop(i int) {
	if uint(i-v.last-1) >= uint(v.n-v.last-1) {
		return
	}
	k := len(v.edits)
	e := v.room(k + 8)
	*(*uint64)(unsafe.Pointer(&e[k])) = uint64(uint32(i)) | uint64(dropLen)<<32
	v.edits, v.last = e, i
}

// room returns the edits extended to n bytes.
func (v *Names) room(n int) []byte {
	if n > cap(v.edits) {
		v.grow(n)
	}
	return v.edits[:n]
}

// grow makes room for n bytes of edits.
//
//go:noinline
func (v *Names) grow(n int) {
	v.edits = append(make([]byte, 0, max(2*cap(v.edits), n, 4096)), v.edits...)
}

// Edits is the encoding of the edits made (u32 sample index, u32 name
// length or 0xffffffff for a drop, the name; all little-endian), the
// answer of a telemetry_collect_names export. Empty: no change.
func (v *Names) Edits() []byte { return v.edits }

// dropLen is the length of an edit that drops its sample.
const dropLen = 0xffffffff

// AppendNamesView appends the names view of names (one per sample, empty
// for a sample without an interface name) to dst, as the host encodes it
// (tests of a module's function).
func AppendNamesView(dst []byte, names []string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(names)))
	off := 4 + 8*len(names)
	for _, n := range names {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(off))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(n)))
		off += len(n)
	}
	for _, n := range names {
		dst = append(dst, n...)
	}
	return dst
}
