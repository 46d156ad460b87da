package faults

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/meshtelemetry/telemetry/collectors/collector"
	"github.com/meshtelemetry/telemetry/collectors/simulator/simtest"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// endOffsets returns the end offset of every partition of topic.
func endOffsets(t *testing.T, kc *kafka.Configuration, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(newClient(t, kc)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// scaleStage is one stage's two processes, by index, and how to start
// (again) the one at index i.
type scaleStage struct {
	name  string
	procs [2]*process
	args  func(i int) []string
	runs  [2]int
}

func (s *scaleStage) start(t *testing.T, i int) {
	t.Helper()
	s.runs[i]++
	s.procs[i] = startProcess(t, fmt.Sprintf("%s-%d-run%d", s.name, i, s.runs[i]), s.args(i)...)
}

func (s *scaleStage) alive(t *testing.T) {
	t.Helper()
	for _, p := range s.procs {
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.tail(30))
		}
	}
}

// TestScaleOutCluster runs the pipeline scaled out, every stage a
// `telemetry` process of its own: 2 collectors sharing the fabric's
// targets (rendezvous sharding over members c-0 and c-1), 2 processors and
// 2 sinks in their consumer groups (static members), real Kafka, and the
// 2-shard ClickHouse cluster (clickhouse.cluster: telemetry, each sink with
// both nodes' addresses). Mid-run one of each stage is killed (SIGKILL) and
// started again. Then the accounting is exact:
//
//   - the samples topic → ClickHouse: every distinct sample stored once
//     (raw tables with FINAL, and distinct keys), none dead-lettered;
//   - the KPIs topic → ClickHouse: every distinct KPI id stored once, in
//     spite of the re-sent KPIs of the killed processor and the batches the
//     killed sink had not committed;
//   - the fabric → the samples topic: per target of the collector never
//     killed, every notification emitted is a sample delivered (or counted
//     dropped, with its reason); for the killed one's targets, the samples
//     missing are no more than what the fabric emitted while it was down
//     plus its producer buffer, and none is doubled;
//   - the rows are on both shards, each site's on one.
func TestScaleOutCluster(t *testing.T) {
	began := time.Now()
	c := testenv.ClickHouseCluster(t)
	kc := kafkaConfig(testenv.Kafka(t), "scaleout", 1)
	ensureTopics(t, kc, true)
	testenv.Binary(t)
	db, conn := c.Database(t, testenv.ShardedCluster)
	sim := simtest.Start(t, 4, 2, 4)

	pgroup, sgroup := "g-"+kc.Topics.Samples, "g-sink-"+kc.Topics.Samples
	deleteGroupsAfter(t, kc, pgroup, sgroup)
	adm := kadm.NewClient(newClient(t, kc))
	t.Cleanup(func() { // static members do not leave on stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.LeaveGroup(ctx, kadm.LeaveGroup(pgroup).InstanceIDs("process-0", "process-1"))
		_, _ = adm.LeaveGroup(ctx, kadm.LeaveGroup(sgroup).InstanceIDs("sink-0", "sink-1"))
	})

	const bound = 200 // the collectors' producer buffer, records
	collectors := &scaleStage{name: "collect", args: func(i int) []string {
		cfg := collectorConfig(fmt.Sprintf("c-%d", i), sim)
		cfg.Members = []string{"c-0", "c-1"}
		cfg.Buffer = collector.Buffer{MaxRecords: bound, MaxBytes: 1 << 20, MaxBlock: time.Second}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return []string{"collect", "--config", configFile(t, fmt.Sprintf("collect-%d.yaml", i), kc, map[string]any{"collect": cfg})}
	}}
	processors := &scaleStage{name: "process", args: func(i int) []string {
		cfg := processorConfig(pgroup, fmt.Sprintf("p-%d", i))
		pkc := *kc
		pkc.InstanceID = fmt.Sprintf("process-%d", i)
		return []string{"process", "--config", configFile(t, fmt.Sprintf("process-%d.yaml", i), &pkc, map[string]any{"process": cfg})}
	}}
	sinks := &scaleStage{name: "sink", args: func(i int) []string {
		cfg := chsink.DefaultConfiguration()
		cfg.Database, cfg.Cluster, cfg.GroupID = db, testenv.ShardedCluster, sgroup
		cfg.Addresses = []string{c.Nodes[i].Addr, c.Nodes[1-i].Addr}
		cfg.FlushInterval, cfg.BatchSize, cfg.MaxRetryBackoff = 200*time.Millisecond, 2000, time.Second
		skc := *kc
		skc.InstanceID = fmt.Sprintf("sink-%d", i)
		return []string{"sink", "--config", configFile(t, fmt.Sprintf("sink-%d.yaml", i), &skc, map[string]any{"clickhouse": cfg})}
	}}
	stages := []*scaleStage{sinks, processors, collectors}
	for _, s := range stages {
		for i := range 2 {
			s.start(t, i)
		}
	}
	alive := func() {
		for _, s := range stages {
			s.alive(t)
		}
	}
	rows := func(table string) uint64 {
		var n uint64
		if err := conn.QueryRow(context.Background(), fmt.Sprintf("SELECT count() FROM %s.%s FINAL", db, table)).Scan(&n); err != nil {
			return 0
		}
		return n
	}
	testenv.Eventually(t, 90*time.Second, "interface KPIs in the cluster", func() bool { alive(); return rows("interface_kpis") >= 100 })
	t.Logf("pipeline up after %s", time.Since(began).Round(100*time.Millisecond))

	// One collector killed, started again a second later.
	collectors.procs[1].kill(t)
	down := time.Now()
	time.Sleep(time.Second)
	collectors.start(t, 1)
	restarted := time.Now()
	var resumed time.Time
	testenv.Eventually(t, 30*time.Second, "samples from the restarted collector", func() bool {
		alive()
		for _, s := range samplesOf(t, readTopic(t, kc, kc.Topics.Samples)) {
			if s.Collector == "c-1" && s.ReceiveTimeUnixNano >= restarted.UnixNano() {
				resumed = time.Now()
				return true
			}
		}
		return false
	})
	collectorDown := resumed.Sub(down)

	// One processor killed and started again (the same static member).
	before := rows("interface_kpis")
	processors.procs[1].kill(t)
	processors.start(t, 1)
	testenv.Eventually(t, 60*time.Second, "KPIs after the processor's restart", func() bool { alive(); return rows("interface_kpis") > before+64 })

	// One sink killed and started again.
	before = rows("interface_kpis")
	sinks.procs[1].kill(t)
	sinks.start(t, 1)
	testenv.Eventually(t, 60*time.Second, "rows after the sink's restart", func() bool { alive(); return rows("interface_kpis") > before+64 })
	time.Sleep(2 * time.Second)

	// Drain: the fabric stops (its counts are final), the collectors stop
	// cleanly (they flush), the processors stop, and the sinks store
	// everything the topics hold.
	if err := sim.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	var dropped [2]map[string]uint64
	for i, p := range collectors.procs {
		p.terminate(t, 30*time.Second)
		st, ok := stoppedOf(t, p)
		if !ok {
			t.Fatalf("%s logged no \"stopped\" line:\n%s", p.name, p.tail(20))
		}
		dropped[i] = st.Dropped
	}
	time.Sleep(2 * time.Second)
	for _, p := range processors.procs {
		p.terminate(t, 30*time.Second)
	}
	for _, topic := range []string{kc.Topics.Samples, kc.Topics.KPIs} {
		testenv.Eventually(t, 90*time.Second, "the sinks committed "+topic+" to its end", func() bool {
			sinks.alive(t)
			end, got := endOffsets(t, kc, topic), committedOffsets(t, kc, sgroup, topic)
			for p, off := range end {
				if off > 0 && got[p] < off {
					return false
				}
			}
			return true
		})
	}
	for _, p := range sinks.procs {
		p.terminate(t, 30*time.Second)
	}

	// The samples topic → ClickHouse.
	samples := samplesOf(t, readTopic(t, kc, kc.Topics.Samples))
	// Per collector run (a restarted collector numbers its samples from 1
	// again): no sequence number twice, no sample twice.
	runs := map[string]func(*wirepb.Sample) bool{
		"c-0":             func(s *wirepb.Sample) bool { return s.Collector == "c-0" },
		"c-1 before kill": func(s *wirepb.Sample) bool { return s.Collector == "c-1" && s.ReceiveTimeUnixNano < down.UnixNano() },
		"c-1 after restart": func(s *wirepb.Sample) bool {
			return s.Collector == "c-1" && s.ReceiveTimeUnixNano >= restarted.UnixNano()
		},
	}
	seen := 0
	for name, keep := range runs {
		a := accountSeqs(samples, keep)
		seen += a.Records
		t.Logf("samples of %s: %d records, %d duplicates, %d holes", name, a.Records, a.Duplicates, a.Holes)
		if a.Duplicates != 0 || a.SameTime != 0 || (name == "c-0" && a.Holes != 0) {
			t.Errorf("samples of %s: %d duplicate sequence numbers, %d samples repeated, %d holes", name, a.Duplicates, a.SameTime, a.Holes)
		}
	}
	if seen != len(samples) {
		t.Errorf("%d samples in the topic, %d from the collectors' runs (received between the kill and the restart?)", len(samples), seen)
	}
	if a := accountSeqs(samples, nil); a.SameTime != 0 {
		t.Errorf("%d samples repeated in the topic", a.SameTime)
	}
	keys := map[string]map[string]bool{"interface_counters": {}, "interface_state": {}, "probe_results": {}}
	delivered := map[string]map[string]bool{} // target → distinct fabric samples
	owner := map[string]string{}              // target → collector
	for _, s := range samples {
		var table, k string
		switch b := s.GetBody().(type) {
		case *wirepb.Sample_Interface:
			table = "interface_counters"
			if len(b.Interface.GetCounters()) == 0 {
				table = "interface_state"
			}
			k = fmt.Sprintf("%s/%s/%s@%d", s.Site, s.Device, b.Interface.GetInterface(), s.DeviceTimeUnixNano)
		case *wirepb.Sample_Probe:
			table = "probe_results"
			k = fmt.Sprintf("%s/%s>%s/%s@%d", s.Site, s.Device, b.Probe.GetPeerSite(), b.Probe.GetPeerDevice(), s.DeviceTimeUnixNano)
		default:
			continue
		}
		keys[table][k] = true
		if delivered[s.Device] == nil {
			delivered[s.Device] = map[string]bool{}
		}
		delivered[s.Device][table+k] = true
		if o, ok := owner[s.Device]; ok && o != s.Collector {
			t.Errorf("target %s collected by %s and %s", s.Device, o, s.Collector)
		}
		owner[s.Device] = s.Collector
	}
	keyOf := map[string]string{
		"interface_counters": "site, device, interface, ts_ns",
		"interface_state":    "site, device, interface, ts_ns",
		"probe_results":      "src_site, src_device, dst_site, dst_device, ts_ns",
	}
	deadLettered := rows("deadletters")
	for table, ks := range keys {
		var final, distinct uint64
		q := fmt.Sprintf("SELECT count(), uniqExact(%s) FROM %s.%s FINAL", keyOf[table], db, table)
		if err := conn.QueryRow(context.Background(), q).Scan(&final, &distinct); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d distinct samples in the topic, %d rows stored (FINAL), %d distinct keys", table, len(ks), final, distinct)
		if final != uint64(len(ks)) || distinct != final {
			t.Errorf("%s: the topic holds %d distinct samples, the cluster %d rows (%d distinct): want each once", table, len(ks), final, distinct)
		}
	}
	if deadLettered != 0 {
		t.Errorf("%d records dead-lettered by the sinks", deadLettered)
	}

	// The KPIs topic → ClickHouse.
	ids := map[string]map[string]bool{"interface_kpis": {}, "link_kpis": {}, "device_kpis": {}}
	copies := 0
	for _, k := range kpisOf(t, readTopic(t, kc, kc.Topics.KPIs)) {
		table := ""
		switch {
		case k.GetInterface() != nil:
			table = "interface_kpis"
		case k.GetLink() != nil:
			table = "link_kpis"
		case k.GetDeviceKpi() != nil:
			table = "device_kpis"
		default:
			continue
		}
		if ids[table][k.Id] {
			copies++
		}
		ids[table][k.Id] = true
	}
	for table, set := range ids {
		var final, distinct uint64
		if err := conn.QueryRow(context.Background(), fmt.Sprintf("SELECT count(), uniqExact(kpi_id) FROM %s.%s FINAL", db, table)).Scan(&final, &distinct); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d distinct ids in the topic, %d rows stored (FINAL), %d distinct ids", table, len(set), final, distinct)
		if final != uint64(len(set)) || distinct != final {
			t.Errorf("%s: the topic holds %d distinct KPIs, the cluster %d rows (%d distinct ids): want each once", table, len(set), final, distinct)
		}
	}
	t.Logf("KPI copies re-sent in the topic (the killed processor's replay): %d", copies)

	// The fabric → the samples topic.
	targets := make([]string, 0, len(owner))
	for tg := range owner {
		targets = append(targets, tg)
	}
	sort.Strings(targets)
	var lost, emittedKilled uint64
	for _, tg := range targets {
		st, err := sim.EmittedTarget(tg)
		if err != nil {
			t.Fatal(err)
		}
		e, d := st.Notifications, uint64(len(delivered[tg]))
		t.Logf("target %-14s collector %s: emitted %5d, delivered %5d", tg, owner[tg], e, d)
		switch {
		case d > e:
			t.Errorf("target %s: %d samples delivered, %d emitted", tg, d, e)
		case owner[tg] == "c-0" && e-d != sum(dropped[0]):
			t.Errorf("target %s (collector never killed): emitted %d, delivered %d, counted dropped %v", tg, e, d, dropped[0])
		case owner[tg] == "c-1":
			lost += e - d
			emittedKilled += e
		}
	}
	// The killed collector's targets lose what was emitted while it was
	// down (gNMI streams have no replay) and what its buffer held.
	rate := float64(emittedKilled) / time.Since(began).Seconds()
	maxLost := uint64(rate*(collectorDown+time.Second).Seconds()) + bound
	t.Logf("collector c-1 down %s: its targets lost %d samples (at most %d: %.0f samples/s × (down + 1 s) + its %d-record buffer); dropped with a reason: c-0 %v, c-1 %v",
		collectorDown.Round(100*time.Millisecond), lost, maxLost, rate, bound, dropped[0], dropped[1])
	if lost > maxLost {
		t.Errorf("the killed collector's targets lost %d samples, more than %d", lost, maxLost)
	}
	if len(targets) != 8 {
		t.Errorf("samples of %d targets, want the fabric's 8", len(targets))
	}

	// Both shards hold rows; each site's on one.
	on := make([]map[string]bool, len(c.Nodes))
	for i := range c.Nodes {
		on[i] = map[string]bool{}
		r, err := c.Conn(t, i).Query(context.Background(), fmt.Sprintf("SELECT DISTINCT site FROM %s.interface_kpis_local", db))
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			on[i][s] = true
		}
		r.Close()
	}
	for s := range on[0] {
		if on[1][s] {
			t.Errorf("site %s has rows on both shards", s)
		}
	}
	if len(on[0]) == 0 || len(on[1]) == 0 {
		t.Errorf("sites per shard: %d and %d, want rows on both", len(on[0]), len(on[1]))
	}
	t.Logf("TestScaleOutCluster took %s", time.Since(began).Round(100*time.Millisecond))
}
