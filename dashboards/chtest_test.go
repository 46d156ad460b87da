package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// result is what one statement returned.
type result struct {
	Columns []string
	Rows    int
	Err     string
}

// engine runs SQL statements in one database.
type engine interface {
	name() string
	run(stmts []string) ([]result, error)
}

// liveCH talks to the live ClickHouse server over HTTP, in its own database.
type liveCH struct {
	addr, db string
}

func (l *liveCH) name() string { return "live" }

func (l *liveCH) query(db, sql string) (string, error) {
	u := "http://" + l.addr + "/?" + url.Values{"database": {db}}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

func (l *liveCH) run(stmts []string) ([]result, error) {
	out := make([]result, len(stmts))
	for i, s := range stmts {
		if !isSelect(s) {
			if _, err := l.query(l.db, s); err != nil {
				out[i].Err = err.Error()
			}
			continue
		}
		body, err := l.query(l.db, s+"\nFORMAT JSONCompact")
		if err != nil {
			out[i].Err = err.Error()
			continue
		}
		out[i] = parseJSONCompact(body)
	}
	return out, nil
}

func isSelect(s string) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s)), "SELECT")
}

func parseJSONCompact(body string) result {
	var r struct {
		Meta []struct{ Name string } `json:"meta"`
		Rows int                     `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return result{Err: "bad JSON: " + err.Error()}
	}
	res := result{Rows: r.Rows}
	for _, m := range r.Meta {
		res.Columns = append(res.Columns, m.Name)
	}
	return res
}

// newLive creates a throw-away database on the live server (18.16) with the
// sink's own DDL for an old server (schemaFor, legacy capabilities).
func newLive(tb testing.TB) *liveCH {
	tb.Helper()
	return newLiveWith(tb, func(db string) []string { return schemaFor(chsink.LegacyCapabilities(), db) })
}

// newLiveWith creates a throw-away database (testenv.ClickHouseDB, dropped
// on cleanup) with the DDL ddl(db) returns.
func newLiveWith(tb testing.TB, ddl func(db string) []string) *liveCH {
	tb.Helper()
	_, db, _ := testenv.ClickHouseDB(tb)
	l := &liveCH{addr: testenv.ClickHouseHTTP(tb), db: db}
	mustRun(tb, l, ddl(l.db))
	return l
}

// chdbEngine runs statements in one chdb session (modern ClickHouse) through python3.
type chdbEngine struct {
	python string
	setup  []string
}

func (c *chdbEngine) name() string { return "chdb" }

const chdbScript = `
import json, sys
from chdb import session
stmts = json.load(sys.stdin)
s = session.Session()
out = []
for q in stmts:
    try:
        fmt = "JSONCompact" if q.lstrip().upper().startswith("SELECT") else "CSV"
        r = s.query(q, fmt)
        if fmt == "JSONCompact":
            d = json.loads(r.bytes() or b"{}")
            out.append({"Columns": [m["name"] for m in d.get("meta", [])], "Rows": d.get("rows", 0)})
        else:
            out.append({})
    except Exception as e:
        out.append({"Err": str(e)})
s.close()
json.dump(out, sys.stdout)
`

// run executes the setup statements then stmts in a fresh session and
// returns the results of stmts.
func (c *chdbEngine) run(stmts []string) ([]result, error) {
	all := append(append([]string{}, c.setup...), stmts...)
	in, _ := json.Marshal(all)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.python, "-c", chdbScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("chdb: %w: %s", err, stderr.String())
	}
	var res []result
	if err := json.Unmarshal(outb, &res); err != nil {
		return nil, fmt.Errorf("chdb output: %w", err)
	}
	for i, r := range res[:len(c.setup)] {
		if r.Err != "" {
			return nil, fmt.Errorf("chdb setup %q: %s", firstN(c.setup[i], 120), r.Err)
		}
	}
	return res[len(c.setup):], nil
}

// newCHDB prepares a chdb session (modern ClickHouse, in process) with the
// sink's own DDL for a modern server (schemaFor, modern capabilities).
func newCHDB(tb testing.TB) *chdbEngine {
	tb.Helper()
	return newCHDBWith(tb, func(db string) []string { return schemaFor(chsink.ModernCapabilities(), db) })
}

func newCHDBWith(tb testing.TB, ddl func(db string) []string) *chdbEngine {
	tb.Helper()
	py := testenv.CHDB(tb)
	// A session of its own: the name only has to be a plain identifier.
	db := "telemetry_test"
	setup := []string{"CREATE DATABASE IF NOT EXISTS " + db, "USE " + db}
	setup = append(setup, ddl(db)...)
	return &chdbEngine{python: py, setup: setup}
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// schemaFor is the sink's own schema (chsink.SchemaStatements, rendered
// from sinks/schema) for a server with caps, in database db: the dashboards'
// queries run on the DDL the sink creates, so a table or column renamed
// there fails their tests.
func schemaFor(caps chsink.Capabilities, db string) []string {
	cfg := chsink.DefaultConfiguration()
	cfg.Database = db
	return chsink.SchemaStatements(caps, cfg)
}

func mustRun(tb testing.TB, e engine, stmts []string) []result {
	tb.Helper()
	res, err := e.run(stmts)
	if err != nil {
		tb.Fatal(err)
	}
	for i, r := range res {
		if r.Err != "" {
			tb.Fatalf("%s: %s\n%s", e.name(), r.Err, firstN(stmts[i], 2000))
		}
	}
	return res
}
