package chsink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// Tenant isolation in ClickHouse (docs/tenancy.md, "Storage"): each tenant
// reads through a read-only ClickHouse user of its own that the server
// itself keeps to the tenant's rows, whatever SQL it sends.
//
// Current servers (row policies, 20.4+): the user is granted SELECT on the
// tables and rollups only, and a row policy on each (tenant = '<id>')
// filters every read, FINAL, sub-query and join included. TenantSQL renders
// it.
//
// ClickHouse 18.16 has neither row policies (users.xml row filters,
// <databases><db><table><filter>, are ignored: tested) nor views that read
// with their definer's rights (a view over a database the user may not read
// is refused). What it has is allow_databases and readonly profiles. So
// each tenant gets a database of its own, TenantDatabase, holding a copy of
// its rows: the same tables and rollups (same engines and sort keys),
// filled by materialized views on the shared tables (WHERE tenant = '<id>',
// run by the sink's inserts) and, when made, from the rows already stored.
// The tenant's user may read that database only (allow_databases), with
// readonly = 1 (no setting can be changed, so no table function, no DDL, no
// INSERT). TenantStatements renders it, MigrateTenants applies it and
// TenantUsersXML renders the users.d file.

// TenantUser is the ClickHouse user of tenant id.
func TenantUser(id string) string { return "tenant_" + id }

// TenantProfile is the settings profile of every tenant user in the
// users.d file (18.16): readonly = 1 and the query size the dashboards need.
const TenantProfile = "telemetry_tenant"

// tenantMaxQuerySize is the tenant profile's max_query_size: the 1 MiB the
// dashboards' data source asks for (a readonly = 1 user cannot ask).
const tenantMaxQuerySize = 1 << 20

// TenantDatabase is the database of tenant id's copy on servers without
// row policies: <database>_tenant_<id>.
func TenantDatabase(cfg Configuration, id string) string {
	return cfg.Database + "_tenant_" + id
}

// RowPolicies reports whether the server has SQL users and row policies
// (20.4+): tenants are isolated by TenantSQL rather than by per-tenant
// databases.
func (c Capabilities) RowPolicies() bool {
	return c.Major > 20 || (c.Major == 20 && c.Minor >= 4)
}

// tenantObjects lists the tables and rollups a tenant reads.
func tenantObjects() []string {
	out := schema.Names()
	for _, r := range schema.Rollups() {
		out = append(out, r.Name)
	}
	return out
}

// FeedSuffix ends the name of the materialized view that copies a table's
// rows of one tenant into its TenantDatabase.
const FeedSuffix = "_feed"

// tenantFeed renders the view copying id's rows of base table t into
// tenant database tdb.
func tenantFeed(cfg Configuration, tdb, id string, t schema.Table) string {
	cols := strings.Join(t.ColumnNames(), ", ")
	return fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s%s TO %s.%s AS\nSELECT %s\nFROM %s.%s\nWHERE %s = '%s'",
		tdb, t.Name, FeedSuffix, tdb, t.Name, cols, cfg.Database, t.Name, schema.TenantColumn, id)
}

// tenantRollupSelect renders the SELECT filling rollup r with id's rows of
// its source in cfg.Database.
func tenantRollupSelect(cfg Configuration, id string, r schema.Rollup) string {
	sel := []string{fmt.Sprintf("%s(ts) AS ts", r.Bucket)}
	sel = append(sel, r.Keys...)
	for _, a := range r.Aggs {
		sel = append(sel, fmt.Sprintf("%sState(%s) AS %s", a.Func, a.Expr, a.Column))
	}
	return fmt.Sprintf("SELECT %s\nFROM %s.%s\nWHERE %s = '%s'\nGROUP BY %s, ts",
		strings.Join(sel, ", "), cfg.Database, r.Source, schema.TenantColumn, id, strings.Join(r.Keys, ", "))
}

// tenantStep is what isolates one table or rollup of a tenant on a server
// without row policies: its table in the tenant database, the view that
// fills it from then on, and the INSERT that copies the rows stored before.
type tenantStep struct {
	name     string
	create   []string
	backfill string
}

func tenantSteps(caps Capabilities, cfg Configuration, id string) []tenantStep {
	tdb := TenantDatabase(cfg, id)
	tcfg := cfg
	tcfg.Database, tcfg.Cluster = tdb, ""
	var out []tenantStep
	for _, t := range schema.Tables() {
		cols := strings.Join(t.ColumnNames(), ", ")
		out = append(out, tenantStep{
			name:   t.Name,
			create: []string{createTable(caps, tcfg, t, true)[0], tenantFeed(cfg, tdb, id, t)},
			backfill: fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM %s.%s WHERE %s = '%s'",
				tdb, t.Name, cols, cols, cfg.Database, t.Name, schema.TenantColumn, id),
		})
	}
	for _, r := range schema.Rollups() {
		table := createRollup(caps, tcfg, r, LatestVersion(), true)[0]
		sel := tenantRollupSelect(cfg, id, r)
		out = append(out, tenantStep{
			name: r.Name,
			create: []string{table, fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s_mv TO %s.%s AS\n%s",
				tdb, r.Name, tdb, r.Name, sel)},
			backfill: fmt.Sprintf("INSERT INTO %s.%s %s", tdb, r.Name, sel),
		})
	}
	return out
}

// backfillTable records, in a tenant database, the tables whose stored
// rows were copied (MigrateTenants copies a table once).
const backfillTable = "tenant_backfilled"

// TenantStatements renders the tenant database of tenant id for a server
// without row policies, in the order they must run: the database, then per
// table and rollup its table and the view filling it. Every statement is
// idempotent. The copy of the rows stored before is MigrateTenants'.
func TenantStatements(caps Capabilities, cfg Configuration, id string) []string {
	out := []string{"CREATE DATABASE IF NOT EXISTS " + TenantDatabase(cfg, id)}
	for _, st := range tenantSteps(caps, cfg, id) {
		out = append(out, st.create...)
	}
	return out
}

// MigrateTenants isolates the tenants ids on a server without row
// policies: per tenant its TenantDatabase (TenantStatements), and once per
// table and rollup the copy of the tenant's rows stored before the view
// existed (recorded in the tenant database's tenant_backfilled table, so a
// migrate run again copies nothing twice; one interrupted during a copy
// copies that table again: the base tables collapse the duplicates, a
// rollup's buckets may count them twice, as after a replay). The view is
// made before the copy: a row inserted in between is in both, never in
// neither. On servers with row policies it does nothing (TenantSQL). The
// tenant databases of a cluster are not built: it returns an error.
func MigrateTenants(ctx context.Context, conn driver.Conn, caps Capabilities, cfg Configuration, ids []string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if caps.RowPolicies() || len(ids) == 0 {
		return nil
	}
	if cfg.Cluster != "" {
		return errors.New("tenants: per-tenant databases on a cluster of servers without row policies are not supported (docs/tenancy.md)")
	}
	for _, id := range ids {
		if err := tenant.CheckID(id); err != nil {
			return fmt.Errorf("tenants: %w", err)
		}
		tdb := TenantDatabase(cfg, id)
		for _, q := range []string{"CREATE DATABASE IF NOT EXISTS " + tdb,
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (name String) ENGINE = TinyLog", tdb, backfillTable)} {
			if err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("tenant %s: %w", id, err)
			}
		}
		done, err := backfilled(ctx, conn, tdb)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", id, err)
		}
		for _, st := range tenantSteps(caps, cfg, id) {
			if err := execStatements(ctx, conn, Configuration{}, st.create); err != nil {
				return fmt.Errorf("tenant %s, %s: %w", id, st.name, err)
			}
			if done[st.name] {
				continue
			}
			log.Info("copying the tenant's stored rows into its database", "tenant", id, "table", st.name, "database", tdb)
			if err := conn.Exec(ctx, st.backfill); err != nil {
				return fmt.Errorf("tenant %s, copy %s: %w", id, st.name, err)
			}
			b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (name)", tdb, backfillTable))
			if err == nil {
				if err = b.Append(st.name); err == nil {
					err = b.Send()
				}
			}
			if err != nil {
				return fmt.Errorf("tenant %s, record the copy of %s: %w", id, st.name, err)
			}
		}
	}
	return nil
}

func backfilled(ctx context.Context, conn driver.Conn, tdb string) (map[string]bool, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT name FROM %s.%s", tdb, backfillTable))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// TenantCredential is a tenant user's password, as its SHA-256 in hex
// (what users.xml and CREATE USER .. sha256_hash take: the password itself
// is never written).
type TenantCredential struct {
	ID             string
	PasswordSHA256 string
}

func checkCredential(c TenantCredential) error {
	if err := tenant.CheckID(c.ID); err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	if len(c.PasswordSHA256) != 64 || strings.Trim(strings.ToLower(c.PasswordSHA256), "0123456789abcdef") != "" {
		return fmt.Errorf("tenant %s: the password's SHA-256 is not 64 hex digits", c.ID)
	}
	return nil
}

// TenantSQL renders, for a server with row policies, the read-only user of
// each tenant: CREATE USER (readonly = 1), GRANT SELECT on the tables and
// rollups only, and one row policy per tenant over all of them (tenant =
// '<id>'). On a cluster every statement is ON CLUSTER and covers the local
// and the Distributed tables. Users without a policy keep reading every
// row (users_without_row_policies_can_read_rows, the default of current
// servers): the provider's users see all tenants.
func TenantSQL(cfg Configuration, creds []TenantCredential) ([]string, error) {
	var objs []string
	for _, n := range tenantObjects() {
		objs = append(objs, cfg.Database+"."+n)
		if cfg.Cluster != "" {
			objs = append(objs, cfg.Database+"."+n+LocalSuffix)
		}
	}
	on := strings.Join(objs, ", ")
	var out []string
	for _, c := range creds {
		if err := checkCredential(c); err != nil {
			return nil, err
		}
		u := TenantUser(c.ID)
		out = append(out,
			fmt.Sprintf("CREATE USER IF NOT EXISTS %s%s IDENTIFIED WITH sha256_hash BY '%s' SETTINGS readonly = 1, max_query_size = %d",
				u, onCluster(cfg), strings.ToLower(c.PasswordSHA256), tenantMaxQuerySize),
			fmt.Sprintf("GRANT%s SELECT ON %s TO %s", onCluster(cfg), strings.Join(objs, ", SELECT ON "), u),
			fmt.Sprintf("CREATE ROW POLICY IF NOT EXISTS %s%s ON %s USING %s = '%s' TO %s",
				u, onCluster(cfg), on, schema.TenantColumn, c.ID, u))
	}
	return out, nil
}

// TenantUsersXML renders the users.d file of the tenants' users for a
// server without row policies (18.16): per tenant a user that may log in
// from networks (CIDRs or addresses; none: anywhere), read its
// TenantDatabase only, under the telemetry_tenant profile (readonly = 1:
// no setting can be changed, so no table function, no DDL, no INSERT) and
// quota. ClickHouse reloads users.d files by itself.
func TenantUsersXML(cfg Configuration, creds []TenantCredential, networks []string) ([]byte, error) {
	if len(networks) == 0 {
		networks = []string{"::/0"}
	}
	type db struct {
		Names []string `xml:"database"`
	}
	type user struct {
		XMLName  xml.Name
		Password string   `xml:"password_sha256_hex"`
		Networks []string `xml:"networks>ip"`
		Profile  string   `xml:"profile"`
		Quota    string   `xml:"quota"`
		Allow    db       `xml:"allow_databases"`
	}
	type profile struct {
		XMLName      xml.Name
		Readonly     int `xml:"readonly"`
		MaxQuerySize int `xml:"max_query_size"`
	}
	type interval struct {
		Duration      int `xml:"duration"`
		Queries       int `xml:"queries"`
		Errors        int `xml:"errors"`
		ResultRows    int `xml:"result_rows"`
		ReadRows      int `xml:"read_rows"`
		ExecutionTime int `xml:"execution_time"`
	}
	type quota struct {
		XMLName  xml.Name
		Interval interval `xml:"interval"`
	}
	type root struct {
		XMLName  xml.Name  `xml:"yandex"`
		Comment  string    `xml:",comment"`
		Profiles []profile `xml:"profiles>x"`
		Users    []user    `xml:"users>x"`
		Quotas   []quota   `xml:"quotas>x"`
	}
	r := root{
		Comment:  " Tenants' read-only ClickHouse users (telemetry tenants clickhouse-users; docs/tenancy.md). Generated: do not edit. ",
		Profiles: []profile{{XMLName: xml.Name{Local: TenantProfile}, Readonly: 1, MaxQuerySize: tenantMaxQuerySize}},
		Quotas:   []quota{{XMLName: xml.Name{Local: TenantProfile}, Interval: interval{Duration: 3600}}},
	}
	for _, c := range creds {
		if err := checkCredential(c); err != nil {
			return nil, err
		}
		r.Users = append(r.Users, user{XMLName: xml.Name{Local: TenantUser(c.ID)}, Password: strings.ToLower(c.PasswordSHA256),
			Networks: networks, Profile: TenantProfile, Quota: TenantProfile, Allow: db{[]string{TenantDatabase(cfg, c.ID)}}})
	}
	out, err := xml.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// tenantDatabases lists the tenant databases of cfg.Database on the server.
func tenantDatabases(ctx context.Context, conn driver.Conn, cfg Configuration) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT name FROM system.databases WHERE startsWith(name, ?)", TenantDatabase(cfg, ""))
	if err != nil {
		return nil, fmt.Errorf("list tenant databases: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tenant databases: %w", err)
		}
		if tenant.Valid(strings.TrimPrefix(n, TenantDatabase(cfg, ""))) {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}

// TenantReadDatabase is the database tenant id's user reads: its
// TenantDatabase on servers without row policies, the shared database
// otherwise.
func TenantReadDatabase(caps Capabilities, cfg Configuration, id string) string {
	if caps.RowPolicies() {
		return cfg.Database
	}
	return TenantDatabase(cfg, id)
}

// OpenTenant opens a connection to cfg's servers as tenant id's user
// (TenantUser) with password, database as its default database (the only
// one it may use on 18.16: TenantReadDatabase). It sends no setting (the
// user is readonly = 1). The caller closes the connection.
func OpenTenant(ctx context.Context, cfg Configuration, id, password, database string) (driver.Conn, error) {
	c := cfg
	c.Username, c.Password, c.PasswordFile, c.Cluster = TenantUser(id), password, "", ""
	o, err := c.options()
	if err != nil {
		return nil, err
	}
	o.Auth.Database = database
	conn, err := clickhouse.Open(o)
	if err != nil {
		return nil, fmt.Errorf("clickhouse open %v as %s: %w", cfg.Addresses, c.Username, err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+5*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse ping %v as %s: %w", cfg.Addresses, c.Username, err)
	}
	return conn, nil
}

// ReadTenantCredentials reads the password of each tenant of ids from
// dir/<id> (one file per tenant, e.g. a mounted Kubernetes secret; the
// layout dashboards.tenants.clickhouse-password-dir shares) and returns
// its SHA-256: what TenantUsersXML and TenantSQL write.
func ReadTenantCredentials(dir string, ids []string) ([]TenantCredential, error) {
	var out []TenantCredential
	for _, id := range ids {
		if err := tenant.CheckID(id); err != nil {
			return nil, fmt.Errorf("tenant: %w", err)
		}
		b, err := os.ReadFile(filepath.Join(dir, id))
		if err != nil {
			return nil, fmt.Errorf("tenant %s: password: %w", id, err)
		}
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return nil, fmt.Errorf("tenant %s: password file %s is empty", id, filepath.Join(dir, id))
		}
		sum := sha256.Sum256([]byte(pw))
		out = append(out, TenantCredential{ID: id, PasswordSHA256: hex.EncodeToString(sum[:])})
	}
	return out, nil
}
