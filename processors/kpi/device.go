package kpi

import (
	"time"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Device reachability (DeviceKPI).
//
// The collector reports a target's session state in device-state samples
// (DEVICE_UP, DEVICE_DOWN, CONNECTING, with the last error): on every
// change, and again every inventory-interval while up. A device series
// follows those records and emits one DeviceKPI per window for as long as
// the device is known, including while it is down and sends nothing at all
// — the case that matters. Its windows therefore cannot close on the
// series' own records, as interface windows do: they close on the clock of
// the device's Kafka partition (partClock). See docs/kpis.md.

// partClock is the clock device windows of one partition close on: the
// newest receive time (the collector's clock, capped at the processing
// time) of any sample of the partition, or the time as of which the
// partition was read to its end (CaughtUp), whichever is later.
type partClock struct {
	t int64
}

// part returns the clock of partition p, creating it.
func (e *Engine) part(p int32) *partClock {
	if p < 0 {
		p = 0
	}
	if int(p) >= len(e.parts) {
		e.parts = append(e.parts, make([]partClock, int(p)+1-len(e.parts))...)
	}
	return &e.parts[p]
}

// CaughtUp tells the engine that every record of partition p that was in
// Kafka at time at (the processing clock) has been fed to it: the
// Processor lists the partitions' end offsets and compares them with what
// it consumed. The partition's clock may then move to at - allowed
// lateness (receive times are the collector's clock, which may lag this
// one): a partition nothing arrives on — its devices down — still has a
// clock, while one whose records wait (a backlog, a paused processor,
// Kafka unreachable) is not moved past them. An engine fed otherwise
// (tests, replays) closes device windows on the samples' receive times
// alone.
func (e *Engine) CaughtUp(p int32, at time.Time) {
	pc := e.part(p)
	pc.t = max(pc.t, at.UnixNano()-e.lateness)
}

type devKey struct{ tenant, site, device string }

// devRec is one device-state record.
type devRec struct {
	t       int64
	off     int64
	state   wirepb.DeviceState
	lastErr string
}

type devSeries struct {
	key       devKey
	partition int32
	// firstSeen is the time of the series' first record: a window that
	// starts before it is not emitted (warm-up, counted).
	firstSeen int64
	// lastTime is the newest record's time: the state is believed until
	// lastTime + devTimeout, then the series is forgotten.
	lastTime int64
	// cur is the record in effect at closedUpTo (state 0: none yet).
	cur devRec
	// pending are the records at or after closedUpTo, in time order.
	pending []devRec
	// closedUpTo is the end of the last closed window.
	closedUpTo int64
}

// until is the time up to which the series' state is believed.
func (se *devSeries) until(timeout int64) int64 { return se.lastTime + timeout }

// firstOpen is the start of the first device window of a partition whose
// clock is c that is not closed yet: a window closes once the clock passes
// its end + allowed lateness.
func (e *Engine) firstOpen(c int64) int64 {
	return e.floor(c-e.lateness-e.window) + e.window
}

// addDevice adds a device-state sample of time t.
func (e *Engine) addDevice(s *wirepb.Sample, d *wirepb.Device, t int64, o Origin) {
	if s.GetDevice() == "" {
		e.stats.NoDevice++
		return
	}
	st := d.GetState()
	switch st {
	case wirepb.DeviceState_CONNECTING, wirepb.DeviceState_DEVICE_UP, wirepb.DeviceState_DEVICE_DOWN:
	default:
		e.stats.UnknownState++
		return
	}
	k := devKey{e.keyTenant(s), s.GetSite(), s.GetDevice()}
	se := e.devs[k]
	if se != nil && t-se.lastTime > e.devTimeout {
		// Silent for longer than its state is believed, and not forgotten
		// yet (the clock did not get there): emit what was believed, start
		// afresh.
		e.closeDev(se, se.until(e.devTimeout), true)
		delete(e.devs, k)
		e.stats.Evicted++
		se = nil
	}
	rec := devRec{t: t, off: o.Offset, state: st, lastErr: d.GetLastError()}
	if se == nil {
		se = &devSeries{key: k, partition: o.Partition, firstSeen: t, lastTime: t,
			closedUpTo: max(e.floor(t), e.firstOpen(e.part(o.Partition).t))}
		e.devs[k] = se
	} else if t <= se.lastTime {
		if t == se.lastTime {
			e.stats.Duplicate++
		} else {
			e.stats.OutOfOrder++
		}
		return
	}
	se.lastTime = t
	if t < se.closedUpTo {
		// Its window is closed already (the partition's clock went past it
		// while the record was on its way): it is the state from the first
		// open window on.
		e.stats.LateState++
		se.cur = rec
		return
	}
	se.pending = append(se.pending, rec)
}

// closeDev closes the windows of a device series that the clock c allows
// (end + allowed lateness ≤ c) and that start before the series' state
// expires; with force, every window that starts before c.
func (e *Engine) closeDev(se *devSeries, c int64, force bool) {
	until := se.until(e.devTimeout)
	for se.closedUpTo < until {
		if force {
			if se.closedUpTo >= c {
				return
			}
		} else if se.closedUpTo+e.window+e.lateness > c {
			return
		}
		e.closeDevWindow(se)
	}
}

func (e *Engine) closeDevWindow(se *devSeries) {
	ws := se.closedUpTo
	we := ws + e.window
	cur, cursor := se.cur, ws
	var up int64
	i := 0
	for ; i < len(se.pending) && se.pending[i].t < we; i++ {
		r := se.pending[i]
		if cur.state == wirepb.DeviceState_DEVICE_UP {
			up += r.t - cursor
		}
		cur, cursor = r, r.t
	}
	if cur.state == wirepb.DeviceState_DEVICE_UP {
		up += we - cursor
	}
	n := copy(se.pending, se.pending[i:])
	clear(se.pending[n:])
	se.pending = se.pending[:n]
	se.cur = cur
	se.closedUpTo = we
	if ws < se.firstSeen {
		e.stats.Warmup++
		return
	}
	e.out = append(e.out, e.deviceKPI(se, ws, cur, up, uint32(i)))
	e.stats.DeviceKPIs++
}

func (e *Engine) deviceKPI(se *devSeries, ws int64, cur devRec, up int64, samples uint32) *wirepb.KPI {
	k := se.key
	reachable := uint32(0)
	if cur.state == wirepb.DeviceState_DEVICE_UP {
		reachable = 1
	}
	return &wirepb.KPI{
		Version:             1,
		Id:                  e.id(k.tenant, "device", k.site, k.device, "", "", ws),
		Tenant:              e.tenants.Stamp(k.tenant),
		Site:                k.site,
		Device:              k.device,
		WindowStartUnixNano: ws,
		WindowEndUnixNano:   ws + e.window,
		Samples:             samples,
		Body: &wirepb.KPI_DeviceKpi{DeviceKpi: &wirepb.DeviceKPI{
			Reachable: reachable,
			State:     cur.state,
			LastError: cur.lastErr,
			UpRatio:   min(max(float64(up)/float64(e.window), 0), 1),
		}},
	}
}

// collectDevices closes the device windows the partition clocks allow and
// forgets the series whose state expired.
func (e *Engine) collectDevices() {
	for k, se := range e.devs {
		e.closeDev(se, e.part(se.partition).t, false)
		if se.closedUpTo >= se.until(e.devTimeout) {
			delete(e.devs, k)
			e.stats.Evicted++
		}
	}
}

// drainDevices closes every device window up to its partition's clock, the
// last, partial one included.
func (e *Engine) drainDevices() {
	for _, se := range e.devs {
		e.closeDev(se, e.part(se.partition).t, true)
	}
}

// neededDevice is the lowest offset a device series needs: the record in
// effect at its first open window's start (a successor replaying from there
// knows the state the windows start with), or its first pending record.
func (se *devSeries) needed() int64 {
	if se.cur.state != 0 {
		return se.cur.off
	}
	return se.pending[0].off
}
