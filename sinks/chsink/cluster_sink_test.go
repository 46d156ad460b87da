package chsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// clusterKPIs returns n interface KPIs of `sites` sites (one device of 8
// interfaces each), plus link KPIs from every site: enough sites that both
// shards get some.
func clusterKPIs(n, sites int) []*wirepb.KPI {
	out := genInterfaceKPIs(n, 8*sites)
	for _, k := range out {
		site := "site" + strings.TrimPrefix(k.Device, "dev")
		k.Site = site
		k.Id = fmt.Sprintf("if/%s/%s/%s/%d", site, k.Device, k.GetInterface().GetInterface(), k.WindowStartUnixNano)
	}
	for i, k := range genLinkKPIs(4 * sites) {
		k.Site = fmt.Sprintf("site%d", i%sites)
		k.Id = fmt.Sprintf("link/%s/%d/%d", k.Site, i, k.WindowStartUnixNano)
		out = append(out, k)
	}
	return out
}

// clusterRecords is the input of the cluster's sink tests: the KPIs above,
// the raw samples, device states and events of the generator.
func clusterRecords(t testing.TB, kc *kafka.Configuration, kpis []*wirepb.KPI) []*kgo.Record {
	recs := kpiRecords(t, kc, kpis)
	recs = append(recs, kpiRecords(t, kc, append(genDeviceKPIs(6), genPipelineKPI()))...)
	for _, smp := range append(genSamples(), genStateSample()) {
		recs = append(recs, record(t, kc.Topics.Samples, wire.SchemaSample, wire.SampleKey(nil, smp), smp))
	}
	for _, e := range genEvents() {
		recs = append(recs, record(t, kc.Topics.Remediations, wire.SchemaRemediation, []byte(e.EventId), e))
	}
	for p := range int32(4) {
		src := &kgo.Record{Topic: kc.Topics.Samples, Partition: p, Offset: 42, Key: []byte("k"), Value: []byte{0xff, 0x00}}
		recs = append(recs, wire.DeadLetterRecord(kc.Topics.DeadLetter, "processor", errors.New("malformed record"), src, genStart))
	}
	return recs
}

// expectedRows is what a sink inserts for recs, per table: the records
// decoded into the sink's own buffers.
func expectedRows(t testing.TB, db string, recs []*kgo.Record) map[string]uint64 {
	t.Helper()
	b := newBuffers(db)
	fs := map[string]int64{}
	for _, r := range recs {
		var err error
		switch {
		case strings.HasSuffix(r.Topic, "kpis"):
			var k *wirepb.KPI
			if k, err = wire.NewKPIDecoder().Decode(r.Value); err == nil {
				err = b.addKPI(k)
			}
		case strings.HasSuffix(r.Topic, "samples"):
			var smp *wirepb.Sample
			if smp, err = wire.NewSampleDecoder().Decode(r.Value); err == nil {
				err = b.addSample(smp, true, fs)
			}
		case strings.HasSuffix(r.Topic, "deadletter"):
			var d wirepb.DeadLetter
			if err = wire.DecodeDeadLetter(r.Value, &d); err == nil {
				err = b.addDeadLetter(d.GetTimeUnixNano(), d.GetComponent(), d.GetReason(), d.GetSourceTopic(), d.GetSourcePartition(), d.GetSourceOffset(), d.GetKey(), d.GetPayload())
			}
		case strings.HasSuffix(r.Topic, "remediations"):
			var e wirepb.RemediationEvent
			if err = wire.DecodeRemediation(r.Value, &e); err == nil {
				err = b.addRemediation(&e)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]uint64{}
	for _, tb := range b.order {
		out[tb.t.Name] = uint64(tb.rows)
	}
	return out
}

// tableTotals reads, per table, the rows with FINAL and a checksum of the
// table's content, through conn (a Distributed table on a cluster).
func tableTotals(t testing.TB, conn driver.Conn, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sum := map[string]string{
		schema.InterfaceKPIs:     "round(sum(util_in), 6), sum(speed_bps)",
		schema.LinkKPIs:          "round(sum(rtt_ms), 6), sum(probes_received)",
		schema.PipelineKPIs:      "sum(samples)",
		schema.DeviceKPIs:        "sum(reachable), round(sum(up_ratio), 6)",
		schema.InterfaceCounters: "sum(in_octets), sum(seq)",
		schema.InterfaceState:    "sum(last_clear_ns)",
		schema.ProbeResults:      "sum(probes_received)",
		schema.RemediationEvents: "groupArray(state)",
		schema.Devices:           "groupArray(state), min(first_seen)",
		schema.DeadLetters:       "sum(source_partition), sum(source_offset)",
	}
	for _, name := range schema.Names() {
		agg, ok := sum[name]
		if !ok {
			agg = "1"
		}
		var got string
		q := fmt.Sprintf("SELECT toString(tuple(count(), %s)) FROM %s.%s FINAL", agg, db, name)
		if err := conn.QueryRow(context.Background(), q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out[name] = got
	}
	for _, r := range []string{schema.InterfaceKPIs1m, schema.InterfaceKPIs1h} {
		var got string
		// Buckets, not rows: how many rows a bucket has before merges
		// depends on the batches.
		q := fmt.Sprintf("SELECT toString(tuple(uniqExact(site, device, interface, ts), round(avgMerge(util_in_avg), 6), maxMerge(util_in_max), toUInt64(sumMerge(not_up_windows)))) FROM %s.%s", db, r)
		if err := conn.QueryRow(context.Background(), q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out[r] = got
	}
	for _, r := range []string{schema.LinkKPIs1m, schema.LinkKPIs1h} {
		var got string
		q := fmt.Sprintf("SELECT toString(tuple(uniqExact(src_site, src_device, dst_site, dst_device, ts), round(avgMerge(rtt_ms_avg), 6), maxMerge(rtt_p95_ms_max))) FROM %s.%s", db, r)
		if err := conn.QueryRow(context.Background(), q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out[r] = got
	}
	return out
}

// sitesOn lists, for node conn, the sites (sharding columns) of a table's
// rows stored there, with their row counts.
func sitesOn(t testing.TB, conn driver.Conn, db, table string) map[string]uint64 {
	t.Helper()
	col := strings.Join(ShardingColumns(table), ", '/', toString(")
	if n := len(ShardingColumns(table)); n > 1 {
		col = "concat(" + col + strings.Repeat(")", n-1) + ")"
	}
	rows, err := conn.Query(context.Background(), fmt.Sprintf("SELECT %s AS k, count() FROM %s.%s GROUP BY k", col, db, table+LocalSuffix))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var k string
		var n uint64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// TestClusterSinkLive runs two sinks on the same Kafka input, one into the
// 2-shard cluster, one into the single server: every table holds the same
// rows, sums and rollups through the Distributed tables as on the single
// server; the rows spread over both shards, and each site's rows (src_site
// for links and probes) are on one shard only. Then a third sink with a
// group of its own replays the whole input into the cluster (a sink that
// crashed before any commit): FINAL still counts every row once.
func TestClusterSinkLive(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	ccfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	scfg, sconn := liveConfig(t)
	kc, prod := liveKafka(t)
	for _, cfg := range []*Configuration{&ccfg, &scfg} {
		cfg.FlushInterval = 200 * time.Millisecond
		cfg.BatchSize = 1000
		cfg.GroupID = "sinktest-" + randomSuffix()
	}
	const sites = 16
	kpis := clusterKPIs(8000, sites)
	recs := clusterRecords(t, kc, kpis)
	cs := startSink(t, ccfg, kc)
	ss := startSink(t, scfg, kc)
	produce(t, prod, recs)
	want := expectedRows(t, ccfg.Database, recs)
	stored := func(s *Sink) bool {
		st := s.Stats()
		for name, n := range want {
			if st.Rows[name] != n {
				return false
			}
		}
		return true
	}
	testenv.Eventually(t, 90*time.Second, "every row stored by both sinks", func() bool { return stored(cs) && stored(ss) })
	single := tableTotals(t, sconn, scfg.Database)
	for i, conn := range conns { // through either node's Distributed tables
		cluster := tableTotals(t, conn, ccfg.Database)
		for name, w := range single {
			if cluster[name] != w {
				t.Errorf("node %d: %s = %s through the cluster, %s on the single server", i, name, cluster[name], w)
			}
		}
	}
	t.Logf("totals: %v", single)

	// Sharding: both shards hold rows, a site's rows are on one shard.
	for _, table := range []string{schema.InterfaceKPIs, schema.LinkKPIs, schema.InterfaceKPIs1m, schema.LinkKPIs1h, schema.Devices, schema.DeadLetters} {
		on := []map[string]uint64{sitesOn(t, conns[0], ccfg.Database, table), sitesOn(t, conns[1], ccfg.Database, table)}
		if table == schema.InterfaceKPIs && (len(on[0]) == 0 || len(on[1]) == 0) {
			t.Errorf("%s: sites per shard %d and %d: the writes did not spread over both shards", table, len(on[0]), len(on[1]))
		}
		for site := range on[0] {
			if _, ok := on[1][site]; ok {
				t.Errorf("%s: %s has rows on both shards", table, site)
			}
		}
		t.Logf("%s: %d sites on shard 1, %d on shard 2", table, len(on[0]), len(on[1]))
	}

	// A replay of everything (a sink that died before committing).
	rcfg := ccfg
	rcfg.GroupID = "sinktest-replay-" + randomSuffix()
	rs := startSink(t, rcfg, kc)
	testenv.Eventually(t, 90*time.Second, "the replay stored", func() bool { return stored(rs) })
	after := tableTotals(t, conns[0], ccfg.Database)
	for _, name := range schema.Names() {
		if after[name] != single[name] {
			t.Errorf("after the replay: %s = %s through the cluster, want %s", name, after[name], single[name])
		}
	}
}

// TestClusterReplayLive inserts the same batch twice through the sink's
// insert path, into the 2-shard cluster and into the single server (a
// batch whose insert succeeded but whose answer was lost, sent again): FINAL
// counts every row once on both; on the cluster the replicated tables even
// drop the repeated blocks (insert_deduplicate), so a plain count is exact
// too, while the single server keeps both copies until a merge. Then the
// retention step of servers without TTL drops the old partitions of every
// shard.
func TestClusterReplayLive(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	ccfg, conns := clusterConfig(t, c, testenv.ShardedCluster)
	scfg, sconn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, x := range []struct {
		cfg  Configuration
		conn driver.Conn
	}{{ccfg, nil}, {scfg, sconn}} {
		conn, err := Open(ctx, x.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := Migrate(ctx, conn, x.cfg, testLogger(t)); err != nil {
			t.Fatal(err)
		}
		b := fillBuffers(t, x.cfg.Database)
		for pass := range 2 {
			for _, tb := range b.order {
				if tb.rows == 0 {
					continue
				}
				if err := tb.send(ctx, conn); err != nil {
					t.Fatalf("%s pass %d: %v", x.cfg.Database, pass, err)
				}
			}
		}
	}
	b := fillBuffers(t, ccfg.Database)
	for _, tb := range b.order {
		want := uint64(tb.rows)
		if tb.t.Name == schema.Devices {
			want = 1 // two states of one device: the latest wins
		}
		final := func(conn driver.Conn, db string) uint64 {
			return count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s FINAL", db, tb.t.Name))
		}
		if got, single := final(conns[0], ccfg.Database), final(sconn, scfg.Database); got != want || single != want {
			t.Errorf("%s: FINAL after a replay: %d rows on the cluster, %d on the single server, want %d", tb.t.Name, got, single, want)
		}
		var plain uint64
		for _, conn := range conns {
			plain += count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", ccfg.Database, tb.t.Name+LocalSuffix))
		}
		if plain != uint64(tb.rows) {
			t.Errorf("%s: %d rows stored on the shards after the same batch twice, want %d (repeated blocks dropped)", tb.t.Name, plain, tb.rows)
		}
	}
	// Retention on 18.16 (no TTL) drops the old partitions of every shard.
	conn := conns[0]
	caps, err := Probe(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ApplyRetention(ctx, conn, caps, ccfg, genStart.AddDate(0, 0, 1), testLogger(t)); err != nil || n != 0 {
		t.Fatalf("retention now: dropped %d, %v", n, err)
	}
	if n, err := ApplyRetention(ctx, conn, caps, ccfg, genStart.AddDate(2, 0, 0), testLogger(t)); err != nil || n == 0 {
		t.Fatalf("retention later: dropped %d, %v", n, err)
	}
	for i, conn := range conns {
		if got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", ccfg.Database, schema.InterfaceKPIs+LocalSuffix)); got != 0 {
			t.Errorf("node %d: interface_kpis_local after retention: %d rows", i, got)
		}
	}
	if got := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.%s", ccfg.Database, schema.Devices)); got == 0 {
		t.Errorf("devices must not be dropped by retention")
	}
}
