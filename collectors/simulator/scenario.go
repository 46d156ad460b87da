package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FaultType names a kind of fault.
type FaultType string

// Fault types of a scenario.
const (
	// FaultLoss drops a ratio of the packets of an interface (see docs).
	FaultLoss FaultType = "loss"
	// FaultCongestion sets the offered load of an interface as a ratio of
	// the port speed; above 1 the excess is counted as out-discards.
	FaultCongestion FaultType = "congestion"
	// FaultLatency adds RTT (and jitter, optionally probe loss) between two sites.
	FaultLatency FaultType = "latency"
	// FaultCounterReset reboots a device: counters restart at zero,
	// last-clear changes; with a duration the device is unreachable and
	// its interfaces are down for that long.
	FaultCounterReset FaultType = "counter_reset"
	// FaultLinkDown takes an interface (or all of a device's) down.
	FaultLinkDown FaultType = "link_down"
	// FaultFlap takes an interface down and up every period.
	FaultFlap FaultType = "flap"
)

// Fault is one injected fault. Start is an offset from the fabric's boot
// (New) for scenario files, from the call for Fabric.Inject. Times are
// rounded up to whole seconds: the model changes on second boundaries.
type Fault struct {
	Type FaultType `yaml:"type" json:"type"`
	// Start is the offset at which the fault begins.
	Start time.Duration `yaml:"start" json:"start"`
	// Duration is how long it lasts; 0 means until the fabric stops
	// (for counter_reset: an instant clear without downtime).
	Duration time.Duration `yaml:"duration" json:"duration"`
	// Device is the switch ("site1-sw1") for interface and device faults.
	Device string `yaml:"device" json:"device,omitempty"`
	// Interface is the interface ("Ethernet1"); empty means every
	// interface of Device (loss, congestion, link_down, flap).
	Interface string `yaml:"interface" json:"interface,omitempty"`
	// Sites are the two sites of a latency fault (both directions).
	Sites []string `yaml:"sites" json:"sites,omitempty"`
	// Ratio is the loss ratio (0..1] of a loss fault.
	Ratio float64 `yaml:"ratio" json:"ratio,omitempty"`
	// Load is the offered load of a congestion fault, as a ratio of the
	// port speed (> 0; above 1 the excess is discarded).
	Load float64 `yaml:"load" json:"load,omitempty"`
	// RTTMs is the RTT added by a latency fault, in milliseconds.
	RTTMs float64 `yaml:"rtt-ms" json:"rtt_ms,omitempty"`
	// JitterMs is the jitter added by a latency fault, in milliseconds.
	JitterMs float64 `yaml:"jitter-ms" json:"jitter_ms,omitempty"`
	// Loss is the probe loss ratio added by a latency fault (0..1).
	Loss float64 `yaml:"loss" json:"loss,omitempty"`
	// Period is the half-cycle of a flap: down for Period, up for Period, ...
	Period time.Duration `yaml:"period" json:"period,omitempty"`
}

// Scenario is a list of faults.
type Scenario struct {
	Faults []Fault `yaml:"faults"`
}

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// allowedKeys lists the keys each fault type accepts (besides type, start, duration).
func allowedKeys(t FaultType) []string {
	switch t {
	case FaultLoss:
		return []string{"device", "interface", "ratio"}
	case FaultCongestion:
		return []string{"device", "interface", "load"}
	case FaultLatency:
		return []string{"sites", "rtt-ms", "jitter-ms", "loss"}
	case FaultCounterReset:
		return []string{"device"}
	case FaultLinkDown:
		return []string{"device", "interface"}
	case FaultFlap:
		return []string{"device", "interface", "period"}
	}
	return nil
}

// ParseScenario parses and validates a scenario: either a mapping with a
// "faults" list or a bare list of faults. Errors name the fault index
// (from 0) and the key.
func ParseScenario(b []byte) (*Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	var next yaml.Node
	for {
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		if !emptyDocument(&next) {
			// What a second document said would be ignored: a fault the
			// operator wrote would silently not happen.
			return nil, fmt.Errorf("scenario: line %d: a second YAML document: a scenario holds one list of faults", next.Line)
		}
	}
	s := &Scenario{}
	if len(doc.Content) == 0 {
		return s, nil
	}
	root := doc.Content[0]
	var list *yaml.Node
	switch root.Kind {
	case yaml.SequenceNode:
		list = root
	case yaml.MappingNode:
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i].Value
			if k != "faults" {
				return nil, fmt.Errorf("scenario: line %d: unknown key %q (want faults)", root.Content[i].Line, k)
			}
			list = root.Content[i+1]
		}
		if list == nil {
			return s, nil
		}
		if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
			return s, nil
		}
		if list.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("scenario: line %d: faults: must be a list", list.Line)
		}
	case yaml.ScalarNode:
		if root.Tag == "!!null" {
			return s, nil
		}
		return nil, fmt.Errorf("scenario: line %d: must be a list of faults", root.Line)
	default:
		return nil, fmt.Errorf("scenario: line %d: must be a list of faults", root.Line)
	}
	for i, n := range list.Content {
		f, err := parseFault(n)
		if err != nil {
			return nil, fmt.Errorf("scenario: fault %d (line %d): %w", i, n.Line, err)
		}
		s.Faults = append(s.Faults, f)
	}
	return s, nil
}

// emptyDocument reports whether a YAML document holds nothing (a "---"
// alone, comments).
func emptyDocument(n *yaml.Node) bool {
	for _, c := range n.Content {
		if !(c.Kind == yaml.ScalarNode && c.ShortTag() == "!!null" && c.Value == "") {
			return false
		}
	}
	return true
}

func parseFault(n *yaml.Node) (Fault, error) {
	var f Fault
	if n.Kind != yaml.MappingNode {
		return f, errors.New("must be a mapping with a type")
	}
	vals := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if _, dup := vals[k]; dup {
			return f, fmt.Errorf("%s: duplicate key", k)
		}
		vals[k] = n.Content[i+1]
	}
	tn, ok := vals["type"]
	if !ok {
		return f, errors.New("type: missing (loss, congestion, latency, counter_reset, link_down or flap)")
	}
	f.Type = FaultType(tn.Value)
	allowed := allowedKeys(f.Type)
	if allowed == nil {
		return f, fmt.Errorf("type: %q is not loss, congestion, latency, counter_reset, link_down or flap", tn.Value)
	}
	for k, v := range vals {
		var err error
		switch k {
		case "type":
			continue
		case "start":
			f.Start, err = parseDuration(v)
		case "duration":
			f.Duration, err = parseDuration(v)
		default:
			okKey := false
			for _, a := range allowed {
				if a == k {
					okKey = true
				}
			}
			if !okKey {
				return f, fmt.Errorf("%s: unknown key for a %s fault (allowed: type, start, duration, %s)", k, f.Type, strings.Join(allowed, ", "))
			}
			switch k {
			case "device":
				f.Device, err = parseString(v)
			case "interface":
				f.Interface, err = parseString(v)
			case "sites":
				if v.Kind != yaml.SequenceNode {
					err = errors.New("must be a list of two sites")
					break
				}
				for _, e := range v.Content {
					var site string
					if site, err = parseString(e); err != nil {
						break
					}
					f.Sites = append(f.Sites, site)
				}
			case "ratio":
				f.Ratio, err = parseFloat(v)
			case "load":
				f.Load, err = parseFloat(v)
			case "rtt-ms":
				f.RTTMs, err = parseFloat(v)
			case "jitter-ms":
				f.JitterMs, err = parseFloat(v)
			case "loss":
				f.Loss, err = parseFloat(v)
			case "period":
				f.Period, err = parseDuration(v)
			}
		}
		if err != nil {
			return f, fmt.Errorf("%s: %w", k, err)
		}
	}
	return f, f.Validate()
}

func parseString(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", errors.New("must be a string")
	}
	return n.Value, nil
}

func parseFloat(n *yaml.Node) (float64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("must be a number")
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number", n.Value)
	}
	return v, nil
}

// parseDuration accepts a Go duration ("90s", "1m30s") or a number of seconds.
func parseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("must be a duration like 30s")
	}
	if d, err := time.ParseDuration(n.Value); err == nil {
		return d, nil
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e9 {
		return 0, fmt.Errorf("%q is not a duration like 30s", n.Value)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// Validate checks one fault on its own (names are checked against the
// fabric by New and Inject). Errors start with the key.
func (f *Fault) Validate() error {
	if allowedKeys(f.Type) == nil {
		return fmt.Errorf("type: %q is not loss, congestion, latency, counter_reset, link_down or flap", f.Type)
	}
	if f.Start < 0 {
		return fmt.Errorf("start: %s is negative", f.Start)
	}
	if f.Duration < 0 {
		return fmt.Errorf("duration: %s is negative", f.Duration)
	}
	const maxSpan = 100 * 365 * 24 * time.Hour
	if f.Start > maxSpan || f.Duration > maxSpan {
		return errors.New("start: offsets beyond 100 years are not supported")
	}
	switch f.Type {
	case FaultLatency:
		if len(f.Sites) != 2 {
			return fmt.Errorf("sites: want exactly two sites, got %d", len(f.Sites))
		}
		if f.Sites[0] == f.Sites[1] || f.Sites[0] == "" {
			return errors.New("sites: want two different sites")
		}
		if f.RTTMs < 0 || f.RTTMs > 60000 {
			return fmt.Errorf("rtt-ms: %g is not in 0..60000", f.RTTMs)
		}
		if f.JitterMs < 0 || f.JitterMs > 60000 {
			return fmt.Errorf("jitter-ms: %g is not in 0..60000", f.JitterMs)
		}
		if f.Loss < 0 || f.Loss > 1 {
			return fmt.Errorf("loss: %g is not in 0..1", f.Loss)
		}
		if f.RTTMs == 0 && f.JitterMs == 0 && f.Loss == 0 {
			return errors.New("rtt-ms: one of rtt-ms, jitter-ms or loss must be set")
		}
		return nil
	}
	if f.Device == "" {
		return errors.New("device: missing")
	}
	switch f.Type {
	case FaultLoss:
		if !(f.Ratio > 0 && f.Ratio <= 1) {
			return fmt.Errorf("ratio: %g is not in (0,1]", f.Ratio)
		}
	case FaultCongestion:
		if !(f.Load > 0 && f.Load <= 100) {
			return fmt.Errorf("load: %g is not in (0,100]", f.Load)
		}
	case FaultFlap:
		if f.Period < time.Second {
			return fmt.Errorf("period: %s is below 1s", f.Period)
		}
	}
	return nil
}

// String renders a fault for logs.
func (f Fault) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s start=%s duration=%s", f.Type, f.Start, f.Duration)
	if f.Device != "" {
		fmt.Fprintf(&b, " device=%s", f.Device)
	}
	if f.Interface != "" {
		fmt.Fprintf(&b, " interface=%s", f.Interface)
	}
	if len(f.Sites) > 0 {
		fmt.Fprintf(&b, " sites=%s", strings.Join(f.Sites, ","))
	}
	return b.String()
}
