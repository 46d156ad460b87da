// Command normalize is an edge processor (hook collect) that normalises
// vendor interface names to one form, so that one port has one name
// whatever the vendor calls it: "GigabitEthernet0/0/1", "TenGigE0/0/1",
// "Ethernet0/0/1", "Eth0/0/1", "et-0/0/1", "xe-0/0/1" and "ge-0/0/1" all
// become "eth0/0/1"; "Port-Channel10", "Bundle-Ether10" and "ae10" become
// "lag10"; "Management1", "mgmt1" and "fxp1" become "mgmt1". Other names
// are lower-cased. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o normalize.wasm ./wasm/examples/normalize
//
// It uses the names view (guest.CollectNames): it gets the interface
// names and answers renames, and the host splices them into the samples.
// Its hot path is written for Go's WebAssembly code, where every taken
// branch and every call costs a deadline check (docs/wasm.md, "Speed"):
// no allocation, names lower-cased eight bytes at a time, prefixes
// compared as words, only the prefixes of the name's first letter tried.
//
// normalize.star is the same transformation in Starlark (the benchmarks
// compare them).
package main

import (
	"math/bits"
	"strings"
	"unsafe"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

func main() {}

// prefixes maps a vendor prefix (lower case) to the normal one, longest
// first so that "tengige" wins over "gige".
var prefixes = []struct{ from, to string }{
	{"hundredgigabitethernet", "eth"},
	{"fortygigabitethernet", "eth"},
	{"twentyfivegige", "eth"},
	{"tengigabitethernet", "eth"},
	{"gigabitethernet", "eth"},
	{"fastethernet", "eth"},
	{"hundredgige", "eth"},
	{"bundle-ether", "lag"},
	{"port-channel", "lag"},
	{"management", "mgmt"},
	{"ethernet", "eth"},
	{"tengige", "eth"},
	{"fortygige", "eth"},
	{"et-", "eth"},
	{"xe-", "eth"},
	{"ge-", "eth"},
	{"eth", "eth"},
	{"ae", "lag"},
	{"po", "lag"},
	{"mgmt", "mgmt"},
	{"fxp", "mgmt"},
}

// Normalize returns the normal form of an interface name.
func Normalize(name string) string {
	out, _ := AppendNormal(make([]byte, 0, len(name)+4), []byte(name))
	return string(out)
}

// normalize renames the interface of every interface sample whose name is
// not in normal form.
func normalize(v *guest.Names) {
	for i := range v.Len() {
		// scratch keeps its room: AppendNormal only appends past it for
		// names over 252 bytes
		if out, changed := AppendNormal(scratch, v.Name(i)); changed { // "": "", unchanged
			v.Rename(i, out)
		}
	}
}

// scratch is where names are normalised (kept across calls, empty).
var scratch = make([]byte, 0, 256)

// maxWords is the longest name (in 8-byte words) of the fast path.
const maxWords = 6

// word is one prefix as words to compare a lower-cased name with.
type word struct {
	w, m [3]uint64 // prefix bytes, and the mask of its length
	n    int
	to   string
	diff uint64 // 0: to is the prefix itself ("eth"), else 1
}

// A prefix has no digit and must be followed by one, so the only prefix
// that can match a name is the name's run of bytes before its first
// digit: the table is a perfect hash of (first byte, last byte, length)
// of that run, and a name is compared with one prefix at most.
type table struct {
	words []word
	slot  [64]uint8 // index in words + 1; 0: none
	seed  uint32
	// slow: the prefixes do not fit the hash (a digit in one, one longer
	// than the fast path's 22 bytes, no seed without a collision); every
	// name then takes the plain path.
	slow bool
}

var prefixTable = index()

// hash is the slot of a run of length l from byte first to byte last.
func (t *table) hash(first, last byte, l int) uint32 {
	return (uint32(first) | uint32(last)<<8 | uint32(l)<<16) * t.seed >> 26
}

func index() *table {
	t := &table{}
	for _, p := range prefixes {
		if p.from == "" || len(p.from) > 22 || strings.ContainsAny(p.from, "0123456789") || strings.ToLower(p.from) != p.from {
			t.slow = true
			return t
		}
		w := word{n: len(p.from), to: p.to}
		if p.from != p.to {
			w.diff = 1
		}
		for k := 0; k < len(p.from); k++ {
			w.w[k/8] |= uint64(p.from[k]) << (8 * (k % 8))
			w.m[k/8] |= 0xff << (8 * (k % 8))
		}
		t.words = append(t.words, w)
	}
seeds:
	for seed := uint32(0x9e3779b1); seed < 0x9e3779b1+1<<16; seed += 2 {
		t.seed, t.slot = seed, [64]uint8{}
		for i, p := range prefixes {
			h := t.hash(p.from[0], p.from[len(p.from)-1], len(p.from))
			if t.slot[h] != 0 {
				continue seeds
			}
			t.slot[h] = uint8(i + 1)
		}
		return t
	}
	t.slow = true
	return t
}

// fold lower-cases the ASCII letters of eight bytes at once.
func fold(w uint64) uint64 {
	const ones = 0x0101010101010101
	h := w & (0x7f * ones)
	ge := h + (0x80-'A')*ones
	gt := h + (0x80-'Z'-1)*ones
	return w | ((ge^gt)&^w&(0x80*ones))>>2
}

// AppendNormal appends the normal form of name to dst and reports whether
// it differs from name. It is fastest when dst has room for len(name)+4
// more bytes.
func AppendNormal(dst, name []byte) ([]byte, bool) {
	// Each taken branch below costs a deadline check in Go's WebAssembly
	// code: the rare cases share one early return, the common path runs
	// straight through (no append, no || or &&).
	n, k := len(name), len(dst)
	t := prefixTable
	if n > 8*maxWords || t.slow || cap(dst)-k < n+4 { // long, a table off the fast path, no room
		return appendNormalLong(dst, name)
	}
	var w [maxWords]uint64
	low := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*maxWords)
	copy(low, name)
	o0, o1, o2, o3, o4, o5 := w[0], w[1], w[2], w[3], w[4], w[5]
	if (o0|o1|o2|o3|o4|o5)&0x8080808080808080 != 0 {
		return appendNormalLong(dst, name) // not ASCII: Unicode lower-casing
	}
	w[0], w[1], w[2], w[3], w[4], w[5] = fold(o0), fold(o1), fold(o2), fold(o3), fold(o4), fold(o5)
	changed := (w[0] ^ o0) | (w[1] ^ o1) | (w[2] ^ o2) | (w[3] ^ o3) | (w[4] ^ o4) | (w[5] ^ o5)
	// l: where the first digit is (24 when none in the first 24 bytes),
	// without a branch
	z0, z1, z2 := bits.TrailingZeros64(digits(w[0])), bits.TrailingZeros64(digits(w[1])), bits.TrailingZeros64(digits(w[2]))
	l := (z0 + z0>>6*(z1+z1>>6*z2)) >> 3
	if s := t.slot[t.hash(low[0], low[(l-1)&31], l)]; s != 0 {
		p := &t.words[s-1]
		if (w[0]^p.w[0])&p.m[0]|(w[1]^p.w[1])&p.m[1]|(w[2]^p.w[2])&p.m[2]|uint64(p.n^l) == 0 {
			out := dst[:k+len(p.to)+n-l] // room: a normal name is at most one byte longer
			copy(out[k+copy(out[k:], p.to):], low[l:n])
			return out, changed|p.diff != 0
		}
	}
	out := dst[:k+n]
	copy(out[k:], low[:n])
	return out, changed != 0
}

// digits has the high bit of each byte of w that is an ASCII digit (w
// has no byte over 0x7f).
func digits(w uint64) uint64 {
	const ones = 0x0101010101010101
	ge := w + (0x80-'0')*ones
	gt := w + (0x80-'9'-1)*ones
	return (ge ^ gt) & (0x80 * ones)
}

// appendNormalLong is AppendNormal for names longer than the fast path's
// or not in ASCII.
func appendNormalLong(dst, name []byte) ([]byte, bool) {
	low := strings.ToLower(string(name))
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(low, p.from); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return append(append(dst, p.to...), rest...), p.to+rest != string(name)
		}
	}
	return append(dst, low...), low != string(name)
}
