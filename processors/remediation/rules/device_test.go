package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

const refused = "rpc error: code = Unavailable desc = connection refused"

func deviceKPI(i int, site, dev string, up bool) *wirepb.KPI {
	ws := t0.Add(win * time.Duration(i))
	d := &wirepb.DeviceKPI{State: wirepb.DeviceState_DEVICE_DOWN, LastError: refused}
	if up {
		d = &wirepb.DeviceKPI{Reachable: 1, State: wirepb.DeviceState_DEVICE_UP, UpRatio: 1}
	}
	return &wirepb.KPI{Version: 1, Site: site, Device: dev, WindowStartUnixNano: ws.UnixNano(),
		WindowEndUnixNano: ws.Add(win).UnixNano(), Body: &wirepb.KPI_DeviceKpi{DeviceKpi: d}}
}

const reachRule = `
rules:
  - name: device-unreachable
    kpi: device.reachable
    threshold: {op: "<", value: 1}
    for: 30s
    clear-for: 10s
    severity: critical
    action: {webhook: noc, template: '{"device": {{json .Device}}, "why": {{json .Message}}}'}
`

// A device unreachable for 50 s among reachable ones: one event on the
// device (no interface), fired once it was down for `for`, resolved at the
// first window it is back (clear-for one window).
func TestDeviceUnreachableEvent(t *testing.T) {
	e, err := NewEngine(mustRules(t, reachRule))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*wirepb.RemediationEvent
	firedAt, resolvedAt := -1, -1
	for i := 0; i < 30; i++ {
		for _, d := range []string{"site1-sw1", "site3-sw1", "site3-sw2"} {
			n := len(evs)
			evs = e.Observe(deviceKPI(i, d[:5], d, !(d == "site3-sw1" && i >= 10 && i < 15)), evs)
			for _, ev := range evs[n:] {
				if ev.State == wirepb.EventState_FIRING {
					firedAt = i
				} else if ev.State == wirepb.EventState_RESOLVED {
					resolvedAt = i
				}
			}
		}
	}
	if got := states(evs); got != "firing,resolved" {
		t.Fatalf("transitions = %s, want firing,resolved", got)
	}
	// windows 10, 11, 12 down: 30 s from the start of window 10 to the end of 12
	if firedAt != 12 || resolvedAt != 15 {
		t.Errorf("fired at window %d, resolved at %d; want 12 and 15", firedAt, resolvedAt)
	}
	f := evs[0]
	if f.Site != "site3" || f.Device != "site3-sw1" || f.Interface != "" || f.DstSite != "" || f.Kpi != "device.reachable" ||
		f.Value != 0 || f.Threshold != 1 || f.Severity != wirepb.Severity_CRITICAL || f.Action != "noc" {
		t.Errorf("firing event %v", f)
	}
	if f.EventId != EventID("device-unreachable", "site3/site3-sw1", f.WindowEndUnixNano) || evs[1].EventId != f.EventId {
		t.Errorf("event ids %s / %s, want the hash of the entity site3/site3-sw1", f.EventId, evs[1].EventId)
	}
	if !strings.Contains(f.Message, "(down: "+refused+")") {
		t.Errorf("firing message %q does not say why", f.Message)
	}
	if evs[1].Value != 1 {
		t.Errorf("resolved value %g, want 1", evs[1].Value)
	}
}

// Device KPIs are their own entity: a device rule does not see interface
// KPIs of the device, and the labels' entity is site/device.
func TestDeviceLabels(t *testing.T) {
	k := deviceKPI(0, "s", "d", false)
	l := LabelsOf(k)
	if l.Kind != "device" || l.Entity() != "s/d" {
		t.Errorf("labels %+v entity %q, want kind device, entity s/d", l, l.Entity())
	}
	e, _ := NewEngine(mustRules(t, `rules: [{name: r, kpi: device.reachable, threshold: {op: "<", value: 1}}]`))
	ifk := &wirepb.KPI{Version: 1, Site: "s", Device: "d", WindowStartUnixNano: t0.UnixNano(), WindowEndUnixNano: t0.Add(win).UnixNano(),
		Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{Interface: "e1"}}}
	if evs := e.Observe(ifk, nil); len(evs) != 0 || e.Counts().Evaluations != 0 {
		t.Errorf("a device rule evaluated an interface KPI: %v", evs)
	}
	if evs := e.Observe(k, nil); len(evs) != 1 {
		t.Errorf("down device with for 0: %v", evs)
	}
	for _, c := range []struct {
		kpi  string
		want float64
	}{{"device.reachable", 1}, {"device.up_ratio", 0.5}} {
		f, ok := Field(c.kpi)
		v, isDev := f(&wirepb.KPI{Body: &wirepb.KPI_DeviceKpi{DeviceKpi: &wirepb.DeviceKPI{Reachable: 1, UpRatio: 0.5}}})
		if !ok || !isDev || v != c.want {
			t.Errorf("%s = %g (%v %v), want %g", c.kpi, v, ok, isDev, c.want)
		}
	}
}

func TestDeviceRuleValidation(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{`rules: [{name: a, kpi: device.reachble, threshold: {op: "<", value: 1}}]`,
			`rule "a": kpi: unknown KPI "device.reachble": device KPIs are device.reachable, device.up_ratio`},
		{`rules: [{name: a, kpi: device, threshold: {op: "<", value: 1}}]`, `rule "a": kpi: unknown KPI "device": device KPIs are device.reachable`},
		{`rules: [{name: a, kpi: devices.reachable, threshold: {op: "<", value: 1}}]`, `rule "a": kpi: unknown KPI "devices.reachable" (known: `},
		{`rules: [{name: a, kpi: device.reachable, threshold: {op: "<", value: 1}, scope: {interface: "Ethernet*"}}]`,
			`rule "a": scope.interface: only applies to interface KPIs`},
		{`rules: [{name: a, kpi: device.reachable, threshold: {op: "<", value: 1}, scope: {dst-device: x}}]`,
			`rule "a": scope.dst-site: only applies to link KPIs`},
		{`rules: [{name: a, kpi: device.reachable, threshold: {op: "<", value: 1}, scope: {instance: x}}]`,
			`rule "a": scope.instance: only applies to pipeline KPIs`},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.yaml, err, c.want)
		}
	}
	if _, err := Parse([]byte(`rules: [{name: a, kpi: device.up_ratio, scope: {site: "site3", device: "*-sw1"}, threshold: {op: "<", value: 0.9}, for: 1m}]`)); err != nil {
		t.Errorf("a valid device rule: %v", err)
	}
}
