package reports

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/reports/deck"
)

func TestDurationUnits(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "n/a"},
		{400 * time.Millisecond, "< 1 s"},
		{30 * time.Second, "30 s"},
		{59 * time.Second, "59 s"},
		{59700 * time.Millisecond, "1.0 min"}, // not "60 s"
		{90 * time.Second, "1.5 min"},
		{59*time.Minute + 58*time.Second, "1.0 h"}, // not "60.0 min"
		{95 * time.Minute, "1.6 h"},
		{33 * time.Hour, "33.0 h"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := FormatElapsed(0); got != "0 s" {
		t.Errorf("FormatElapsed(0) = %q", got)
	}
	// A column takes the unit of its largest value.
	u := columnUnit(30*time.Second, 96*time.Second, 0)
	if got := []string{u.format(30 * time.Second), u.format(96 * time.Second), u.format(0)}; strings.Join(got, "|") != "0.5 min|1.6 min|0.0 min" {
		t.Errorf("column of 30 s, 96 s, 0: %q", got)
	}
	u = columnUnit(90*time.Second, 2*time.Hour)
	if got := u.format(2 * time.Second); got != "< 0.1 h" {
		t.Errorf("2 s in an hours column: %q, want \"< 0.1 h\" (never 0.0 h for a positive time)", got)
	}
}

func TestEventOutcome(t *testing.T) {
	at := time.Unix(1, 0) // any non-zero time: resolved
	for _, tc := range []struct {
		name string
		e    Event
		want Outcome
	}{
		{"action dispatched (acknowledged or still retrying), KPI recovered", Event{ResolvedAt: at, Dispatched: true}, OutcomeAutoResolved},
		{"escalated then resolved", Event{ResolvedAt: at, Dispatched: true, Escalated: true}, OutcomeEscalated},
		{"escalated, still open", Event{Dispatched: true, Escalated: true}, OutcomeEscalated},
		{"rule without action, recovered", Event{ResolvedAt: at}, OutcomeNoAction},
		{"action dead-lettered, recovered", Event{ResolvedAt: at, Dispatched: true, Failed: true}, OutcomeNoAction},
		{"action dead-lettered, open", Event{Dispatched: true, Failed: true}, OutcomeFailed},
		{"acknowledged, open", Event{Dispatched: true}, OutcomeOpen},
		{"firing only", Event{}, OutcomeOpen},
	} {
		if got := tc.e.Outcome(); got != tc.want {
			t.Errorf("%s: outcome %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestComparisonWording: without any data last week every comparison says
// "no comparison (no data last week)"; with some data last week, a figure
// that has none says which data is missing.
func TestComparisonWording(t *testing.T) {
	d := emptyData()
	d.This = Summary{Windows: 10, Availability: 1, UtilAvg: 0.5, UtilP95: 0.7, LinkWins: 3, Loss: 0, LatencyAvg: 5, LatencyP95: 6}
	d.Remediation = Remediation{Events: 8, Resolved: 2, AutoResolved: 2, Open: 6, MTTR: 5 * time.Minute}
	deltas := func() []string {
		var out []string
		for _, m := range append(summaryMetrics(d), remediationMetrics(d)...) {
			out = append(out, m.tile(deck.Rect{}).Delta)
		}
		return append(out, eventsVsLast(d))
	}
	for _, got := range deltas() {
		if got != "no comparison (no data last week)" {
			t.Errorf("no data last week, but a tile says %q", got)
		}
	}
	// Last week: interface KPIs and events, no link KPIs, nothing resolved.
	d.Last = Summary{Windows: 10, Availability: 1, UtilAvg: 0.4, UtilP95: 0.6, Loss: math.NaN(), LatencyAvg: math.NaN(), LatencyP95: math.NaN()}
	d.LastRemed = Remediation{Events: 3, Open: 3}
	want := []string{"unchanged vs last week (100.00%)", "▲", "▲", "no comparison (no link KPIs last week)", "no comparison (no link KPIs last week)",
		"no comparison (no link KPIs last week)", "+5 vs last week (3)", "+25 pp vs last week (0%)", "no comparison (nothing resolved last week)", "+5 vs last week (3)"}
	for i, got := range deltas() {
		if want[i] == "▲" {
			if !strings.HasSuffix(got, "vs last week (40.0%)") && !strings.HasSuffix(got, "vs last week (60.0%)") {
				t.Errorf("tile %d: %q", i, got)
			}
			continue
		}
		if got != want[i] {
			t.Errorf("tile %d: %q, want %q", i, got, want[i])
		}
	}
}
