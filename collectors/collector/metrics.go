package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the collector's Prometheus series.
type metrics struct {
	updates         *prometheus.CounterVec
	samples         *prometheus.CounterVec
	produced        prometheus.Counter
	dropped         *prometheus.CounterVec
	decodeErrors    *prometheus.CounterVec
	targetErrors    *prometheus.CounterVec
	reconnects      *prometheus.CounterVec
	targetState     *prometheus.GaugeVec
	lastUpdate      *prometheus.GaugeVec
	targetsAssigned prometheus.Gauge
	targetsUp       prometheus.Gauge
	buffered        prometheus.GaugeFunc
	reloads         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, buffered func() float64) (*metrics, error) {
	const ns, sub = "telemetry", "collector"
	m := &metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "updates_total", Help: "gNMI updates received, by target."}, []string{"target"}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "samples_total", Help: "Samples handed to the producer, by target."}, []string{"target"}),
		produced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "samples_produced_total", Help: "Samples acknowledged by Kafka."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "samples_dropped_total", Help: "Samples dropped, by reason (buffer_full, delivery_failed, shutdown, marshal)."}, []string{"reason"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "decode_errors_total", Help: "Updates or notifications not decoded, by target and reason."}, []string{"target", "reason"}),
		targetErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "target_errors_total", Help: "Session failures, by target and cause."}, []string{"target", "cause"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reconnects_total", Help: "Connection attempts after a failure, by target."}, []string{"target"}),
		targetState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "target_state", Help: "1 for the current session state of a target (connecting, up, down)."}, []string{"target", "state"}),
		lastUpdate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "target_last_update_timestamp_seconds", Help: "When the last message came from a target."}, []string{"target"}),
		targetsAssigned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "targets_assigned", Help: "Targets this instance collects."}),
		targetsUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "targets_up", Help: "Targets with an established session."}),
		buffered: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "buffered_records", Help: "Records waiting for Kafka."}, buffered),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "targets_file_reloads_total", Help: "Targets file reloads, by result (ok, error)."}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.updates, m.samples, m.produced, m.dropped, m.decodeErrors,
		m.targetErrors, m.reconnects, m.targetState, m.lastUpdate, m.targetsAssigned, m.targetsUp, m.buffered, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// forget deletes a removed target's series.
func (m *metrics) forget(target string) {
	l := prometheus.Labels{"target": target}
	m.updates.DeletePartialMatch(l)
	m.samples.DeletePartialMatch(l)
	m.targetState.DeletePartialMatch(l)
	m.lastUpdate.DeletePartialMatch(l)
	m.reconnects.DeletePartialMatch(l)
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
