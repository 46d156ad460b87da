package collector

import (
	"errors"
	"fmt"
	"strings"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Mapping maps one gNMI leaf path to one sample field. The table is data
// (the mappings key of the collect section), so vendor trees can be added
// without code.
//
// Path is a schema path; a key written `[name=$interface]`,
// `[name=$peer_site]` or `[name=$peer_device]` captures that key's value
// from the notification (other keys, wildcards and module prefixes are
// ignored when matching). Field is one of:
//
//	counters.<COUNTER>        a wire Counter (counters.IN_OCTETS, ...), needs $interface
//	oper_status               needs $interface
//	speed_bps                 identity (SPEED_10GB) or number × Scale, needs $interface
//	last_clear                ns since the epoch (or RFC 3339), needs $interface
//	probe.<field>             min_delay_us, max_delay_us, avg_delay_us, stddev_delay_us,
//	                          jitter_us, loss_percentage, probes_sent, probes_received;
//	                          needs $peer_site and $peer_device
type Mapping struct {
	Path  string `yaml:"path"`
	Field string `yaml:"field"`
	// Scale multiplies numeric values (e.g. 1000000 for a speed in Mbit/s). 0 means 1.
	Scale float64 `yaml:"scale"`
}

// DefaultMappings is the OpenConfig table: interface counters, oper-status,
// speeds, last-clear, and openconfig-probes results.
func DefaultMappings() []Mapping {
	const ifc = "/interfaces/interface[name=$interface]"
	const cnt = ifc + "/state/counters/"
	const prb = "/probes/probe[name=$peer_site]/tests/test[name=$peer_device]/results/state/"
	return []Mapping{
		{Path: cnt + "in-octets", Field: "counters.IN_OCTETS"},
		{Path: cnt + "in-unicast-pkts", Field: "counters.IN_UNICAST_PKTS"},
		{Path: cnt + "in-broadcast-pkts", Field: "counters.IN_BROADCAST_PKTS"},
		{Path: cnt + "in-multicast-pkts", Field: "counters.IN_MULTICAST_PKTS"},
		{Path: cnt + "in-errors", Field: "counters.IN_ERRORS"},
		{Path: cnt + "in-discards", Field: "counters.IN_DISCARDS"},
		{Path: cnt + "out-octets", Field: "counters.OUT_OCTETS"},
		{Path: cnt + "out-unicast-pkts", Field: "counters.OUT_UNICAST_PKTS"},
		{Path: cnt + "out-broadcast-pkts", Field: "counters.OUT_BROADCAST_PKTS"},
		{Path: cnt + "out-multicast-pkts", Field: "counters.OUT_MULTICAST_PKTS"},
		{Path: cnt + "out-errors", Field: "counters.OUT_ERRORS"},
		{Path: cnt + "out-discards", Field: "counters.OUT_DISCARDS"},
		{Path: cnt + "in-fcs-errors", Field: "counters.IN_FCS_ERRORS"},
		{Path: cnt + "carrier-transitions", Field: "counters.CARRIER_TRANSITIONS"},
		{Path: cnt + "last-clear", Field: "last_clear"},
		{Path: ifc + "/state/oper-status", Field: "oper_status"},
		{Path: ifc + "/ethernet/state/port-speed", Field: "speed_bps"},
		{Path: ifc + "/ethernet/state/negotiated-port-speed", Field: "speed_bps"},
		{Path: ifc + "/aggregation/state/lag-speed", Field: "speed_bps", Scale: 1e6},
		{Path: prb + "min-delay", Field: "probe.min_delay_us"},
		{Path: prb + "max-delay", Field: "probe.max_delay_us"},
		{Path: prb + "avg-delay", Field: "probe.avg_delay_us"},
		{Path: prb + "stddev-delay", Field: "probe.stddev_delay_us"},
		{Path: prb + "jitter", Field: "probe.jitter_us"},
		{Path: prb + "loss-percentage", Field: "probe.loss_percentage"},
		{Path: prb + "probes-sent", Field: "probe.probes_sent"},
		{Path: prb + "probes-received", Field: "probe.probes_received"},
	}
}

// fieldKind is what a leaf sets.
type fieldKind uint8

const (
	fieldNone fieldKind = iota
	fieldCounter
	fieldOperStatus
	fieldSpeed
	fieldLastClear
	fieldProbeMin
	fieldProbeMax
	fieldProbeAvg
	fieldProbeStddev
	fieldProbeJitter
	fieldProbeLoss
	fieldProbeSent
	fieldProbeReceived
)

func (k fieldKind) isProbe() bool { return k >= fieldProbeMin }

var probeFields = map[string]fieldKind{
	"probe.min_delay_us": fieldProbeMin, "probe.max_delay_us": fieldProbeMax,
	"probe.avg_delay_us": fieldProbeAvg, "probe.stddev_delay_us": fieldProbeStddev,
	"probe.jitter_us": fieldProbeJitter, "probe.loss_percentage": fieldProbeLoss,
	"probe.probes_sent": fieldProbeSent, "probe.probes_received": fieldProbeReceived,
}

// capture variables.
const (
	capNone uint8 = iota
	capInterface
	capPeerSite
	capPeerDevice
)

// leaf is a compiled mapping target.
type leaf struct {
	kind    fieldKind
	counter wirepb.Counter
	scale   float64
}

// node is one path element of the compiled table: a trie on element names,
// so matching a notification path walks PathElems without building strings.
type node struct {
	children map[string]*node
	caps     []nodeCapture
	leaf     *leaf
}

// nodeCapture takes the value of key into variable v.
type nodeCapture struct {
	key string
	v   uint8
}

// matcher is the compiled mapping table.
type matcher struct{ root node }

// pathElem is a parsed schema path element.
type pathElem struct {
	name string
	keys map[string]string
}

// parsePath parses "/a/b[k=v]/c" (keys may hold "/" inside brackets).
func parsePath(p string) ([]pathElem, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New("must start with /")
	}
	var out []pathElem
	rest := p[1:]
	for rest != "" {
		var el pathElem
		i := strings.IndexAny(rest, "/[")
		if i < 0 {
			el.name, rest = rest, ""
		} else {
			el.name, rest = rest[:i], rest[i:]
		}
		if el.name == "" {
			return nil, errors.New("empty element")
		}
		for strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, errors.New("unterminated [")
			}
			k, v, ok := strings.Cut(rest[1:end], "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("bad key %q", rest[:end+1])
			}
			if el.keys == nil {
				el.keys = map[string]string{}
			}
			el.keys[k] = v
			rest = rest[end+1:]
		}
		if rest != "" {
			if rest[0] != '/' {
				return nil, fmt.Errorf("unexpected %q", rest)
			}
			rest = rest[1:]
		}
		out = append(out, el)
	}
	if len(out) == 0 {
		return nil, errors.New("empty path")
	}
	return out, nil
}

func compileMappings(ms []Mapping) (*matcher, error) {
	m := &matcher{}
	for i, mp := range ms {
		lf := &leaf{scale: mp.Scale}
		if lf.scale == 0 {
			lf.scale = 1
		}
		var need []uint8
		switch {
		case strings.HasPrefix(mp.Field, "counters."):
			v, ok := wirepb.Counter_value[strings.TrimPrefix(mp.Field, "counters.")]
			if !ok || v == 0 {
				return nil, fmt.Errorf("[%d].field: unknown counter %q", i, mp.Field)
			}
			lf.kind, lf.counter = fieldCounter, wirepb.Counter(v)
			need = []uint8{capInterface}
		case mp.Field == "oper_status":
			lf.kind, need = fieldOperStatus, []uint8{capInterface}
		case mp.Field == "speed_bps":
			lf.kind, need = fieldSpeed, []uint8{capInterface}
		case mp.Field == "last_clear":
			lf.kind, need = fieldLastClear, []uint8{capInterface}
		default:
			k, ok := probeFields[mp.Field]
			if !ok {
				return nil, fmt.Errorf("[%d].field: unknown field %q", i, mp.Field)
			}
			lf.kind, need = k, []uint8{capPeerSite, capPeerDevice}
		}
		if lf.scale < 0 {
			return nil, fmt.Errorf("[%d].scale: must not be negative", i)
		}
		els, err := parsePath(mp.Path)
		if err != nil {
			return nil, fmt.Errorf("[%d].path: %q: %w", i, mp.Path, err)
		}
		have := map[uint8]bool{}
		n := &m.root
		for _, el := range els {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			c := n.children[el.name]
			if c == nil {
				c = &node{}
				n.children[el.name] = c
			}
			for k, v := range el.keys {
				var cp uint8
				switch v {
				case "$interface":
					cp = capInterface
				case "$peer_site":
					cp = capPeerSite
				case "$peer_device":
					cp = capPeerDevice
				default:
					if strings.HasPrefix(v, "$") {
						return nil, fmt.Errorf("[%d].path: unknown capture %q", i, v)
					}
					continue
				}
				dup := false
				for _, x := range c.caps {
					if x.key == k && x.v == cp {
						dup = true
					} else if x.key == k || x.v == cp {
						return nil, fmt.Errorf("[%d].path: capture at %q conflicts with another mapping", i, el.name)
					}
				}
				if !dup {
					c.caps = append(c.caps, nodeCapture{key: k, v: cp})
				}
				have[cp] = true
			}
			n = c
		}
		if n.leaf != nil {
			return nil, fmt.Errorf("[%d].path: %q mapped twice", i, mp.Path)
		}
		for _, cp := range need {
			if !have[cp] {
				return nil, fmt.Errorf("[%d].path: field %s needs a capture %s", i, mp.Field, [...]string{"", "$interface", "$peer_site", "$peer_device"}[cp])
			}
		}
		n.leaf = lf
	}
	return m, nil
}
