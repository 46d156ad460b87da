package schema

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var ident = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// TestTables checks the definitions hold together: names unique and plain,
// every column of a known kind, sort and version keys made of columns,
// creation order by version.
func TestTables(t *testing.T) {
	names := map[string]bool{}
	var last uint32
	for _, tb := range Tables() {
		if !ident.MatchString(tb.Name) || names[tb.Name] {
			t.Errorf("table name %q not a plain identifier or not unique", tb.Name)
		}
		names[tb.Name] = true
		if tb.Since < last || tb.Since == 0 {
			t.Errorf("%s: Since %d out of creation order", tb.Name, tb.Since)
		}
		last = tb.Since
		cols := map[string]bool{}
		for _, c := range tb.Columns {
			if !ident.MatchString(c.Name) || cols[c.Name] {
				t.Errorf("%s.%s: not a plain identifier or not unique", tb.Name, c.Name)
			}
			cols[c.Name] = true
			if c.Kind.GoType() == "" || c.Kind.String() == "Kind(?)" {
				t.Errorf("%s.%s: unknown kind %d", tb.Name, c.Name, c.Kind)
			}
		}
		for _, k := range strings.Split(tb.OrderBy, ", ") {
			if !cols[k] {
				t.Errorf("%s: sort key column %q is not a column", tb.Name, k)
			}
		}
		if tb.Version != "" && !cols[tb.Version] {
			t.Errorf("%s: version column %q is not a column", tb.Name, tb.Version)
		}
		if tb.Partitioned || tb.Retention != KeepForever {
			if c, ok := tb.Column("ts"); !ok || (c.Kind != Time && c.Kind != TimeNano) {
				t.Errorf("%s: partitioned or with a retention, but no ts timestamp column", tb.Name)
			}
		}
	}
	if got, want := Names(), []string{InterfaceKPIs, LinkKPIs, PipelineKPIs, InterfaceCounters, ProbeResults,
		RemediationEvents, Devices, DeadLetters, InterfaceState, DeviceKPIs}; !slices.Equal(got, want) {
		t.Errorf("tables %v, want the constants %v", got, want)
	}
	if tb, ok := TableNamed(DeviceKPIs); !ok || tb.Name != DeviceKPIs {
		t.Error("TableNamed(DeviceKPIs)")
	}
	if _, ok := TableNamed(Migrations); ok {
		t.Error("schema_migrations is the migrations' own table, not one the sink writes")
	}
}

// TestRollups checks each rollup against its source: named after it with
// its bucket's suffix, keys and aggregated columns that exist there with
// the type the aggregate declares.
func TestRollups(t *testing.T) {
	suffix := map[string]string{"toStartOfMinute": Minute, "toStartOfHour": Hour}
	goType := map[string]string{"Float64": "float64", "UInt64": "uint64"}
	var names []string
	for _, r := range Rollups() {
		names = append(names, r.Name)
		src, ok := TableNamed(r.Source)
		if !ok {
			t.Errorf("%s: no source table %s", r.Name, r.Source)
			continue
		}
		if r.Name != r.Source+suffix[r.Bucket] {
			t.Errorf("%s: not %s + the suffix of %s", r.Name, r.Source, r.Bucket)
		}
		if r.Since < src.Since {
			t.Errorf("%s: created (version %d) before its source (%d)", r.Name, r.Since, src.Since)
		}
		for _, k := range r.Keys {
			if _, ok := src.Column(k); !ok {
				t.Errorf("%s: key %s is not a column of %s", r.Name, k, r.Source)
			}
		}
		cols := map[string]bool{}
		for _, a := range r.Aggs {
			if cols[a.Column] || !ident.MatchString(a.Column) {
				t.Errorf("%s.%s: not a plain identifier or not unique", r.Name, a.Column)
			}
			cols[a.Column] = true
			if a.Since < r.Since {
				t.Errorf("%s.%s: added (version %d) before the rollup (%d)", r.Name, a.Column, a.Since, r.Since)
			}
			if c, ok := src.Column(a.Expr); ok && goType[a.Type] != c.Kind.GoType() {
				t.Errorf("%s.%s: %s(%s) declared %s, the column is %s", r.Name, a.Column, a.Func, a.Expr, a.Type, c.Kind)
			} else if !ok && !strings.Contains(a.Expr, "(") {
				t.Errorf("%s.%s: %s is not a column of %s", r.Name, a.Column, a.Expr, r.Source)
			}
		}
		if got := r.ColumnNames(); got[0] != "ts" || len(got) != 1+len(r.Keys)+len(r.Aggs) {
			t.Errorf("%s: columns %v", r.Name, got)
		}
		if len(r.AggsAt(r.Since)) == 0 || len(r.AggsAt(r.Since-1)) != 0 {
			t.Errorf("%s: aggregates at creation %d, before %d", r.Name, len(r.AggsAt(r.Since)), len(r.AggsAt(r.Since-1)))
		}
	}
	if want := []string{InterfaceKPIs1m, InterfaceKPIs1h, LinkKPIs1m, LinkKPIs1h}; !slices.Equal(names, want) {
		t.Errorf("rollups %v, want the constants %v", names, want)
	}
	if r, ok := RollupNamed(InterfaceKPIs1h); !ok || len(r.AggsAt(3)) != len(r.Aggs)-1 || r.AggsAt(4)[len(r.Aggs)-1] != NotUpWindows() {
		t.Error("not_up_windows is the column version 4 adds to the interface rollups")
	}
}

// TestFresh: what the functions return belongs to the caller.
func TestFresh(t *testing.T) {
	a := Tables()
	a[0].Columns[0].Name = "changed"
	a[0].Name = "changed"
	if b := Tables(); b[0].Name != InterfaceKPIs || b[0].Columns[0].Name != "ts" {
		t.Fatal("Tables shares its slices")
	}
	r := Rollups()
	r[0].Keys[0] = "changed"
	r[0].Aggs[0].Column = "changed"
	if s := Rollups(); s[0].Keys[0] != TenantColumn || s[0].Aggs[0].Column != "util_in_avg" {
		t.Fatal("Rollups shares its slices")
	}
}
