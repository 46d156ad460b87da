package remediation

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/wire"
)

// BenchmarkWindowCloseToWebhook measures, through Kafka (kfake), the
// latency from the close of a breaching KPI window (its window_end, set to
// the moment it is produced) to the signed webhook's arrival at a
// verifying receiver: KPI topic → rules engine → remediations topic →
// dispatcher → HTTP. One breach per iteration, on a fresh entity; the
// "load" variant runs 2,000 non-breaching KPIs/s alongside.
//
//	go test -run '^$' -bench WindowCloseToWebhook -benchtime 300x ./processors/remediation/
func BenchmarkWindowCloseToWebhook(b *testing.B) {
	for _, rate := range []int{0, 2000} {
		name := "kfake-idle"
		if rate > 0 {
			name = fmt.Sprintf("kfake-load-%dkpis", rate)
		}
		b.Run(name, func(b *testing.B) {
			k, _ := kafkatest.Fake(b, 4)
			benchLatency(b, k, rate)
		})
	}
	// The same through the real Apache Kafka broker, when there is one.
	for _, rate := range []int{0, 2000} {
		name := "kafka-idle"
		if rate > 0 {
			name = fmt.Sprintf("kafka-load-%dkpis", rate)
		}
		b.Run(name, func(b *testing.B) {
			benchLatency(b, realKafka(b), rate)
		})
	}
}

func benchLatency(b *testing.B, k *kafka.Configuration, rate int) {
	secret := GenerateSecret()
	recv := NewReceiver(secret, nil)
	if err := recv.Start(); err != nil {
		b.Fatal(err)
	}
	defer recv.Stop()
	cfg := DefaultConfiguration()
	cfg.GroupID, cfg.DispatcherGroupID = "bench-remediate-"+suffix(), "bench-dispatch-"+suffix()
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: recv.URL(), Secret: secret, States: []string{"firing"}}}
	cfg.Rules = []Rule{{Name: "link-loss", KPI: "link.loss_ratio", Threshold: &rules.Threshold{Op: ">", Value: 0.01},
		Action: rules.Action{Webhook: "gitops"}}}
	startRemediator(b, cfg, k)
	prod := client(b, k, kgo.ProducerLinger(0))
	send := func(site string, we time.Time, loss float64) {
		kp := linkKPI(we.Add(-10*time.Second), we, site, "lon", loss)
		produce(b, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Warm up: groups joined, connections open.
	send("warmup", time.Now(), 0.5)
	if err := recv.WaitFor(ctx, 1); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if rate > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				we := time.Now()
				var recs []*kgo.Record
				for j := 0; j < rate/100; j++ {
					kp := linkKPI(we.Add(-10*time.Second), we, fmt.Sprintf("bg%d", j), "lon", 0.0001)
					v, _ := wire.Marshal(nil, kp)
					recs = append(recs, &kgo.Record{Topic: k.Topics.KPIs, Key: []byte(kpiKey(kp)), Value: v})
				}
				prod.ProduceSync(ctx, recs...)
			}
		}()
		time.Sleep(500 * time.Millisecond) // the scenario: the load runs before the first breach
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send(fmt.Sprintf("s%d", i), time.Now(), 0.5)
		if err := recv.WaitFor(ctx, i+2); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	lat := recv.Latencies("firing")[1:]
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEngineThroughput measures the rules engine's consumer loop
// (fetch, decode, evaluate, count, mark) over kfake: b.N KPI records of
// 1,000 links, none breaching the one rule, are on the topic before the
// engine starts; the time runs from the end of the first fetch to the
// last record, per record evaluated in between.
//
//	go test -run '^$' -bench EngineThroughput -benchtime 200000x ./processors/remediation/
func BenchmarkEngineThroughput(b *testing.B) {
	k, _ := kafkatest.Fake(b, 4)
	prod := client(b, k)
	t0 := time.Now().Add(-time.Hour).Truncate(10 * time.Second)
	var recs []*kgo.Record
	flush := func() {
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := 0; i <= b.N; i++ {
		ws := t0.Add(time.Duration(i/1000) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), fmt.Sprintf("s%03d", i%1000), "hub", 0.001)
		v, err := wire.Marshal(nil, kp)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: k.Topics.KPIs, Key: []byte(kpiKey(kp)), Value: v, Headers: wire.Headers(wire.SchemaKPI)})
		if len(recs) == 1000 {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
	cfg := DefaultConfiguration()
	cfg.Dispatcher = false
	cfg.Warmup = 0
	cfg.Rules = []Rule{lossRule("")}
	r := startRemediator(b, cfg, k)
	wait := func(n uint64) {
		deadline := time.Now().Add(5 * time.Minute)
		for r.Stats().KPIs < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d KPIs evaluated", r.Stats().KPIs, n)
			}
			time.Sleep(time.Millisecond) // polling the count: the loop measured runs meanwhile
		}
	}
	wait(1)
	start := r.Stats().KPIs
	b.ResetTimer()
	wait(uint64(b.N) + 1)
	b.StopTimer()
	// The first fetch is before the timer: count what was evaluated after.
	n := float64(uint64(b.N) + 1 - start)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/op")
	b.ReportMetric(n/b.Elapsed().Seconds(), "kpis/s")
}
