package reports

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/reports/pptx"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// mailed is one message the SMTP test server received: its To header
// and its .pptx attachment.
type mailed struct {
	to   []string
	deck []byte
}

func readMailed(t *testing.T, raw []byte) mailed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var m mailed
	for _, a := range strings.Split(msg.Header.Get("To"), ",") {
		m.to = append(m.to, strings.TrimSpace(a))
	}
	slices.Sort(m.to)
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == pptx.ContentType {
			m.deck, _ = io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		}
	}
	return m
}

// labelled is the value of the series of metric name whose tenant label is id.
func labelled(t *testing.T, g prometheus.Gatherer, name, id string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == id {
					if m.GetGauge() != nil {
						return m.GetGauge().GetValue(), true
					}
					return m.GetCounter().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestScheduledTenantDecks runs what `telemetry report --schedule` runs
// (Scheduled) on ClickHouse 18.16 with two tenants and the SMTP test
// server, against a clock started 15 s before Monday 07:00 when the
// schedules start and running 10 times faster than the wall clock: tenant A's deck ("Mon 07:00", to A's
// recipients) and tenant B's ("Mon 07:01", to B's) each fire, each built
// as its tenant's ClickHouse user, each mailed to its own recipients only
// with its own deck attached, which names its own sites and no name, id
// or display name of the other tenant; the provider's deck ("Mon 07:02")
// goes to the provider's recipients. Every deck's metric series exist at
// 0 before the first deck and count its own deck afterwards.
func TestScheduledTenantDecks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	monday := testenv.Now().UTC().AddDate(0, 0, 1)
	for monday.Weekday() != time.Monday {
		monday = monday.AddDate(0, 0, 1)
	}
	y, m, d := monday.Date()
	fake := time.Date(y, m, d, 6, 59, 45, 0, time.UTC)
	week := LastFullWeek(fake.Add(time.Minute), time.UTC)
	st := storeTwoTenants(t, ctx, week)
	a, b := st.fabrics[0], st.fabrics[1]

	srv, ca := newSMTPServer(t, "reports", "s3cret")
	cfg := DefaultConfiguration()
	cfg.OutDir = filepath.Join(t.TempDir(), "decks")
	cfg.SMTP = smtpConfig(srv, ca)
	cfg.SMTP.To = []string{"noc@provider.example"}
	cfg.Schedule = "Mon 07:02"
	cfg.Scope = "Provider " + a.name + " and " + b.name
	cfg.ExpectedSites = append(slices.Clone(a.names), b.names...)
	cfg.Tenants = []TenantReport{
		{ID: a.id, Schedule: "Mon 07:00", To: []string{"ops@" + a.id + ".example", "cto@" + a.id + ".example"}},
		{ID: b.id, Schedule: "Mon 07:01", To: []string{"noc@" + b.id + ".example"}},
	}
	cfg.TenantPasswordDir = t.TempDir()
	for id, p := range st.pw {
		if err := os.WriteFile(filepath.Join(cfg.TenantPasswordDir, id), []byte(p+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tenant.NewResolver(tenant.Configuration{DefaultTenant: tenant.Default, Tenants: []tenant.Tenant{
		{ID: a.id, Name: a.name, Sites: a.names}, {ID: b.id, Name: b.name, Sites: b.names}}})
	if err != nil {
		t.Fatal(err)
	}
	// The server loads the users.d file within seconds.
	testenv.Eventually(t, 30*time.Second, "the server to load the tenants' users", func() bool {
		c, err := OpenTenant(ctx, cfg, st.ccfg, res, b.id, Dependencies{})
		if err != nil {
			return false
		}
		_ = c.Stop()
		return true
	})

	reg := prometheus.NewRegistry()
	// The clock starts when the schedules do (building connects to the
	// server, which takes a while on a loaded machine).
	var real time.Time
	r, err := Scheduled(ctx, cfg, st.ccfg, res, Dependencies{Conn: st.conn, Database: st.db, Registerer: reg,
		Now: func() time.Time { return fake.Add(10 * time.Since(real)) }, Recheck: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", a.id, b.id} {
		if v, ok := labelled(t, reg, "telemetry_report_decks_total", id); !ok || v != 0 {
			t.Errorf("decks_total{tenant=%q} before the schedule: %v (present %v), want a series at 0", id, v, ok)
		}
	}
	real = time.Now()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	testenv.Eventually(t, 90*time.Second, "the three scheduled decks mailed", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.messages) >= 3
	})
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	srv.mu.Lock()
	msgs := slices.Clone(srv.messages)
	srv.mu.Unlock()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3 (provider, %s, %s)", len(msgs), a.id, b.id)
	}
	byTo := map[string]mailed{}
	var order []string
	for _, raw := range msgs {
		mm := readMailed(t, raw)
		byTo[strings.Join(mm.to, ",")] = mm
		order = append(order, strings.Join(mm.to, ","))
	}
	// Each on its own schedule: A at 07:00, B at 07:01, the provider at 07:02.
	if want := []string{strings.Join(slices.Sorted(slices.Values(cfg.Tenants[0].To)), ","), cfg.Tenants[1].To[0], "noc@provider.example"}; !slices.Equal(order, want) {
		t.Errorf("messages mailed in the order %v, want %v", order, want)
	}
	for i, f := range st.fabrics {
		other := st.fabrics[1-i]
		want := slices.Sorted(slices.Values(cfg.Tenants[i].To))
		mm, ok := byTo[strings.Join(want, ",")]
		if !ok {
			t.Errorf("no message to exactly %s's recipients %v (messages to %v)", f.id, want, slices.Collect(maps.Keys(byTo)))
			continue
		}
		if len(mm.deck) == 0 {
			t.Errorf("%s's message has no deck attached", f.id)
			continue
		}
		parts := pptxParts(t, mm.deck)
		var all strings.Builder
		for _, p := range parts {
			all.WriteString(p)
		}
		for _, n := range append([]string{f.name}, f.names...) {
			if !strings.Contains(all.String(), n) {
				t.Errorf("%s's mailed deck does not name %q", f.id, n)
			}
		}
		for name, p := range parts {
			for _, x := range append([]string{other.id, other.name}, other.names...) {
				if strings.Contains(p, x) {
					t.Errorf("%s's mailed deck, part %s, holds %q of tenant %s", f.id, name, x, other.id)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(cfg.OutDir, f.id, FileName(week))); err != nil {
			t.Errorf("%s's deck not written to its directory: %v", f.id, err)
		}
		for _, metric := range []string{"telemetry_report_decks_total", "telemetry_report_emails_total"} {
			if v, _ := labelled(t, reg, metric, f.id); v != 1 {
				t.Errorf("%s{tenant=%q} = %v, want 1", metric, f.id, v)
			}
		}
		t.Logf("%s's deck mailed to %v: %d parts, %d bytes", f.id, mm.to, len(parts), len(mm.deck))
	}
	if mm, ok := byTo["noc@provider.example"]; !ok || len(mm.deck) == 0 {
		t.Errorf("the provider's deck was not mailed to the provider's recipients")
	}
	if v, _ := labelled(t, reg, "telemetry_report_emails_total", ""); v != 1 {
		t.Errorf("telemetry_report_emails_total{tenant=\"\"} = %v, want 1", v)
	}
}

// TestScheduledTenantWithoutPassword: a report.tenants entry without a
// password file in report.tenant-password-dir is a start-up error naming
// the tenant, and nothing is left running or registered half-way.
func TestScheduledTenantWithoutPassword(t *testing.T) {
	conn, db := testDB(t)
	cfg := DefaultConfiguration()
	cfg.OutDir = t.TempDir()
	cfg.Tenants = []TenantReport{{ID: "acme"}, {ID: "globex"}}
	cfg.TenantPasswordDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.TenantPasswordDir, "acme"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := tenant.NewResolver(tenant.Configuration{DefaultTenant: tenant.Default, Tenants: []tenant.Tenant{{ID: "acme"}, {ID: "globex"}}})
	if err != nil {
		t.Fatal(err)
	}
	ch := chsink.DefaultConfiguration()
	ch.Addresses, ch.Database = []string{testenv.ClickHouse(t)}, db
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		dir, want string
	}{
		{cfg.TenantPasswordDir, "tenant globex's password"},
		{"", "tenant-password-dir: not set: tenant acme's"},
	} {
		c := cfg
		c.TenantPasswordDir = tc.dir
		if tc.dir != "" {
			// acme's file is there but its user is not: skip acme.
			c.Tenants = []TenantReport{{ID: "globex"}}
		}
		if _, err := Scheduled(ctx, c, ch, res, Dependencies{Conn: conn, Database: db, Registerer: prometheus.NewRegistry()}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("password dir %q: want an error with %q, got %v", tc.dir, tc.want, err)
		}
	}
}
