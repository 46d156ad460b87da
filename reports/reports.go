package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/reports/deck"
)

// Writer turns a deck into a file.
type Writer interface {
	Name() string
	Write(w io.Writer, d *deck.Deck) error
}

// Dependencies are what the report component needs.
type Dependencies struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Conn queries ClickHouse; Database holds the tables.
	Conn     driver.Conn
	Database string
	// Writer writes the deck; nil chooses DefaultWriter().
	Writer Writer
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Recheck is how often a waiting schedule reads the clock again (wall
	// clocks jump: suspend, NTP); 0 is a minute. Tests moving Now set less.
	Recheck time.Duration
	// Tenant is the tenant whose deck this is ("" for the provider's):
	// the value of the tenant label of its metrics.
	Tenant string
	// Metrics are the stage's metrics when several decks run in one
	// process (NewMetrics, Scheduled); nil: New registers its own on
	// Registerer, for the decks of "" and Tenant.
	Metrics *Metrics
}

// Metrics are the report stage's metrics (telemetry_report_*), labelled
// by tenant: "" for the provider's deck, the tenant's id for a tenant's
// deck (report.tenants, so the label is bounded). Every deck's series
// exist at 0 from the start. One Metrics serves every deck of a process.
type Metrics struct {
	decks, emails *prometheus.CounterVec
	errors        *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	lastOK        *prometheus.GaugeVec
}

// NewMetrics creates and registers the stage's metrics through rep, with
// series at 0 for the provider's deck and each of tenants' decks.
func NewMetrics(rep *component.Reporter, tenants []string) (*Metrics, error) {
	ids := append([]string{""}, tenants...)
	var withReason [][]string
	for _, id := range ids {
		for _, r := range []string{"query", "render", "write", "email"} {
			withReason = append(withReason, []string{id, r})
		}
	}
	m := &Metrics{
		decks:  rep.CounterVec("decks_total", "Decks generated, by tenant (empty: the provider's deck).", []string{"tenant"}, component.Values(ids...)...),
		emails: rep.CounterVec("emails_total", "Decks delivered by e-mail, by tenant.", []string{"tenant"}, component.Values(ids...)...),
		errors: rep.CounterVec("errors_total", "Failed deck generations or deliveries, by tenant and reason (query, render, write, email).",
			[]string{"tenant", "reason"}, withReason...),
		duration: rep.HistogramVec("generation_seconds", "Time to query and render one deck, by tenant.", prometheus.ExponentialBuckets(0.1, 2, 10), []string{"tenant"}),
		lastOK:   rep.GaugeVec("last_success_timestamp_seconds", "When the last scheduled deck was written (Unix time), by tenant.", []string{"tenant"}, component.Values(ids...)...),
	}
	for _, id := range ids {
		m.duration.WithLabelValues(id)
	}
	if err := rep.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// Component generates weekly decks on demand (Generate, WriteFile) or on a
// schedule (Start/Stop).
type Component struct {
	cfg      Configuration
	deps     Dependencies
	loc      *time.Location
	schedule Schedule
	writer   Writer

	decks    prometheus.Counter
	emails   prometheus.Counter
	errors   *prometheus.CounterVec
	duration prometheus.Observer
	lastOK   prometheus.Gauge

	// conn, when set, is the connection the component opened itself
	// (OpenTenant), closed by Stop.
	conn   driver.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   component.Once
}

// New builds the component; it does not query or start anything.
func New(cfg Configuration, deps Dependencies) (*Component, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if deps.Conn == nil {
		return nil, errors.New("report: no ClickHouse connection")
	}
	if deps.Database == "" {
		deps.Database = "telemetry"
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Recheck <= 0 {
		deps.Recheck = time.Minute
	}
	sched, _ := ParseSchedule(cfg.Schedule)
	rep := component.NewReporter(Stage, deps.Logger, deps.Registerer)
	deps.Logger = rep.Log
	if deps.Tenant != "" {
		deps.Logger = deps.Logger.With("tenant", deps.Tenant)
	}
	m := deps.Metrics
	if m == nil {
		var ids []string
		if deps.Tenant != "" {
			ids = []string{deps.Tenant}
		}
		var err error
		if m, err = NewMetrics(rep, ids); err != nil {
			return nil, err
		}
	}
	id := deps.Tenant
	c := &Component{
		cfg: cfg, deps: deps, loc: cfg.Location(), schedule: sched, writer: deps.Writer,
		decks:    m.decks.WithLabelValues(id),
		emails:   m.emails.WithLabelValues(id),
		errors:   m.errors.MustCurryWith(prometheus.Labels{"tenant": id}),
		duration: m.duration.WithLabelValues(id),
		lastOK:   m.lastOK.WithLabelValues(id),
	}
	if c.writer == nil {
		c.writer = DefaultWriter(deps.Logger)
	}
	return c, nil
}

// Writer is the writer in use.
func (c *Component) Writer() Writer { return c.writer }

// LastFullWeek is the default week: the last full ISO week in the configured time zone.
func (c *Component) LastFullWeek() Week { return LastFullWeek(c.deps.Now(), c.loc) }

// Collect queries ClickHouse for week w.
func (c *Component) Collect(ctx context.Context, w Week) (*Data, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.QueryTimeout)
	defer cancel()
	q := &Query{Conn: c.deps.Conn, Database: c.deps.Database, Location: c.loc, TopN: c.cfg.TopN,
		Threshold: c.cfg.CongestionThreshold, Expected: c.cfg.ExpectedSites, NoFinal: c.cfg.Dedup == DedupNone}
	if c.cfg.Dedup == DedupAuto {
		free, err := q.DuplicateFree(ctx, w)
		if err != nil {
			c.errors.WithLabelValues("query").Inc()
			return nil, fmt.Errorf("report %s: duplicate check: %w", w, err)
		}
		q.NoFinal = free
	}
	d, err := q.Collect(ctx, w)
	if err != nil {
		c.errors.WithLabelValues("query").Inc()
		return nil, fmt.Errorf("report %s: %w", w, err)
	}
	d.Dedup = c.cfg.Dedup
	d.Generated = c.deps.Now()
	d.Scope = c.cfg.Scope
	return d, nil
}

// Generate queries week w and writes its deck to out.
func (c *Component) Generate(ctx context.Context, w Week, out io.Writer) (*Data, error) {
	start := time.Now()
	d, err := c.Collect(ctx, w)
	if err != nil {
		return nil, err
	}
	dk := Build(d)
	if err := c.writer.Write(out, dk); err != nil {
		c.errors.WithLabelValues("render").Inc()
		return nil, fmt.Errorf("report %s: %s writer: %w", w, c.writer.Name(), err)
	}
	c.decks.Inc()
	c.duration.Observe(time.Since(start).Seconds())
	c.deps.Logger.Info("deck generated", "week", w.String(), "slides", len(dk.Slides), "writer", c.writer.Name(),
		"interfaces", d.This.Interfaces, "links", d.This.Links, "events", d.Remediation.Events,
		"notes", len(d.Notes), "duration", time.Since(start).Round(time.Millisecond).String())
	return d, nil
}

// WriteFile generates week w into path, atomically (temporary file, then rename).
func (c *Component) WriteFile(ctx context.Context, w Week, path string) (*Data, error) {
	var buf bytes.Buffer
	d, err := c.Generate(ctx, w, &buf)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		c.errors.WithLabelValues("write").Inc()
		return nil, fmt.Errorf("report %s: %w", w, err)
	}
	return d, nil
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".report-*.pptx")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// FileName is the name of a week's deck in the output directory.
func FileName(w Week) string { return "telemetry-report-" + w.String() + ".pptx" }

// Path is where week w's deck goes in the output directory.
func (c *Component) Path(w Week) string { return filepath.Join(c.cfg.OutDir, FileName(w)) }

// RunWeek writes week w into the output directory and e-mails it when SMTP
// is configured; it returns the file written.
func (c *Component) RunWeek(ctx context.Context, w Week) (string, error) {
	path := c.Path(w)
	d, err := c.WriteFile(ctx, w, path)
	if err != nil {
		return "", err
	}
	if c.cfg.SMTP.Enabled() {
		data, err := os.ReadFile(path)
		if err != nil {
			c.errors.WithLabelValues("email").Inc()
			return path, fmt.Errorf("report %s: %w", w, err)
		}
		subject := fmt.Sprintf("Network telemetry weekly report %s", w)
		body := emailBody(d)
		if err := SendMail(ctx, c.cfg.SMTP, subject, body, FileName(w), data); err != nil {
			c.errors.WithLabelValues("email").Inc()
			return path, fmt.Errorf("report %s: %w", w, err)
		}
		c.emails.Inc()
		c.deps.Logger.Info("deck e-mailed", "week", w.String(), "to", c.cfg.SMTP.To)
	}
	return path, nil
}

func emailBody(d *Data) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Weekly network telemetry report for %s (%s, %s).\n\n", d.Week, d.period(), d.Location)
	for _, m := range summaryMetrics(d) {
		t := m.tile(deck.Rect{})
		fmt.Fprintf(&b, "- %s: %s (%s)\n", m.label, t.Value, t.Delta)
	}
	fmt.Fprintf(&b, "- Remediation events: %d, %s. Of these, %s; mean time to resolve %s\n",
		d.Remediation.Events, eventsVsLast(d), remediationOutcomes(d.Remediation), FormatDuration(d.Remediation.MTTR))
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	b.WriteString("\nThe full deck is attached.\n")
	return b.String()
}

// Stage is the stage name the report component reports under (metrics
// telemetry_report_*, log key component).
const Stage = "report"

// retryEvery is the pause between attempts when a scheduled deck fails;
// attempts stop at the next scheduled time.
const retryEvery = 10 * time.Minute

// Start runs the schedule: at every scheduled time it writes (and mails)
// the last full week's deck. It returns at once; ctx bounds the start-up
// only, the schedule runs until Stop.
func (c *Component) Start(ctx context.Context) error {
	if c.cancel != nil {
		return errors.New("report: already started")
	}
	if err := os.MkdirAll(c.cfg.OutDir, 0o755); err != nil {
		return fmt.Errorf("report: out-dir: %w", err)
	}
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.loop(ctx)
	}()
	c.deps.Logger.Info("report schedule started", "schedule", c.schedule.String(), "timezone", c.loc.String(),
		"next", c.schedule.Next(c.deps.Now(), c.loc).Format(time.RFC3339), "out_dir", c.cfg.OutDir, "email", c.cfg.SMTP.Enabled())
	return nil
}

func (c *Component) loop(ctx context.Context) {
	for {
		next := c.schedule.Next(c.deps.Now(), c.loc)
		if !sleepUntil(ctx, c.deps.Now, next, c.deps.Recheck) {
			return
		}
		w := LastFullWeek(next, c.loc)
		deadline := c.schedule.Next(next, c.loc)
		for {
			path, err := c.RunWeek(ctx, w)
			if err == nil {
				c.lastOK.Set(float64(c.deps.Now().Unix()))
				c.deps.Logger.Info("scheduled deck written", "week", w.String(), "path", path)
				break
			}
			c.deps.Logger.Error("scheduled deck failed", "week", w.String(), "err", err, "retry_in", retryEvery.String())
			if c.deps.Now().Add(retryEvery).After(deadline) || !sleepUntil(ctx, c.deps.Now, c.deps.Now().Add(retryEvery), c.deps.Recheck) {
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// sleepUntil waits for t (by the given clock) or ctx; it reports whether
// t came. It reads the clock again at least every recheck.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time, recheck time.Duration) bool {
	for {
		d := t.Sub(now())
		if d <= 0 {
			return true
		}
		// Re-check at least every recheck: wall clocks jump (suspend, NTP).
		timer := time.NewTimer(min(d, recheck))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// Stop ends the schedule and waits for a deck in progress; it closes the
// connection the component opened itself (OpenTenant). Idempotent, safe
// without a Start.
func (c *Component) Stop() error {
	return c.stop.Do(func() error {
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		if c.conn != nil {
			return c.conn.Close()
		}
		return nil
	})
}

// Ready reports whether ClickHouse answers (for /readyz).
func (c *Component) Ready(ctx context.Context) error {
	if err := c.deps.Conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}
