package reports

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// canon renders v for comparison: exported fields only (what the deck is
// built from), every float to 9 significant digits (a sum over two shards
// adds in another order), maps by sorted key.
func canon(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Invalid:
		return "nil"
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "nil"
		}
		return canon(v.Elem())
	case reflect.Struct:
		switch x := v.Interface().(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano)
		case time.Location:
			return x.String()
		}
		var b strings.Builder
		b.WriteString("{")
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fmt.Fprintf(&b, "%s:%s ", f.Name, canon(v.Field(i)))
			}
		}
		return b.String() + "}"
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = canon(v.Index(i))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case reflect.Map:
		parts := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			parts = append(parts, canon(k)+"="+canon(v.MapIndex(k)))
		}
		sort.Strings(parts)
		return "map[" + strings.Join(parts, " ") + "]"
	case reflect.Float64, reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', 9, 64)
	}
	return fmt.Sprint(v.Interface())
}

// rerank sorts the deck's rankings again, as Query.Collect does, on the
// figures rounded as canon rounds them: an average over the parts of a
// table adds in the order the server reads them, so two interfaces (or
// links) with the same figures can differ in the last bit and come in
// either order.
func rerank(d *Data) {
	r := func(f float64) string { return strconv.FormatFloat(f, 'g', 9, 64) }
	sort.SliceStable(d.Congested, func(i, j int) bool {
		a, b := d.Congested[i], d.Congested[j]
		if r(a.UtilP95) != r(b.UtilP95) {
			return a.UtilP95 > b.UtilP95
		}
		if r(a.UtilAvg) != r(b.UtilAvg) {
			return a.UtilAvg > b.UtilAvg
		}
		return a.Site+"/"+a.Device+"/"+a.Interface < b.Site+"/"+b.Device+"/"+b.Interface
	})
	sort.SliceStable(d.Links, func(i, j int) bool {
		a, b := d.Links[i], d.Links[j]
		if r(a.Loss) != r(b.Loss) {
			return a.Loss > b.Loss
		}
		if r(a.RTTP95) != r(b.RTTP95) {
			return a.RTTP95 > b.RTTP95
		}
		return a.SrcSite+">"+a.DstSite < b.SrcSite+">"+b.DstSite
	})
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
		// Every interface in the ranking (the sample has 24, TopN 50): two
		// interfaces whose figures differ only in float rounding may swap
		// places, and must not swap in and out of a shorter list.
		mod := func(cfg *Configuration) { cfg.Dedup, cfg.TopN = dedup, 50 }
		want, err := newComponent(t, sconn, sdb, mod).Collect(ctx, sampleWeek)
		if err != nil {
			t.Fatalf("single server, dedup %s: %v", dedup, err)
		}
		got, err := newComponent(t, conn, db, mod).Collect(ctx, sampleWeek)
		if err != nil {
			t.Fatalf("cluster, dedup %s: %v", dedup, err)
		}
		if len(got.Congested) != int(got.This.Interfaces) {
			t.Fatalf("dedup %s: %d interfaces ranked of %d", dedup, len(got.Congested), got.This.Interfaces)
		}
		if len(got.Sites) == 0 || got.Remediation.Events == 0 {
			t.Fatalf("cluster, dedup %s: an empty deck (%d sites, %d events)", dedup, len(got.Sites), got.Remediation.Events)
		}
		rerank(want)
		rerank(got)
		if w, g := canon(reflect.ValueOf(want)), canon(reflect.ValueOf(got)); w != g {
			i := 0
			for i < min(len(w), len(g)) && w[i] == g[i] {
				i++
			}
			t.Errorf("dedup %s: the cluster's deck data differs from the single server's at\n single: ...%s\ncluster: ...%s",
				dedup, w[max(0, i-200):min(len(w), i+200)], g[max(0, i-200):min(len(g), i+200)])
		}
	}
}
