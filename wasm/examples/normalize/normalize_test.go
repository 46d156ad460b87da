package main

import (
	"strings"
	"testing"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

var cases = map[string]string{
	"GigabitEthernet0/0/1":    "eth0/0/1",
	"TenGigE0/0/0/1":          "eth0/0/0/1",
	"HundredGigabitEthernet1": "eth1",
	"Ethernet1/1":             "eth1/1",
	"Eth1/1":                  "eth1/1",
	"et-0/0/1":                "eth0/0/1",
	"xe-0/0/1":                "eth0/0/1",
	"Port-Channel10":          "lag10",
	"Bundle-Ether10":          "lag10",
	"ae10":                    "lag10",
	"Management1":             "mgmt1",
	"fxp0":                    "mgmt0",
	"Loopback0":               "loopback0",
	"Ethernet":                "ethernet", // no port number: only lower-cased
	"eth1/1":                  "eth1/1",
	"e":                       "e",
	"@[`{":                    "@[`{", // the bytes around the letters are not letters
	"HundredGigabitEthernet0/0/0/10.1000000000000000000000000":  "eth0/0/0/10.1000000000000000000000000", // long: the slow path
	"HundredGigabitEthernet0/0/0/10.1000000000000000000000000X": "eth0/0/0/10.1000000000000000000000000x",
	"ÉTHERNET1": "éthernet1", // not ASCII
}

func TestNormalize(t *testing.T) {
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
		if got := reference(in); got != want {
			t.Errorf("reference(%q) = %q, want %q", in, got, want)
		}
	}
}

// reference is the transformation written plainly (as normalize.star).
func reference(name string) string {
	low := strings.ToLower(name)
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(low, p.from); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return p.to + rest
		}
	}
	return low
}

// FuzzNormalize checks the word-at-a-time path against the plain one.
func FuzzNormalize(f *testing.F) {
	for in := range cases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want := reference(in)
		for _, dst := range [][]byte{nil, make([]byte, 0, len(in)+4), append(make([]byte, 0, len(in)+7), "abc"...)} {
			pre := string(dst)
			out, changed := AppendNormal(dst, []byte(in))
			if string(out) != pre+want || changed != (want != in) {
				t.Fatalf("AppendNormal(%q, %q) = %q, %v; want %q, %v", pre, in, out, changed, pre+want, want != in)
			}
		}
	})
}

func TestNormalizeNames(t *testing.T) {
	view := guest.AppendNamesView(nil, []string{"GigabitEthernet0/0/1", "", "eth1", "Loopback0"})
	var v, w guest.Names
	v.Reset(view)
	normalize(&v)
	w.Reset(view)
	w.Rename(0, []byte("eth0/0/1"))
	w.Rename(3, []byte("loopback0"))
	if got, want := string(v.Edits()), string(w.Edits()); got != want {
		t.Fatalf("edits %q, want %q", got, want)
	}
}

// TestPrefixTable: the prefixes fit the fast path's perfect hash (a change
// of the table that does not would make every name take the plain path).
func TestPrefixTable(t *testing.T) {
	if prefixTable.slow {
		t.Fatal("the prefix table does not fit the fast path")
	}
}
