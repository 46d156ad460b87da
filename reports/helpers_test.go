package reports

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/chsink"
)

// testDB creates a throw-away database (testenv.ClickHouseDB, dropped on
// cleanup) with the schema the sink creates in production (its Migrate:
// every table, rollup and view), so the report's queries run on the sink's
// own DDL: a table or column renamed there fails here.
func testDB(t testing.TB) (driver.Conn, string) {
	t.Helper()
	_, db, conn := testenv.ClickHouseDB(t)
	migrate(t, conn, db)
	return conn, db
}

// migrate applies the sink's schema to db (creating it if needed).
func migrate(t testing.TB, conn driver.Conn, db string) {
	t.Helper()
	cfg := chsink.DefaultConfiguration()
	cfg.Database = db
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := chsink.Migrate(ctx, conn, cfg, nil); err != nil {
		t.Fatalf("migrate %s: %v", db, err)
	}
}

// sampleNow is the tests' clock (testenv.Now: the wall clock, moved by
// TELEMETRY_TEST_CLOCK_SHIFT), read once so every test of a run agrees.
var sampleNow = testenv.Now()

// sampleWeek is the reference week of the tests and of docs/report: the
// last full ISO week (UTC) before sampleNow, so the data the tests put in
// ClickHouse is always recent, whatever the day they run.
var sampleWeek = LastFullWeek(sampleNow, time.UTC)

// sampleSites send data; sampleInventory also lists osl, in the devices
// inventory without any data.
var (
	sampleSites     = []string{"ams", "fra", "lon", "par"}
	sampleInventory = append([]string{"osl"}, sampleSites...)
)

// sampleScope names the sample fabric with its number of sites, as the
// data gives it.
func sampleScope() string { return fmt.Sprintf("Sample fabric (%d sites)", len(sampleInventory)) }

// lifecycle is one way a remediation event goes, as the pipeline records it
// (docs/remediation.md): the engine writes firing, escalated and resolved,
// the dispatcher dispatched, acknowledged (the webhook's 2xx) and failed.
type lifecycle struct {
	name   string
	states []string
	action string        // the rule's webhook; empty: a rule without action
	ttr    time.Duration // firing → resolved, when states hold resolved
	want   Outcome       // what the deck must count it as
}

var (
	lcAuto     = lifecycle{"automatic", []string{"firing", "dispatched", "acknowledged", "resolved"}, "gitops", 7 * time.Minute, OutcomeAutoResolved}
	lcHuman    = lifecycle{"human", []string{"firing", "dispatched", "acknowledged", "escalated", "resolved"}, "gitops", 95 * time.Minute, OutcomeEscalated}
	lcNoAction = lifecycle{"no action", []string{"firing", "resolved"}, "", 4 * time.Minute, OutcomeNoAction}
	lcFailed   = lifecycle{"failed", []string{"firing", "dispatched", "failed"}, "gitops", 0, OutcomeFailed}
	lcOpen     = lifecycle{"open", []string{"firing", "dispatched", "acknowledged"}, "gitops", 0, OutcomeOpen}
	// lcLate resolves 40 min after firing, but fires 20 min before the
	// week's end: open in its week.
	lcLate = lifecycle{"resolved after the week's end", []string{"firing", "dispatched", "acknowledged", "resolved"}, "gitops", 40 * time.Minute, OutcomeOpen}
)

// sampleEvent is one remediation event of the sample data.
type sampleEvent struct {
	id, rule, site string
	fired          time.Time
	lc             lifecycle
	// device, when set, makes a device-unreachable event (KPI
	// device.reachable, no interface) on site/device.
	device string
}

// resolvedBy says whether the event is resolved before end.
func (e sampleEvent) resolvedBy(end time.Time) bool {
	return e.lc.ttr > 0 && e.fired.Add(e.lc.ttr).Before(end)
}

// rows are the event's remediation_events rows: the dispatcher's a minute
// apart after firing, escalated 15 min after firing, resolved at ttr.
func (e sampleEvent) rows() [][]any {
	var out [][]any
	for k, st := range e.lc.states {
		ts := e.fired.Add(time.Duration(k) * time.Minute)
		switch st {
		case "escalated":
			ts = e.fired.Add(15 * time.Minute)
		case "resolved":
			ts = e.fired.Add(e.lc.ttr)
		}
		device, iface, kpi, value, threshold := e.site+"-leaf1", "Ethernet1", "util", 0.93, 0.8
		if e.device != "" {
			device, iface, kpi, value, threshold = e.device, "", reachabilityKPI, 0.0, 1.0
		}
		out = append(out, []any{ts, e.id, e.rule, st, "warning", e.site, device, iface, kpi, value, threshold, e.fired, e.lc.action, "test"})
	}
	return out
}

// insertEvents writes the events' transitions into remediation_events.
func insertEvents(t testing.TB, conn driver.Conn, db string, events []sampleEvent) {
	t.Helper()
	eb, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".remediation_events (ts, event_id, rule, state, severity, site, device, interface, kpi, value, threshold, fired_at, action, message)")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		for _, r := range e.rows() {
			if err := eb.Append(r...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := eb.Send(); err != nil {
		t.Fatal(err)
	}
}

// sampleLifecycles are the lifecycles of the sample's events, by week
// (last week, then sampleWeek) and order of firing.
var sampleLifecycles = [2][]lifecycle{
	{lcAuto, lcHuman, lcAuto, lcNoAction, lcAuto, lcFailed, lcAuto, lcAuto, lcHuman},
	{lcAuto, lcAuto, lcHuman, lcAuto, lcNoAction, lcAuto, lcFailed, lcAuto, lcAuto, lcNoAction, lcAuto, lcHuman, lcAuto, lcOpen, lcLate},
}

// sampleEvents are the sample's remediation events of both weeks, spread
// over each week; an lcLate event fires 20 min before its week's end.
func sampleEvents() [2][]sampleEvent {
	rules := []string{"interface-congestion", "link-loss", "link-latency", "interface-errors"}
	var out [2][]sampleEvent
	for w, week := range []Week{sampleWeek.Prev(), sampleWeek} {
		n := len(sampleLifecycles[w])
		for i, lc := range sampleLifecycles[w] {
			fired := week.Start(time.UTC).Add(time.Duration(i*(7*24)/n)*time.Hour + 2*time.Hour + time.Duration(i*7)*time.Minute)
			if lc.name == lcLate.name {
				fired = week.End(time.UTC).Add(-20 * time.Minute)
			}
			out[w] = append(out[w], sampleEvent{id: fmt.Sprintf("ev-%s-%02d", week, i), rule: rules[i%len(rules)],
				site: sampleSites[i%len(sampleSites)], fired: fired, lc: lc})
		}
	}
	return out
}

// fillSample writes two weeks (sampleWeek and the week before) of
// deterministic data: 4 sites × 2 devices × 3 interfaces, 5-minute windows,
// a congested uplink in fra, a lossy fra→lon path, lon only from Wednesday
// of sampleWeek (partial), osl in the inventory without data (missing),
// and remediation events with the lifecycles of sampleLifecycles.
func fillSample(t testing.TB, conn driver.Conn, db string) {
	t.Helper()
	ctx := context.Background()
	start := sampleWeek.Prev().Start(time.UTC)
	end := sampleWeek.End(time.UTC)
	lonFrom := sampleWeek.Start(time.UTC).AddDate(0, 0, 2)
	const win = 300

	ib, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".interface_kpis (ts, site, device, interface, util_in, util_out, loss_ratio, speed_bps, oper_status, window_s, samples, kpi_id)")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".link_kpis (ts, src_site, src_device, dst_site, dst_device, rtt_ms, rtt_p95_ms, jitter_ms, loss_ratio, probes_sent, probes_received, window_s, kpi_id)")
	if err != nil {
		t.Fatal(err)
	}
	for ts := start; ts.Before(end); ts = ts.Add(win * time.Second) {
		thisWeek := !ts.Before(sampleWeek.Start(time.UTC))
		hour := float64(ts.Hour()) + float64(ts.Minute())/60
		diurnal := 0.5 + 0.5*math.Sin((hour-9)/24*2*math.Pi) // peak mid-afternoon
		weekday := ts.Weekday() != time.Saturday && ts.Weekday() != time.Sunday
		if !weekday {
			diurnal *= 0.5
		}
		growth := 1.0
		if thisWeek {
			growth = 1.08
		}
		for si, site := range sampleSites {
			if site == "lon" && thisWeek && ts.Before(lonFrom) {
				continue
			}
			for d := 1; d <= 2; d++ {
				dev := fmt.Sprintf("%s-leaf%d", site, d)
				for i := 1; i <= 3; i++ {
					ifc := fmt.Sprintf("Ethernet%d", i)
					base := 0.08 + 0.04*float64(si) + 0.03*float64(i)
					if site == "fra" && d == 1 && i == 1 {
						base = 0.55 // the hot uplink
					}
					u := math.Min(1, base+0.35*diurnal*growth*(0.6+0.2*float64(i)))
					status := "UP"
					if site == "par" && d == 2 && i == 3 && ts.Weekday() == time.Wednesday && ts.Hour() == 4 {
						status = "DOWN" // a nightly maintenance hour
						u = 0
					}
					loss := 0.0
					if u > 0.9 {
						loss = (u - 0.9) / 50
					}
					if err := ib.Append(ts, site, dev, ifc, u*0.9, u, loss, uint64(10e9*float64(i%2+1)), status, uint32(win), uint32(30), fmt.Sprintf("%s/%s/%s@%d", site, dev, ifc, ts.Unix())); err != nil {
						t.Fatal(err)
					}
				}
			}
			for di, dst := range sampleSites {
				if dst == site || (dst == "lon" || site == "lon") && thisWeek && ts.Before(lonFrom) {
					continue
				}
				rtt := 4 + 3*math.Abs(float64(si-di)) + 2*diurnal
				loss := 0.0
				if site == "fra" && dst == "lon" {
					rtt += 6
					if thisWeek && weekday && ts.Hour() >= 14 && ts.Hour() < 17 {
						loss = 0.02
						rtt += 15
					}
				}
				sent := uint64(300)
				recv := sent - uint64(math.Round(loss*float64(sent)))
				if err := lb.Append(ts, site, site+"-leaf1", dst, dst+"-leaf1", rtt, rtt*1.3, 0.3+0.1*float64(di), loss, sent, recv, uint32(win), fmt.Sprintf("%s>%s@%d", site, dst, ts.Unix())); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := ib.Send(); err != nil {
		t.Fatal(err)
	}
	if err := lb.Send(); err != nil {
		t.Fatal(err)
	}

	for _, evs := range sampleEvents() {
		insertEvents(t, conn, db, evs)
	}
	db2, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".devices (site, device, address, first_seen, last_seen, state)")
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range sampleInventory {
		for d := 1; d <= 2; d++ {
			if err := db2.Append(site, fmt.Sprintf("%s-leaf%d", site, d), "192.0.2.1:57400", start, end, "up"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db2.Send(); err != nil {
		t.Fatal(err)
	}
}
