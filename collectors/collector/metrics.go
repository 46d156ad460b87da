package collector

import (
	"strings"
	"sync"
	"time"

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
}

// newMetrics creates the collector's metrics through r. The series of the
// labels known in advance (drop reasons, reload results) exist at 0 from
// the start; the per-target ones are created when the target's session
// starts (every decode-error reason and state at 0).
func newMetrics(r *component.Reporter, buffered func() float64) *metrics {
	m := &metrics{
		updates:  r.CounterVec("updates_total", "gNMI updates received, by target.", []string{"target"}),
		samples:  r.CounterVec("samples_total", "Samples handed to the producer, by target.", []string{"target"}),
		produced: r.Counter("samples_produced_total", "Samples acknowledged by Kafka."),
		decodeErrors: r.CounterVec("decode_errors_total", "Updates or notifications not decoded, by target and reason.",
			[]string{"target", "reason"}),
		targetErrors: r.CounterVec("target_errors_total", "Session failures, by target and cause.", []string{"target", "cause"}),
		reconnects:   r.CounterVec("reconnects_total", "Connection attempts after a failure, by target.", []string{"target"}),
		targetState: r.GaugeVec("target_state", "1 for the current session state of a target ("+strings.Join(stateNames, ", ")+").",
			[]string{"target", "state"}),
		lastUpdate:      r.GaugeVec("target_last_update_timestamp_seconds", "When the last message came from a target.", []string{"target"}),
		targetsAssigned: r.Gauge("targets_assigned", "Targets this instance collects."),
		targetsUp:       r.Gauge("targets_up", "Targets with an established session."),
		reloads: r.CounterVec("targets_file_reloads_total", "Targets file reloads, by result ("+reloadOK+", "+reloadError+").",
			[]string{"result"}, component.Values(reloadOK, reloadError)...),
	}
	dropped := r.CounterVec("samples_dropped_total", "Samples dropped, by reason ("+strings.Join(dropReasonNames[:], ", ")+").",
		[]string{"reason"}, component.Values(dropReasonNames[:]...)...)
	for i, name := range dropReasonNames {
		m.dropped[i] = dropped.WithLabelValues(name)
	}
	r.GaugeFunc("buffered_records", "Records waiting for Kafka.", buffered)
	return m
}

// forget deletes a removed target's series.
func (m *metrics) forget(target string) {
	l := prometheus.Labels{"target": target}
	m.updates.DeletePartialMatch(l)
	m.samples.DeletePartialMatch(l)
	m.targetState.DeletePartialMatch(l)
	m.lastUpdate.DeletePartialMatch(l)
	m.reconnects.DeletePartialMatch(l)
	m.decodeErrors.DeletePartialMatch(l)
	m.targetErrors.DeletePartialMatch(l)
}

// logLimiter lets one message per key through per period.
type logLimiter struct {
	period time.Duration
	mu     sync.Mutex
	last   map[string]time.Time
}

func (l *logLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.period {
		return false
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	l.last[key] = now
	return true
}
