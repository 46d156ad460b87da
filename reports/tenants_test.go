package reports

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// tenantWeekRows fills db for week w with tenant id's fabric: every name
// of names is a site, device and interface of congested interface KPIs,
// both ends of a link, the entity of a remediation event and an inventory
// entry, all of tenant id.
func tenantWeekRows(db, id string, names []string, w Week) []string {
	list := "['" + strings.Join(names, "', '") + "']"
	start := w.Start(time.UTC).Unix()
	return []string{
		fmt.Sprintf(`INSERT INTO %s.interface_kpis (ts, site, device, interface, util_in, util_out, loss_ratio, speed_bps, oper_status, window_s, samples, kpi_id, tenant)
SELECT toDateTime(%d + 3600 * h), n, concat(n, '-sw'), concat(n, '-eth'), 0.95, 0.5, 0.001, toUInt64(10000000000), 'UP', 3600, 360, toString(h), '%s'
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([1, 25, 49, 73, 97, 121, 145]) AS h)`, db, start, id, list),
		fmt.Sprintf(`INSERT INTO %s.link_kpis (ts, src_site, src_device, dst_site, dst_device, rtt_ms, rtt_p95_ms, jitter_ms, loss_ratio, probes_sent, probes_received, window_s, kpi_id, tenant)
SELECT toDateTime(%d + 3600 * h), n, concat(n, '-sw'), m, concat(m, '-sw'), 12, 15, 1, 0.02, toUInt64(100), toUInt64(98), 3600, toString(h), '%s'
FROM (SELECT arrayJoin(%s) AS n, arrayJoin(%s) AS m, arrayJoin([2, 26, 50]) AS h) WHERE n != m`, db, start, id, list, list),
		fmt.Sprintf(`INSERT INTO %s.remediation_events (ts, event_id, rule, state, severity, site, device, interface, kpi, value, threshold, fired_at, action, message, tenant)
SELECT toDateTime(%d + 7200 + 60 * st), concat('ev:', n), concat(n, '-rule'), arrayElement(['firing', 'dispatched', 'acknowledged', 'resolved'], st + 1),
 'warning', n, concat(n, '-sw'), concat(n, '-eth'), 'util_in', 0.95, 0.9, toDateTime(%d + 7200), concat(n, '-hook'), concat(n, '-message'), '%s'
FROM (SELECT arrayJoin(%s) AS n, arrayJoin([0, 1, 2, 3]) AS st)`, db, start, start, id, list),
		fmt.Sprintf(`INSERT INTO %s.devices (site, device, address, first_seen, last_seen, state, last_error, tenant)
SELECT n, concat(n, '-sw'), concat(n, '.example:57400'), toDateTime(%d), toDateTime(%d), 'down', concat(n, '-error'), '%s' FROM (SELECT arrayJoin(%s) AS n)`,
			db, start-86400, start+3600, id, list),
	}
}

// pptxParts returns every part of a .pptx package by name.
func pptxParts(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("deck is not a zip package: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = string(b)
	}
	return out
}

// tenantUsers loads the tenants' users into the test server
// (testenv.ClickHouseUsers), removed on cleanup.
func tenantUsers(t *testing.T, cfg chsink.Configuration, pw map[string]string) {
	t.Helper()
	var creds []chsink.TenantCredential
	for id, p := range pw {
		sum := sha256.Sum256([]byte(p))
		creds = append(creds, chsink.TenantCredential{ID: id, PasswordSHA256: hex.EncodeToString(sum[:])})
	}
	xml, err := chsink.TenantUsersXML(cfg, creds, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.ClickHouseUsers(t, "test_"+cfg.Database, xml)
}

// TestTenantDeckNamesNoOtherTenant: two tenants' fabrics stored for the
// week on ClickHouse 18.16, each tenant's database made and its user
// loaded; tenant A's deck, built as tenant A's ClickHouse user with A's
// report configuration (the provider's expected sites, scope and
// recipients naming B too), names A's sites, devices and links, and no
// part of the .pptx package (every XML part, relationship and media)
// holds a name of tenant B, B's id or B's display name. The same for B.
// tenantFabric is one tenant of the tests: its id, display name and the
// names of its sites (each also a device, interface, rule and hook).
type tenantFabric struct {
	id, name string
	names    []string
}

// tenantStore is two tenants' fabrics stored for a week on the test
// server, their databases made and their users loaded.
type tenantStore struct {
	ccfg    chsink.Configuration
	caps    chsink.Capabilities
	conn    driver.Conn
	db      string
	fabrics []tenantFabric
	pw      map[string]string
}

// storeTwoTenants stores the fabrics of two tenants (acme…, globex…) for
// week w on ClickHouse 18.16, makes their databases and loads their users
// (skipped on a server with row policies).
func storeTwoTenants(t *testing.T, ctx context.Context, w Week) tenantStore {
	t.Helper()
	_, db, conn := testenv.ClickHouseDB(t)
	ccfg := chsink.DefaultConfiguration()
	ccfg.Addresses = []string{testenv.ClickHouse(t)}
	ccfg.Database = db
	caps, err := chsink.Migrate(ctx, conn, ccfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if caps.RowPolicies() {
		t.Skipf("server %s has row policies: the users are SQL (TenantSQL)", caps.Version)
	}
	sfx := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	fabrics := []tenantFabric{
		{"acme" + sfx, "ACME Corp " + sfx, []string{"acmepar" + sfx, "acmeams" + sfx}},
		{"globex" + sfx, "Globex Inc " + sfx, []string{"globexosl" + sfx, "globexfra" + sfx}},
	}
	t.Cleanup(func() {
		for _, f := range fabrics {
			_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+chsink.TenantDatabase(ccfg, f.id))
		}
	})
	for _, f := range fabrics {
		for _, q := range tenantWeekRows(db, f.id, f.names, w) {
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%v\n%.300s", err, q)
			}
		}
	}
	ids := []string{fabrics[0].id, fabrics[1].id}
	if err := chsink.MigrateTenants(ctx, conn, caps, ccfg, ids, nil); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{fabrics[0].id: "pw-a-" + sfx, fabrics[1].id: "pw-b-" + sfx}
	tenantUsers(t, ccfg, pw)
	return tenantStore{ccfg: ccfg, caps: caps, conn: conn, db: db, fabrics: fabrics, pw: pw}
}

func TestTenantDeckNamesNoOtherTenant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := storeTwoTenants(t, ctx, sampleWeek)
	ccfg, caps, fabrics, pw := st.ccfg, st.caps, st.fabrics, st.pw

	// The provider's report names every site and recipient.
	rcfg := DefaultConfiguration()
	rcfg.Scope = "Provider " + fabrics[0].name + " and " + fabrics[1].name
	rcfg.ExpectedSites = append(append([]string{}, fabrics[0].names...), fabrics[1].names...)
	rcfg.SMTP.Host, rcfg.SMTP.From = "127.0.0.1", "report@provider.example"
	rcfg.SMTP.To = []string{"noc@" + fabrics[0].id + ".example", "noc@" + fabrics[1].id + ".example"}
	for i, f := range fabrics {
		rcfg.Tenants = append(rcfg.Tenants, TenantReport{ID: f.id, Schedule: fmt.Sprintf("Tue 0%d:00", i+6), To: []string{"ops@" + f.id + ".example"}})
	}
	if err := rcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, f := range fabrics {
		other := fabrics[1-i]
		tdb := chsink.TenantReadDatabase(caps, ccfg, f.id)
		var tconn driver.Conn
		testenv.Eventually(t, 30*time.Second, "the server to load tenant "+f.id+"'s user", func() bool {
			c, err := chsink.OpenTenant(ctx, ccfg, f.id, pw[f.id], tdb)
			if err != nil {
				return false
			}
			tconn = c
			return true
		})
		defer tconn.Close()
		cfg := rcfg.ForTenant(rcfg.Tenants[i], f.name, f.names)
		if cfg.Schedule != rcfg.Tenants[i].Schedule || len(cfg.SMTP.To) != 1 || cfg.OutDir != filepath.Join(rcfg.OutDir, f.id) {
			t.Errorf("%s: schedule %q, recipients %v, out-dir %q", f.id, cfg.Schedule, cfg.SMTP.To, cfg.OutDir)
		}
		c, err := New(cfg, Dependencies{Conn: tconn, Database: tdb, Now: func() time.Time { return sampleNow }})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		d, err := c.Generate(ctx, sampleWeek, &buf)
		if err != nil {
			t.Fatalf("%s's deck as its own user: %v", f.id, err)
		}
		if len(d.Sites) != len(f.names) {
			t.Errorf("%s's deck: %d sites, want its %d", f.id, len(d.Sites), len(f.names))
		}
		parts := pptxParts(t, buf.Bytes())
		all := strings.Join(func() []string {
			var v []string
			for _, p := range parts {
				v = append(v, p)
			}
			return v
		}(), "\n")
		for _, n := range f.names {
			if !strings.Contains(all, n) {
				t.Errorf("%s's deck does not name its site %s", f.id, n)
			}
		}
		if !strings.Contains(all, f.name) {
			t.Errorf("%s's deck does not carry its name %q", f.id, f.name)
		}
		forbidden := append([]string{other.id, other.name}, other.names...)
		for name, p := range parts {
			for _, x := range forbidden {
				if strings.Contains(p, x) {
					t.Errorf("%s's deck, part %s, holds %q of tenant %s", f.id, name, x, other.id)
				}
			}
		}
		t.Logf("%s's deck: %d parts, %d bytes, %d sites", f.id, len(parts), buf.Len(), len(d.Sites))
	}
}
