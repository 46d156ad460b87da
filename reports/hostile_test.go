package reports

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/reports/internal/ooxmlcheck"
	"github.com/meshtelemetry/telemetry/reports/pptx"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// recordingConn is a connection that records every statement the report
// sends, with its arguments.
type recordingConn struct {
	driver.Conn
	mu    sync.Mutex
	calls []recordedCall
}

type recordedCall struct {
	query string
	args  []any
}

func (r *recordingConn) record(q string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recordedCall{q, args})
}

func (r *recordingConn) Query(ctx context.Context, q string, args ...any) (driver.Rows, error) {
	r.record(q, args)
	return r.Conn.Query(ctx, q, args...)
}

func (r *recordingConn) QueryRow(ctx context.Context, q string, args ...any) driver.Row {
	r.record(q, args)
	return r.Conn.QueryRow(ctx, q, args...)
}

func (r *recordingConn) Select(ctx context.Context, dest any, q string, args ...any) error {
	r.record(q, args)
	return r.Conn.Select(ctx, dest, q, args...)
}

func (r *recordingConn) Exec(ctx context.Context, q string, args ...any) error {
	r.record(q, args)
	return r.Conn.Exec(ctx, q, args...)
}

// hostileWeekRows fills db (qualified as prefix, "" for the current
// database) for week w: every hostile name is the site, device and
// interface of congested interface KPIs, both ends of a link, the entity
// of two remediation events (one resolved) and an inventory entry. The
// names are built from their hex bytes, so this SQL holds no hostile text.
func hostileWeekRows(prefix string, w Week) []string {
	hs := testenv.HostileNames()
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = "unhex('" + strings.ToUpper(hex.EncodeToString([]byte(h.Value))) + "')"
	}
	names := "[" + strings.Join(parts, ", ") + "]"
	start := w.Start(time.UTC).Unix()
	return []string{
		fmt.Sprintf(`INSERT INTO %sinterface_kpis (ts, site, device, interface, util_in, util_out, loss_ratio, speed_bps, oper_status, window_s, samples, kpi_id)
SELECT toDateTime(%d + 3600 * h), n, n, n, 0.95, 0.5, 0.001, toUInt64(10000000000), 'UP', 3600, 360, toString(h)
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([1, 25, 49, 73, 97, 121, 145]) AS h)`, prefix, start, names),
		fmt.Sprintf(`INSERT INTO %slink_kpis (ts, src_site, src_device, dst_site, dst_device, rtt_ms, rtt_p95_ms, jitter_ms, loss_ratio, probes_sent, probes_received, window_s, kpi_id)
SELECT toDateTime(%d + 3600 * h), n, n, n, n, 12, 15, 1, 0, toUInt64(100), toUInt64(100), 3600, toString(h)
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([2, 26, 50]) AS h)`, prefix, start, names),
		fmt.Sprintf(`INSERT INTO %sremediation_events (ts, event_id, rule, state, severity, site, device, interface, kpi, value, threshold, fired_at, action, message)
SELECT toDateTime(%d + 7200 + 60 * st), concat('ev', toString(ev), ':', hex(n)), 'util-high', arrayElement(['firing', 'dispatched', 'acknowledged', 'resolved'], st + 1),
 'warning', n, n, n, 'util_in', 0.95, 0.9, toDateTime(%d + 7200), 'gitops', 'test'
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([1, 2]) AS ev, arrayJoin([0, 1, 2, 3]) AS st) WHERE NOT (ev = 2 AND st = 3)`, prefix, start, start, names),
		fmt.Sprintf(`INSERT INTO %sdevices (site, device, address, first_seen, last_seen, state)
SELECT n, n, '127.0.0.1:57400', toDateTime(%d), toDateTime(%d), 'up' FROM (SELECT arrayJoin(%s) AS n)`, prefix, start-86400, start+3600, names),
	}
}

// TestHostileNamesCannotChangeReportQueries: with every hostile name
// stored as a site, device, interface, link end and event entity for the
// reported week (on ClickHouse 18.16), no report query carries a string
// argument or a name in its text (its arguments are times and numbers),
// the deck lists exactly the stored names (every site, congested
// interface, link and site's events, nothing else: no system table), and
// the .pptx is a valid package. The same statements, run on current
// ClickHouse (chdb) over the sink's modern DDL and the same rows, succeed
// and return as many rows.
func TestHostileNamesCannotChangeReportQueries(t *testing.T) {
	conn, db := testDB(t)
	ctx := context.Background()
	for _, s := range hostileWeekRows(db+".", sampleWeek) {
		if err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%v\n%.300s", err, s)
		}
	}
	rec := &recordingConn{Conn: conn}
	q := &Query{Conn: rec, Database: db, Location: time.UTC, TopN: 1000, Threshold: 0.8}
	d, err := q.Collect(ctx, sampleWeek)
	if err != nil {
		t.Fatal(err)
	}

	want := map[string]bool{}
	for _, h := range testenv.HostileNames() {
		want[h.Value] = true
	}
	same := func(what string, got []string) {
		t.Helper()
		seen := map[string]int{}
		for _, g := range got {
			seen[g]++
			if !want[g] {
				t.Errorf("%s: %q is no stored name", what, g)
			}
		}
		for n := range want {
			if seen[n] != 1 {
				t.Errorf("%s: %q listed %d times, want once", what, n, seen[n])
			}
		}
	}
	var sites, ifaces, links []string
	for _, s := range d.Sites {
		sites = append(sites, s.Site)
		if s.Events != 2 {
			t.Errorf("site %q: %d events, want 2", s.Site, s.Events)
		}
	}
	for _, c := range d.Congested {
		if c.Site != c.Device || c.Device != c.Interface {
			t.Errorf("congested %q/%q/%q: mixed names", c.Site, c.Device, c.Interface)
		}
		ifaces = append(ifaces, c.Interface)
	}
	for _, l := range d.Links {
		if l.SrcSite != l.DstSite {
			t.Errorf("link %q > %q: mixed names", l.SrcSite, l.DstSite)
		}
		links = append(links, l.SrcSite)
	}
	same("sites", sites)
	same("congested interfaces", ifaces)
	same("links", links)
	if d.Remediation.Events != 2*len(want) || d.Remediation.Resolved != len(want) {
		t.Errorf("events %d (resolved %d), want %d (%d)", d.Remediation.Events, d.Remediation.Resolved, 2*len(want), len(want))
	}

	var buf bytes.Buffer
	if err := (pptx.Writer{}).Write(&buf, Build(d)); err != nil {
		t.Fatal(err)
	}
	if err := ooxmlcheck.Check(buf.Bytes()); err != nil {
		t.Fatalf("invalid package with hostile names:\n%v", err)
	}

	// No statement takes a string: a name cannot reach a report query.
	rec.mu.Lock()
	calls := append([]recordedCall(nil), rec.calls...)
	rec.mu.Unlock()
	if len(calls) == 0 {
		t.Fatal("no statement recorded")
	}
	var rendered []string
	for _, c := range calls {
		for _, h := range testenv.HostileNames() {
			if len(h.Value) > 3 && strings.Contains(c.query, h.Value) {
				t.Errorf("a name in the SQL text: %q", h.Value)
			}
		}
		s, err := renderNumeric(c.query, c.args)
		if err != nil {
			t.Errorf("%v\n%s", err, c.query)
			continue
		}
		rendered = append(rendered, s)
	}
	if t.Failed() {
		return
	}

	// The same statements on current ClickHouse: no error, as many rows.
	liveRows := make([]int, len(rendered))
	for i, s := range rendered {
		rows, err := conn.Query(ctx, s)
		if err != nil {
			t.Fatalf("rendered statement on 18.16: %v\n%s", err, s)
		}
		for rows.Next() {
			liveRows[i]++
		}
		rows.Close()
	}
	chdbRows := runCHDBCounts(t, db, rendered)
	for i := range rendered {
		if chdbRows[i].Err != "" || chdbRows[i].Rows != liveRows[i] {
			t.Errorf("chdb: %d rows (%s), 18.16: %d\n%s", chdbRows[i].Rows, firstLine(chdbRows[i].Err), liveRows[i], rendered[i])
		}
	}
}

// renderNumeric puts the arguments into the statement's ? placeholders as
// literals; any argument that is not a number is an error.
func renderNumeric(q string, args []any) (string, error) {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		if n >= len(args) {
			return "", fmt.Errorf("more placeholders than arguments")
		}
		switch v := args[n].(type) {
		case uint32, uint64, int, int64, int32:
			fmt.Fprintf(&b, "%d", v)
		case float64:
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		default:
			return "", fmt.Errorf("argument %d is a %T (%v): only times and numbers may reach a report query", n, v, v)
		}
		n++
	}
	if n != len(args) {
		return "", fmt.Errorf("%d arguments for %d placeholders", len(args), n)
	}
	return b.String(), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

const chdbCountScript = `
import json, sys
from chdb import session
req = json.load(sys.stdin)
s = session.Session()
for q in req["setup"]:
    s.query(q, "CSV")
out = []
for q in req["stmts"]:
    try:
        d = json.loads(s.query(q, "JSONCompact").bytes().decode("utf-8", "replace") or "{}")
        out.append({"Rows": d.get("rows", 0)})
    except Exception as e:
        out.append({"Err": str(e)})
s.close()
json.dump(out, sys.stdout)
`

type chdbCount struct {
	Rows int
	Err  string
}

// runCHDBCounts runs stmts (written for database db) in a chdb session
// holding the sink's modern DDL and the hostile week's rows, and counts
// each one's rows.
func runCHDBCounts(t *testing.T, db string, stmts []string) []chdbCount {
	t.Helper()
	py := testenv.CHDB(t)
	const cdb = "telemetry_test"
	cfg := chsink.DefaultConfiguration()
	cfg.Database = cdb
	setup := append([]string{"CREATE DATABASE IF NOT EXISTS " + cdb, "USE " + cdb}, chsink.SchemaStatements(chsink.ModernCapabilities(), cfg)...)
	setup = append(setup, hostileWeekRows(cdb+".", sampleWeek)...)
	qualified := make([]string, len(stmts))
	for i, s := range stmts {
		qualified[i] = strings.ReplaceAll(s, "`"+db+"`.", cdb+".")
	}
	in, _ := json.Marshal(map[string][]string{"setup": setup, "stmts": qualified})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", chdbCountScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chdb: %v: %.2000s", err, stderr.String())
	}
	var res []chdbCount
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(stmts) {
		t.Fatalf("chdb output: %v (%d answers for %d statements)", err, len(res), len(stmts))
	}
	return res
}
