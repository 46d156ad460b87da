package remediation

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the Remediator's running totals (for the demo's progress
// lines and tests; Prometheus has the same with labels).
type Stats struct {
	// Rules engine.
	KPIs        uint64 // KPI records evaluated
	Firing      uint64 // events fired
	Resolved    uint64
	Escalated   uint64
	Suppressed  uint64 // firings held back by cooldown or flap damping
	Transitions uint64 // transitions produced by the engine
	Active      int    // events currently active (fired, not resolved)
	Rules       int    // rules in force
	Reloads     uint64 // successful rules-file reloads
	ReloadErrs  uint64 // rejected rules-file versions (old rules kept)
	// Dispatcher.
	Deliveries   uint64 // deliveries acknowledged by a 2xx
	Attempts     uint64 // HTTP attempts
	Retries      uint64 // attempts after the first
	DeadLetters  uint64 // records dead-lettered (undeliverable or undecodable)
	Acknowledged uint64 // acknowledged transitions produced (firing deliveries)
}

type counters struct {
	kpis, firing, resolved, escalated, suppressed, transitions atomic.Uint64
	reloads, reloadErrs                                        atomic.Uint64
	deliveries, attempts, retries, deadLetters, acknowledged   atomic.Uint64
	active, rules                                              atomic.Int64
}

type metrics struct {
	kpis         prometheus.Counter
	transitions  *prometheus.CounterVec // state
	suppressed   *prometheus.CounterVec // reason
	dropped      *prometheus.CounterVec // reason
	reloads      *prometheus.CounterVec // result
	attempts     *prometheus.CounterVec // webhook, status
	deliveries   *prometheus.CounterVec // webhook, result
	deadLetters  *prometheus.CounterVec // component, reason
	latency      prometheus.Histogram
	inFlight     prometheus.Gauge
	activeEvents prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, c *counters) (*metrics, error) {
	const ns = "telemetry_remediation_"
	m := &metrics{
		kpis: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "kpis_total",
			Help: "KPI records the rules engine evaluated."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "transitions_total",
			Help: "Remediation event transitions produced, by state."}, []string{"state"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "suppressed_total",
			Help: "Firings held back, by reason (cooldown, flap)."}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "dropped_total",
			Help: "Records not evaluated or not delivered, by reason."}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rule_reloads_total",
			Help: "Rules-file reloads, by result (ok, error)."}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "webhook_attempts_total",
			Help: "Webhook HTTP attempts, by webhook and status (2xx, 4xx, 429, 5xx, error)."}, []string{"webhook", "status"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "webhook_deliveries_total",
			Help: "Webhook deliveries finished, by webhook and result (delivered, dead_letter)."}, []string{"webhook", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "deadletters_total",
			Help: "Records sent to the dead-letter topic, by component and reason."}, []string{"component", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "delivery_latency_seconds",
			Help:    "From the close of the KPI window behind a transition to its webhook acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "deliveries_in_flight",
			Help: "Deliveries in flight or waiting to retry."}),
		activeEvents: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ns + "active_events",
			Help: "Events fired and not yet resolved, on this instance."}, func() float64 { return float64(c.active.Load()) }),
	}
	for _, col := range []prometheus.Collector{m.kpis, m.transitions, m.suppressed, m.dropped, m.reloads,
		m.attempts, m.deliveries, m.deadLetters, m.latency, m.inFlight, m.activeEvents} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (c *counters) stats() Stats {
	return Stats{
		KPIs: c.kpis.Load(), Firing: c.firing.Load(), Resolved: c.resolved.Load(), Escalated: c.escalated.Load(),
		Suppressed: c.suppressed.Load(), Transitions: c.transitions.Load(), Active: int(c.active.Load()),
		Rules: int(c.rules.Load()), Reloads: c.reloads.Load(), ReloadErrs: c.reloadErrs.Load(),
		Deliveries: c.deliveries.Load(), Attempts: c.attempts.Load(), Retries: c.retries.Load(),
		DeadLetters: c.deadLetters.Load(), Acknowledged: c.acknowledged.Load(),
	}
}
