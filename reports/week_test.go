package reports

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

func TestParseWeek(t *testing.T) {
	for _, tc := range []struct {
		in    string
		start string
		ok    bool
	}{
		{"2026-W47", "2026-11-16", true}, // fixed date: week parsing, no server
		{"2026W01", "2025-12-29", true},  // fixed date: week parsing, no server
		{"2020-W53", "2020-12-28", true}, // fixed date: week parsing, no server
		{"2026-W53", "2026-12-28", true}, // fixed date: week parsing, no server
		{"2025-W53", "", false},
		{"2026-W00", "", false},
		{"2026-47", "", false},
		{"26-W47", "", false},
	} {
		w, err := ParseWeek(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if tc.ok {
			if got := w.Start(time.UTC).Format("2006-01-02"); got != tc.start {
				t.Errorf("%s starts %s, want %s", tc.in, got, tc.start)
			}
			if y, n := w.Start(time.UTC).ISOWeek(); y != w.Year || n != w.Week {
				t.Errorf("%s: start is in %d-W%d", tc.in, y, n)
			}
		}
	}
	if got := (Week{2026, 1}).Prev().String(); got != "2025-W52" {
		t.Errorf("prev of 2026-W01 = %s", got)
	}
}

func TestLastFullWeekTimeZone(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	// Sunday 2026-11-22 20:00 UTC is already Monday 05:00 in Tokyo.
	now := time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC) // fixed date: calendar arithmetic on an injected now, no server
	if got := LastFullWeek(now, time.UTC).String(); got != "2026-W46" {
		t.Errorf("UTC: %s", got)
	}
	if got := LastFullWeek(now, tokyo).String(); got != "2026-W47" {
		t.Errorf("Tokyo: %s", got)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	// The week of the end of DST has 169 hours.
	w := Week{2026, 43}
	if h := w.End(paris).Sub(w.Start(paris)).Hours(); h != 169 {
		t.Errorf("2026-W43 in Paris has %v hours", h)
	}
}

func TestSchedule(t *testing.T) {
	s, err := ParseSchedule("monday 07:00")
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	// fixed date: schedule arithmetic on an injected now (a Monday), no server
	now := time.Date(2026, 11, 23, 6, 59, 0, 0, paris)
	// fixed date: the same Monday, 07:00
	if got := s.Next(now, paris); !got.Equal(time.Date(2026, 11, 23, 7, 0, 0, 0, paris)) {
		t.Errorf("next %v", got)
	}
	// fixed date: the same Monday at 07:00 gives the next Monday
	if got := s.Next(time.Date(2026, 11, 23, 7, 0, 0, 0, paris), paris); !got.Equal(time.Date(2026, 11, 30, 7, 0, 0, 0, paris)) {
		t.Errorf("next after firing %v", got)
	}
	for _, bad := range []string{"", "Mon", "Mon 7", "Xyz 07:00", "Mon 25:00"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Configuration)
		want string
	}{
		{func(c *Configuration) { c.Timezone = "Mars/Olympus" }, "timezone:"},
		{func(c *Configuration) { c.Schedule = "someday" }, "schedule:"},
		{func(c *Configuration) { c.TopN = 0 }, "top-n:"},
		{func(c *Configuration) { c.SMTP.To = []string{"a@b.c"} }, "smtp.host:"},
		{func(c *Configuration) { c.SMTP.Host, c.SMTP.To, c.SMTP.From = "mx", []string{"a@b.c"}, "nope" }, "smtp.from:"},
		{func(c *Configuration) { c.SMTP.Password, c.SMTP.PasswordFile = "x", "/y" }, "smtp.password:"},
	} {
		c := DefaultConfiguration()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("want %q..., got %v", tc.want, err)
		}
	}
	c := DefaultConfiguration()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestScheduledRun runs the schedule against a clock just before Monday
// 07:00 (the first after the test clock, in Paris): the deck of the week
// that just ended lands in out-dir and in the mailbox.
func TestScheduledRun(t *testing.T) {
	conn, db := testDB(t)
	srv, ca := newSMTPServer(t, "reports", "s3cret")
	paris, _ := time.LoadLocation("Europe/Paris")
	monday := testenv.Now().In(paris).AddDate(0, 0, 1)
	for monday.Weekday() != time.Monday {
		monday = monday.AddDate(0, 0, 1)
	}
	y, m, day := monday.Date()
	fake := time.Date(y, m, day, 6, 59, 59, 700e6, paris)
	week := LastFullWeek(fake.Add(time.Second), paris)
	if fake.Sub(week.End(paris)) != 7*time.Hour-300*time.Millisecond {
		t.Fatalf("clock %v is not just before 07:00 on the Monday after %s", fake, week)
	}
	real := time.Now()
	cfg := DefaultConfiguration()
	cfg.Timezone = "Europe/Paris"
	cfg.OutDir = filepath.Join(t.TempDir(), "decks")
	cfg.SMTP = smtpConfig(srv, ca)
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Dependencies{Conn: conn, Database: db, Registerer: reg,
		Now: func() time.Time { return fake.Add(time.Since(real)) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.OutDir, FileName(week))
	testenv.Eventually(t, 20*time.Second, "the scheduled deck mailed", func() bool {
		return counter(t, reg, "telemetry_report_emails_total") >= 1
	})
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("scheduled deck not written: %v", err)
	}
	srv.mu.Lock()
	n := len(srv.messages)
	srv.mu.Unlock()
	if n != 1 || counter(t, reg, "telemetry_report_decks_total") != 1 {
		t.Fatalf("%d messages, %v decks", n, counter(t, reg, "telemetry_report_decks_total"))
	}
}

func counter(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var v float64
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
			return v
		}
	}
	return 0
}
