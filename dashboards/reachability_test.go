package dashboards

import (
	"fmt"
	"testing"
)

// panelSQL is the SQL of one panel, by dashboard uid, panel title and kind.
func panelSQL(t *testing.T, uid, title string, kind panelKind) string {
	t.Helper()
	for _, d := range definitions() {
		if d.uid != uid {
			continue
		}
		for _, r := range d.rows {
			for _, p := range r.panels {
				if p.title == title && p.kind == kind {
					return p.sql
				}
			}
		}
	}
	t.Fatalf("no %s panel %q in %s", kind, title, uid)
	return ""
}

// reachabilityChecks are queries over the panels' own SQL, expanded for the
// last hour with every variable on "All", that return exactly one row when
// the panel shows the unreachable device (site0-sw1 in the sample data) and
// its device-unreachable event as the row of an event on the device itself.
func reachabilityChecks(t *testing.T, f fabric) (names, stmts []string) {
	t.Helper()
	r := testRanges(f.end)["1h"]
	vars := allSelected(f.values())
	for _, c := range []struct {
		uid, title string
		kind       panelKind
		where      string
	}{
		{"telemetry-fabric-overview", "Devices unreachable", kindStat, "devices_unreachable = 1"},
		{"telemetry-fabric-overview", "Active remediation events", kindStat, "active_events >= 1"},
		{"telemetry-fabric-overview", "Active remediation events", kindTable,
			"event_id = 'ev-reach' AND rule = 'device-unreachable' AND device = 'site0-sw1' AND interface = '' AND kpi = 'device.reachable' AND state = 'acknowledged'"},
		{"telemetry-remediation", "Events", kindTable, "event_id = 'ev-reach' AND current_state = 'acknowledged' AND device = 'site0-sw1' AND interface = ''"},
		{"telemetry-remediation", "Event lifecycle", kindStateTimeline, "event = 'device-unreachable site0-sw1' AND state = 3"},
		{"telemetry-remediation", "Events per rule", kindBarChart, "rule = 'device-unreachable' AND events = 1 AND critical = 1"},
	} {
		sql, err := Expand(panelSQL(t, c.uid, c.title, c.kind), r, vars)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, c.uid+"/"+c.title+" ("+string(c.kind)+")")
		// the timeline has one row per transition: the latest one is enough
		stmts = append(stmts, fmt.Sprintf("SELECT 1 FROM (%s) WHERE %s LIMIT 1", sql, c.where))
	}
	return names, stmts
}

func checkReachability(t *testing.T, e engine, names, stmts []string, res []result) {
	t.Helper()
	for i, r := range res {
		if r.Err != "" || r.Rows != 1 {
			t.Errorf("%s %s: %d rows (%s), want the unreachable device's row\n%s", e.name(), names[i], r.Rows, r.Err, stmts[i])
		}
	}
}

// TestReachabilityPanels: device-unreachable events show in the event
// panels like every other event (one row, on the device, no interface),
// and the fabric overview counts the device unreachable now, on the live
// server (18.16) and on chdb, with the sink's own DDL.
func TestReachabilityPanels(t *testing.T) {
	t.Parallel()
	f := testFabric()
	names, stmts := reachabilityChecks(t, f)
	t.Run("live", func(t *testing.T) {
		l := newLive(t)
		mustRun(t, l, f.load())
		res, err := l.run(stmts)
		if err != nil {
			t.Fatal(err)
		}
		checkReachability(t, l, names, stmts, res)
	})
	t.Run("chdb", func(t *testing.T) {
		c := newCHDB(t)
		c.setup = append(c.setup, f.load()...)
		res, err := c.run(stmts)
		if err != nil {
			t.Fatal(err)
		}
		checkReachability(t, c, names, stmts, res)
	})
}
