package kafka

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Lag reports a consumer's lag per topic as the gauge
// telemetry_<component>_consumer_lag_records{topic}: for every partition a
// fetch returned records from, the partition's high watermark minus the
// offset after the last record fetched, summed over the topic's partitions.
// It costs no extra request: the watermark comes with every fetch.
type Lag struct {
	gauge *prometheus.GaugeVec
	mu    sync.Mutex
	parts map[string]map[int32]int64
}

// NewLag registers the gauge of component on reg.
func NewLag(reg prometheus.Registerer, component string) *Lag {
	l := &Lag{
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "telemetry_" + component + "_consumer_lag_records",
			Help: "Records between the newest fetched and the partition high watermark, per topic.",
		}, []string{"topic"}),
		parts: map[string]map[int32]int64{},
	}
	if reg != nil {
		if err := reg.Register(l.gauge); err != nil {
			// Two consumers of one component in one process share the gauge.
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				if g, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
					l.gauge = g
				}
			}
		}
	}
	return l
}

// Observe updates the lag from one poll's fetches.
func (l *Lag) Observe(fetches kgo.Fetches) {
	l.mu.Lock()
	defer l.mu.Unlock()
	touched := map[string]bool{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		next := p.Records[len(p.Records)-1].Offset + 1
		lag := max(p.HighWatermark-next, 0)
		m := l.parts[p.Topic]
		if m == nil {
			m = map[int32]int64{}
			l.parts[p.Topic] = m
		}
		m[p.Partition] = lag
		touched[p.Topic] = true
	})
	for topic := range touched {
		var sum int64
		for _, v := range l.parts[topic] {
			sum += v
		}
		l.gauge.WithLabelValues(topic).Set(float64(sum))
	}
}

// Forget drops partitions this consumer no longer owns (after a revoke).
func (l *Lag) Forget(revoked map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, ps := range revoked {
		for _, p := range ps {
			delete(l.parts[topic], p)
		}
		var sum int64
		for _, v := range l.parts[topic] {
			sum += v
		}
		l.gauge.WithLabelValues(topic).Set(float64(sum))
	}
}
