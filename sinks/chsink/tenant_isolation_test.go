package chsink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// fillTenantRows inserts tenantTestRows rows of tenant id into every table
// of cfg.Database (INSERT SELECT over system.numbers), each string column
// marker followed by the row's number, timestamps from start on.
func fillTenantRows(cfg Configuration, start time.Time, marker, id string) []string {
	var out []string
	for _, t := range schema.Tables() {
		vals := syntheticValues(t.Columns, start, fmt.Sprintf("concat('%s', toString(number))", marker), id)
		out = append(out, fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM system.numbers LIMIT %d",
			cfg.Database, t.Name, strings.Join(t.ColumnNames(), ", "), strings.Join(vals, ", "), tenantTestRows))
	}
	return out
}

// syntheticValues are the SQL expressions of a row numbered by `number`
// (INSERT SELECT over system.numbers) for columns, one per column kind:
// timestamps a second apart from start, str for the strings, tenant (quoted)
// for the tenant column.
func syntheticValues(columns []schema.Column, start time.Time, str, tenant string) []string {
	var vals []string
	for _, c := range columns {
		switch c.Kind {
		case schema.Time, schema.TimeNano:
			vals = append(vals, fmt.Sprintf("toDateTime(%d + number)", start.Unix()))
		case schema.Sequence:
			vals = append(vals, fmt.Sprintf("toUInt64(%d + number) * 1000000000", start.Unix()))
		case schema.Tenant:
			vals = append(vals, "'"+tenant+"'")
		case schema.LowCardinality, schema.String:
			vals = append(vals, str)
		case schema.Float64:
			vals = append(vals, "number / 3")
		case schema.Int32:
			vals = append(vals, "toInt32(number)")
		case schema.Int64:
			vals = append(vals, "toInt64(number)")
		case schema.UInt8:
			vals = append(vals, "toUInt8(number % 2)")
		case schema.UInt32:
			vals = append(vals, "toUInt32(number)")
		default:
			vals = append(vals, "toUInt64(number)")
		}
	}
	return vals
}

// chUser queries the test server's HTTP interface as user.
type chUser struct {
	base, user, password string
}

func (u chUser) query(params url.Values, q string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.base+"/?"+params.Encode(), strings.NewReader(q))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(u.user, u.password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// TestTenantIsolationLive: on ClickHouse 18.16, two tenants' rows stored
// in the shared tables, each tenant's database and user made
// (MigrateTenants, TenantUsersXML written to the server's users.d, which it
// reloads), half of the rows stored before (copied) and half after (fed by
// the views). Logged in as tenant A, every way to read tenant B's rows
// fails or returns none of them: the shared and B's tables, rollups and
// views, FINAL, sub-queries, IN, arrayJoin, settings in the query, in the
// URL and through SET, table functions (remote, url, file, merge, cluster,
// numbers), the system tables, DDL and INSERT. A's own rows are all there.
func TestTenantIsolationLive(t *testing.T) {
	cfg, conn := liveConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	caps, err := Migrate(ctx, conn, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if caps.RowPolicies() {
		t.Skipf("server %s has row policies: TestTenantSQLCHDB", caps.Version)
	}
	sfx := randomSuffix()
	a, b := "ta"+sfx, "tb"+sfx
	secret := "bsecret" + sfx // in every string of B's rows
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		for _, id := range []string{a, b} {
			_ = conn.Exec(cctx, "DROP DATABASE IF EXISTS "+TenantDatabase(cfg, id))
		}
	})
	start := testenv.Anchor()
	fill := func(when string, at time.Time) {
		t.Helper()
		for _, q := range append(fillTenantRows(cfg, at, when+"arow", a), fillTenantRows(cfg, at, when+secret, b)...) {
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	fill("before", start)
	if err := MigrateTenants(ctx, conn, caps, cfg, []string{a, b}, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := MigrateTenants(ctx, conn, caps, cfg, []string{a, b}, testLogger(t)); err != nil {
		t.Fatalf("second MigrateTenants: %v", err)
	}
	fill("after", start.Add(time.Hour))

	// The users, written where the server reads users.d.
	pw := map[string]string{a: "pw-" + a, b: "pw-" + b}
	pwDir := t.TempDir()
	for id, p := range pw {
		if err := os.WriteFile(filepath.Join(pwDir, id), []byte(p+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := ReadTenantCredentials(pwDir, []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(pw[a])); creds[0].PasswordSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("credential of %s: %s", a, creds[0].PasswordSHA256)
	}
	if _, err := ReadTenantCredentials(pwDir, []string{"missing"}); err == nil {
		t.Error("a tenant without a password file was read")
	}
	users, err := TenantUsersXML(cfg, creds, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.ClickHouseUsers(t, "test_"+cfg.Database, users)
	base := "http://" + testenv.ClickHouseHTTP(t)
	ua := chUser{base, TenantUser(a), pw[a]}
	tdbA, tdbB := TenantDatabase(cfg, a), TenantDatabase(cfg, b)
	inA := url.Values{"database": {tdbA}}
	testenv.Eventually(t, 30*time.Second, "the server to load the tenants' users", func() bool {
		_, err := ua.query(inA, "SELECT 1")
		return err == nil
	})

	// A's rows: every table and rollup of A's database holds them, the
	// rows stored before the tenant database existed and those after.
	for _, n := range tenantObjects() {
		out, err := ua.query(inA, fmt.Sprintf("SELECT count() FROM %s.%s", tdbA, n))
		if err != nil || strings.TrimSpace(out) == "0" {
			t.Errorf("tenant A reading its own %s: %q, %v", n, out, err)
		}
	}
	for _, tbl := range schema.Tables() {
		out, err := ua.query(inA, fmt.Sprintf("SELECT count() FROM %s.%s FINAL", tdbA, tbl.Name))
		if want := fmt.Sprint(2 * tenantTestRows); err != nil || strings.TrimSpace(out) != want {
			t.Errorf("tenant A's %s FINAL: %q (%v), want %s rows (copied and fed)", tbl.Name, out, err, want)
		}
	}

	// Every way to B's rows. A result must not hold B's secret nor B's
	// tenant id; most must be refused outright.
	var attempts []string
	for _, n := range tenantObjects() {
		attempts = append(attempts,
			fmt.Sprintf("SELECT * FROM %s.%s", cfg.Database, n),
			fmt.Sprintf("SELECT * FROM %s.%s", tdbB, n),
			fmt.Sprintf("SELECT * FROM %s.%s", tdbA, n),
			fmt.Sprintf("SELECT * FROM %s.%s WHERE tenant = '%s'", tdbA, n, b),
		)
	}
	for _, tbl := range schema.Tables() {
		attempts = append(attempts,
			fmt.Sprintf("SELECT * FROM %s.%s FINAL", cfg.Database, tbl.Name),
			fmt.Sprintf("SELECT * FROM %s.%s FINAL", tdbA, tbl.Name),
			fmt.Sprintf("SELECT * FROM %s.%s%s", tdbA, tbl.Name, FeedSuffix),
			fmt.Sprintf("SELECT * FROM %s.%s%s", tdbB, tbl.Name, FeedSuffix),
		)
	}
	for _, r := range schema.Rollups() {
		attempts = append(attempts,
			fmt.Sprintf("SELECT * FROM %s.%s_mv", cfg.Database, r.Name),
			fmt.Sprintf("SELECT * FROM %s.%s_mv", tdbA, r.Name),
			fmt.Sprintf("SELECT * FROM %s.%s_mv", tdbB, r.Name))
	}
	ik := schema.InterfaceKPIs
	attempts = append(attempts,
		fmt.Sprintf("SELECT * FROM (SELECT * FROM %s.%s)", cfg.Database, ik),
		fmt.Sprintf("SELECT * FROM %s.%s WHERE site IN (SELECT site FROM %s.%s)", tdbA, ik, cfg.Database, ik),
		fmt.Sprintf("SELECT arrayJoin([(SELECT any(site) FROM %s.%s WHERE tenant = '%s')])", cfg.Database, ik, b),
		fmt.Sprintf("SELECT * FROM %s.%s ANY LEFT JOIN (SELECT site FROM %s.%s) USING site", tdbA, ik, tdbB, ik),
		fmt.Sprintf("SELECT site FROM %s.%s UNION ALL SELECT site FROM %s.%s", tdbA, ik, cfg.Database, ik),
		fmt.Sprintf("SELECT * FROM %s.%s SETTINGS readonly = 0", cfg.Database, ik),
		fmt.Sprintf("SELECT * FROM %s.%s SETTINGS max_threads = 1", tdbA, ik),
		"SET readonly = 0",
		fmt.Sprintf("SELECT * FROM remote('127.0.0.1:%s', %s.%s)", strings.Split(testenv.ClickHouse(t), ":")[1], cfg.Database, ik),
		fmt.Sprintf("SELECT * FROM remote('127.0.0.1:%s', %s.%s, 'default', '')", strings.Split(testenv.ClickHouse(t), ":")[1], cfg.Database, ik),
		fmt.Sprintf("SELECT * FROM url('%s/?query=SELECT+*+FROM+%s.%s', TabSeparated, 'x String')", base, cfg.Database, ik),
		"SELECT * FROM file('../users.xml', TabSeparated, 'x String')",
		fmt.Sprintf("SELECT * FROM merge('%s', '^interface')", cfg.Database),
		fmt.Sprintf("SELECT * FROM cluster('telemetry', %s.%s)", cfg.Database, ik),
		"SELECT * FROM numbers(3)",
		"SELECT * FROM system.parts",
		"SELECT * FROM system.parts_columns",
		"SELECT * FROM system.tables",
		"SELECT * FROM system.columns",
		"SELECT * FROM system.databases",
		"SELECT * FROM system.query_log",
		"SELECT * FROM system.query_thread_log",
		"SELECT * FROM system.part_log",
		"SELECT * FROM system.mutations",
		"SELECT * FROM system.merges",
		"SELECT * FROM system.replicas",
		"SELECT * FROM system.dictionaries",
		"SELECT * FROM system.users",
		"SHOW DATABASES",
		fmt.Sprintf("SHOW TABLES FROM %s", cfg.Database),
		fmt.Sprintf("SHOW TABLES FROM %s", tdbB),
		fmt.Sprintf("SHOW CREATE TABLE %s.%s", tdbB, ik),
		fmt.Sprintf("DESCRIBE TABLE %s.%s", cfg.Database, ik),
		fmt.Sprintf("DROP TABLE %s.%s%s", tdbA, ik, FeedSuffix),
		fmt.Sprintf("ALTER TABLE %s.%s DELETE WHERE 1", tdbA, ik),
		fmt.Sprintf("INSERT INTO %s.%s (tenant) VALUES ('%s')", tdbA, ik, b),
		fmt.Sprintf("CREATE TABLE %s.x ENGINE = Memory AS SELECT * FROM %s.%s", tdbA, cfg.Database, ik),
		fmt.Sprintf("ATTACH TABLE %s.x", tdbA),
		"SYSTEM RELOAD CONFIG",
	)
	refused := 0
	for _, q := range attempts {
		out, err := ua.query(inA, q)
		if err != nil {
			refused++
			continue
		}
		if strings.Contains(out, secret) || strings.Contains(out, b) {
			t.Errorf("tenant A read tenant B's data with %q:\n%.400s", q, out)
		}
	}
	// Settings and another database through the URL.
	for _, p := range []url.Values{
		{"database": {cfg.Database}}, {"database": {tdbB}},
		{"database": {tdbA}, "readonly": {"0"}}, {"database": {tdbA}, "readonly": {"2"}},
		{"database": {tdbA}, "max_result_rows": {"0"}},
	} {
		out, err := ua.query(p, fmt.Sprintf("SELECT * FROM %s", ik))
		if err == nil && (strings.Contains(out, secret) || strings.Contains(out, b)) {
			t.Errorf("tenant A read tenant B's data with parameters %v:\n%.400s", p, out)
		}
		if _, err := ua.query(p, "SELECT 1"); err == nil && p.Get("database") != tdbA {
			t.Errorf("tenant A may use database %s", p.Get("database"))
		}
	}
	// B's password does not open A's user, nor A's B's.
	if _, err := (chUser{base, TenantUser(a), pw[b]}).query(inA, "SELECT 1"); err == nil {
		t.Error("tenant A's user logs in with tenant B's password")
	}
	t.Logf("%d attempts, %d refused by the server, the others returned none of tenant B's rows", len(attempts), refused)
	if refused < len(attempts)/2 {
		t.Errorf("only %d of %d attempts refused", refused, len(attempts))
	}
}

// TestTenantSQLCHDB: the statements isolating tenants on current servers
// (users, grants, row policies; one server and a cluster) and the tenant
// databases of old servers parse on current ClickHouse (chdb's
// formatQuery), and the tenant databases run there; credentials that are
// not a tenant id and a SHA-256 are refused.
func TestTenantSQLCHDB(t *testing.T) {
	creds := []TenantCredential{{ID: "acme", PasswordSHA256: strings.Repeat("ab", 32)}, {ID: "globex", PasswordSHA256: strings.Repeat("01", 32)}}
	single := DefaultConfiguration()
	cluster := clusterTestConfig()
	var stmts []string
	for _, cfg := range []Configuration{single, cluster} {
		sql, err := TenantSQL(cfg, creds)
		if err != nil {
			t.Fatal(err)
		}
		if len(sql) != 3*len(creds) || !strings.Contains(sql[2], "USING tenant = 'acme' TO tenant_acme") {
			t.Fatalf("TenantSQL: %q", sql)
		}
		stmts = append(stmts, sql...)
	}
	var run []string
	for _, q := range stmts {
		run = append(run, "SELECT formatQuery('"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(q)+"')")
	}
	caps := ModernCapabilities()
	run = append(run, SchemaStatements(caps, single)...)
	run = append(run, TenantStatements(caps, single, "acme")...)
	run = append(run, fillTenantRows(single, testenv.Anchor(), "acmerow", "acme")...)
	run = append(run, fillTenantRows(single, testenv.Anchor(), "globexrow", "globex")...)
	run = append(run, fmt.Sprintf("SELECT count(), countIf(tenant = 'acme') FROM %s.%s", TenantDatabase(single, "acme"), schema.InterfaceKPIs1m))
	res := runCHDB(t, run)
	if f := strings.Fields(res[len(res)-1].Output); len(f) != 2 || f[0] != f[1] || f[0] == "0" {
		t.Errorf("acme's rollup on chdb: %q, want only (and some) acme rows", res[len(res)-1].Output)
	}
	for _, bad := range []TenantCredential{{ID: "Acme", PasswordSHA256: creds[0].PasswordSHA256}, {ID: "acme", PasswordSHA256: "x' OR 1"}} {
		if _, err := TenantSQL(single, []TenantCredential{bad}); err == nil {
			t.Errorf("TenantSQL took %+v", bad)
		}
		if _, err := TenantUsersXML(single, []TenantCredential{bad}, nil); err == nil {
			t.Errorf("TenantUsersXML took %+v", bad)
		}
	}
}
