// Package rules holds remediation rules — what to watch, when it is a fault,
// when it is over, and what to call — and the engine that evaluates them
// over KPI windows. The engine is pure: feed it KPIs, it returns lifecycle
// transitions. It does no I/O and reads no clock (time is the KPI windows'
// own window_end), so the same KPIs always yield the same events.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meshtelemetry/telemetry/common/tenant"
)

// Scope selects the entities a rule applies to: glob patterns (path.Match
// syntax: *, ?, [a-z]) on each label. An empty pattern matches anything.
type Scope struct {
	Site      string `yaml:"site"`
	Device    string `yaml:"device"`
	Interface string `yaml:"interface"`
	DstSite   string `yaml:"dst-site"`
	DstDevice string `yaml:"dst-device"`
	Instance  string `yaml:"instance"`
}

// Threshold is a fixed-threshold condition: the KPI compared with Value.
type Threshold struct {
	// Op is one of >, >=, <, <=.
	Op    string  `yaml:"op"`
	Value float64 `yaml:"value"`
}

// Baseline is a deviation condition: the z-score of the KPI against the mean
// and standard deviation of the entity's previous Windows KPI windows.
type Baseline struct {
	// Windows is the rolling window length, in KPI windows (default 30).
	Windows int `yaml:"windows"`
	// MinWindows is how many windows must be seen before the rule can fire
	// (default Windows/2, at least 2).
	MinWindows int `yaml:"min-windows"`
	// Z is the z-score that breaches (default 3).
	Z float64 `yaml:"z"`
	// Direction: "above" (default), "below" or "both".
	Direction string `yaml:"direction"`
	// MinStddev floors the standard deviation so a perfectly flat series does
	// not turn noise into infinite z-scores (default 1e-9).
	MinStddev float64 `yaml:"min-stddev"`
}

// Action is what to do with the event's transitions.
type Action struct {
	// Webhook names an entry of the remediate section's webhooks; empty means
	// the events only go to the remediations topic.
	Webhook string `yaml:"webhook"`
	// Template is a Go text/template over the event (see Event) whose output
	// is the payload: the body of a "raw" webhook, or data.payload of a
	// CloudEvents one.
	Template string `yaml:"template"`
}

// Rule is one remediation rule.
type Rule struct {
	// Name identifies the rule (unique; part of every event id).
	Name string `yaml:"name"`
	// Tenant the rule belongs to (docs/tenancy.md): it sees only that
	// tenant's KPIs, and names that tenant's webhooks or the provider's.
	// Empty: a provider rule, applied to every tenant's KPIs, each event
	// carrying its KPI's tenant.
	Tenant string `yaml:"tenant"`
	// KPI is "<kind>.<field>", e.g. interface.loss_ratio, link.rtt_ms,
	// device.reachable.
	KPI   string `yaml:"kpi"`
	Scope Scope  `yaml:"scope"`
	// Exactly one of Threshold and Baseline.
	Threshold *Threshold `yaml:"threshold"`
	Baseline  *Baseline  `yaml:"baseline"`
	// For is how long the condition must hold (from the start of the first
	// breaching window to the end of the current one) before the event fires.
	// 0 fires on the first breaching window.
	For time.Duration `yaml:"for"`
	// ClearThreshold is the hysteresis bound: the KPI must be back on the
	// good side of it (for thresholds: the inverse of Op; for baselines: |z|
	// at most this) for ClearFor before the event resolves. Default: the
	// firing threshold (or z).
	ClearThreshold *float64 `yaml:"clear-threshold"`
	// ClearFor is how long the KPI must stay within bounds to resolve
	// (default: For, at least one window).
	ClearFor time.Duration `yaml:"clear-for"`
	// Severity: info, warning (default) or critical.
	Severity string `yaml:"severity"`
	// Cooldown after a resolve during which the same entity does not fire
	// again (default 5m).
	Cooldown time.Duration `yaml:"cooldown"`
	// EscalateAfter: an event not resolved this long after firing escalates
	// (once). 0 disables escalation.
	EscalateAfter time.Duration `yaml:"escalate-after"`
	// FlapWindow and FlapMax: an entity that fired FlapMax events within
	// FlapWindow is flapping; further firings are suppressed until the
	// oldest leaves the window. Defaults 1h and 3; FlapMax 0 disables.
	FlapWindow time.Duration `yaml:"flap-window"`
	FlapMax    int           `yaml:"flap-max"`
	Action     Action        `yaml:"action"`
}

// File is the layout of a rules file.
type File struct {
	Rules []Rule `yaml:"rules"`
}

// ErrNoRules is a rules file that does not say which rules it holds: empty,
// only blanks or comments, or without a "rules:" list (missing or null).
// It is what a file caught while an editor or a configuration tool
// rewrites it looks like, so it is refused rather than read as "no rules";
// a file meant to hold none says so with "rules: []".
var ErrNoRules = errors.New(`no rules list (the file is empty, blank or comments only, or rules: is missing or null); write "rules: []" for no rules`)

// Parse reads a rules file (strict: unknown keys are errors; one YAML
// document), fills defaults and validates every rule. A file without a
// rules list is ErrNoRules; "rules: []" is an empty rule set.
func Parse(b []byte) ([]Rule, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, ErrNoRules
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrNoRules
		}
		return nil, fmt.Errorf("rules: %w", err)
	}
	if f.Rules == nil {
		return nil, ErrNoRules
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("rules: a second YAML document (---) follows the first; a rules file holds one")
	}
	if err := Prepare(f.Rules); err != nil {
		return nil, err
	}
	return f.Rules, nil
}

// Prepare fills defaults in place and validates a rule set: names unique,
// every rule valid. Errors name the rule and the key.
func Prepare(rs []Rule) error {
	seen := map[string]bool{}
	for i := range rs {
		r := &rs[i]
		if r.Name == "" {
			return fmt.Errorf("rules[%d].name: must not be empty", i)
		}
		if seen[r.Name] {
			return fmt.Errorf("rule %q: name: duplicate rule name", r.Name)
		}
		seen[r.Name] = true
		r.setDefaults()
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rule) setDefaults() {
	if r.Severity == "" {
		r.Severity = "warning"
	}
	if r.Baseline != nil {
		b := r.Baseline
		if b.Windows == 0 {
			b.Windows = 30
		}
		if b.MinWindows == 0 {
			b.MinWindows = max(2, b.Windows/2)
		}
		if b.Z == 0 {
			b.Z = 3
		}
		if b.Direction == "" {
			b.Direction = "above"
		}
		if b.MinStddev == 0 {
			b.MinStddev = 1e-9
		}
	}
	if r.ClearFor == 0 {
		r.ClearFor = r.For
	}
	if r.Cooldown == 0 {
		r.Cooldown = 5 * time.Minute
	}
	if r.FlapWindow == 0 {
		r.FlapWindow = time.Hour
	}
	if r.FlapMax == 0 {
		r.FlapMax = 3
	}
}

// Validate checks one rule (defaults already applied). Errors read
// `rule "NAME": KEY: reason`.
func (r *Rule) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("rule %q: %s: %s", r.Name, key, fmt.Sprintf(format, args...))
	}
	if r.Tenant != "" {
		if err := tenant.CheckID(r.Tenant); err != nil {
			return bad("tenant", "%v", err)
		}
	}
	if _, ok := Field(r.KPI); !ok {
		if fs := fieldsOf(KindOf(r.KPI)); len(fs) > 0 {
			return bad("kpi", "unknown KPI %q: %s KPIs are %s", r.KPI, KindOf(r.KPI), strings.Join(fs, ", "))
		}
		return bad("kpi", "unknown KPI %q (known: %s)", r.KPI, strings.Join(KPINames(), ", "))
	}
	for key, p := range map[string]string{"scope.site": r.Scope.Site, "scope.device": r.Scope.Device,
		"scope.interface": r.Scope.Interface, "scope.dst-site": r.Scope.DstSite,
		"scope.dst-device": r.Scope.DstDevice, "scope.instance": r.Scope.Instance} {
		if _, err := path.Match(p, ""); err != nil {
			return bad(key, "bad glob %q: %v", p, err)
		}
	}
	kind, _, _ := strings.Cut(r.KPI, ".")
	if kind != "interface" && r.Scope.Interface != "" {
		return bad("scope.interface", "only applies to interface KPIs")
	}
	if kind != "link" && (r.Scope.DstSite != "" || r.Scope.DstDevice != "") {
		return bad("scope.dst-site", "only applies to link KPIs")
	}
	if kind == "device" && r.Scope.Instance != "" {
		return bad("scope.instance", "only applies to pipeline KPIs")
	}
	switch {
	case r.Threshold == nil && r.Baseline == nil:
		return bad("threshold", "one of threshold or baseline is required")
	case r.Threshold != nil && r.Baseline != nil:
		return bad("baseline", "threshold and baseline are exclusive")
	case r.Threshold != nil:
		if _, ok := ops[r.Threshold.Op]; !ok {
			return bad("threshold.op", "%q is not one of >, >=, <, <=", r.Threshold.Op)
		}
		if math.IsNaN(r.Threshold.Value) || math.IsInf(r.Threshold.Value, 0) {
			return bad("threshold.value", "must be a finite number")
		}
		if c := r.ClearThreshold; c != nil {
			if math.IsNaN(*c) || math.IsInf(*c, 0) {
				return bad("clear-threshold", "must be a finite number")
			}
			above := r.Threshold.Op[0] == '>'
			if above && *c > r.Threshold.Value || !above && *c < r.Threshold.Value {
				return bad("clear-threshold", "%g is on the breaching side of threshold %s %g (hysteresis must widen, not invert)", *c, r.Threshold.Op, r.Threshold.Value)
			}
		}
	default:
		b := r.Baseline
		if b.Windows < 2 || b.Windows > 10000 {
			return bad("baseline.windows", "must be between 2 and 10000, got %d", b.Windows)
		}
		if b.MinWindows < 2 || b.MinWindows > b.Windows {
			return bad("baseline.min-windows", "must be between 2 and windows (%d), got %d", b.Windows, b.MinWindows)
		}
		if !(b.Z > 0) || math.IsInf(b.Z, 0) {
			return bad("baseline.z", "must be positive")
		}
		if !slices.Contains([]string{"above", "below", "both"}, b.Direction) {
			return bad("baseline.direction", "%q is not above, below or both", b.Direction)
		}
		if !(b.MinStddev > 0) || math.IsInf(b.MinStddev, 0) {
			return bad("baseline.min-stddev", "must be positive")
		}
		if c := r.ClearThreshold; c != nil && (!(*c >= 0) || *c > b.Z) {
			return bad("clear-threshold", "for a baseline it is a z-score between 0 and z (%g)", b.Z)
		}
	}
	// In the order of the documentation, so the error names the first bad
	// key every time (a map's order is random).
	for _, kd := range []struct {
		key string
		d   time.Duration
	}{{"for", r.For}, {"clear-for", r.ClearFor}, {"cooldown", r.Cooldown},
		{"escalate-after", r.EscalateAfter}, {"flap-window", r.FlapWindow}} {
		if kd.d < 0 {
			return bad(kd.key, "must not be negative")
		}
	}
	if r.FlapMax < 0 {
		return bad("flap-max", "must not be negative")
	}
	if _, ok := severities[r.Severity]; !ok {
		return bad("severity", "%q is not info, warning or critical", r.Severity)
	}
	if r.Action.Template != "" {
		if _, err := r.CompileTemplate(); err != nil {
			return bad("action.template", "%v", err)
		}
	}
	return nil
}

// CompileTemplate parses the action template and renders it once over a
// sample event, so field-name mistakes show at load time.
func (r *Rule) CompileTemplate() (*template.Template, error) {
	t, err := template.New(r.Name).Option("missingkey=error").Funcs(TemplateFuncs()).Parse(r.Action.Template)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, SampleEvent()); err != nil {
		return nil, err
	}
	return t, nil
}

var severities = map[string]struct{}{"info": {}, "warning": {}, "critical": {}}

// String names the rule and what it watches (for listings and logs).
func (r Rule) String() string {
	cond := "?"
	switch {
	case r.Threshold != nil:
		cond = fmt.Sprintf("%s %g", r.Threshold.Op, r.Threshold.Value)
	case r.Baseline != nil:
		cond = fmt.Sprintf("z>%g over %d windows", r.Baseline.Z, r.Baseline.Windows)
	}
	if r.Tenant != "" {
		return fmt.Sprintf("{%s (tenant %s): %s %s for %s -> %s}", r.Name, r.Tenant, r.KPI, cond, r.For, r.Action.Webhook)
	}
	return fmt.Sprintf("{%s: %s %s for %s -> %s}", r.Name, r.KPI, cond, r.For, r.Action.Webhook)
}
