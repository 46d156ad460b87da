package collector

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func TestSplitElement(t *testing.T) {
	type kv = [2]string
	cases := []struct {
		in   string
		name string
		keys []kv // looked up with keyValue
		ok   bool
	}{
		{"interfaces", "interfaces", nil, true},
		{"openconfig-interfaces:interfaces", "openconfig-interfaces:interfaces", nil, true},
		{"interface[name=eth0]", "interface", []kv{{"name", "eth0"}}, true},
		{"interface[name=Ethernet1/2/3]", "interface", []kv{{"name", "Ethernet1/2/3"}}, true},
		{"protocol[identifier=ISIS][name=65497]", "protocol", []kv{{"identifier", "ISIS"}, {"name", "65497"}}, true},
		{`interface[name=a\]b]`, "interface", []kv{{"name", "a]b"}}, true},
		{`interface[name=a\\]`, "interface", []kv{{"name", `a\`}}, true},
		{`interface[name=x=y[z]`, "interface", []kv{{"name", "x=y[z"}}, true},
		{`interface[na\=me=v]`, "interface", []kv{{"na=me", "v"}}, true},
		{`inter\[face`, "inter[face", nil, true},
		{`a\[b[k=v]`, "a[b", []kv{{"k", "v"}}, true},
		{"interface[name=]", "interface", []kv{{"name", ""}}, true}, // empty value: missing_key when captured
		{"interface[name=a][name=b]", "interface", []kv{{"name", "b"}}, true},
		{"", "", nil, true}, // unknown_path when walked

		{"interface[name=eth0", "", nil, false},
		{"interface[name]", "", nil, false},
		{"interface[=eth0]", "", nil, false},
		{"interface[name=eth0]x", "", nil, false},
		{"interface[name=eth0]]", "", nil, false},
		{"interface[name=eth0][", "", nil, false},
		{"[name=eth0]", "", nil, false},
		{`interface\`, "", nil, false},
		{`interface[name=eth0\]`, "", nil, false},
		{`interface[name\`, "", nil, false},
		{"interface[", "", nil, false},
		{"interface]", "", nil, false},
		{`interface\]`, "interface]", nil, true},
	}
	for _, c := range cases {
		name, keys, ok := splitElement(c.in)
		if ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.in, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if name != c.name {
			t.Errorf("%q: name %q, want %q", c.in, name, c.name)
		}
		for _, k := range c.keys {
			if v, found := keyValue(keys, k[0]); !found || v != k[1] {
				t.Errorf("%q: key %q = %q (%v), want %q", c.in, k[0], v, found, k[1])
			}
		}
		if _, found := keyValue(keys, "absent"); found {
			t.Errorf("%q: found a key that is not there", c.in)
		}
	}
}

// escapeElem escapes the characters of an element string's parts.
var escapeElem = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `=`, `\=`)

// legacyPath is p in the deprecated form: one string per element, keys in
// brackets (sorted), special characters escaped. nil stays nil.
func legacyPath(p *gnmi.Path) *gnmi.Path {
	if p == nil {
		return nil
	}
	out := &gnmi.Path{Target: p.Target, Origin: p.Origin}
	for _, e := range p.Elem {
		s := escapeElem.Replace(e.Name)
		var ks []string
		for k := range e.Key {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			s += "[" + escapeElem.Replace(k) + "=" + escapeElem.Replace(e.Key[k]) + "]"
		}
		out.Element = append(out.Element, s)
	}
	return out
}

// legacyNotification is a copy of n with its prefix and/or update paths in
// the deprecated form.
func legacyNotification(n *gnmi.Notification, prefix, paths bool) *gnmi.Notification {
	l := proto.Clone(n).(*gnmi.Notification)
	if prefix && l.Prefix != nil {
		l.Prefix = legacyPath(l.Prefix)
	}
	if paths {
		for _, u := range l.Update {
			u.Path = legacyPath(u.Path)
		}
	}
	return l
}

// legacyCases are notifications with every kind of path the default
// mappings and a vendor multi-key mapping take.
func legacyCases(ts int64) map[string]*gnmi.Notification {
	full := &gnmi.Notification{Timestamp: ts, Prefix: &gnmi.Path{Target: "site1-sw1"}}
	for i, cl := range counterLeaves {
		full.Update = append(full.Update, &gnmi.Update{Path: ifPath("Ethernet1/1", "state", "counters", cl.leaf), Val: uval(uint64(100 + i))})
	}
	full.Update = append(full.Update,
		&gnmi.Update{Path: ifPath("Ethernet1/1", "state", "oper-status"), Val: sval("UP")},
		&gnmi.Update{Path: ifPath("Ethernet1/1", "ethernet", "state", "port-speed"), Val: sval("openconfig-if-ethernet:SPEED_10GB")},
		&gnmi.Update{Path: ifPath(`odd]name[x=y\z`, "state", "oper-status"), Val: sval("DOWN")},
		&gnmi.Update{Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "openconfig-interfaces:interfaces"},
			{Name: "interface", Key: map[string]string{"name": "eth2", "other": "x]"}}, {Name: "state"}, {Name: "counters"}, {Name: "in-octets"}}}, Val: uval(9)},
	)
	probes := &gnmi.Notification{Timestamp: ts}
	for i, l := range []string{"min-delay", "max-delay", "avg-delay", "jitter", "loss-percentage", "probes-sent", "probes-received"} {
		probes.Update = append(probes.Update, &gnmi.Update{Path: probePath("site2", "site2-sw1", l), Val: dval(float64(i + 1))})
	}
	vendor := &gnmi.Notification{Timestamp: ts, Prefix: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "vendor"}, {Name: "twamp"}}},
		Update: []*gnmi.Update{{Path: &gnmi.Path{Elem: []*gnmi.PathElem{
			{Name: "session", Key: map[string]string{"peer": "s2", "dev": "s2-x"}}, {Name: "rtt"}}}, Val: dval(1.5)}}}
	return map[string]*gnmi.Notification{
		"prefix and leaves": countersNotification("site1-sw1", "Ethernet7", ts, 10),
		"full paths":        full,
		"probes":            probes,
		"vendor two keys":   vendor,
	}
}

// TestDecodeLegacyPathsMatchModern: a notification with deprecated string
// paths (in the prefix, the updates, or both) decodes into exactly the
// samples of its PathElem form, in both decoders, with no error counted.
func TestDecodeLegacyPathsMatchModern(t *testing.T) {
	m, err := compileMappings(append(DefaultMappings(),
		Mapping{Path: "/vendor/twamp/session[peer=$peer_site][dev=$peer_device]/rtt", Field: "probe.avg_delay_us", Scale: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UnixNano()
	for name, n := range legacyCases(ts) {
		d := newDecoder(m, "site1-sw1", "site1", "c1", 1000)
		var want []*wirepb.Sample
		for _, s := range decodeCheck(t, d, n, ts) {
			want = append(want, proto.Clone(s).(*wirepb.Sample))
		}
		if len(want) == 0 {
			t.Fatalf("%s: no samples from the modern form", name)
		}
		for _, form := range []struct {
			name          string
			prefix, paths bool
		}{{"legacy prefix and paths", true, true}, {"legacy prefix", true, false}, {"legacy paths", false, true}} {
			l := legacyNotification(n, form.prefix, form.paths)
			d := newDecoder(m, "site1-sw1", "site1", "c1", 1000)
			got := decodeCheck(t, d, l, ts)
			if len(got) != len(want) {
				t.Fatalf("%s, %s: %d samples, want %d:\n got %v\nwant %v", name, form.name, len(got), len(want), got, want)
			}
			for i := range want {
				if !proto.Equal(got[i], want[i]) {
					t.Errorf("%s, %s: sample %d\n got %v\nwant %v", name, form.name, i, got[i], want[i])
				}
			}
			for r, c := range d.errs {
				if c != 0 {
					t.Errorf("%s, %s: %d × %s", name, form.name, c, reason(r))
				}
			}
		}
	}
}

// TestDecodeLegacyBothForms: a Path with both elem and element is read from
// its elems (as openconfig's gnmi/path does), in both decoders.
func TestDecodeLegacyBothForms(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	p := ifPath("eth0", "state", "counters", "in-octets")
	p.Element = []string{"garbage[", "x"}
	prefix := &gnmi.Path{Target: "site1-sw1", Element: []string{"interfaces", "interface[name=other]"}}
	n := &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{{Path: p, Val: uval(5)}}}
	out := decodeCheck(t, d, n, ts)
	if len(out) != 1 || out[0].GetInterface().Interface != "eth0" || out[0].GetInterface().Counters[0].Value != 5 {
		t.Fatalf("got %v (errs %v)", out, d.errs)
	}
	// legacy prefix, modern relative path, element garbage beside the elem
	rel := &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "state"}, {Name: "oper-status"}}, Element: []string{"]["}}
	n = &gnmi.Notification{Timestamp: ts, Prefix: prefix, Update: []*gnmi.Update{{Path: rel, Val: sval("UP")}}}
	out = decodeCheck(t, d, n, ts)
	if len(out) != 1 || out[0].GetInterface().Interface != "other" || out[0].GetInterface().OperStatus != wirepb.OperStatus_UP {
		t.Fatalf("got %v (errs %v)", out, d.errs)
	}
	for r, c := range d.errs {
		if c != 0 {
			t.Errorf("%d × %s", c, reason(r))
		}
	}
}

// TestDecodeLegacyMalformed: element strings that do not parse are counted
// as legacy_path (per update, also when the prefix is at fault), the other
// problems of a legacy path as for an elem path; both decoders agree.
func TestDecodeLegacyMalformed(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	long := strings.Repeat("x", maxNameLen+1)
	leaf := []string{"state", "counters", "in-octets"}
	ifc := func(el string) []string { return append([]string{"interfaces", el}, leaf...) }
	cases := []struct {
		name string
		path []string
		want reason
	}{
		{"unterminated", ifc("interface[name=eth0"), reasonLegacyPath},
		{"no value", ifc("interface[name]"), reasonLegacyPath},
		{"no key name", ifc("interface[=eth0]"), reasonLegacyPath},
		{"trailing text", ifc("interface[name=eth0]x"), reasonLegacyPath},
		{"keys of nothing", []string{"interfaces", "[name=eth0]", "state"}, reasonLegacyPath},
		{"dangling escape", ifc(`interface[name=eth0\`), reasonLegacyPath},
		{"bad leaf element", []string{"interfaces", "interface[name=eth0]", "state[", "counters", "in-octets"}, reasonLegacyPath},
		{"no key", ifc("interface"), reasonMissingKey},
		{"other key", ifc("interface[id=3]"), reasonMissingKey},
		{"empty key value", ifc("interface[name=]"), reasonMissingKey},
		{"huge name", ifc("interface[name=" + long + "]"), reasonOversized},
		{"unknown leaf", []string{"interfaces", "interface[name=e]", "state", "counters", "in-pkts"}, reasonUnknownPath},
		{"keys in separate elements", []string{"interfaces", "interface", "eth0", "state", "counters", "in-octets"}, reasonMissingKey},
		{"whole path in one element", []string{"interfaces/interface[name=eth0]/state/counters/in-octets"}, reasonLegacyPath},
		{"whole path in one element, no keys", []string{"interfaces/state"}, reasonUnknownPath},
		{"two module prefixes", append([]string{"x:openconfig-interfaces:interfaces", "interface[name=e]"}, leaf...), reasonUnknownPath},
	}
	for _, c := range cases {
		d.errs = [numReasons]uint64{}
		n := &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{{Path: &gnmi.Path{Element: c.path}, Val: uval(1)}}}
		if out := decodeCheck(t, d, n, ts); len(out) != 0 {
			t.Errorf("%s: produced %v", c.name, out)
		}
		if d.errs[c.want] != 1 {
			t.Errorf("%s: errs %v, want 1 × %s", c.name, d.errs, c.want)
		}
	}
	// a malformed prefix drops each of its updates
	d.errs = [numReasons]uint64{}
	n := &gnmi.Notification{Timestamp: ts, Prefix: &gnmi.Path{Element: []string{"interfaces", "interface[name=eth0"}},
		Update: []*gnmi.Update{{Path: &gnmi.Path{Element: leaf}, Val: uval(1)}, {Path: &gnmi.Path{Elem: []*gnmi.PathElem{{Name: "state"}, {Name: "oper-status"}}}, Val: sval("UP")}}}
	if out := decodeCheck(t, d, n, ts); len(out) != 0 || d.errs[reasonLegacyPath] != 2 {
		t.Errorf("malformed prefix: %v, errs %v", out, d.errs)
	}
	// the same module-prefix rule for elems in both decoders
	d.errs = [numReasons]uint64{}
	p := ifPath("e", leaf...)
	p.Elem[0].Name = "x:openconfig-interfaces:interfaces"
	if out := decodeCheck(t, d, &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{{Path: p, Val: uval(1)}}}, ts); len(out) != 0 || d.errs[reasonUnknownPath] != 1 {
		t.Errorf("two module prefixes (elem): %v, errs %v", out, d.errs)
	}
}

// TestDecodeLegacyAllocs: once warm, the wire-bytes decoder reads legacy
// paths from its walk cache, without allocating.
func TestDecodeLegacyAllocs(t *testing.T) {
	d := newDecoder(testMatcher(t), "site1-sw1", "site1", "c1", 1000)
	ts := time.Now().UnixNano()
	b := wireUpdate(t, legacyNotification(countersNotification("site1-sw1", "Ethernet1/1", ts, 1), true, true))
	if out, _, _ := d.decodeRaw(b, ts); len(out) != 1 {
		t.Fatalf("%d samples, errs %v", len(out), d.errs)
	}
	if allocs := testing.AllocsPerRun(200, func() { d.decodeRaw(b, ts) }); allocs > 0 {
		t.Errorf("decodeRaw of legacy paths allocates %.1f times per run once warm", allocs)
	}
}

// legacySeeds are FuzzDecode seeds with deprecated string paths.
func legacySeeds(ts int64) []*gnmi.Notification {
	out := []*gnmi.Notification{
		legacyNotification(countersNotification("site1-sw1", "eth0", ts, 1), true, true),
		legacyNotification(countersNotification("site1-sw1", `a\]b`, ts, 1), true, false),
		legacyNotification(&gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{{Path: probePath("a", "b", "jitter"), Val: dval(math.Pi)}}}, false, true),
		{Timestamp: ts, Prefix: &gnmi.Path{Element: []string{"interfaces", "interface[name=e"}},
			Update: []*gnmi.Update{{Path: &gnmi.Path{Element: []string{"state", "oper-status"}}, Val: sval("UP")}}},
		{Timestamp: ts, Update: []*gnmi.Update{{Path: &gnmi.Path{Element: []string{"interfaces", `interface[name=x\`, "state"},
			Elem: []*gnmi.PathElem{{Name: "interfaces"}}}, Val: uval(1)}}},
	}
	return out
}

// FuzzLegacyElement: any element string parses or is refused without a
// panic, and a well-formed one walks; one built by escaping any name, key
// and value parses back to them.
func FuzzLegacyElement(f *testing.F) {
	f.Add("interface", "name", "eth0", "interface[name=eth0]")
	f.Add(`a]b`, `k=`, `v\`, `x[y=z\]][k=`)
	f.Add("openconfig-interfaces:interface", "name", "Ethernet1/2/3", `interface[name=a\\][id=1]`)
	m := testMatcher(f)
	f.Fuzz(func(t *testing.T, name, k, v, raw string) {
		if _, keys, ok := splitElement(raw); ok {
			for rest := keys; rest != ""; {
				var bad bool
				if _, _, rest, bad = nextKey(rest); bad {
					t.Fatalf("%q: accepted, then its keys %q do not parse", raw, keys)
				}
			}
			w := walk{nd: m.root.children["interfaces"]}
			w.element(raw)
		}
		if name == "" || k == "" {
			return
		}
		s := escapeElem.Replace(name) + "[" + escapeElem.Replace(k) + "=" + escapeElem.Replace(v) + "]"
		gotName, keys, ok := splitElement(s)
		if !ok || gotName != name {
			t.Fatalf("%q: name %q (ok %v), want %q", s, gotName, ok, name)
		}
		if got, found := keyValue(keys, k); !found || got != v {
			t.Fatalf("%q: key %q = %q (%v), want %q", s, k, got, found, v)
		}
	})
}
