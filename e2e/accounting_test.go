package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/demo"
)

// TestAccountingRealKafka runs the pipeline for 15 s against the real
// Kafka broker and the live ClickHouse server, then checks that every
// sample the simulator emitted is in ClickHouse or counted as dropped with
// a reason, and that none is stored twice.
func TestAccountingRealKafka(t *testing.T) {
	brokers := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)
	runAccounting(t, chAddr, brokers, 15*time.Second)
}

// TestAccountingEmbeddedKafka is the same check with the embedded broker
// (kfake), shorter.
func TestAccountingEmbeddedKafka(t *testing.T) {
	chAddr := testenv.ClickHouse(t)
	runAccounting(t, chAddr, nil, 8*time.Second)
}

// accountingFinal is what the OnDrained hook captured while /metrics was
// still served.
type accountingFinal struct {
	metrics   []series
	scrapeErr error
	emitted   map[string]uint64 // notifications per target
	updates   uint64            // fabric updates sent
	colUpd    uint64            // collector updates received
	colSmp    uint64            // collector samples handed to the producer
	produced  uint64
	consumed  uint64 // sink records consumed from the samples topic
	samplesTp string
}

func runAccounting(t *testing.T, chAddr string, brokers []string, d time.Duration) {
	name := "acct"
	if len(brokers) == 0 {
		name = "acctkf"
	}
	cfg := testConfig(t, chAddr, name)
	cfg.Simulate.Sites = 3
	cfg.Simulate.SwitchesPerSite = 2
	cfg.Simulate.InterfacesPerSwitch = 12
	const interval = 100 * time.Millisecond
	cfg.Collect.Subscriptions = sampleSubscription(interval)

	var logs logBuffer
	log := newLogger(&logs, slog.LevelWarn)
	var fin accountingFinal
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sum, err := demo.Run(ctx, cfg, log, demo.Options{
		Duration:       d,
		ClickHouse:     chAddr,
		Kafka:          brokers,
		Window:         time.Second,
		SampleInterval: interval,
		ExactDrain:     true,
		OnDrained: func(r *demo.Running) {
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			defer scancel()
			fin.metrics, fin.scrapeErr = scrape(sctx, r.MetricsAddr)
			fin.emitted = map[string]uint64{}
			for _, tg := range r.Targets {
				st, err := r.Fabric.EmittedTarget(tg.Name)
				if err != nil {
					t.Error(err)
				}
				fin.emitted[tg.Name] = st.Notifications
			}
			e, cs := r.Fabric.Emitted(), r.Collector.Stats()
			fin.updates, fin.colUpd, fin.colSmp, fin.produced = e.Updates, cs.Updates, cs.Samples, cs.Produced
			fin.samplesTp = r.Config.Kafka.Topics.Samples
			fin.consumed = r.Sink.Stats().Records[fin.samplesTp]
		},
	}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s\nlogs:\n%s", err, out.String(), logs.String())
	}
	sum.Print(&out)
	t.Log(out.String())
	if fin.scrapeErr != nil {
		t.Fatalf("scrape /metrics at %s: %v", sum.MetricsAddr, fin.scrapeErr)
	}

	// Drops with a reason, from /metrics.
	colDrops := sumBy(fin.metrics, "telemetry_collector_samples_dropped_total", "reason")
	decodeErrs := sumBy(fin.metrics, "telemetry_collector_decode_errors_total", "reason")
	sinkDL := sumBy(fin.metrics, "telemetry_sink_deadletters_total", "reason")
	// "unconfirmed": handed to Kafka, not acknowledged within
	// delivery-timeout or when the collector gave up flushing; possibly
	// stored. Every other reason is a sure loss.
	unconfirmed := colDrops["unconfirmed"]
	dropped := total(colDrops) - unconfirmed + total(sinkDL)
	// The metrics must agree with the in-process counters they mirror.
	if got := total(sumBy(fin.metrics, "telemetry_collector_samples_total", "target")); got != fin.colSmp {
		t.Errorf("/metrics telemetry_collector_samples_total = %d, Collector.Stats().Samples = %d", got, fin.colSmp)
	}

	// Rows in ClickHouse.
	qctx, qcancel := context.WithTimeout(context.Background(), time.Minute)
	defer qcancel()
	conn, err := openCH(qctx, cfg, chAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	db := cfg.ClickHouse.Database
	ifFinal, err := countBy(qctx, conn, "SELECT device, count() FROM "+db+".interface_counters FINAL GROUP BY device")
	if err != nil {
		t.Fatal(err)
	}
	prFinal, err := countBy(qctx, conn, "SELECT src_device, count() FROM "+db+".probe_results FINAL GROUP BY src_device")
	if err != nil {
		t.Fatal(err)
	}
	// Duplicates: rows without FINAL against distinct keys.
	dup, err := countBy(qctx, conn, "SELECT 'interface_counters', toUInt64(count() - uniqExact(site, device, interface, ts_ns)) FROM "+db+".interface_counters "+
		"UNION ALL SELECT 'probe_results', toUInt64(count() - uniqExact(src_site, src_device, dst_site, dst_device, ts_ns)) FROM "+db+".probe_results")
	if err != nil {
		t.Fatal(err)
	}

	var emitted, stored uint64
	names := make([]string, 0, len(fin.emitted))
	for n := range fin.emitted {
		names = append(names, n)
	}
	sort.Strings(names)
	var short uint64 // per-target emitted - stored
	for _, n := range names {
		e, s := fin.emitted[n], ifFinal[n]+prFinal[n]
		emitted += e
		stored += s
		t.Logf("target %-10s emitted %6d  stored %6d (interface_counters %6d, probe_results %5d)", n, e, s, ifFinal[n], prFinal[n])
		switch {
		case s > e:
			t.Errorf("target %s: %d rows stored but only %d samples emitted", n, s, e)
		case s < e:
			short += e - s
			if dropped+unconfirmed == 0 {
				t.Errorf("target %s: %d samples emitted, %d stored, and nothing counted as dropped", n, e, s)
			}
		}
	}
	t.Logf("emitted %d = stored %d + dropped %d (+ up to %d unconfirmed) (collector %v, sink dead letters %v); decode errors %v; "+
		"fabric updates %d, collector updates %d, collector samples %d, produced %d, sink consumed %d; duplicates %v",
		emitted, stored, dropped, unconfirmed, colDrops, sinkDL, decodeErrs, fin.updates, fin.colUpd, fin.colSmp, fin.produced, fin.consumed, dup)

	if emitted == 0 || stored == 0 {
		t.Fatalf("nothing emitted (%d) or stored (%d)", emitted, stored)
	}
	// Sanity: about targets × (interfaces + peers) per interval for d.
	if min := uint64(float64(len(names)*cfg.Simulate.InterfacesPerSwitch) * d.Seconds() / interval.Seconds() / 3); emitted < min {
		t.Errorf("only %d samples emitted in %s, want at least %d", emitted, d, min)
	}
	// Exact when nothing is unconfirmed: missing = dropped with a reason.
	if missing := int64(emitted) - int64(stored); missing < int64(dropped) || missing > int64(dropped+unconfirmed) {
		t.Errorf("unexplained loss: emitted %d - stored %d = %d missing, want dropped with a reason %d (+ up to %d unconfirmed)",
			emitted, stored, missing, dropped, unconfirmed)
	}
	if short < dropped || short > dropped+unconfirmed {
		t.Errorf("per target, %d samples are missing but %d are counted as dropped (+ up to %d unconfirmed)", short, dropped, unconfirmed)
	}
	// One notification is one sample: the collector turned exactly the
	// emitted notifications into samples, and received every update.
	if fin.colSmp != emitted {
		t.Errorf("collector produced %d samples from %d notifications (want one each)", fin.colSmp, emitted)
	}
	if fin.colUpd != fin.updates {
		t.Errorf("collector received %d updates, fabric sent %d", fin.colUpd, fin.updates)
	}
	if total(decodeErrs) != 0 {
		t.Errorf("decode errors %v: the simulator sends nothing undecodable", decodeErrs)
	}
	for tbl, n := range dup {
		if n != 0 {
			t.Errorf("%s: %d duplicate rows (toUInt64(count() - uniqExact(key)) without FINAL)", tbl, n)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs.String())
	}
}
