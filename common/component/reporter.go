package component

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric of the pipeline.
const Namespace = "telemetry"

var stageName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Reporter is what a component reports through: its logger, which carries
// component=<stage> once, and its metrics, each named
// telemetry_<stage>_<name> and registered on the process's registry.
// Labelled metrics are created with the label values known in advance, so
// their series exist at 0 before the first event: a dashboard shows 0, not
// "No data". Registration errors are kept and returned by Err.
type Reporter struct {
	// Log is the component's logger.
	Log   *slog.Logger
	stage string
	reg   prometheus.Registerer
	errs  []error
}

// NewReporter returns the reporter of stage (lower case, [a-z0-9_]).
// log may be nil (logs are discarded); reg may be nil (metrics are not
// registered, for tests and tools).
func NewReporter(stage string, log *slog.Logger, reg prometheus.Registerer) *Reporter {
	r := &Reporter{stage: stage, reg: reg}
	if !stageName.MatchString(stage) {
		r.errs = append(r.errs, fmt.Errorf("component: stage name %q is not [a-z][a-z0-9_]*", stage))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r.Log = log.With("component", stage)
	return r
}

// Stage is the stage's name.
func (r *Reporter) Stage() string { return r.stage }

// Err returns the registration errors so far, nil if none.
func (r *Reporter) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s metrics: %w", r.stage, errors.Join(r.errs...))
}

func (r *Reporter) register(c prometheus.Collector) {
	if r.reg == nil {
		return
	}
	if err := r.reg.Register(c); err != nil {
		r.errs = append(r.errs, err)
	}
}

func (r *Reporter) opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: Namespace, Subsystem: r.stage, Name: name, Help: help}
}

// FullName is the exported name of the stage's metric name.
func (r *Reporter) FullName(name string) string {
	return prometheus.BuildFQName(Namespace, r.stage, name)
}

// Counter creates and registers telemetry_<stage>_<name>.
func (r *Reporter) Counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts(r.opts(name, help)))
	r.register(c)
	return c
}

// CounterVec creates and registers a labelled counter, with a series at 0
// for each set of label values in known (one value per label, in order).
func (r *Reporter) CounterVec(name, help string, labels []string, known ...[]string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts(r.opts(name, help)), labels)
	r.init(name, len(labels), known, func(v []string) { c.WithLabelValues(v...) })
	r.register(c)
	return c
}

// Gauge creates and registers a gauge.
func (r *Reporter) Gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts(r.opts(name, help)))
	r.register(g)
	return g
}

// GaugeVec creates and registers a labelled gauge, with a series at 0 for
// each set of label values in known.
func (r *Reporter) GaugeVec(name, help string, labels []string, known ...[]string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts(r.opts(name, help)), labels)
	r.init(name, len(labels), known, func(v []string) { g.WithLabelValues(v...) })
	r.register(g)
	return g
}

// GaugeFunc creates and registers a gauge whose value f returns at scrape.
func (r *Reporter) GaugeFunc(name, help string, f func() float64) prometheus.GaugeFunc {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts(r.opts(name, help)), f)
	r.register(g)
	return g
}

// Histogram creates and registers a histogram with the given buckets.
func (r *Reporter) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	o := r.opts(name, help)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets})
	r.register(h)
	return h
}

// HistogramVec creates and registers a labelled histogram.
func (r *Reporter) HistogramVec(name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
	o := r.opts(name, help)
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets}, labels)
	r.register(h)
	return h
}

// Collector registers a collector the component built itself (a lag
// gauge, a client's metrics).
func (r *Reporter) Collector(c prometheus.Collector) {
	r.register(c)
}

func (r *Reporter) init(name string, n int, known [][]string, with func([]string)) {
	for _, v := range known {
		if len(v) != n {
			r.errs = append(r.errs, fmt.Errorf("%s: known label values %q: want %d values", r.FullName(name), v, n))
			continue
		}
		with(v)
	}
}

// Values turns one label's values into the known sets of a one-label
// metric: Values("a", "b") is [][]string{{"a"}, {"b"}}.
func Values(vs ...string) [][]string {
	out := make([][]string, len(vs))
	for i, v := range vs {
		out[i] = []string{v}
	}
	return out
}
