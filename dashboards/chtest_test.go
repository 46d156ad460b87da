package dashboards

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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

func randomDB() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "telemetry_test_" + hex.EncodeToString(b)
}

// newLive creates a throwaway database on the live server with our minimal
// old-server DDL (testdata/schema_old.sql).
func newLive(tb testing.TB) *liveCH {
	tb.Helper()
	return newLiveWith(tb, func(string) []string { return schema(tb, "schema_old.sql") })
}

// newLiveWith creates a throwaway database with the DDL ddl(db) returns.
func newLiveWith(tb testing.TB, ddl func(db string) []string) *liveCH {
	tb.Helper()
	testenv.ClickHouse(tb) // skip or fail like every ClickHouse test
	l := &liveCH{addr: testenv.ClickHouseHTTP(tb), db: randomDB()}
	if _, err := l.query("default", "CREATE DATABASE "+l.db); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := l.query("default", "DROP DATABASE IF EXISTS "+l.db); err != nil {
			tb.Logf("drop database %s: %v", l.db, err)
		}
	})
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

// newCHDB prepares a chdb session with our minimal modern DDL
// (testdata/schema_modern.sql).
func newCHDB(tb testing.TB) *chdbEngine {
	tb.Helper()
	return newCHDBWith(tb, func(string) []string { return schema(tb, "schema_modern.sql") })
}

func newCHDBWith(tb testing.TB, ddl func(db string) []string) *chdbEngine {
	tb.Helper()
	py := testenv.CHDB(tb)
	db := randomDB()
	setup := []string{"CREATE DATABASE " + db, "USE " + db}
	setup = append(setup, ddl(db)...)
	return &chdbEngine{python: py, setup: setup}
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// schema reads a testdata DDL file: one statement per line, -- comments skipped.
func schema(tb testing.TB, file string) []string {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "--") {
			continue
		}
		out = append(out, strings.TrimSuffix(line, ";"))
	}
	return out
}

// schemaFor is the sink's own schema (sinks/chsink.SchemaStatements, the
// contract of docs/architecture.md) for a server with caps, in database db.
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
