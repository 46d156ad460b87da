package dashboards

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// The hostile-name fixture: every name of testenv.HostileNames stored as
// the site, device and interface (and link ends, event entity, inventory
// entry) of its own rows, plus refName with the same rows. The rows of every
// name carry the same numbers, so a query with a name selected must return
// exactly what it returns with refName selected, refName replaced by the
// name: one row more, one less, another number or another string (a
// system table's name, another name's rows) is a change of meaning.
const refName = "Rrefname0"

// hostileNames is the fixture's names: the corpus, then refName.
func hostileNames() []testenv.Hostile {
	return append(testenv.HostileNames(), testenv.Hostile{Label: "reference", Value: refName})
}

// sqlNames is an SQL array of the names, each built from its hex bytes so
// the fixture's own SQL holds no hostile text.
func sqlNames(hs []testenv.Hostile) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = "unhex('" + strings.ToUpper(hex.EncodeToString([]byte(h.Value))) + "')"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// hostileLoad returns the statements filling the tables: for every name,
// nine 60 s interface and link windows in the last ten minutes before end
// (the third one DOWN), device windows, an inventory entry, two remediation
// events (one resolved), and name-free pipeline KPIs and dead letters.
func hostileLoad(end time.Time, hs []testenv.Hostile) []string {
	names := sqlNames(hs)
	e := end.Unix()
	return []string{
		fmt.Sprintf(`INSERT INTO interface_kpis (ts, site, device, interface, util_in, util_out, loss_ratio, in_errors_ps, in_discards_ps, out_discards_ps, out_errors_ps, speed_bps, in_bps, out_bps, in_pps, out_pps, oper_status, window_s, samples, kpi_id)
SELECT toDateTime(%d - 60 * w) AS ts, n, n, n, 0.25 + w / 100, 0.5, if(w = 2, 0.02, 0), w, 0.5, 0.25, 0, toUInt64(10000000000), 1e9, 2e9, 1e5, 2e5,
 if(w = 3, 'DOWN', 'UP'), 60, 6, concat('k', toString(w))
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([1, 2, 3, 4, 5, 6, 7, 8, 9]) AS w)`, e, names),
		fmt.Sprintf(`INSERT INTO link_kpis (ts, src_site, src_device, dst_site, dst_device, rtt_ms, rtt_p50_ms, rtt_p95_ms, rtt_p99_ms, jitter_ms, loss_ratio, probes_sent, probes_received, window_s, kpi_id)
SELECT toDateTime(%d - 60 * w), n, n, n, n, 10 + w, 10, 12 + w, 14 + w, 0.5 * w, if(w = 4, 0.01, 0), toUInt64(100), toUInt64(99), 60, concat('l', toString(w))
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([1, 2, 3, 4, 5, 6, 7, 8, 9]) AS w)`, e, names),
		fmt.Sprintf(`INSERT INTO device_kpis (ts, site, device, reachable, state, last_error, up_ratio, window_s, samples, kpi_id)
SELECT toDateTime(%d - 60 * w), n, n, toUInt8(w != 1), if(w != 1, 'up', 'down'), if(w != 1, '', 'connection refused'), toFloat64(w != 1), 60, toUInt32(6), concat('d', toString(w))
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([1, 2, 3, 4, 5, 6, 7, 8, 9]) AS w)`, e, names),
		fmt.Sprintf(`INSERT INTO devices (site, device, address, first_seen, last_seen, state)
SELECT n, n, '127.0.0.1:57400', toDateTime(%d), toDateTime(%d), 'up' FROM (SELECT arrayJoin(%s) AS n)`, e-3600, e-60, names),
		// ev1 fires, is dispatched and acknowledged, resolves; ev2 stays open.
		fmt.Sprintf(`INSERT INTO remediation_events (ts, event_id, rule, state, severity, site, device, interface, dst_site, dst_device, kpi, value, threshold, fired_at, action, message)
SELECT toDateTime(%d + 60 * st + 30 * ev), concat('ev', toString(ev), ':', n), concat('rule-', toString(ev)),
 arrayElement(['firing', 'dispatched', 'acknowledged', 'resolved'], st + 1), if(ev = 1, 'critical', 'warning'),
 n, n, n, '', '', 'util_in', 0.97, 0.9, toDateTime(%d + 30 * ev), 'gitops', 'test'
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([1, 2]) AS ev, arrayJoin([0, 1, 2, 3]) AS st) WHERE NOT (ev = 2 AND st = 3)`, e-540, e-540, names),
		fmt.Sprintf(`INSERT INTO pipeline_kpis (ts, instance, delay_p50_ms, delay_p99_ms, delay_max_ms, samples, window_s)
SELECT toDateTime(%d - 60 * number), 'process-0', 120, 900, 2000, toUInt64(1000), 60 FROM numbers(1, 9)`, e),
		fmt.Sprintf(`INSERT INTO deadletters (ts, component, reason, source_topic, source_partition, source_offset, key, payload)
SELECT toDateTime(%d - 60 * number), 'sink', 'decode', 'telemetry.kpis', toInt32(0), toInt64(number), 'k', '' FROM numbers(1, 9)`, e),
	}
}

// selection is what a dashboard user picked: per variable, the selected
// options' values, or All (AllValue then every option).
type selection struct {
	name string
	vars func(key string) map[string][]string
}

// hostileSelections: the name alone in each variable (the others on
// All), then in all three.
func hostileSelections(all map[string][]string) []selection {
	one := func(v string) selection {
		return selection{v, func(key string) map[string][]string {
			out := allSelected(all)
			out[v] = []string{key}
			return out
		}}
	}
	return []selection{one("site"), one("device"), one("interface"), {"all-three", func(key string) map[string][]string {
		return map[string][]string{"site": {key}, "device": {key}, "interface": {key}}
	}}}
}

// tsvResult is one statement's answer: its rows, each cell unescaped
// (ClickHouse's TabSeparated escaping), or its error.
type tsvResult struct {
	rows [][]string
	err  string
}

// unescapeTSV parses a TabSeparated body into rows of exact bytes.
func unescapeTSV(body []byte) [][]string {
	var rows [][]string
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var row []string
		var cell []byte
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case c == '\t':
				row = append(row, string(cell))
				cell = cell[:0]
			case c == '\\' && i+1 < len(line):
				i++
				switch d := line[i]; d {
				case 'b':
					cell = append(cell, '\b')
				case 'f':
					cell = append(cell, '\f')
				case 'r':
					cell = append(cell, '\r')
				case 'n':
					cell = append(cell, '\n')
				case 't':
					cell = append(cell, '\t')
				case '0':
					cell = append(cell, 0)
				default:
					cell = append(cell, d)
				}
			default:
				cell = append(cell, c)
			}
		}
		rows = append(rows, append(row, string(cell)))
	}
	return rows
}

// datasourceSettings are the ClickHouse settings the provisioned Grafana
// data source sends with every query (customSettings of
// deploy/grafana/datasources/clickhouse.yaml): the tests run with them.
func datasourceSettings(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "datasources", "clickhouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Datasources []struct {
			JSONData struct {
				CustomSettings []struct{ Setting, Value string } `yaml:"customSettings"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil || len(p.Datasources) != 1 {
		t.Fatalf("clickhouse.yaml: %v", err)
	}
	out := map[string]string{}
	for _, s := range p.Datasources[0].JSONData.CustomSettings {
		out[s.Setting] = s.Value
	}
	return out
}

// liveTSV runs statements on the live server, each answer as TabSeparated.
func liveTSV(t testing.TB, l *liveCH, settings map[string]string, stmts []string) []tsvResult {
	t.Helper()
	q := url.Values{"database": {l.db}}
	for k, v := range settings {
		q.Set(k, v)
	}
	u := "http://" + l.addr + "/?" + q.Encode()
	out := make([]tsvResult, len(stmts))
	for i, s := range stmts {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(s+"\nFORMAT TabSeparated"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusOK {
			out[i].err = strings.TrimSpace(string(b))
			continue
		}
		out[i].rows = unescapeTSV(b)
	}
	return out
}

const chdbTSVScript = `
import base64, json, sys
from chdb import session
req = json.load(sys.stdin)
s = session.Session()
for q in req["setup"]:
    s.query(q, "CSV")
out = []
for q in req["stmts"]:
    try:
        out.append({"b": base64.b64encode(s.query(q, "TabSeparated").bytes()).decode()})
    except Exception as e:
        out.append({"e": str(e)})
s.close()
json.dump(out, sys.stdout)
`

// chdbTSV runs the engine's setup, then SET for each setting, then stmts
// in one chdb session, each answer as TabSeparated.
func chdbTSV(t testing.TB, c *chdbEngine, settings map[string]string, stmts []string) []tsvResult {
	t.Helper()
	setup := append([]string{}, c.setup...)
	for k, v := range settings {
		setup = append(setup, fmt.Sprintf("SET %s = %s", k, v))
	}
	in, _ := json.Marshal(map[string][]string{"setup": setup, "stmts": stmts})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.python, "-c", chdbTSVScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("chdb: %v: %s", err, firstN(stderr.String(), 2000))
	}
	var res []struct{ B, E string }
	if err := json.Unmarshal(b, &res); err != nil || len(res) != len(stmts) {
		t.Fatalf("chdb output: %v (%d answers for %d statements)", err, len(res), len(stmts))
	}
	out := make([]tsvResult, len(res))
	for i, r := range res {
		if r.E != "" {
			out[i].err = r.E
			continue
		}
		body, err := base64.StdEncoding.DecodeString(r.B)
		if err != nil {
			t.Fatal(err)
		}
		out[i].rows = unescapeTSV(body)
	}
	return out
}

// hostileCase is one statement of the check: a query expanded for one
// name under one selection and range.
type hostileCase struct {
	query, sel, rng string
	q               int // the query's position (two panels may share a title)
	name            testenv.Hostile
}

// hostileStatements expands every dashboard query for every name, every
// selection and range.
func hostileStatements(t *testing.T, end time.Time, hs []testenv.Hostile) ([]hostileCase, []string) {
	t.Helper()
	all := map[string][]string{}
	for _, h := range hs {
		for _, v := range []string{"site", "device", "interface"} {
			all[v] = append(all[v], optionKeyOf(h.Value))
		}
	}
	ranges := testRanges(end)
	var cases []hostileCase
	var stmts []string
	for qi, q := range clickHouseQueries(definitions()) {
		for _, sel := range hostileSelections(all) {
			if sel.name != "all-three" && !strings.Contains(q.sql, "${"+sel.name+":") {
				continue // a query that does not read the variable: no name to test
			}
			rngs := []string{"15m"}
			if sel.name == "all-three" {
				rngs = append(rngs, "7d") // the hourly rollups' branches
			}
			for _, rn := range rngs {
				for _, h := range hs {
					s, err := Expand(q.sql, ranges[rn], sel.vars(optionKeyOf(h.Value)))
					if err != nil {
						t.Fatalf("%s: %v", q.name, err)
					}
					cases = append(cases, hostileCase{q.name, sel.name, rn, qi, h})
					stmts = append(stmts, s)
				}
			}
		}
	}
	return cases, stmts
}

// checkHostile compares every name's answer with the reference's, the
// reference's strings renamed.
func checkHostile(t *testing.T, engine string, hs []testenv.Hostile, cases []hostileCase, res []tsvResult) {
	t.Helper()
	var allNames []string
	for _, h := range hs {
		allNames = append(allNames, h.Value)
	}
	type key struct {
		q        int
		sel, rng string
	}
	ref := map[key]tsvResult{}
	for i, c := range cases {
		if c.name.Value == refName {
			ref[key{c.q, c.sel, c.rng}] = res[i]
		}
	}
	failures := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if failures++; failures <= 40 {
			t.Errorf(format, args...)
		}
	}
	for k, r := range ref {
		if r.err == "" && len(r.rows) == 0 && k.sel == "all-three" && k.rng == "15m" {
			fail("%s query %d: no rows for the reference name: the comparison would prove nothing", engine, k.q)
		}
	}
	for i, c := range cases {
		r := res[i]
		if r.err != "" {
			fail("%s %s [%s, %s] with %s: %s", engine, c.query, c.sel, c.rng, c.name.Label, firstN(r.err, 400))
			continue
		}
		want := ref[key{c.q, c.sel, c.rng}]
		if want.err != "" {
			continue // reported above
		}
		// An empty interface is how the event panels tell a device's event
		// (the lifecycle timeline omits ":interface"): by design, not a
		// change of meaning.
		if c.name.Value == "" && strings.HasSuffix(c.query, "/Event lifecycle") {
			continue
		}
		got, exp := canonical(r.rows, "", ""), canonical(want.rows, refName, c.name.Value)
		if v, ok := strings.CutPrefix(c.query[strings.Index(c.query, "/")+1:], "$"); ok {
			exp = expectedOptions(v, c.sel, c.name.Value, allNames)
		}
		if got != exp {
			fail("%s %s [%s, %s] with %s (%q): rows differ from the reference's\ngot:  %q\nwant: %q", engine, c.query, c.sel, c.rng, c.name.Label,
				firstN(c.name.Value, 80), firstN(got, 600), firstN(exp, 600))
		}
	}
	if failures > 40 {
		t.Errorf("%s: %d failures in all", engine, failures)
	}
}

// expectedOptions is what variable v's query must list, canonical, with
// name selected as sel says: the name alone when a variable it depends on
// (site for device, site or device for interface) has it selected, every
// name otherwise.
func expectedOptions(v, sel, name string, all []string) string {
	only := v == "device" && (sel == "site" || sel == "all-three") ||
		v == "interface" && (sel == "site" || sel == "device" || sel == "all-three")
	list := all
	if only {
		list = []string{name}
	}
	rows := make([][]string, len(list))
	for i, n := range list {
		rows[i] = []string{optionKeyOf(n), n}
	}
	return canonical(rows, "", "")
}

// canonical is rows, old replaced by new in every cell, sorted (the names
// sort differently from the reference).
func canonical(rows [][]string, old, new string) string {
	lines := make([]string, len(rows))
	for i, row := range rows {
		cells := make([]string, len(row))
		for j, c := range row {
			if old != "" {
				c = strings.ReplaceAll(c, old, new)
			}
			cells[j] = c
		}
		lines[i] = strings.Join(cells, "\x1f")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\x1e")
}

// checkOptions: with every variable on All, each variable query lists
// every name once, its value optionKeyOf(name) and its text the name.
func checkOptions(t *testing.T, engine string, hs []testenv.Hostile, res []tsvResult) {
	t.Helper()
	var want []string
	for _, h := range hs {
		want = append(want, optionKeyOf(h.Value)+"\x1f"+h.Value)
	}
	sort.Strings(want)
	for i, v := range []string{"site", "device", "interface"} {
		if res[i].err != "" {
			t.Errorf("%s $%s on All: %s", engine, v, firstN(res[i].err, 400))
			continue
		}
		if got := canonical(res[i].rows, "", ""); got != strings.Join(want, "\x1e") {
			t.Errorf("%s $%s on All: options\n%q\nwant\n%q", engine, v, firstN(got, 800), firstN(strings.Join(want, "\x1e"), 800))
		}
	}
}

// optionStatements are the three variable queries with every variable on
// All, every name an option.
func optionStatements(t *testing.T, end time.Time, hs []testenv.Hostile) []string {
	t.Helper()
	all := map[string][]string{}
	for _, h := range hs {
		for _, v := range []string{"site", "device", "interface"} {
			all[v] = append(all[v], optionKeyOf(h.Value))
		}
	}
	var out []string
	for _, v := range commonVariables() {
		s, err := Expand(v.sql, testRanges(end)["15m"], allSelected(all))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestHostileNamesCannotChangeDashboardQueries runs every panel and
// variable query of every dashboard on the live ClickHouse (18.16), with
// rows stored under every hostile name and each name selected in each
// variable: no query fails, and each returns exactly the rows of that
// name (those of the reference name, renamed), so a name can neither
// break a query nor widen, narrow or redirect it (the UNION ALL over
// system.tables of issue 18 included). With every variable on All, each
// variable lists every name exactly.
func TestHostileNamesCannotChangeDashboardQueries(t *testing.T) {
	t.Parallel()
	l := newLive(t)
	end := testenv.Now().UTC().Truncate(time.Minute)
	hs := hostileNames()
	mustRun(t, l, hostileLoad(end, hs))
	settings := datasourceSettings(t)
	checkOptions(t, l.name(), hs, liveTSV(t, l, settings, optionStatements(t, end, hs)))
	cases, stmts := hostileStatements(t, end, hs)
	start := time.Now()
	res := liveTSV(t, l, settings, stmts)
	t.Logf("%d statements in %s", len(stmts), time.Since(start).Round(time.Millisecond))
	checkHostile(t, l.name(), hs, cases, res)
}

// TestHostileNamesCannotChangeDashboardQueriesCHDB does the same on
// current ClickHouse (chdb), on the sink's modern DDL.
func TestHostileNamesCannotChangeDashboardQueriesCHDB(t *testing.T) {
	t.Parallel()
	c := newCHDB(t)
	end := testenv.Now().UTC().Truncate(time.Minute)
	hs := hostileNames()
	c.setup = append(c.setup, hostileLoad(end, hs)...)
	settings := datasourceSettings(t)
	checkOptions(t, c.name(), hs, chdbTSV(t, c, settings, optionStatements(t, end, hs)))
	cases, stmts := hostileStatements(t, end, hs)
	start := time.Now()
	res := chdbTSV(t, c, settings, stmts)
	t.Logf("%d statements in %s", len(stmts), time.Since(start).Round(time.Millisecond))
	checkHostile(t, c.name(), hs, cases, res)
}
