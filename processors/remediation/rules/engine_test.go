package rules

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

var t0 = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

const win = 10 * time.Second

func linkKPI(i int, src, dst string, loss float64) *wirepb.KPI {
	ws := t0.Add(time.Duration(i) * win)
	return &wirepb.KPI{Version: 1, Site: src, Device: src + "-leaf1",
		WindowStartUnixNano: ws.UnixNano(), WindowEndUnixNano: ws.Add(win).UnixNano(),
		Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{DstSite: dst, DstDevice: dst + "-leaf1", LossRatio: loss, RttMs: 20}}}
}

func mustRules(t *testing.T, y string) []Rule {
	t.Helper()
	rs, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const lossRule = `
rules:
  - name: link-loss
    kpi: link.loss_ratio
    scope: {site: "*", dst-site: "*"}
    threshold: {op: ">", value: 0.01}
    for: 30s
    clear-threshold: 0.005
    clear-for: 30s
    severity: critical
    cooldown: 2m
    flap-window: 1h
    flap-max: 3
    action: {webhook: gitops, template: '{"rule": {{json .Rule}}, "link": "{{.Site}}>{{.DstSite}}"}'}
`

func states(evs []*wirepb.RemediationEvent) string {
	var b []string
	for _, e := range evs {
		b = append(b, StateName(e.State))
	}
	return strings.Join(b, ",")
}

// A fault on one link among several fires exactly one event, which
// resolves once the fault has been gone for clear-for.
func TestScenarioLossOnOneLink(t *testing.T) {
	e, err := NewEngine(mustRules(t, lossRule))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*wirepb.RemediationEvent
	links := [][2]string{{"par", "lon"}, {"par", "fra"}, {"lon", "fra"}, {"fra", "par"}}
	for i := 0; i < 120; i++ { // 20 minutes of 10 s windows
		for j, l := range links {
			loss := 0.0001
			if j == 1 && i >= 30 && i < 60 { // par>fra loses 5 % for 5 minutes
				loss = 0.05
			}
			evs = e.Observe(linkKPI(i, l[0], l[1], loss), evs)
		}
	}
	if got := states(evs); got != "firing,resolved" {
		t.Fatalf("transitions = %s, want firing,resolved", got)
	}
	f, r := evs[0], evs[1]
	if f.EventId != r.EventId || f.EventId == "" {
		t.Fatalf("event ids differ: %q %q", f.EventId, r.EventId)
	}
	if f.Site != "par" || f.DstSite != "fra" || f.Severity != wirepb.Severity_CRITICAL || f.Action != "gitops" {
		t.Fatalf("firing event = %v", f)
	}
	// Fault starts at window 30 (t0+300s); for=30s → fires at the end of window 32 (t0+330s).
	if got, want := time.Unix(0, f.WindowEndUnixNano).UTC(), t0.Add(330*time.Second); !got.Equal(want) {
		t.Errorf("fired at %v, want %v", got, want)
	}
	// Fault ends after window 59 (t0+600s); clear-for=30s → resolves at t0+630s.
	if got, want := time.Unix(0, r.WindowEndUnixNano).UTC(), t0.Add(630*time.Second); !got.Equal(want) {
		t.Errorf("resolved at %v, want %v", got, want)
	}
	if e.Active() != 0 {
		t.Errorf("active = %d", e.Active())
	}
	// Same KPIs again (a replay): same event id, deterministic.
	e2, _ := NewEngine(mustRules(t, lossRule))
	var evs2 []*wirepb.RemediationEvent
	for i := 0; i < 120; i++ {
		loss := 0.0001
		if i >= 30 && i < 60 {
			loss = 0.05
		}
		evs2 = e2.Observe(linkKPI(i, "par", "fra", loss), evs2)
		evs2 = e2.Observe(linkKPI(i, "par", "fra", loss), evs2) // duplicate: ignored
	}
	if len(evs2) != 2 || evs2[0].EventId != f.EventId {
		t.Fatalf("replay gave %s / %v, want the same event id %s", states(evs2), evs2, f.EventId)
	}
	if e2.Counts().Stale != 120 {
		t.Errorf("stale = %d, want 120", e2.Counts().Stale)
	}
}

// A link that flaps (bad for 40 s, good for 40 s, for two hours) yields a
// bounded number of events: cooldown and flap damping.
func TestFlappingLinkNoStorm(t *testing.T) {
	e, _ := NewEngine(mustRules(t, lossRule))
	var evs []*wirepb.RemediationEvent
	for i := 0; i < 720; i++ { // 2 h
		loss := 0.0
		if (i/4)%2 == 0 {
			loss = 0.2
		}
		evs = e.Observe(linkKPI(i, "par", "lon", loss), evs)
	}
	fired := 0
	for _, ev := range evs {
		if ev.State == wirepb.EventState_FIRING {
			fired++
		}
	}
	// 90 fault periods; flap-max 3 per hour → at most 3 per hour (+1 at the boundary).
	if fired == 0 || fired > 7 {
		t.Fatalf("fired %d events over 2 h of flapping (%s), want 1..7", fired, states(evs))
	}
	c := e.Counts()
	if c.SuppressedCooldown+c.SuppressedFlap == 0 {
		t.Errorf("nothing suppressed: %+v", c)
	}
	t.Logf("flapping 2h: %d firings, counts %+v", fired, c)
}

// Hysteresis: a value between clear-threshold and threshold neither
// fires nor resolves.
func TestHysteresisAndEscalation(t *testing.T) {
	rs := mustRules(t, `
rules:
  - name: util
    kpi: interface.util_out
    scope: {device: "*-spine*", interface: "Ethernet*"}
    threshold: {op: ">=", value: 0.9}
    clear-threshold: 0.7
    clear-for: 20s
    escalate-after: 60s
`)
	e, _ := NewEngine(rs)
	ik := func(i int, dev string, u float64) *wirepb.KPI {
		ws := t0.Add(time.Duration(i) * win)
		return &wirepb.KPI{Version: 1, Site: "par", Device: dev, WindowStartUnixNano: ws.UnixNano(), WindowEndUnixNano: ws.Add(win).UnixNano(),
			Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{Interface: "Ethernet1", UtilOut: u}}}
	}
	var evs []*wirepb.RemediationEvent
	seq := []float64{0.5, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.6, 0.8, 0.6, 0.6, 0.6}
	for i, u := range seq {
		evs = e.Observe(ik(i, "par-spine1", u), evs)
		evs = e.Observe(ik(i, "par-leaf1", 1), evs) // out of scope
	}
	if got := states(evs); got != "firing,escalated,resolved" {
		t.Fatalf("transitions = %s", got)
	}
	if evs[0].Threshold != 0.9 || evs[0].Value != 0.95 {
		t.Errorf("firing = %v", evs[0])
	}
}

func TestBaseline(t *testing.T) {
	rs := mustRules(t, `
rules:
  - name: rtt-anomaly
    kpi: link.rtt_ms
    baseline: {windows: 20, z: 4}
    for: 20s
`)
	e, _ := NewEngine(rs)
	var evs []*wirepb.RemediationEvent
	for i := 0; i < 100; i++ {
		k := linkKPI(i, "par", "lon", 0)
		rtt := 20 + float64(i%3) // 20..22 ms
		if i >= 50 && i < 60 {
			rtt = 45
		}
		k.GetLink().RttMs = rtt
		evs = e.Observe(k, evs)
	}
	if got := states(evs); got != "firing,resolved" {
		t.Fatalf("transitions = %s", got)
	}
	if th := evs[0].Threshold; th < 21 || th > 30 {
		t.Errorf("baseline threshold = %g", th)
	}
}

func TestReloadKeepsState(t *testing.T) {
	rs := mustRules(t, lossRule)
	e, _ := NewEngine(rs)
	var evs []*wirepb.RemediationEvent
	for i := 0; i < 10; i++ {
		evs = e.Observe(linkKPI(i, "par", "lon", 0.5), evs)
	}
	if err := e.SetRules(mustRules(t, lossRule)); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		evs = e.Observe(linkKPI(i, "par", "lon", 0.5), evs)
	}
	if got := states(evs); got != "firing" {
		t.Fatalf("transitions = %s", got)
	}
	if err := e.SetRules(nil); err != nil || e.Active() != 0 {
		t.Fatalf("removing rules kept %d active", e.Active())
	}
}

func TestValidationErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{`rules: [{name: a, kpi: link.nope, threshold: {op: ">", value: 1}}]`, `rule "a": kpi: unknown KPI "link.nope"`},
		{`rules: [{name: a, kpi: link.rtt_ms}]`, `rule "a": threshold: one of threshold or baseline`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: "=", value: 1}}]`, `rule "a": threshold.op:`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}, clear-threshold: 2}]`, `rule "a": clear-threshold:`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}, scope: {site: "[x"}}]`, `rule "a": scope.site: bad glob`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}, severity: huge}]`, `rule "a": severity:`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}, for: -1s}]`, `rule "a": for: must not be negative`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}, action: {template: "{{.Nope}}"}}]`, `rule "a": action.template:`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}, action: {template: "{{"}}]`, `rule "a": action.template:`},
		{`rules: [{name: a, kpi: link.rtt_ms, baseline: {windows: 1}}]`, `rule "a": baseline.windows:`},
		{`rules: [{name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}}, {name: a, kpi: link.rtt_ms, threshold: {op: ">", value: 1}}]`, `rule "a": name: duplicate`},
		{`rules: [{name: a, kpi: link.rtt_ms, thresold: {op: ">", value: 1}}]`, `field thresold not found`},
		{`rules: [{kpi: link.rtt_ms}]`, `rules[0].name: must not be empty`},
		{`rules: [{name: a, kpi: interface.util_in, threshold: {op: ">", value: 1}, scope: {dst-site: x}}]`, `rule "a": scope.dst-site:`},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.yaml, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(lossRule))
	f.Add([]byte(`rules: [{name: a, kpi: link.rtt_ms, baseline: {windows: 5, z: 2, direction: both}}]`))
	f.Add([]byte(`rules: [{name: a, kpi: interface.util_out, threshold: {op: "<=", value: 0}, action: {template: "{{json .}}"}}]`))
	f.Add([]byte(`rules: [{name: a, kpi: device.reachable, threshold: {op: "<", value: 1}, for: 20s}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses must build an engine and survive a few KPIs.
		e, err := NewEngine(rs)
		if err != nil {
			t.Fatalf("parsed rules rejected by engine: %v", err)
		}
		var evs []*wirepb.RemediationEvent
		for i := 0; i < 20; i++ {
			evs = e.Observe(linkKPI(i, "par", "lon", float64(i%2)), evs)
			evs = e.Observe(deviceKPI(i, "par", "par-leaf1", i%3 == 0), evs)
		}
	})
}

func TestPipelineEventLabels(t *testing.T) {
	e, _ := NewEngine(mustRules(t, `rules: [{name: slow, kpi: pipeline.delay_p99_ms, scope: {instance: "proc-*"}, threshold: {op: ">", value: 500}}]`))
	k := &wirepb.KPI{Version: 1, WindowStartUnixNano: t0.UnixNano(), WindowEndUnixNano: t0.Add(win).UnixNano(),
		Body: &wirepb.KPI_Pipeline{Pipeline: &wirepb.PipelineKPI{Instance: "proc-1", DelayP99Ms: 900}}}
	evs := e.Observe(k, nil)
	if len(evs) != 1 || evs[0].Site != "pipeline" || evs[0].Device != "proc-1" {
		t.Fatalf("events %v", evs)
	}
}

// TestKPINamesFromWire: every numeric field of a KPI kind is a rule KPI,
// read through the same path as a rule's evaluation, and the table of
// docs/remediation.md lists them all.
func TestKPINamesFromWire(t *testing.T) {
	want := []string{"device.reachable", "device.up_ratio", "interface.in_bps", "interface.in_discards_ps", "interface.in_errors_ps",
		"interface.in_pps", "interface.loss_ratio", "interface.oper_down", "interface.out_bps", "interface.out_discards_ps",
		"interface.out_errors_ps", "interface.out_pps", "interface.speed_bps", "interface.util_in", "interface.util_out",
		"link.jitter_ms", "link.loss_ratio", "link.probes_received", "link.probes_sent", "link.rtt_ms", "link.rtt_p50_ms",
		"link.rtt_p95_ms", "link.rtt_p99_ms", "pipeline.delay_max_ms", "pipeline.delay_p50_ms", "pipeline.delay_p99_ms", "pipeline.samples"}
	if got := KPINames(); !slices.Equal(got, want) {
		t.Fatalf("KPI names\n got %v\nwant %v", got, want)
	}
	k := &wirepb.KPI{Body: &wirepb.KPI_Link{Link: &wirepb.LinkKPI{RttP95Ms: 12.5, ProbesSent: 30}}}
	for name, v := range map[string]float64{"link.rtt_p95_ms": 12.5, "link.probes_sent": 30} {
		f, _ := Field(name)
		if got, ok := f(k); !ok || got != v {
			t.Errorf("%s = %v, %v; want %v", name, got, ok, v)
		}
	}
	if f, _ := Field("interface.util_in"); f != nil {
		if _, ok := f(k); ok {
			t.Error("an interface field read from a link KPI")
		}
	}
	doc, err := os.ReadFile("../../../docs/remediation.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range want {
		kind, field, _ := strings.Cut(n, ".")
		if !strings.Contains(string(doc), "`"+field+"`") || !strings.Contains(string(doc), "`"+kind+".`") {
			t.Errorf("docs/remediation.md does not list %s", n)
		}
	}
}
