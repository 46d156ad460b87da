package dashboards

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// fabric is the shape of generated sample data.
type fabric struct {
	sites, devices, ifaces int // devices per site, interfaces per device
	end                    time.Time
	span                   time.Duration // raw KPI history before end
	step                   int           // raw KPI window, seconds
}

func (f fabric) nIfaces() int { return f.sites * f.devices * f.ifaces }

// names of the generated keys as SQL expressions of i (interface index).
func (f fabric) siteOf(i string) string {
	return fmt.Sprintf("concat('site', toString(intDiv(%s, %d)))", i, f.devices*f.ifaces)
}
func (f fabric) deviceOf(i string) string {
	return fmt.Sprintf("concat('site', toString(intDiv(%s, %d)), '-sw', toString(intDiv(%s, %d) %% %d))", i, f.devices*f.ifaces, i, f.ifaces, f.devices)
}
func (f fabric) ifaceOf(i string) string {
	return fmt.Sprintf("concat('Ethernet', toString(%s %% %d))", i, f.ifaces)
}

// values lists the template variable values of the generated fabric: the
// options' values (optionKeyOf its names), as Grafana holds them.
func (f fabric) values() map[string][]string {
	v := map[string][]string{}
	for s := 0; s < f.sites; s++ {
		v["site"] = append(v["site"], optionKeyOf(fmt.Sprintf("site%d", s)))
		for d := 0; d < f.devices; d++ {
			v["device"] = append(v["device"], optionKeyOf(fmt.Sprintf("site%d-sw%d", s, d)))
		}
	}
	for i := 0; i < f.ifaces; i++ {
		v["interface"] = append(v["interface"], optionKeyOf(fmt.Sprintf("Ethernet%d", i)))
	}
	return v
}

// optionKeyOf is what optionKey makes ClickHouse return for name: 'x' and
// the name's bytes in upper-case hex.
func optionKeyOf(name string) string {
	return "x" + strings.ToUpper(hex.EncodeToString([]byte(name)))
}

// interfaceKPIs inserts raw interface KPIs (the materialized views fill
// the rollups) from start for n windows of step seconds.
func (f fabric) interfaceKPIs(start time.Time, windows, step int) string {
	n := f.nIfaces()
	i := fmt.Sprintf("(number %% %d)", n)
	t := fmt.Sprintf("intDiv(number, %d)", n)
	return fmt.Sprintf(`INSERT INTO interface_kpis (ts, site, device, interface, util_in, util_out, loss_ratio, in_errors_ps, in_discards_ps, out_discards_ps, out_errors_ps, speed_bps, in_bps, out_bps, in_pps, out_pps, oper_status, window_s, samples, kpi_id)
SELECT toDateTime(%d + %s * %d) AS ts, %s, %s, %s,
 (sin(%s / 50 + %s) + 1) / 2 * 0.95 AS ui, (cos(%s / 70 + %s) + 1) / 2 * 0.9 AS uo,
 if(%s %% 7 = 0, 0.02, 0.0001) AS loss, if(%s %% 5 = 0, 3, 0) AS ie, 0.5, 0.25, 0,
 toUInt64(10000000000), ui * 1e10, uo * 1e10, ui * 1e6, uo * 1e6,
 if((%s + %s) %% 97 = 0 OR (%s = 1 AND %s >= %d), 'DOWN', 'UP'), %d, 1, toString(number)
FROM numbers(%d)`, start.Unix(), t, step, f.siteOf(i), f.deviceOf(i), f.ifaceOf(i),
		t, i, t, i, i, i, t, i, i, t, windows-5, step, windows*n)
}

// linkKPIs inserts link KPIs between every pair of devices in different sites.
func (f fabric) linkKPIs(start time.Time, windows, step int) string {
	nd := f.sites * f.devices
	pairs := nd * nd
	p := fmt.Sprintf("(number %% %d)", pairs)
	src := fmt.Sprintf("intDiv(%s, %d)", p, nd)
	dst := fmt.Sprintf("(%s %% %d)", p, nd)
	t := fmt.Sprintf("intDiv(number, %d)", pairs)
	site := func(d string) string { return fmt.Sprintf("concat('site', toString(intDiv(%s, %d)))", d, f.devices) }
	dev := func(d string) string {
		return fmt.Sprintf("concat('site', toString(intDiv(%s, %d)), '-sw', toString(%s %% %d))", d, f.devices, d, f.devices)
	}
	return fmt.Sprintf(`INSERT INTO link_kpis (ts, src_site, src_device, dst_site, dst_device, rtt_ms, rtt_p50_ms, rtt_p95_ms, rtt_p99_ms, jitter_ms, loss_ratio, probes_sent, probes_received, window_s, kpi_id)
SELECT toDateTime(%d + %s * %d), %s, %s, %s, %s,
 10 + abs(intDiv(%s, %d) - intDiv(%s, %d)) * 20 + (%s %% 13) AS rtt, rtt, rtt * 1.3, rtt * 1.6, (%s %% 5) + 0.5, if(%s %% 11 = 0, 0.01, 0), toUInt64(100), toUInt64(99), %d, toString(number)
FROM numbers(%d) WHERE intDiv(%s, %d) != intDiv(%s, %d)`, start.Unix(), t, step, site(src), dev(src), site(dst), dev(dst),
		src, f.devices, dst, f.devices, t, t, t, step, windows*pairs, src, f.devices, dst, f.devices)
}

func (f fabric) others(start time.Time, windows, step int) []string {
	s := start.Unix()
	nd := f.sites * f.devices
	return []string{
		fmt.Sprintf(`INSERT INTO pipeline_kpis (ts, instance, delay_p50_ms, delay_p99_ms, delay_max_ms, samples, window_s)
SELECT toDateTime(%d + intDiv(number, 2) * %d), concat('process-', toString(number %% 2)), 120 + number %% 50, 900 + number %% 300, 2000, toUInt64(1000), %d FROM numbers(%d)`, s, step, step, 2*windows),
		fmt.Sprintf(`INSERT INTO devices (site, device, address, first_seen, last_seen, state)
SELECT %s, %s, concat('127.0.0.', toString(number + 1)), toDateTime(%d), toDateTime(%d), if(number = 1, 'down', 'up') FROM numbers(%d)`,
			f.siteOf(fmt.Sprintf("number * %d", f.ifaces)), f.deviceOf(fmt.Sprintf("number * %d", f.ifaces)), s, f.end.Unix(), nd),
		// 60 events every 2 h, most of them going through the whole lifecycle.
		fmt.Sprintf(`INSERT INTO remediation_events (ts, event_id, rule, state, severity, site, device, interface, dst_site, dst_device, kpi, value, threshold, fired_at, action, message)
SELECT toDateTime(%d - 7200 * e + 120 * st), concat('ev-', toString(e)), concat('rule-', toString(e %% 3)),
 arrayElement(['firing', 'dispatched', 'acknowledged', 'resolved'], st + 1), if(e %% 4 = 0, 'critical', 'warning'),
 %s, %s, %s, '', '', 'util_in', 0.97, 0.9, toDateTime(%d - 7200 * e), 'rollback', 'test'
FROM (SELECT intDiv(number, 4) AS e, number %% 4 AS st FROM numbers(240)) WHERE NOT (e IN (1, 2) AND st >= 2)`,
			f.end.Unix()-600, f.siteOf("e"), f.deviceOf("e"), f.ifaceOf("e"), f.end.Unix()-600),
		// Device reachability every window; site0-sw1 (device 1, down in
		// devices too) unreachable for the last 10 minutes.
		fmt.Sprintf(`INSERT INTO device_kpis (ts, site, device, reachable, state, last_error, up_ratio, window_s, samples, kpi_id)
SELECT toDateTime(%d + intDiv(number, %d) * %d) AS ts, %s, %s, toUInt8(NOT (number %% %d = 1 AND toUInt32(ts) >= %d)) AS r,
 if(r = 1, 'up', 'down'), if(r = 1, '', 'connection refused'), toFloat64(r), %d, toUInt32(0), toString(number)
FROM numbers(%d)`, s, nd, step, f.siteOf(fmt.Sprintf("(number %% %d) * %d", nd, f.ifaces)), f.deviceOf(fmt.Sprintf("(number %% %d) * %d", nd, f.ifaces)),
			nd, f.end.Unix()-600, step, windows*nd),
		// The device-unreachable event of site0-sw1, still active (no interface).
		fmt.Sprintf(`INSERT INTO remediation_events (ts, event_id, rule, state, severity, site, device, interface, dst_site, dst_device, kpi, value, threshold, fired_at, action, message)
SELECT toDateTime(%d + 30 * number), 'ev-reach', 'device-unreachable', arrayElement(['firing', 'dispatched', 'acknowledged'], number + 1), 'critical',
 'site0', 'site0-sw1', '', '', '', 'device.reachable', 0, 1, toDateTime(%d), 'noc', 'device-unreachable device.reachable=0 breached 1 on site0/site0-sw1 for 30s (down: connection refused)'
FROM numbers(3)`, f.end.Unix()-480, f.end.Unix()-480),
		fmt.Sprintf(`INSERT INTO deadletters (ts, component, reason, source_topic, source_partition, source_offset, key, payload)
SELECT toDateTime(%d - number * 600), 'sink', if(number %% 2 = 0, 'decode', 'version'), 'telemetry.kpis', toInt32(0), toInt64(number), 'k', '' FROM numbers(200)`, f.end.Unix()),
	}
}

// load returns the statements filling the sample tables: raw KPIs every
// f.step seconds over f.span before f.end.
func (f fabric) load() []string {
	windows := int(f.span.Seconds()) / f.step
	start := f.end.Add(-f.span)
	return append([]string{f.interfaceKPIs(start, windows, f.step), f.linkKPIs(start, windows, f.step)}, f.others(start, windows, f.step)...)
}
