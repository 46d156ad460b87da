package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

var ops = map[string]func(v, t float64) bool{
	">":  func(v, t float64) bool { return v > t },
	">=": func(v, t float64) bool { return v >= t },
	"<":  func(v, t float64) bool { return v < t },
	"<=": func(v, t float64) bool { return v <= t },
}

type phase uint8

const (
	idle    phase = iota // within bounds
	pending              // breaching, waiting for `for`
	active               // event fired, waiting to clear
)

// state is one (rule, entity)'s evaluation state.
type state struct {
	phase        phase
	lastWindow   int64 // window_end of the newest KPI seen: older or equal ones are ignored
	pendingSince int64 // window_start of the first breaching window
	clearSince   int64 // window_start of the first window back within bounds; 0: not clearing
	lastResolved int64
	fires        []int64 // fire times within the flap window
	escalated    bool
	event        *wirepb.RemediationEvent // template of the active event
	hist         []float64                // baseline ring
	histNext     int
}

type compiled struct {
	Rule
	field extractor
	op    func(v, t float64) bool
}

// Counts are the engine's running totals.
type Counts struct {
	// KPIs observed and rule evaluations done.
	KPIs, Evaluations uint64
	// Ignored KPIs: not newer than the entity's last window (replay, duplicate).
	Stale uint64
	// Firings suppressed by a cooldown or by flap damping.
	SuppressedCooldown, SuppressedFlap uint64
	// Transitions emitted by state.
	Firing, Resolved, Escalated uint64
}

// Engine evaluates rules over KPIs. It is not safe for concurrent use; it
// is pure: the same KPIs in the same order give the same transitions.
type Engine struct {
	rules  []*compiled
	states map[string]*state // rule name + "\x00" + entity (see entityKey)
	counts Counts
	// tenants tells the default tenant (of a KPI without one) and what an
	// event of a tenant carries (Stamp); nil: one tenant.
	tenants *tenant.Resolver
}

// NewEngine builds an engine over rules, which must have gone through
// Prepare (or Parse).
func NewEngine(rs []Rule) (*Engine, error) {
	e := &Engine{states: map[string]*state{}}
	if err := e.SetRules(rs); err != nil {
		return nil, err
	}
	return e, nil
}

// SetRules replaces the rule set (on reload). The state of rules whose name
// is kept survives (active events stay active, baselines keep their
// history); the state of removed rules is forgotten without a transition.
func (e *Engine) SetRules(rs []Rule) error {
	out := make([]*compiled, 0, len(rs))
	names := map[string]bool{}
	for _, r := range rs {
		f, ok := Field(r.KPI)
		if !ok {
			return fmt.Errorf("rule %q: kpi: unknown KPI %q", r.Name, r.KPI)
		}
		c := &compiled{Rule: r, field: f}
		if r.Threshold != nil {
			c.op = ops[r.Threshold.Op]
			if c.op == nil {
				return fmt.Errorf("rule %q: threshold.op: %q is not one of >, >=, <, <=", r.Name, r.Threshold.Op)
			}
		}
		out = append(out, c)
		names[r.Name] = true
	}
	for k := range e.states {
		name, _, _ := cut0(k)
		if !names[name] {
			delete(e.states, k)
		}
	}
	e.rules = out
	return nil
}

func cut0(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// SetTenants sets the tenancy the engine reads KPIs' tenants with (nil,
// the default: one tenant). Set it before the first Observe.
func (e *Engine) SetTenants(r *tenant.Resolver) { e.tenants = r }

// Counts returns the running totals.
func (e *Engine) Counts() Counts { return e.counts }

// Active returns how many events are active (fired, not yet resolved).
func (e *Engine) Active() int {
	n := 0
	for _, s := range e.states {
		if s.phase == active {
			n++
		}
	}
	return n
}

// Expire forgets idle entities whose newest window ended before `before`
// (ns since the epoch) and are out of cooldown: bounds memory when entities
// disappear. Active and pending ones are kept.
func (e *Engine) Expire(before int64) int {
	n := 0
	for k, s := range e.states {
		if s.phase == idle && s.lastWindow < before && (s.lastResolved == 0 || s.lastResolved < before) {
			delete(e.states, k)
			n++
		}
	}
	return n
}

// EventID is the stable id of an event: a hash of the rule, the entity and
// the window_end of the window that fired it. For a tenant other than the
// default one the entity is its entityKey ("tenant\x00entity"), so the
// default tenant's ids are those of before tenants existed.
func EventID(rule, entity string, firedWindowEnd int64) string {
	h := sha256.New()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(entity))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, firedWindowEnd, 10))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Observe evaluates every matching rule on one KPI window and appends the
// resulting transitions (firing, resolved, escalated) to out. Transition
// times are the KPI's window_end.
func (e *Engine) Observe(k *wirepb.KPI, out []*wirepb.RemediationEvent) []*wirepb.RemediationEvent {
	e.counts.KPIs++
	ws, we := k.GetWindowStartUnixNano(), k.GetWindowEndUnixNano()
	if ws == 0 || ws > we {
		ws = we
	}
	var lbl Labels
	var entity, key string
	tn := e.tenants.Or(k.GetTenant())
	for _, r := range e.rules {
		if r.Tenant != "" && r.Tenant != tn {
			continue // a tenant rule sees its tenant's KPIs only
		}
		v, ok := r.field(k)
		if !ok {
			continue
		}
		if entity == "" {
			lbl = LabelsOf(k)
			entity = lbl.Entity()
			key = e.entityKey(tn, entity)
		}
		if !r.matches(lbl) {
			continue
		}
		if math.IsNaN(v) {
			continue
		}
		e.counts.Evaluations++
		sk := r.Name + "\x00" + key
		s := e.states[sk]
		if s == nil {
			s = &state{}
			e.states[sk] = s
		}
		if we <= s.lastWindow {
			e.counts.Stale++
			continue
		}
		s.lastWindow = we
		out = e.step(r, s, k, lbl, entity, key, tn, v, ws, we, out)
	}
	return out
}

// entityKey is the entity as the engine keys its state and event ids:
// the entity for the default tenant, "tenant\x00entity" for another, so
// that two tenants' entities never share a state or an event id.
func (e *Engine) entityKey(tn, entity string) string {
	if tn == e.tenants.Default() {
		return entity
	}
	return tn + "\x00" + entity
}

func (r *compiled) matches(l Labels) bool {
	m := func(p, v string) bool {
		if p == "" || p == "*" {
			return true
		}
		ok, _ := path.Match(p, v)
		return ok
	}
	sc := r.Scope
	return m(sc.Site, l.Site) && m(sc.Device, l.Device) && m(sc.Interface, l.Interface) &&
		m(sc.DstSite, l.DstSite) && m(sc.DstDevice, l.DstDevice) && m(sc.Instance, l.Instance)
}

// evaluate returns whether v breaches, whether it is within the clear
// bound, and the threshold (in KPI units) it was compared with.
func (r *compiled) evaluate(s *state, v float64) (breach, clear bool, threshold float64) {
	if r.Threshold != nil {
		t := r.Threshold.Value
		c := t
		if r.ClearThreshold != nil {
			c = *r.ClearThreshold
		}
		return r.op(v, t), !r.op(v, c), t
	}
	b := r.Baseline
	n := len(s.hist)
	if n < b.MinWindows {
		return false, true, math.NaN()
	}
	var sum float64
	for _, x := range s.hist {
		sum += x
	}
	mean := sum / float64(n)
	var ss float64
	for _, x := range s.hist {
		ss += (x - mean) * (x - mean)
	}
	sd := max(math.Sqrt(ss/float64(n)), b.MinStddev)
	z := (v - mean) / sd
	cz := b.Z
	if r.ClearThreshold != nil {
		cz = *r.ClearThreshold
	}
	over := func(lim float64) bool {
		switch b.Direction {
		case "below":
			return z < -lim
		case "both":
			return math.Abs(z) > lim
		default:
			return z > lim
		}
	}
	threshold = mean + b.Z*sd
	if b.Direction == "below" {
		threshold = mean - b.Z*sd
	}
	return over(b.Z), !over(cz), threshold
}

func (r *compiled) remember(s *state, v float64) {
	b := r.Baseline
	if b == nil {
		return
	}
	if len(s.hist) < b.Windows {
		s.hist = append(s.hist, v)
		return
	}
	s.hist[s.histNext] = v
	s.histNext = (s.histNext + 1) % b.Windows
}

func (e *Engine) step(r *compiled, s *state, k *wirepb.KPI, l Labels, entity, key, tn string, v float64, ws, we int64,
	out []*wirepb.RemediationEvent) []*wirepb.RemediationEvent {
	breach, clear, threshold := r.evaluate(s, v)
	if s.phase == idle {
		if !breach {
			// The baseline learns only from windows within bounds, and
			// freezes while a fault is pending or active.
			r.remember(s, v)
			return out
		}
		if s.lastResolved != 0 && we < s.lastResolved+int64(r.Cooldown) {
			e.counts.SuppressedCooldown++
			return out
		}
		s.phase = pending
		s.pendingSince = ws
	}
	if s.phase == pending {
		if !breach {
			s.phase = idle
			r.remember(s, v)
			return out
		}
		if we-s.pendingSince < int64(r.For) {
			return out
		}
		if r.FlapMax > 0 {
			keep := s.fires[:0]
			for _, t := range s.fires {
				if t > we-int64(r.FlapWindow) {
					keep = append(keep, t)
				}
			}
			s.fires = keep
			if len(s.fires) >= r.FlapMax {
				// Flapping: stay pending; the event fires once the oldest
				// firing leaves the flap window if the fault is still there.
				e.counts.SuppressedFlap++
				return out
			}
			s.fires = append(s.fires, we)
		}
		s.phase = active
		s.clearSince = 0
		s.escalated = false
		site, device := l.Site, l.Device
		if l.Instance != "" {
			// RemediationEvent has no instance field: a pipeline event is
			// site "pipeline", device <instance>.
			site, device = "pipeline", l.Instance
		}
		s.event = &wirepb.RemediationEvent{
			EventId:           EventID(r.Name, key, we),
			Tenant:            e.tenants.Stamp(tn),
			Rule:              r.Name,
			Severity:          ParseSeverity(r.Severity),
			Site:              site,
			Device:            device,
			Interface:         l.Interface,
			DstSite:           l.DstSite,
			DstDevice:         l.DstDevice,
			Kpi:               r.KPI,
			Threshold:         threshold,
			FiredUnixNano:     we,
			WindowEndUnixNano: we,
			Action:            r.Action.Webhook,
		}
		e.counts.Firing++
		return append(out, s.transition(wirepb.EventState_FIRING, v, we,
			fmt.Sprintf("%s %s=%g breached %g on %s for %s%s", r.Name, r.KPI, v, threshold, entity,
				time.Duration(we-s.pendingSince), detail(k))))
	}
	// active
	if clear {
		if s.clearSince == 0 {
			s.clearSince = ws
		}
		if we-s.clearSince >= int64(r.ClearFor) {
			s.phase = idle
			s.lastResolved = we
			e.counts.Resolved++
			out = append(out, s.transition(wirepb.EventState_RESOLVED, v, we,
				fmt.Sprintf("%s %s=%g back within bounds on %s for %s", r.Name, r.KPI, v, entity,
					time.Duration(we-s.clearSince))))
			s.event = nil
			return out
		}
	} else {
		s.clearSince = 0
	}
	if r.EscalateAfter > 0 && !s.escalated && we-s.event.GetFiredUnixNano() >= int64(r.EscalateAfter) {
		s.escalated = true
		e.counts.Escalated++
		out = append(out, s.transition(wirepb.EventState_ESCALATED, v, we,
			fmt.Sprintf("%s on %s not resolved after %s", r.Name, entity, r.EscalateAfter)))
	}
	return out
}

// transition returns a copy of the active event in state st.
func (s *state) transition(st wirepb.EventState, v float64, we int64, msg string) *wirepb.RemediationEvent {
	ev := &wirepb.RemediationEvent{
		EventId: s.event.EventId, Tenant: s.event.Tenant, Rule: s.event.Rule, Severity: s.event.Severity,
		Site: s.event.Site, Device: s.event.Device, Interface: s.event.Interface,
		DstSite: s.event.DstSite, DstDevice: s.event.DstDevice, Kpi: s.event.Kpi,
		Threshold: s.event.Threshold, FiredUnixNano: s.event.FiredUnixNano, Action: s.event.Action,
		State: st, Value: v, TimeUnixNano: we, WindowEndUnixNano: we, Message: msg,
	}
	return ev
}

// detail is what a firing message adds about the KPI: for a device, its
// state and the collector's last error, e.g. " (down: connection refused)".
func detail(k *wirepb.KPI) string {
	d := k.GetDeviceKpi()
	if d == nil {
		return ""
	}
	st := strings.TrimPrefix(strings.ToLower(d.GetState().String()), "device_")
	if d.GetLastError() == "" {
		return " (" + st + ")"
	}
	return " (" + st + ": " + d.GetLastError() + ")"
}
