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
	out, _ := AppendNormal(nil, []byte(name))
	return string(out)
}

// normalize renames the interface of every interface sample whose name is
// not in normal form.
func normalize(v *guest.Names) {
	for i := range v.Len() {
		name := v.Name(i)
		if len(name) == 0 {
			continue
		}
		out, changed := AppendNormal(scratch[:0], name)
		scratch = out[:0]
		if changed {
			v.Rename(i, out)
		}
	}
}

// scratch is where names are normalised (kept across calls).
var scratch = make([]byte, 0, 256)

// maxWords is the longest name (in 8-byte words) of the fast path.
const maxWords = 6

// word is one prefix as words to compare a lower-cased name with.
type word struct {
	w, m [3]uint64 // prefix bytes, and the mask of its length
	n    int
	to   string
	same bool // to is the prefix itself ("eth")
}

// words are the prefixes by their first letter, in table order: first[c]
// is the range of words whose prefix starts with c.
var words, first = index()

func index() ([]word, [256][2]uint8) {
	var ws []word
	var f [256][2]uint8
	for c := 0; c < 256; c++ {
		f[c][0] = uint8(len(ws))
		for _, p := range prefixes {
			if p.from[0] != byte(c) {
				continue
			}
			w := word{n: len(p.from), to: p.to, same: p.from == p.to}
			for k := 0; k < len(p.from); k++ {
				w.w[k/8] |= uint64(p.from[k]) << (8 * (k % 8))
				w.m[k/8] |= 0xff << (8 * (k % 8))
			}
			ws = append(ws, w)
		}
		f[c][1] = uint8(len(ws))
	}
	return ws, f
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
// it differs from name.
func AppendNormal(dst, name []byte) ([]byte, bool) {
	n := len(name)
	if n > 8*maxWords {
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
	changed := (w[0]^o0)|(w[1]^o1)|(w[2]^o2)|(w[3]^o3)|(w[4]^o4)|(w[5]^o5) != 0
	r := first[low[0]]
	for _, p := range words[r[0]:r[1]] {
		if (w[0]^p.w[0])&p.m[0]|(w[1]^p.w[1])&p.m[1]|(w[2]^p.w[2])&p.m[2] == 0 && n > p.n && low[p.n]-'0' < 10 {
			dst = append(dst, p.to...)
			return append(dst, low[p.n:n]...), changed || !p.same
		}
	}
	return append(dst, low[:n]...), changed
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
