package dashboards

import (
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	// fixed date: macro expansion is text; no server reads it
	r := TimeRange{From: time.Unix(1700000000, 0), To: time.Unix(1700003600, 500e6), Interval: 5 * time.Second}
	vars := map[string][]string{"site": {"a", "b'c"}, "one": {"x"}, "every": {AllValue, "e1", "e2"}, "none": {}}
	for _, tc := range []struct{ in, want string }{
		{"$__timeFilter(ts)", "ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600)"},
		{"$__timeFilter_ms( ts )", "ts >= fromUnixTimestamp64Milli(1700000000000) AND ts <= fromUnixTimestamp64Milli(1700003600500)"},
		{"$__fromTime,$__toTime", "toDateTime(1700000000),toDateTime(1700003600)"},
		{"$__fromTime_ms", "fromUnixTimestamp64Milli(1700000000000)"},
		{"$__interval_s", "5"},
		{"$__timeInterval(ts)", "toStartOfInterval(toDateTime(ts), INTERVAL 5 second)"},
		{"$__timeInterval_ms(ts)", "toStartOfInterval(toDateTime64(ts, 3), INTERVAL 5000 millisecond)"},
		// fixed date: the expansion of the range above
		{"$__dateFilter(d)", "d >= toDate('2023-11-14') AND d <= toDate('2023-11-14')"},
		{"site IN (${site:singlequote})", `site IN ('a','b\'c')`},
		{"IN ($site) $one ${one}", `IN ('a','b\'c') 'x' 'x'`},
		{"${site:csv}", "a,b'c"},
		{"cost $ 5", "cost $ 5"},
		// $__conditionalAll: the condition unless All (or nothing) is selected.
		{"WHERE $__conditionalAll(site IN (${site:singlequote}), $site)", `WHERE site IN ('a','b\'c')`},
		{"$__conditionalAll(x IN ($every), $every) AND $__conditionalAll(y IN ($none), ${none})", "1=1 AND 1=1"},
		{"$__conditionalAll((a IN ('p,q') OR b = f(1, 2)), $one)", "(a IN ('p,q') OR b = f(1, 2))"},
		{"IN (${every:singlequote})", "IN ('e1','e2')"},
	} {
		got, err := Expand(tc.in, r, vars)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"$__nope", "$__timeFilter()", "$__timeFilter(ts", "$missing", "${site:json}", "${site",
		"$__conditionalAll(a = 1)", "$__conditionalAll(a = 1, site)", "$__conditionalAll(a = 1, $missing)", "$__conditionalAll(a IN (1, $site)"} {
		if _, err := Expand(bad, r, vars); err == nil {
			t.Errorf("Expand(%q): no error", bad)
		}
	}
	// Sub-second intervals round up to 1 s as in the plugin.
	r.Interval = 100 * time.Millisecond
	if got, _ := Expand("$__interval_s", r, nil); got != "1" {
		t.Errorf("interval_s = %s", got)
	}
	if !strings.Contains(strings.Join(MacroNames(), " "), "$__timeFilter") {
		t.Errorf("MacroNames() = %v", MacroNames())
	}
}
