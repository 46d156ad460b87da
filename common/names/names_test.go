package names

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// TestVendorNamesAccepted: names real devices and operators use pass.
func TestVendorNamesAccepted(t *testing.T) {
	for _, n := range []string{
		// interfaces: Arista, Cisco IOS-XE/XR/NX-OS, Juniper, Nokia SR OS/SR Linux, SONiC, Huawei, Dell OS9, Linux
		"Ethernet1/1", "Ethernet1/1.100", "Port-Channel10", "Port-channel10", "Management1", "Loopback0", "Vlan100",
		"GigabitEthernet0/0/0", "Gi1/0/1.100", "TenGigE0/0/0/0", "HundredGigE0/0/0/1", "Bundle-Ether1.100", "Serial0/0/0:0", "mgmt0", "Eth1/1",
		"ge-0/0/0.100", "xe-0/0/0:0", "et-0/0/1:2", "ae0.0", "irb.0", "lo0.0", "fxp0", "et-0/0/0.32767",
		"1/1/c1/1", "lag-1", "system", "ethernet-1/1", "mgmt0.0",
		"Ethernet0", "PortChannel0001", "GE1/0/1", "10GE1/0/1", "100GE1/0/1.200", "Eth-Trunk1",
		"TenGigabitEthernet 0/1", "swp1s0", "bond0", "eth0", "br_default", "vxlan-10100",
		// sites and devices
		"site1", "site1-sw1", "par-dc1", "Zürich", "東京-core-1", "lon_edge.02", "bs\\",
		// printable oddities are not the policy's business
		"it's", `a\\b`, "a,b", "$__all", "{{.Site}}", "' OR 1=1 OR '",
		strings.Repeat("x", MaxLen),
	} {
		if err := Check(n); err != nil {
			t.Errorf("Check(%q) = %v, want accepted", n, err)
		}
	}
}

// TestHostileNamesRefusedByPolicy: every name of the shared corpus that
// is invisible, controls layout, is empty, too long or not UTF-8 is
// refused, with an error that never carries the raw character.
func TestHostileNamesRefusedByPolicy(t *testing.T) {
	refused := map[string]bool{
		"nul": true, "nul-only": true, "crlf": true, "lf": true, "cr": true, "tab": true, "escape-sequence": true,
		"del": true, "c1-nel": true, "bidi-override": true, "line-separator": true, "paragraph-separator": true,
		"zero-width-space": true, "zero-width-joiner": true, "byte-order-mark": true, "nbsp": true, "spaces": true,
		"empty": true, "long-10kb": true, "invalid-utf8": true, "truncated-utf8": true, "surrogate-utf8": true, "overlong-utf8": true,
	}
	for _, h := range testenv.HostileNames() {
		err := Check(h.Value)
		if refused[h.Label] != (err != nil) {
			t.Errorf("%s: Check = %v, want refused %v", h.Label, err, refused[h.Label])
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x00\r\n\u202E\u2028") {
			t.Errorf("%s: error carries the raw character: %q", h.Label, err)
		}
		if Valid(h.Value) != (err == nil) {
			t.Errorf("%s: Valid disagrees with Check", h.Label)
		}
	}
	for _, bad := range []string{"\u2060x", "x\u00AD", "\uE000", "a\u3000b", "x\uFFFE", "a\x1fb", "a\u009bb"} {
		if Check(bad) == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, h := range testenv.HostileNames() {
		f.Add(h.Value)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s) != nil {
			return
		}
		if s == "" || len(s) > MaxLen || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r != ' ' && unicode.IsSpace(r) {
				t.Fatalf("accepted %q with %U", s, r)
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []string{"Ethernet1/1", "TenGigabitEthernet 0/1", "東京-core-1"} {
		b.Run(n, func(b *testing.B) {
			for b.Loop() {
				if Check(n) != nil {
					b.Fatal(n)
				}
			}
		})
	}
}
