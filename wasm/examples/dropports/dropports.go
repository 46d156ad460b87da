// Command dropports is an edge processor (hook collect) that drops the
// samples of interfaces nobody wants on the dashboards: management ports,
// loopbacks, and whatever matches Patterns (path.Match globs on the
// interface name, case-insensitive). Other samples pass untouched. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o dropports.wasm ./wasm/examples/dropports
package main

import (
	"path"
	"strings"
	"unsafe"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

func main() {}

// Patterns are the interfaces dropped. A module has no configuration file
// (no filesystem): edit, build and ship a new version (it is hot-reloaded).
var Patterns = []string{
	"mgmt*", "management*", "fxp*", "me*",
	"lo*", "loopback*",
	"null*",
}

// Dropped reports whether the interface name matches a pattern.
func Dropped(name string) bool {
	if d, ok := droppedFast(name); ok {
		return d
	}
	return droppedPlain(name)
}

// droppedPlain is Dropped by path.Match.
func droppedPlain(name string) bool {
	low := strings.ToLower(name)
	for _, p := range Patterns {
		if ok, _ := path.Match(p, low); ok {
			return true
		}
	}
	return false
}

// The fast path, for Go's WebAssembly code (where every taken branch costs
// a deadline check, docs/wasm.md "Speed"): patterns of the form
// "literal*" (what Patterns are) are compared as words with the name
// lower-cased eight bytes at a time, and only those of the name's first
// letter are tried. Like path.Match, "*" matches no "/".

const maxWords = 6 // names longer than 48 bytes take the plain path

// prefix is a pattern "literal*" as words.
type prefix struct {
	w, m [2]uint64 // the literal's bytes and the mask of its length
	n    int
}

type prefixes struct {
	list  []prefix
	first [256][2]uint8 // the range of list of the patterns starting with a byte
	// plain: a pattern is not "literal*" with a short literal: every
	// name takes the plain path.
	plain bool
}

var fast = index()

func index() *prefixes {
	t := &prefixes{}
	for c := 0; c < 256; c++ {
		t.first[c][0] = uint8(len(t.list))
		for _, pat := range Patterns {
			lit, ok := strings.CutSuffix(pat, "*")
			if !ok || lit == "" || len(lit) > 16 || strings.ContainsAny(lit, `*?[\/`) || strings.ToLower(lit) != lit || len(t.list) > 250 {
				t.plain = true
				return t
			}
			if lit[0] != byte(c) {
				continue
			}
			p := prefix{n: len(lit)}
			for k := 0; k < len(lit); k++ {
				p.w[k/8] |= uint64(lit[k]) << (8 * (k % 8))
				p.m[k/8] |= 0xff << (8 * (k % 8))
			}
			t.list = append(t.list, p)
		}
		t.first[c][1] = uint8(len(t.list))
	}
	return t
}

const ones = 0x0101010101010101

// fold lower-cases the ASCII letters of eight bytes at once.
func fold(w uint64) uint64 {
	h := w & (0x7f * ones)
	ge := h + (0x80-'A')*ones
	gt := h + (0x80-'Z'-1)*ones
	return w | ((ge^gt)&^w&(0x80*ones))>>2
}

// slashes has the high bit of each byte of w (ASCII) that is '/'.
func slashes(w uint64) uint64 {
	x := w ^ ('/' * ones)                   // '/' bytes become 0, the others stay in 1..0x7f
	return ^(x + 0x7f*ones) & (0x80 * ones) // no carry: x+0x7f ≤ 0xfe a byte
}

// droppedFast is Dropped for short ASCII names; ok false: take the plain
// path.
func droppedFast(name string) (dropped, ok bool) {
	t := fast
	if len(name) > 8*maxWords || t.plain {
		return false, false
	}
	var w [maxWords]uint64
	low := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*maxWords)
	copy(low, name)
	if (w[0]|w[1]|w[2]|w[3]|w[4]|w[5])&(0x80*ones) != 0 {
		return false, false // not ASCII: Unicode lower-casing
	}
	w[0], w[1] = fold(w[0]), fold(w[1])
	s2 := slashes(w[2]) | slashes(w[3]) | slashes(w[4]) | slashes(w[5])
	s0, s1 := slashes(w[0]), slashes(w[1])
	r := t.first[low[0]]
	for _, p := range t.list[r[0]:r[1]] {
		// the literal's bytes, and no '/' after it
		if (w[0]^p.w[0])&p.m[0]|(w[1]^p.w[1])&p.m[1]|s0&^p.m[0]|s1&^p.m[1]|s2 == 0 {
			return true, true
		}
	}
	return false, true
}

// dropports drops the samples whose interface is dropped. It uses the
// names view (guest.CollectNames): it only reads interface names.
func dropports(v *guest.Names) {
	for i := range v.Len() {
		if name := v.Name(i); len(name) > 0 && Dropped(unsafe.String(&name[0], len(name))) {
			v.Drop(i)
		}
	}
}
