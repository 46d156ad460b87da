package collector

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openconfig/gnmi/proto/gnmi"

	"github.com/meshtelemetry/telemetry/common/names"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

// vendorInterfaceNames are interface names real devices send; the name
// policy must keep every one of them.
var vendorInterfaceNames = []string{
	"Ethernet1/1", "Ethernet1/1.100", "Port-channel10", "Port-Channel10", "Management1",
	"ge-0/0/0.100", "xe-0/0/0:0", "et-0/0/1:2", "ae0.0", "irb.0",
	"GigabitEthernet0/0/0", "Bundle-Ether1.100", "TenGigE0/0/0/0", "Serial0/0/0:0",
	"1/1/c1/1", "ethernet-1/1", "lag-1", "PortChannel0001", "10GE1/0/1", "Eth-Trunk1",
	"TenGigabitEthernet 0/1", "swp1s0", "br_default",
}

// wantForName is what the decoder must do with an interface or peer name:
// 0 to take it, else the reason+1 it counts.
func wantForName(v string) reason {
	switch {
	case v == "":
		return reasonMissingKey + 1
	case !utf8.ValidString(v):
		return reasonBadValue + 1
	case len(v) > maxNameLen:
		return reasonOversized + 1
	case names.Check(v) != nil:
		return reasonBadName + 1
	}
	return 0
}

// TestHostileNamesRefusedAndCountedByCollector: every name of the shared
// hostile corpus, as an interface and as probe peers, in gNMI paths (Elem
// and the deprecated string form) through both decoders: a name the
// policy refuses produces no sample and one decode error of its reason
// (bad_name for controls, invisible and layout characters; oversized,
// missing_key, bad_value as before); a name it accepts, and every vendor
// interface name, comes out exactly as sent.
func TestHostileNamesRefusedAndCountedByCollector(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	cases := testenv.HostileNames()
	for _, n := range vendorInterfaceNames {
		cases = append(cases, testenv.Hostile{Label: "vendor " + n, Value: n})
	}
	refused := 0
	for _, h := range cases {
		want := wantForName(h.Value)
		if !utf8.ValidString(h.Value) {
			continue // not marshallable: TestInvalidUTF8NamesCounted
		}
		for _, kind := range []string{"interface", "probe"} {
			u := &gnmi.Update{Path: ifPath(h.Value, "state", "oper-status"), Val: sval("UP")}
			if kind == "probe" {
				u = &gnmi.Update{Path: probePath(h.Value, h.Value, "avg-delay"), Val: dval(5)}
			}
			base := &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{u}}
			for _, legacy := range []bool{false, true} {
				n := base
				if legacy {
					n = legacyNotification(base, false, true)
				}
				d.errs = [numReasons]uint64{}
				out := decodeCheck(t, d, n, ts)
				if want != 0 {
					refused++
					if len(out) != 0 || d.errs[want-1] != 1 {
						t.Errorf("%s %s (legacy %v): %d samples, errors %v; want none and 1 × %s", h.Label, kind, legacy, len(out), d.errs, want-1)
					}
					continue
				}
				if len(out) != 1 {
					t.Errorf("%s %s (legacy %v): %d samples, errors %v; want 1", h.Label, kind, legacy, len(out), d.errs)
					continue
				}
				got := out[0].GetInterface().GetInterface()
				if kind == "probe" {
					p := out[0].GetProbe()
					if p.GetPeerDevice() != h.Value {
						t.Errorf("%s probe (legacy %v): peer %q/%q", h.Label, legacy, p.GetPeerSite(), p.GetPeerDevice())
					}
					got = p.GetPeerSite()
				}
				if got != h.Value {
					t.Errorf("%s %s (legacy %v): name %q, want %q", h.Label, kind, legacy, got, h.Value)
				}
			}
		}
	}
	if refused == 0 {
		t.Fatal("the corpus refused nothing")
	}
}

// TestInvalidUTF8NamesCounted: a name that is not UTF-8, which only a
// hand-made message can carry (proto.Marshal refuses it), is counted
// bad_value by the wire-bytes decoder and produces no sample.
func TestInvalidUTF8NamesCounted(t *testing.T) {
	ts := time.Now().UnixNano()
	for _, h := range testenv.HostileNames() {
		if utf8.ValidString(h.Value) {
			continue
		}
		stand := strings.Repeat("Q", len(h.Value))
		b := wireUpdate(t, &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{{Path: ifPath(stand, "state", "oper-status"), Val: sval("UP")}}})
		if bytes.Count(b, []byte(stand)) != 1 {
			t.Fatalf("%s: stand-in not unique in the message", h.Label)
		}
		b = bytes.Replace(b, []byte(stand), []byte(h.Value), 1)
		d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
		out, _, err := d.decodeRaw(b, ts)
		if err != nil || len(out) != 0 || d.errs[reasonBadValue] != 1 {
			t.Errorf("%s: %d samples, err %v, errors %v; want none and 1 × bad_value", h.Label, len(out), err, d.errs)
		}
	}
}

// TestHostileTargetNamesRefusedByConfig: a target name or site from the
// corpus that the policy refuses makes the configuration (or a targets
// file) invalid with an error naming the key, never printing the raw
// character; an accepted one passes.
func TestHostileTargetNamesRefusedByConfig(t *testing.T) {
	for _, h := range testenv.HostileNames() {
		c := DefaultConfiguration()
		c.Targets = []TargetConfig{{Name: h.Value, Address: "127.0.0.1:57400", Insecure: true}}
		err := c.Validate()
		// the name rules before the policy: no '/', spaces, tab or newline
		wantName := names.Check(h.Value) == nil && !strings.ContainsAny(h.Value, "/ \t\n") && SiteOf(h.Value) != ""
		if (err == nil) != wantName {
			t.Errorf("%s as a target name: %v, want accepted %v", h.Label, err, wantName)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "targets[0].") {
			t.Errorf("%s as a target name: error %q does not name the key", h.Label, err)
		}

		c.Targets = []TargetConfig{{Name: "sw1", Site: h.Value, Address: "127.0.0.1:57400", Insecure: true}}
		err = c.Validate()
		wantSite := h.Value == "" || names.Check(h.Value) == nil // empty: the site comes from the name
		if (err == nil) != wantSite {
			t.Errorf("%s as a site: %v, want accepted %v", h.Label, err, wantSite)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "targets[0].site: ") {
			t.Errorf("%s as a site: error %q does not name the key", h.Label, err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x00\r\n\u202E\u2028") {
			t.Errorf("%s as a site: error carries the raw character: %q", h.Label, err)
		}
	}
	for _, n := range []string{"site1-sw1", "par-dc1-leaf01", "Zürich-core-1", "lon_edge.02"} {
		c := DefaultConfiguration()
		c.Targets = []TargetConfig{{Name: n, Address: "127.0.0.1:57400", Insecure: true}}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
