package dashboards

import (
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
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
		// The plugin's default format quotes and escapes nothing.
		{"IN ($site) $one ${one} [[one]]", `IN ('a','b'c') 'x' 'x' 'x'`},
		{"[[site:csv]] ${site:raw}", "a,b'c a,b'c"},
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
	for _, bad := range []string{"$__nope", "$__timeFilter()", "$__timeFilter(ts", "$missing", "${site:nope}", "${site", "[[site", "${site.path}",
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

// TestGrafanaFormats: formatValue gives, for multi-value variables, what
// Grafana's format registry gives (the cases of @grafana/scenes'
// formatRegistry.test.ts with array values), and the plugin's default.
func TestGrafanaFormats(t *testing.T) {
	for _, tc := range []struct {
		format string
		vals   []string
		want   string
	}{
		{"percentencode", []string{"foo()bar BAZ", "test2"}, "%7Bfoo%28%29bar%20BAZ%2Ctest2%7D"},
		{"percentencode", []string{"x41"}, "%7Bx41%7D"},
		{"percentencode", nil, "%7B%7D"},
		{"percentencode", []string{"é'!*~._-"}, "%7B%C3%A9%27%21%2A~._-%7D"},
		{"singlequote", []string{"test", "test'2"}, `'test','test\'2'`},
		{"singlequote", nil, ""},
		{"doublequote", []string{"test", `test"2`}, `"test","test\"2"`},
		{"sqlstring", []string{"test", "test'value2"}, `'test','test''value2'`},
		{"sqlstring", []string{"test", "test'value2", `test"value3`}, `'test','test''value2','test\"value3'`},
		{"csv", []string{"test", "test2"}, "test,test2"},
		{"raw", []string{"12", "13"}, "12,13"},
		{"pipe", []string{"test", "test2"}, "test|test2"},
		{"glob", []string{"AA", "BB", "C.*"}, "{AA,BB,C.*}"},
		{"glob", []string{"AA"}, "AA"},
		{"json", []string{"test", "12"}, `["test","12"]`},
		{"json", []string{"<&>\u2028"}, "[\"<&>\u2028\"]"},
		// CHDatasource.format: quotes around each value, nothing escaped.
		{"", []string{"a", "b'c"}, `'a','b'c'`},
		{"", nil, "''"},
	} {
		got, err := formatValue(tc.format, tc.vals)
		if err != nil || got != tc.want {
			t.Errorf("formatValue(%q, %q) = %q, %v; want %q", tc.format, tc.vals, got, err, tc.want)
		}
	}
	// percentencode's alphabet, whatever the value: nothing that can end
	// or escape a ClickHouse string literal.
	for _, h := range testenv.HostileNames() {
		got, _ := formatValue("percentencode", []string{h.Value, h.Value})
		if strings.Trim(got, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~%") != "" {
			t.Errorf("%s: percentencode gives %q", h.Label, got)
		}
	}
}

// TestConditionalAllAsThePlugin: $__conditionalAll reads the variable's
// current value as text, splits its arguments at depth-1 commas without
// looking at quotes, and replaces with JavaScript's replacement patterns,
// as the plugin's applyConditionalAll does.
func TestConditionalAllAsThePlugin(t *testing.T) {
	vars := map[string][]string{"all": {AllValue, "a"}, "empty": {""}, "named_all": {AllValue}, "one": {"x"}, "two": {"x", "y"}}
	for _, tc := range []struct{ in, want string }{
		{"$__conditionalAll(c = 1, $one)", "c = 1"},
		{"$__conditionalAll(c = 1, ${two})", "c = 1"},
		{"$__conditionalAll(c = 1, $all)", "1=1"},
		// a selected value that reads as "" or "$__all" is taken for All
		{"$__conditionalAll(c = 1, $empty)", "1=1"},
		{"$__conditionalAll(c = 1, $named_all)", "1=1"},
		// nested: the last one first
		{"$__conditionalAll(a AND $__conditionalAll(b, $all), $one)", "a AND 1=1"},
		// the replacement's $' is JavaScript's "text after the match"
		{"$__conditionalAll(c = '$'', $one) END", "c = ' END' END"},
		{"$__conditionalAll(c = $$1, $one)", "c = $1"},
	} {
		got, err := expandConditionalAll(tc.in, vars)
		if err != nil || got != tc.want {
			t.Errorf("expandConditionalAll(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// A comma inside quotes splits the arguments (the plugin does not look
	// at quotes): three arguments, refused.
	if _, err := expandConditionalAll("$__conditionalAll(c IN ('a,b'), $one)", vars); err != nil {
		t.Errorf("quoted comma at depth 2: %v", err)
	}
	if _, err := expandConditionalAll("$__conditionalAll(c = 'a,b', $one)", vars); err == nil {
		t.Error("quoted comma at depth 1: no error")
	}
}

// TestNoPanelSQLUsesAnUnsafeFormat: every variable reference in the
// dashboards' SQL is ${name:percentencode} inside the one decoding
// expression (selectedNames), or the plain $name of a $__conditionalAll.
func TestNoPanelSQLUsesAnUnsafeFormat(t *testing.T) {
	for _, q := range clickHouseQueries(definitions()) {
		rest := q.sql
		for _, v := range []string{"site", "device", "interface"} {
			rest = strings.ReplaceAll(rest, selectedNames(v), "")
			rest = strings.ReplaceAll(rest, ", $"+v+")", ")")
		}
		if m := variableRegex.FindString(strings.ReplaceAll(rest, "$__", "")); m != "" {
			t.Errorf("%s: %s outside the decoding expression", q.name, m)
		}
		// JavaScript replacement patterns would change a condition's text.
		for _, p := range []string{"$$", "$&", "$`", "$'"} {
			if strings.Contains(q.sql, p) {
				t.Errorf("%s: holds %s", q.name, p)
			}
		}
	}
}
