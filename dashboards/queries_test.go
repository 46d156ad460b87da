package dashboards

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// namedQuery is one SQL text of the dashboards with what it must return.
type namedQuery struct {
	name    string
	sql     string
	columns []string
}

// clickHouseQueries lists every ClickHouse query of every dashboard:
// template variables first, then panels.
func clickHouseQueries(defs []dashboardDef) []namedQuery {
	var out []namedQuery
	for _, d := range defs {
		for _, v := range d.variables {
			out = append(out, namedQuery{d.uid + "/$" + v.name, v.sql, []string{v.name + "_key", v.name}})
		}
		for _, r := range d.rows {
			for _, p := range r.panels {
				if p.sql != "" {
					out = append(out, namedQuery{d.uid + "/" + p.title, p.sql, p.columns})
				}
			}
		}
	}
	return out
}

// testRanges are the dashboard ranges tests expand the macros for, covering
// every table tier: raw (15m), 1-minute rollups (1h, 12h, 24h for time series),
// 1-hour rollups (12h, 24h for range aggregates; 7d for everything).
func testRanges(end time.Time) map[string]TimeRange {
	return map[string]TimeRange{
		"15m": {From: end.Add(-15 * time.Minute), To: end, Interval: time.Second},
		"1h":  {From: end.Add(-time.Hour), To: end, Interval: 5 * time.Second},
		"12h": {From: end.Add(-12 * time.Hour), To: end, Interval: 30 * time.Second},
		"24h": {From: end.Add(-24 * time.Hour), To: end, Interval: time.Minute},
		"7d":  {From: end.Add(-7 * 24 * time.Hour), To: end, Interval: 10 * time.Minute},
	}
}

var rangeOrder = []string{"15m", "1h", "12h", "24h", "7d"}

// allSelected is vars with every variable on "All" (the dashboards' default).
func allSelected(vars map[string][]string) map[string][]string {
	out := make(map[string][]string, len(vars))
	for k, v := range vars {
		out[k] = append([]string{AllValue}, v...)
	}
	return out
}

// expandAll expands every query for every range, once with the variables
// on "All" ($__conditionalAll drops the filters) and once with every value
// ticked one by one (the filters list them).
func expandAll(t testing.TB, qs []namedQuery, ranges map[string]TimeRange, vars map[string][]string) (names []string, stmts []string, want [][]string) {
	t.Helper()
	for _, sel := range []struct {
		name string
		vars map[string][]string
	}{{"all", allSelected(vars)}, {"listed", vars}} {
		for _, rn := range rangeOrder {
			for _, q := range qs {
				s, err := Expand(q.sql, ranges[rn], sel.vars)
				if err != nil {
					t.Fatalf("%s: %v", q.name, err)
				}
				if strings.Contains(s, "$") {
					t.Fatalf("%s: unexpanded $ left in\n%s", q.name, s)
				}
				names = append(names, fmt.Sprintf("%s [%s, %s]", q.name, rn, sel.name))
				stmts = append(stmts, s)
				want = append(want, q.columns)
			}
		}
	}
	return
}

func checkResults(t *testing.T, e engine, names, stmts []string, want [][]string, res []result) {
	t.Helper()
	for i, r := range res {
		switch {
		case r.Err != "":
			t.Errorf("%s %s: %s\n%s", e.name(), names[i], firstN(r.Err, 600), stmts[i])
		case !reflect.DeepEqual(r.Columns, want[i]):
			t.Errorf("%s %s: columns %v, want %v", e.name(), names[i], r.Columns, want[i])
		case r.Rows == 0:
			t.Errorf("%s %s: no rows on sample data\n%s", e.name(), names[i], stmts[i])
		}
	}
}

func testFabric() fabric {
	return fabric{sites: 3, devices: 2, ifaces: 4, end: time.Now().UTC().Truncate(time.Minute), span: 8 * 24 * time.Hour, step: 240}
}

// TestPanelQueriesLive runs every panel and variable query, expanded for a
// 1 h, 24 h and 7 d range, on the live ClickHouse server (18.16) on sample
// data, in tables made by the sink's own DDL (legacy flavour).
func TestPanelQueriesLive(t *testing.T) {
	t.Parallel()
	l := newLive(t)
	f := testFabric()
	mustRun(t, l, f.load())
	names, stmts, want := expandAll(t, clickHouseQueries(definitions()), testRanges(f.end), f.values())
	res, err := l.run(stmts)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, l, names, stmts, want, res)
}

// TestPanelQueriesCHDB does the same on modern ClickHouse (chdb, in
// process), on the sink's modern DDL (DateTime64, LowCardinality, TTLs).
func TestPanelQueriesCHDB(t *testing.T) {
	t.Parallel()
	c := newCHDB(t)
	f := testFabric()
	c.setup = append(c.setup, f.load()...)
	names, stmts, want := expandAll(t, clickHouseQueries(definitions()), testRanges(f.end), f.values())
	res, err := c.run(stmts)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, c, names, stmts, want, res)
}
