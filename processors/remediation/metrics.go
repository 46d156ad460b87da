package remediation

import (
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/component"
)

// Stage is the name the Remediator reports under: its log lines carry
// component=remediation, its metrics are telemetry_remediation_*.
const Stage = "remediation"

// The component field of a dead letter (and the component label of
// telemetry_remediation_deadletters_total): which loop gave up on the
// record.
const (
	engineComponent     = "remediate"
	dispatcherComponent = "dispatcher"
)

// Reasons, for the reason labels and the by-reason maps of Stats. Each
// list below is the one source of a metric's label values and of the keys
// of its Stats map.
const (
	reasonUnexpectedSchema = "unexpected_schema"
	reasonDecode           = "decode"
	reasonUnknownVersion   = "unknown_version"
	reasonWarmupFailed     = "warmup_failed"
	reasonStaleWindow      = "stale_window"
	reasonNoAction         = "no_action"
	reasonUnknownWebhook   = "unknown_webhook"
	reasonRender           = "render"
	reasonDelivery         = "delivery" // dead-lettered after the last attempt or a refusal
	reasonCooldown         = "cooldown"
	reasonFlap             = "flap"
)

var (
	// transitionStates: the engine's (firing, resolved, escalated) and the
	// dispatcher's (dispatched, acknowledged, failed), as rules.StateName
	// names them.
	transitionStates  = []string{"firing", "resolved", "escalated", "dispatched", "acknowledged", "failed"}
	suppressedReasons = []string{reasonCooldown, reasonFlap}
	droppedReasons    = []string{reasonDecode, reasonUnknownVersion, reasonUnexpectedSchema, reasonStaleWindow,
		reasonNoAction, reasonUnknownWebhook, reasonRender, reasonWarmupFailed}
	// deadLetterReasons by component: what each loop dead-letters.
	deadLetterReasons = map[string][]string{
		engineComponent:     {reasonUnexpectedSchema, reasonDecode, reasonUnknownVersion},
		dispatcherComponent: {reasonUnexpectedSchema, reasonDecode, reasonUnknownWebhook, reasonRender, reasonDelivery},
	}
	reloadResults   = []string{"ok", "error"}
	attemptStatuses = []string{"2xx", "4xx", "429", "5xx", "other", "error"}
	deliveryResults = []string{"delivered", "dead_letter"}
)

// Stats are the Remediator's running totals (for the demo's progress
// lines, the stop summary and tests). They are read from the same counts
// as the metrics, incremented by the same calls: a reason that is a metric
// label is a key of the matching map here, at 0 included.
type Stats struct {
	// Rules engine.
	KPIs        uint64 // KPI records evaluated
	Firing      uint64 // events fired
	Resolved    uint64
	Escalated   uint64
	Suppressed  uint64 // firings held back by cooldown or flap damping
	Transitions uint64 // transitions produced by the engine (firing + resolved + escalated)
	Active      int    // events currently active (fired, not resolved)
	Rules       int    // rules in force
	Reloads     uint64 // successful rules-file reloads
	ReloadErrs  uint64 // rejected rules-file versions (old rules kept)
	// Dispatcher.
	Deliveries   uint64 // deliveries acknowledged by a 2xx
	Attempts     uint64 // HTTP attempts
	Retries      uint64 // attempts after the first
	DeadLetters  uint64 // records dead-lettered (undeliverable or undecodable), both loops
	Dispatched   uint64 // dispatched transitions produced
	Acknowledged uint64 // acknowledged transitions produced (firing deliveries)
	Failed       uint64 // failed transitions produced (firing deliveries dead-lettered)
	// By reason, as telemetry_remediation_suppressed_total{reason},
	// _dropped_total{reason} and _deadletters_total{component,reason}
	// (key "<component>/<reason>").
	SuppressedBy  map[string]uint64
	Dropped       map[string]uint64
	DeadLettersBy map[string]uint64
	// DeadLettersLost: dead letters Kafka refused for good, by component
	// (_deadletters_lost_total{component}): logged with what they stood
	// for, their records skipped.
	DeadLettersLost map[string]uint64
}

// series is one series of a counter and its running total for Stats.
type series struct {
	c      prometheus.Counter
	values []string
	n      atomic.Uint64
}

func (s *series) add(n uint64) {
	s.n.Add(n)
	s.c.Add(float64(n))
}

// tally is a labelled counter declared with every label value it takes,
// each series at 0 from the start and counted in Stats by the same call
// that counts the metric, so that the two cannot drift.
type tally struct {
	vec *prometheus.CounterVec
	// by is keyed by the label values joined with "/"; read-only after
	// newTally, so lookups take no lock.
	by map[string]*series
	// order is the declared order, for Stats.
	order []*series
}

func newTally(rep *component.Reporter, name, help string, labels []string, known [][]string) *tally {
	t := &tally{vec: rep.CounterVec(name, help, labels, known...), by: map[string]*series{}}
	for _, v := range known {
		if len(v) != len(labels) {
			continue // the Reporter keeps the error
		}
		s := &series{c: t.vec.WithLabelValues(v...), values: v}
		t.by[strings.Join(v, "/")] = s
		t.order = append(t.order, s)
	}
	return t
}

// add counts n under key (the label values joined with "/"). A key not
// declared still counts in the metric, not in Stats (TestStatsMatchMetrics
// finds it).
func (t *tally) add(key string, n uint64) {
	if s := t.by[key]; s != nil {
		s.add(n)
		return
	}
	if c, err := t.vec.GetMetricWithLabelValues(strings.Split(key, "/")...); err == nil {
		c.Add(float64(n))
	}
}

func (t *tally) inc(key string) { t.add(key, 1) }

// get is the count under key.
func (t *tally) get(key string) uint64 {
	if s := t.by[key]; s != nil {
		return s.n.Load()
	}
	return 0
}

// snapshot is every declared key's count.
func (t *tally) snapshot() map[string]uint64 {
	m := make(map[string]uint64, len(t.by))
	for k, s := range t.by {
		m[k] = s.n.Load()
	}
	return m
}

// sum adds the counts of the series whose label i is v (every series if
// i < 0).
func (t *tally) sum(i int, v string) uint64 {
	var n uint64
	for _, s := range t.order {
		if i < 0 || s.values[i] == v {
			n += s.n.Load()
		}
	}
	return n
}

type metrics struct {
	kpis        *series
	transitions *tally // state
	suppressed  *tally // reason
	dropped     *tally // reason
	reloads     *tally // result
	attempts    *tally // webhook, status
	deliveries  *tally // webhook, result
	deadLetters *tally // component, reason
	lostDLs     *tally // component
	latency     prometheus.Histogram
	inFlight    prometheus.Gauge

	retries       atomic.Uint64 // no metric: attempts after the first
	active, rules atomic.Int64
}

// newMetrics declares the metrics through rep; webhooks are the names of
// the configured webhooks, whose series start at 0.
func newMetrics(rep *component.Reporter, webhooks []string) *metrics {
	m := &metrics{}
	m.kpis = &series{c: rep.Counter("kpis_total", "KPI records the rules engine evaluated.")}
	m.transitions = newTally(rep, "transitions_total", "Remediation event transitions produced, by state.",
		[]string{"state"}, component.Values(transitionStates...))
	m.suppressed = newTally(rep, "suppressed_total", "Firings held back, by reason (cooldown, flap).",
		[]string{"reason"}, component.Values(suppressedReasons...))
	m.dropped = newTally(rep, "dropped_total", "Records not evaluated or not delivered, by reason.",
		[]string{"reason"}, component.Values(droppedReasons...))
	m.reloads = newTally(rep, "rule_reloads_total", "Rules-file reloads, by result (ok, error).",
		[]string{"result"}, component.Values(reloadResults...))
	m.attempts = newTally(rep, "webhook_attempts_total", "Webhook HTTP attempts, by webhook and status (2xx, 4xx, 429, 5xx, other, error).",
		[]string{"webhook", "status"}, product(webhooks, attemptStatuses))
	m.deliveries = newTally(rep, "webhook_deliveries_total", "Webhook deliveries finished, by webhook and result (delivered, dead_letter).",
		[]string{"webhook", "result"}, product(webhooks, deliveryResults))
	var dl [][]string
	for _, c := range []string{engineComponent, dispatcherComponent} {
		dl = append(dl, product([]string{c}, deadLetterReasons[c])...)
	}
	m.deadLetters = newTally(rep, "deadletters_total", "Records sent to the dead-letter topic, by component and reason.",
		[]string{"component", "reason"}, dl)
	m.lostDLs = newTally(rep, "deadletters_lost_total",
		"Dead letters Kafka refused for good, by component: logged with the source record's coordinates, sizes and SHA-256, and skipped.",
		[]string{"component"}, component.Values(engineComponent, dispatcherComponent))
	m.latency = rep.Histogram("delivery_latency_seconds",
		"From the close of the KPI window behind a transition to its webhook acknowledgement.",
		prometheus.ExponentialBuckets(0.005, 2, 16))
	m.inFlight = rep.Gauge("deliveries_in_flight", "Deliveries in flight or waiting to retry.")
	rep.GaugeFunc("active_events", "Events fired and not yet resolved, on this instance.",
		func() float64 { return float64(m.active.Load()) })
	return m
}

// product is every pair of a and b, as label values.
func product(a, b []string) [][]string {
	out := make([][]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, []string{x, y})
		}
	}
	return out
}

func (m *metrics) stats() Stats {
	st := Stats{
		KPIs:            m.kpis.n.Load(),
		Firing:          m.transitions.get("firing"),
		Resolved:        m.transitions.get("resolved"),
		Escalated:       m.transitions.get("escalated"),
		Active:          int(m.active.Load()),
		Rules:           int(m.rules.Load()),
		Reloads:         m.reloads.get("ok"),
		ReloadErrs:      m.reloads.get("error"),
		Deliveries:      m.deliveries.sum(1, "delivered"),
		Attempts:        m.attempts.sum(-1, ""),
		Retries:         m.retries.Load(),
		Dispatched:      m.transitions.get("dispatched"),
		Acknowledged:    m.transitions.get("acknowledged"),
		Failed:          m.transitions.get("failed"),
		SuppressedBy:    m.suppressed.snapshot(),
		Dropped:         m.dropped.snapshot(),
		DeadLettersBy:   m.deadLetters.snapshot(),
		DeadLettersLost: m.lostDLs.snapshot(),
	}
	st.Transitions = st.Firing + st.Resolved + st.Escalated
	for _, n := range st.SuppressedBy {
		st.Suppressed += n
	}
	for _, n := range st.DeadLettersBy {
		st.DeadLetters += n
	}
	return st
}
