package dashboards

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// httpTSV runs sql in database db of the server at addr (HTTP) and returns
// its rows, each as TSV text. An insert into a Distributed table returns
// once every shard has its rows (it changes nothing on the single server).
// The queries go as they are: the cluster's servers answer a sub-query on
// a Distributed table inside IN with GLOBAL IN from their users' profile
// (distributed_product_mode, docs/storage.md), as a cluster must be set up.
func httpTSV(addr, db, sql string) ([]string, error) {
	u := "http://" + addr + "/?" + url.Values{"database": {db}, "insert_distributed_sync": {"1"}}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if isSelect(sql) {
		sql += "\nFORMAT TSV"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	rows := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(rows) == 1 && rows[0] == "" {
		return nil, nil
	}
	return rows, nil
}

// canonicalRows makes two servers' answers comparable: numbers to 9
// significant digits (a sum over two shards adds in another order), rows
// sorted (rows of equal rank may come in any order).
func canonicalRows(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		f := strings.Split(r, "\t")
		for j, v := range f {
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				f[j] = strconv.FormatFloat(x, 'g', 9, 64)
			}
		}
		out[i] = strings.Join(f, "\t")
	}
	slices.Sort(out)
	return out
}

// TestDashboardQueriesCluster loads the same sample data into the single
// server and, through the Distributed tables, into the 2-shard cluster
// (the sink's cluster schema, migrated by chsink.Migrate), then runs every
// variable and panel query of every dashboard, expanded for every range,
// with the variables on "All" and listed, on both: the same queries give
// the same answers.
func TestDashboardQueriesCluster(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	single := newLive(t)
	db, _ := c.Database(t, testenv.ShardedCluster)
	cfg := chsink.DefaultConfiguration()
	cfg.Database, cfg.Cluster, cfg.Addresses = db, testenv.ShardedCluster, []string{c.Nodes[0].Addr}
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
	f := testFabric()
	mustRun(t, single, f.load())
	for _, q := range f.load() {
		if _, err := httpTSV(c.Nodes[0].HTTP, db, q); err != nil {
			t.Fatalf("cluster: %v\n%s", err, firstN(q, 300))
		}
	}
	names, stmts, _ := expandAll(t, clickHouseQueries(definitions()), testRanges(f.end), f.values())
	nonEmpty := 0
	for i, q := range stmts {
		want, err := httpTSV(single.addr, single.db, q)
		if err != nil {
			t.Fatalf("single server: %s: %v\n%s", names[i], err, q)
		}
		for n, node := range c.Nodes { // through either node
			got, err := httpTSV(node.HTTP, db, q)
			if err != nil {
				t.Errorf("cluster node %d: %s: %v\n%s", n, names[i], firstN(err.Error(), 600), q)
				continue
			}
			if w, g := canonicalRows(want), canonicalRows(got); !slices.Equal(w, g) {
				t.Errorf("%s: the cluster (node %d) answers %d rows, the single server %d; first difference:\n%s\n%s",
					names[i], n, len(g), len(w), firstDiff(w, g), q)
			}
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	t.Logf("%d queries compared (%d with rows)", len(stmts), nonEmpty)
}

func firstDiff(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("row %d: single %q, cluster %q", i, firstN(x, 300), firstN(y, 300))
		}
	}
	return ""
}
