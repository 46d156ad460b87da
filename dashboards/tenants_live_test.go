package dashboards

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// tenantCH runs statements over HTTP as a tenant's ClickHouse user, in its
// database: what the tenant's Grafana data source does.
type tenantCH struct {
	addr, db, user, password string
}

func (c *tenantCH) name() string { return "live as " + c.user }

func (c *tenantCH) run(stmts []string) ([]result, error) {
	out := make([]result, len(stmts))
	for i, s := range stmts {
		body, err := c.query(s + "\nFORMAT JSONCompact")
		if err != nil {
			out[i].Err = err.Error()
			continue
		}
		out[i] = parseJSONCompact(body)
	}
	return out, nil
}

func (c *tenantCH) query(sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+"/?"+url.Values{"database": {c.db}}.Encode(), strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(c.user, c.password)
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

// TestPanelQueriesTenantLive runs every panel and variable query of the
// dashboards a tenant's organization gets, expanded for every range and
// selection, on ClickHouse 18.16 as the tenant's read-only user in its
// database (what its Grafana data source logs in as, sending no setting):
// every query answers with the same columns and some rows, from the
// tenant's copy of the sample fabric.
func TestPanelQueriesTenantLive(t *testing.T) {
	id := fmt.Sprintf("tq%x", time.Now().UnixNano()&0xffffff)
	cfg := chsink.DefaultConfiguration()
	cfg.Addresses = []string{testenv.ClickHouse(t)}
	// The sample rows carry no tenant: the column's DEFAULT makes them id's.
	cfg.DefaultTenant = id
	l := newLiveWith(t, func(db string) []string {
		cfg.Database = db
		return chsink.SchemaStatements(chsink.LegacyCapabilities(), cfg)
	})
	f := testFabric()
	mustRun(t, l, f.load())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := chsink.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // after the tenant database is dropped (cleanups run last first)
	caps, err := chsink.Probe(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if caps.RowPolicies() {
		t.Skipf("server %s has row policies", caps.Version)
	}
	t.Cleanup(func() { _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chsink.TenantDatabase(cfg, id)) })
	if err := chsink.MigrateTenants(ctx, conn, caps, cfg, []string{id}, nil); err != nil {
		t.Fatal(err)
	}
	pw := "pw-" + id
	sum := sha256.Sum256([]byte(pw))
	users, err := chsink.TenantUsersXML(cfg, []chsink.TenantCredential{{ID: id, PasswordSHA256: hex.EncodeToString(sum[:])}}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.ClickHouseUsers(t, "test_"+cfg.Database, users)
	e := &tenantCH{addr: testenv.ClickHouseHTTP(t), db: chsink.TenantDatabase(cfg, id), user: chsink.TenantUser(id), password: pw}
	testenv.Eventually(t, 30*time.Second, "the server to load the tenant's user", func() bool {
		_, err := e.query("SELECT 1")
		return err == nil
	})
	var defs []dashboardDef
	tenantUIDs := map[string]bool{}
	for _, d := range TenantDashboards(DefaultConfiguration(), mustBuild(t)) {
		tenantUIDs[d.UID] = true
	}
	for _, d := range definitions() {
		if tenantUIDs[d.uid] {
			defs = append(defs, d)
		}
	}
	names, stmts, want := expandAll(t, clickHouseQueries(defs), testRanges(f.end), f.values())
	res, err := e.run(stmts)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, e, names, stmts, want, res)
	t.Logf("%d queries of %d dashboards as %s", len(stmts), len(defs), e.user)
}

func mustBuild(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := Build(DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	return ds
}
