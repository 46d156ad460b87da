package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// BenchmarkEngineObserve: KPI windows per second through the pure engine
// with the example-sized rule set (4 link rules, one of them a baseline),
// over 1,000 links.
//
//	go test -run '^$' -bench EngineObserve ./processors/remediation/rules/
func BenchmarkEngineObserve(b *testing.B) {
	rs, err := Parse([]byte(`
rules:
  - {name: loss, kpi: link.loss_ratio, threshold: {op: ">", value: 0.01}, for: 30s, clear-threshold: 0.002}
  - {name: rtt, kpi: link.rtt_ms, threshold: {op: ">", value: 80}, for: 30s}
  - {name: jitter, kpi: link.jitter_ms, scope: {site: "s1*"}, threshold: {op: ">", value: 10}}
  - {name: rtt-anomaly, kpi: link.rtt_ms, baseline: {windows: 30, z: 4}, for: 1m}
`))
	if err != nil {
		b.Fatal(err)
	}
	e, _ := NewEngine(rs)
	const links = 1000
	kpis := make([]*wirepb.KPI, links)
	for i := range kpis {
		kpis[i] = linkKPI(0, fmt.Sprintf("s%d", i), "hub", 0)
	}
	var out []*wirepb.RemediationEvent
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := kpis[i%links]
		w := int64(i/links) * int64(10*time.Second)
		k.WindowStartUnixNano = t0.UnixNano() + w
		k.WindowEndUnixNano = k.WindowStartUnixNano + int64(10*time.Second)
		k.GetLink().LossRatio = float64(i%7) * 0.004
		k.GetLink().RttMs = 20 + float64(i%5)
		out = e.Observe(k, out[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "kpis/s")
}
