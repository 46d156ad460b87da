package collector

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/component"
)

// Stage is the collector's stage name: its logs carry component=collector
// and its metrics are named telemetry_collector_*.
const Stage = "collector"

// Results of a targets file reload (label of
// telemetry_collector_targets_file_reloads_total).
const (
	reloadOK    = "ok"
	reloadError = "error"
)

// OtherTargets is the target label of the series shared by the targets
// beyond metrics-max-targets. It cannot be a target's name (names have no
// spaces).
const OtherTargets = "(other targets)"

// metrics are the collector's Prometheus series.
type metrics struct {
	updates         *prometheus.CounterVec
	samples         *prometheus.CounterVec
	produced        prometheus.Counter
	dropped         [numDropReasons]prometheus.Counter
	decodeErrors    *prometheus.CounterVec
	targetErrors    *prometheus.CounterVec
	reconnects      *prometheus.CounterVec
	targetState     *prometheus.GaugeVec
	lastUpdate      *prometheus.GaugeVec
	targetsAssigned prometheus.Gauge
	targetsUp       prometheus.Gauge
	reloads         *prometheus.CounterVec

	// maxTargets is how many targets get series of their own.
	maxTargets int
	mu         sync.Mutex
	own        map[string]*targetSeries // targets with series of their own
	other      *targetSeries            // the others' (nil until one is)
}

// targetSeries are the per-target series of one target, or those the
// targets beyond maxTargets share (shared).
type targetSeries struct {
	shared       bool
	updates      prometheus.Counter
	samples      prometheus.Counter
	lastUpdate   prometheus.Gauge
	reconnects   prometheus.Counter
	decodeErrors [numReasons]prometheus.Counter
	targetErrors map[string]prometheus.Counter // by cause (causeNames)
	state        map[string]prometheus.Gauge   // by state (stateNames)
	m            *metrics
	label        string
}

// newMetrics creates the collector's metrics through r. The series of the
// labels known in advance (drop reasons, reload results) exist at 0 from
// the start; the per-target ones are created when the target's session
// starts (every decode-error reason and state at 0), for at most
// maxTargets targets: the others share the series of target OtherTargets,
// so 10,000 unreachable targets do not make 360,000 series.
func newMetrics(r *component.Reporter, buffered func() float64, maxTargets int) *metrics {
	m := &metrics{
		updates:  r.CounterVec("updates_total", "gNMI updates received, by target.", []string{"target"}),
		samples:  r.CounterVec("samples_total", "Samples handed to the producer, by target.", []string{"target"}),
		produced: r.Counter("samples_produced_total", "Samples acknowledged by Kafka."),
		decodeErrors: r.CounterVec("decode_errors_total", "Updates or notifications not decoded, by target and reason.",
			[]string{"target", "reason"}),
		targetErrors: r.CounterVec("target_errors_total", "Session failures, by target and cause.", []string{"target", "cause"}),
		reconnects:   r.CounterVec("reconnects_total", "Connection attempts after a failure, by target.", []string{"target"}),
		targetState: r.GaugeVec("target_state", "1 for the current session state of a target ("+strings.Join(stateNames, ", ")+
			"); for target=\""+OtherTargets+"\" the number of those targets in the state.",
			[]string{"target", "state"}),
		lastUpdate:      r.GaugeVec("target_last_update_timestamp_seconds", "When the last message came from a target.", []string{"target"}),
		targetsAssigned: r.Gauge("targets_assigned", "Targets this instance collects."),
		targetsUp:       r.Gauge("targets_up", "Targets with an established session."),
		reloads: r.CounterVec("targets_file_reloads_total", "Targets file reloads, by result ("+reloadOK+", "+reloadError+").",
			[]string{"result"}, component.Values(reloadOK, reloadError)...),
		maxTargets: maxTargets,
		own:        map[string]*targetSeries{},
	}
	dropped := r.CounterVec("samples_dropped_total", "Samples dropped, by reason ("+strings.Join(dropReasonNames[:], ", ")+").",
		[]string{"reason"}, component.Values(dropReasonNames[:]...)...)
	for i, name := range dropReasonNames {
		m.dropped[i] = dropped.WithLabelValues(name)
	}
	r.GaugeFunc("buffered_records", "Records waiting for Kafka.", buffered)
	return m
}

// target returns the series of a target whose session starts: its own
// (kept while the target stays, across sessions) while fewer than
// maxTargets targets have theirs, else the shared ones.
func (m *metrics) target(name string) *targetSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ts := m.own[name]; ts != nil {
		return ts
	}
	if len(m.own) < m.maxTargets {
		ts := m.newSeries(name, false)
		m.own[name] = ts
		return ts
	}
	if m.other == nil {
		m.other = m.newSeries(OtherTargets, true)
	}
	return m.other
}

// newSeries creates the series of label, every reason, cause and state at
// 0: a dashboard shows 0, and the first event is an increase.
func (m *metrics) newSeries(label string, shared bool) *targetSeries {
	ts := &targetSeries{
		shared: shared, m: m, label: label,
		updates:      m.updates.WithLabelValues(label),
		samples:      m.samples.WithLabelValues(label),
		lastUpdate:   m.lastUpdate.WithLabelValues(label),
		reconnects:   m.reconnects.WithLabelValues(label),
		targetErrors: make(map[string]prometheus.Counter, len(causeNames)),
		state:        make(map[string]prometheus.Gauge, len(stateNames)),
	}
	for r := range numReasons {
		ts.decodeErrors[r] = m.decodeErrors.WithLabelValues(label, reasonNames[r])
	}
	for _, cause := range causeNames {
		ts.targetErrors[cause] = m.targetErrors.WithLabelValues(label, cause)
	}
	for _, st := range stateNames {
		ts.state[st] = m.targetState.WithLabelValues(label, st)
	}
	return ts
}

// targetError counts a session failure.
func (ts *targetSeries) targetError(cause string) {
	if c, ok := ts.targetErrors[cause]; ok {
		c.Inc()
		return
	}
	// not in causeNames (TestCausesKnown says this does not happen)
	ts.m.targetErrors.WithLabelValues(ts.label, cause).Inc()
}

// setState moves a session from state prev ("": none yet) to state.
func (ts *targetSeries) setState(prev, state string) {
	if ts.shared {
		if g := ts.state[prev]; g != nil {
			g.Dec()
		}
		if g := ts.state[state]; g != nil {
			g.Inc()
		}
		return
	}
	for n, g := range ts.state {
		v := 0.0
		if n == state {
			v = 1
		}
		g.Set(v)
	}
}

// left takes a session that ended in state out of the shared state
// counts (a target's own series are deleted by forget, or taken over by
// its next session).
func (ts *targetSeries) left(state string) {
	if ts.shared {
		if g := ts.state[state]; g != nil {
			g.Dec()
		}
	}
}

// forget deletes a removed target's own series, which frees its place for
// a target started later; a target counted in the shared series leaves
// its counts there.
func (m *metrics) forget(target string) {
	m.mu.Lock()
	_, own := m.own[target]
	delete(m.own, target)
	m.mu.Unlock()
	if !own {
		return
	}
	l := prometheus.Labels{"target": target}
	m.updates.DeletePartialMatch(l)
	m.samples.DeletePartialMatch(l)
	m.targetState.DeletePartialMatch(l)
	m.lastUpdate.DeletePartialMatch(l)
	m.reconnects.DeletePartialMatch(l)
	m.decodeErrors.DeletePartialMatch(l)
	m.targetErrors.DeletePartialMatch(l)
}
