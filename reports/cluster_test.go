package reports

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// roundFloats rounds every float of v (in place) to 9 significant digits
// (a sum over two shards adds in another order) and makes NaN comparable.
func roundFloats(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			roundFloats(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			roundFloats(v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			roundFloats(v.Index(i))
		}
	case reflect.Float64, reflect.Float32:
		if !v.CanSet() {
			return
		}
		f := v.Float()
		if math.IsNaN(f) {
			v.SetFloat(-1e300)
			return
		}
		r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 9, 64), 64)
		v.SetFloat(r)
	}
}

// TestWeeklyReportCluster writes the report's two sample weeks into the
// single server and, through the Distributed tables, into the 2-shard
// cluster (the sink's cluster schema, connections opened as the report
// opens its own: chsink.Open with clickhouse.cluster set), then collects
// the week's deck data from both with every dedup mode: the same figures,
// sites, links, events and trends.
func TestWeeklyReportCluster(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	sconn, sdb := testDB(t)
	fillSample(t, sconn, sdb)

	db, _ := c.Database(t, testenv.ShardedCluster)
	cfg := chsink.DefaultConfiguration()
	cfg.Database, cfg.Cluster, cfg.Addresses = db, testenv.ShardedCluster, c.Addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := chsink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := chsink.Migrate(ctx, conn, cfg, nil); err != nil {
		t.Fatal(err)
	}
	fillSample(t, conn, db)

	for _, dedup := range []string{DedupFinal, DedupNone, DedupAuto} {
		mod := func(cfg *Configuration) { cfg.Dedup = dedup }
		want, err := newComponent(t, sconn, sdb, mod).Collect(ctx, sampleWeek)
		if err != nil {
			t.Fatalf("single server, dedup %s: %v", dedup, err)
		}
		got, err := newComponent(t, conn, db, mod).Collect(ctx, sampleWeek)
		if err != nil {
			t.Fatalf("cluster, dedup %s: %v", dedup, err)
		}
		if len(got.Sites) == 0 || got.Remediation.Events == 0 {
			t.Fatalf("cluster, dedup %s: an empty deck (%d sites, %d events)", dedup, len(got.Sites), got.Remediation.Events)
		}
		roundFloats(reflect.ValueOf(want))
		roundFloats(reflect.ValueOf(got))
		if !reflect.DeepEqual(want, got) {
			w, g := fmt.Sprintf("%+v", *want), fmt.Sprintf("%+v", *got)
			i := 0
			for i < min(len(w), len(g)) && w[i] == g[i] {
				i++
			}
			t.Errorf("dedup %s: the cluster's deck data differs from the single server's at\n single: ...%s\ncluster: ...%s",
				dedup, w[max(0, i-200):min(len(w), i+200)], g[max(0, i-200):min(len(g), i+200)])
		}
	}
}
