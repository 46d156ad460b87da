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
// normalize.star is the same transformation in Starlark (the benchmarks
// compare them).
package main

import (
	"strings"

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
	low := strings.ToLower(name)
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(low, p.from); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return p.to + rest
		}
	}
	return low
}

// normalize renames the interface of every interface sample; it reports
// a change only when a name changed.
func normalize(samples []*guest.Sample) ([]*guest.Sample, bool) {
	changed := false
	for _, s := range samples {
		if s.Interface == nil {
			continue
		}
		if n := Normalize(s.Interface.Name); n != s.Interface.Name {
			s.Interface.Name = n
			changed = true
		}
	}
	return samples, changed
}
