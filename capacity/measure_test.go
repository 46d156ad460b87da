package capacity

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/collectors/simulator"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/processors/kpi"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// The measurements behind Measured(). They print figures, they check
// nothing but that the pipeline stored what it was given:
//
//	go test -run '^$' -bench 'SeriesMemory' -benchtime 1x ./capacity
//	TELEMETRY_CAPACITY=1 go test -count=1 -run 'TestMeasureStorage$' -v -timeout 30m ./capacity

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkProcessorSeriesMemory: live heap of the KPI engine per
// interface series in steady state (10 s windows, 1 s samples, all 12
// counters, 30 windows of history).
func BenchmarkProcessorSeriesMemory(b *testing.B) {
	const n = 20000
	for b.Loop() {
		before := liveHeap()
		e := kpi.NewEngine(kpi.DefaultConfiguration(), "capacity")
		t0 := testenv.Now().Truncate(time.Hour).UnixNano()
		var out []*wirepb.KPI
		for round := int64(0); round < 300; round++ {
			t := t0 + round*int64(time.Second)
			for i := 0; i < n; i++ {
				e.Add(interfaceSample(fmt.Sprintf("site%d", i/4800), fmt.Sprintf("site%d-sw%d", i/4800, i/48), "Ethernet"+strconv.Itoa(i%48+1), t, uint64(round)), time.Unix(0, t+int64(time.Millisecond)))
			}
			out = e.Collect(time.Unix(0, t), out[:0])
		}
		after := liveHeap()
		runtime.KeepAlive(e)
		b.ReportMetric(float64(after-before)/n, "B/series")
	}
}

// BenchmarkRemediationSeriesMemory: live heap of the rules engine (the
// example rules) per interface series.
func BenchmarkRemediationSeriesMemory(b *testing.B) {
	src, err := os.ReadFile("../deploy/remediation/rules.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	rs, err := rules.Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	const n = 20000
	t0 := testenv.Now().Truncate(time.Hour)
	for b.Loop() {
		before := liveHeap()
		e, err := rules.NewEngine(rs)
		if err != nil {
			b.Fatal(err)
		}
		var out []*wirepb.RemediationEvent
		for w := range 40 {
			start := t0.Add(time.Duration(w) * 10 * time.Second)
			for i := 0; i < n; i++ {
				k := &wirepb.KPI{Version: 1, Site: fmt.Sprintf("site%d", i/4800), Device: fmt.Sprintf("site%d-sw%d", i/4800, i/48),
					WindowStartUnixNano: start.UnixNano(), WindowEndUnixNano: start.Add(10 * time.Second).UnixNano(),
					Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{Interface: "Ethernet" + strconv.Itoa(i%48+1),
						UtilIn: 0.3 + 0.01*float64(i%7), UtilOut: 0.25, SpeedBps: 10e9, OperStatus: wirepb.OperStatus_UP}}}
				out = e.Observe(k, out[:0])
			}
		}
		after := liveHeap()
		runtime.KeepAlive(e)
		b.ReportMetric(float64(after-before)/n, "B/series")
	}
}

// interfaceSample is a counter sample as the collector produces it.
func interfaceSample(site, dev, iface string, t int64, v uint64) *wirepb.Sample {
	st := &wirepb.InterfaceState{Interface: iface, SpeedBps: 10e9, OperStatus: wirepb.OperStatus_UP}
	for c := wirepb.Counter_IN_OCTETS; c <= wirepb.Counter_OUT_DISCARDS; c++ {
		st.Counters = append(st.Counters, &wirepb.CounterValue{Counter: c, Value: v * (1000 + uint64(c))})
	}
	return &wirepb.Sample{Version: 1, Site: site, Device: dev, DeviceTimeUnixNano: t,
		ReceiveTimeUnixNano: t + 3*int64(time.Millisecond), Collector: "collector-0", Body: &wirepb.Sample_Interface{Interface: st}}
}

// TestMeasureStorage measures what a slice of a day costs in Kafka and in
// ClickHouse: the simulator's exact counters (its ground truth, second by
// second) for a day of a small fabric become the collector's
// samples on Kafka (lz4, as the collector produces them), the KPI engine
// turns them into 10 s KPIs, and the sink stores both in a throw-away
// database. Then, after OPTIMIZE ... FINAL (the merged state of a day),
// system.parts gives compressed and uncompressed bytes per row and the
// brokers' log directories the bytes per record.
//
// Runs only with TELEMETRY_CAPACITY=1 (hours: TELEMETRY_CAPACITY_HOURS,
// default 24: a day).
func TestMeasureStorage(t *testing.T) {
	if os.Getenv("TELEMETRY_CAPACITY") == "" {
		t.Skip("a measurement: set TELEMETRY_CAPACITY=1")
	}
	hours := 24
	if v, err := strconv.Atoi(os.Getenv("TELEMETRY_CAPACITY_HOURS")); err == nil && v > 0 {
		hours = v
	}
	brokers := testenv.Kafka(t)
	addr, db, conn := testenv.ClickHouseDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// The fabric: 2 sites × 3 switches × 8 interfaces, starting an hour
	// ago on the test clock.
	scfg := simulator.DefaultConfiguration()
	scfg.Sites, scfg.SwitchesPerSite, scfg.InterfacesPerSwitch = 2, 3, 8
	start := testenv.Now().Add(-time.Hour).Truncate(time.Minute)
	fab, err := simulator.New(scfg, simulator.Dependencies{Logger: log, Clock: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	truth := fab.Truth()

	kc := kafka.DefaultConfiguration()
	kc.Brokers = brokers
	suffix := strconv.FormatUint(rand.Uint64(), 36)
	kc.Topics = kafka.Topics{Samples: "capacity-" + suffix + ".samples", KPIs: "capacity-" + suffix + ".kpis",
		Remediations: "capacity-" + suffix + ".remediations", DeadLetter: "capacity-" + suffix + ".deadletter"}
	kc.Partitions = 4
	prod, err := kc.NewClient(ctx, log, kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, kc.Topics.Samples, kc.Topics.KPIs, kc.Topics.Remediations, kc.Topics.DeadLetter)
	})

	engine := kpi.NewEngine(kpi.DefaultConfiguration(), "capacity")
	cum := map[string]*[12]float64{}
	var samples, kpis uint64
	var out []*wirepb.KPI
	produce := func(r *kgo.Record) {
		prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	emitKPIs := func(ks []*wirepb.KPI) {
		for _, k := range ks {
			v, err := wire.Marshal(nil, k)
			if err != nil {
				t.Fatal(err)
			}
			key := k.Site + "/" + k.Device
			if i := k.GetInterface(); i != nil {
				key += "/" + i.Interface
			}
			produce(&kgo.Record{Topic: kc.Topics.KPIs, Key: []byte(key), Value: v, Headers: wire.Headers(wire.SchemaKPI)})
			kpis++
		}
	}
	for sec := 0; sec < hours*3600; sec++ {
		from := start.Add(time.Duration(sec) * time.Second)
		its, err := truth.Interfaces(from, from.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ts := from.Add(time.Second).UnixNano()
		for _, it := range its {
			id := it.Device + "/" + it.Interface
			c := cum[id]
			if c == nil {
				c = new([12]float64)
				cum[id] = c
			}
			for i, d := range []float64{it.InOctets, it.InPkts, 0, 0, it.InErrors, it.InDiscards,
				it.OutOctets, it.OutPkts, 0, 0, it.OutErrors, it.OutDiscards} {
				c[i] += d
			}
			st := &wirepb.InterfaceState{Interface: it.Interface, SpeedBps: it.SpeedBps, OperStatus: wirepb.OperStatus_UP}
			if it.DownSeconds > 0 {
				st.OperStatus = wirepb.OperStatus_DOWN
			}
			// The simulator's split of packets: 1/200 broadcast, 3/200 multicast.
			for i, ctr := range []wirepb.Counter{wirepb.Counter_IN_OCTETS, wirepb.Counter_IN_UNICAST_PKTS, wirepb.Counter_IN_BROADCAST_PKTS,
				wirepb.Counter_IN_MULTICAST_PKTS, wirepb.Counter_IN_ERRORS, wirepb.Counter_IN_DISCARDS, wirepb.Counter_OUT_OCTETS,
				wirepb.Counter_OUT_UNICAST_PKTS, wirepb.Counter_OUT_BROADCAST_PKTS, wirepb.Counter_OUT_MULTICAST_PKTS,
				wirepb.Counter_OUT_ERRORS, wirepb.Counter_OUT_DISCARDS} {
				v := uint64(c[i])
				switch i {
				case 1, 7:
					v = uint64(c[i]) - uint64(c[i])/200 - uint64(c[i])*3/200
				case 2, 8:
					v = uint64(c[i-1]) / 200
				case 3, 9:
					v = uint64(c[i-2]) * 3 / 200
				}
				st.Counters = append(st.Counters, &wirepb.CounterValue{Counter: ctr, Value: v})
			}
			s := &wirepb.Sample{Version: 1, Site: it.Site, Device: it.Device, DeviceTimeUnixNano: ts,
				ReceiveTimeUnixNano: ts + int64(2*time.Millisecond) + rand.Int64N(int64(3*time.Millisecond)),
				Collector:           "collector-0", Seq: uint64(sec), Body: &wirepb.Sample_Interface{Interface: st}}
			v, err := wire.AppendSample(nil, s)
			if err != nil {
				t.Fatal(err)
			}
			produce(&kgo.Record{Topic: kc.Topics.Samples, Key: wire.SampleKey(nil, s), Value: v, Headers: wire.Headers(wire.SchemaSample)})
			samples++
			engine.Add(s, time.Unix(0, s.ReceiveTimeUnixNano))
		}
		out = engine.Collect(time.Unix(0, ts), out[:0])
		emitKPIs(out)
	}
	emitKPIs(engine.Drain(out[:0]))
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %d samples and %d KPIs (%d interfaces × %d h)", samples, kpis, len(cum), hours)

	// The sink stores both topics.
	ccfg := chsink.DefaultConfiguration()
	ccfg.Addresses, ccfg.Database, ccfg.GroupID = []string{addr}, db, "capacity-"+suffix
	sink, err := chsink.New(ccfg, chsink.Dependencies{Logger: log, Kafka: &kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Minute, "the sink to store every sample and KPI", func() bool {
		st := sink.Stats()
		return st.Records[kc.Topics.Samples] >= samples && st.Records[kc.Topics.KPIs] >= kpis &&
			st.Rows[schema.InterfaceCounters] >= samples
	})
	if err := sink.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{schema.InterfaceCounters, schema.InterfaceKPIs, schema.InterfaceKPIs1m, schema.InterfaceKPIs1h, schema.DeviceKPIs} {
		if err := conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s FINAL", db, tbl)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT table, sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes)
		FROM system.parts WHERE database = ? AND active GROUP BY table ORDER BY table`, db)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string][3]uint64{}
	for rows.Next() {
		var name string
		var n, comp, unc uint64
		if err := rows.Scan(&name, &n, &comp, &unc); err != nil {
			t.Fatal(err)
		}
		sizes[name] = [3]uint64{n, comp, unc}
		t.Logf("%-22s %10d rows %12d B compressed (%6.1f B/row) %12d B uncompressed (%6.1f B/row)", name, n, comp,
			float64(comp)/float64(max(n, 1)), unc, float64(unc)/float64(max(n, 1)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	raw := sizes[schema.InterfaceCounters]
	if raw[0] != samples {
		t.Fatalf("interface_counters holds %d rows after FINAL, want %d", raw[0], samples)
	}
	kpiRows := sizes[schema.InterfaceKPIs][0] + sizes[schema.DeviceKPIs][0]
	kpiBytes := sizes[schema.InterfaceKPIs][1] + sizes[schema.DeviceKPIs][1] + sizes[schema.InterfaceKPIs1m][1] + sizes[schema.InterfaceKPIs1h][1]
	t.Logf("ClickHouse %s: raw sample %.1f B/row compressed (%.1f uncompressed); KPI %.1f B/row compressed with its rollups",
		addr, float64(raw[1])/float64(raw[0]), float64(raw[2])/float64(raw[0]), float64(kpiBytes)/float64(kpiRows))

	// Kafka: the topics' log sizes (one replica).
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	size := map[string]int64{}
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) { size[p.Topic] += p.Size })
	})
	t.Logf("Kafka: %.1f B per sample, %.1f B per KPI on disk (lz4 batches, one replica)",
		float64(size[kc.Topics.Samples])/float64(samples), float64(size[kc.Topics.KPIs])/float64(kpis))
}
