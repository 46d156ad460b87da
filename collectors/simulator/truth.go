package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Truth answers exact questions about what the fabric generated.
type Truth struct{ f *Fabric }

// Truth returns the ground-truth oracle of the fabric.
func (f *Fabric) Truth() *Truth { return &Truth{f: f} }

// Counters are an interface's counter values (not wrapped).
type Counters struct {
	InOctets, InUnicastPkts, InBroadcastPkts, InMulticastPkts, InErrors, InDiscards       uint64
	OutOctets, OutUnicastPkts, OutBroadcastPkts, OutMulticastPkts, OutErrors, OutDiscards uint64
	// LastClear is the last counter reset (device boot), unix ns.
	LastClear int64
}

func countersFrom(a [numCounters]uint64, lastClear int64) Counters {
	return Counters{
		InOctets: a[cInOctets], InUnicastPkts: a[cInUnicast], InBroadcastPkts: a[cInBroadcast],
		InMulticastPkts: a[cInMulticast], InErrors: a[cInErrors], InDiscards: a[cInDiscards],
		OutOctets: a[cOutOctets], OutUnicastPkts: a[cOutUnicast], OutBroadcastPkts: a[cOutBroadcast],
		OutMulticastPkts: a[cOutMulticast], OutErrors: a[cOutErrors], OutDiscards: a[cOutDiscards],
		LastClear: lastClear,
	}
}

// InterfaceTruth is the exact behaviour of an interface over a window.
// Rates are per second over the window; ratios are 0..1.
type InterfaceTruth struct {
	Site, Device, Interface string
	From, To                time.Time
	// UtilIn and UtilOut are octets×8 / (speed × window).
	UtilIn, UtilOut float64
	// LossRatio is (in_errors + in_discards + out_discards) /
	// (in_pkts + out_pkts + in_discards + in_errors), over the window's
	// increments, where in_pkts/out_pkts are unicast+multicast+broadcast;
	// 0 when nothing moved.
	LossRatio                                            float64
	InBps, OutBps, InPps, OutPps                         float64
	InErrorsPs, InDiscardsPs, OutDiscardsPs, OutErrorsPs float64
	SpeedBps                                             uint64
	// DownSeconds is how long the interface was down within the window.
	DownSeconds float64
	// Exact (real-valued) counter increments over the window; InPkts and
	// OutPkts are unicast+multicast+broadcast.
	InOctets, OutOctets, InPkts, OutPkts         float64
	InErrors, InDiscards, OutErrors, OutDiscards float64

	delta [numCounters]float64
}

// LinkTruth is the exact behaviour of a probed link over a window.
type LinkTruth struct {
	SrcSite, SrcDevice, DstSite, DstDevice string
	From, To                               time.Time
	// RTTMs is the mean RTT of the received probes (weighted by received).
	RTTMs float64
	// JitterMs is the mean jitter, weighted the same way.
	JitterMs float64
	// LossRatio is lost / sent probes.
	LossRatio float64
	// ProbesSent and ProbesReceived are the (real-valued) probe counts.
	ProbesSent, ProbesReceived float64
}

func (t *Truth) iface(device, name string) (*iface, error) {
	d, ok := t.f.byName[device]
	if !ok {
		return nil, fmt.Errorf("simulate: truth: unknown device %q", device)
	}
	ifc, ok := d.ifByName[name]
	if !ok {
		return nil, fmt.Errorf("simulate: truth: unknown interface %q on %s", name, device)
	}
	return ifc, nil
}

func (t *Truth) link(src, dst string) (*link, error) {
	d, ok := t.f.byName[src]
	if !ok {
		return nil, fmt.Errorf("simulate: truth: unknown device %q", src)
	}
	for _, l := range d.links {
		if l.dst.name == dst {
			return l, nil
		}
	}
	return nil, fmt.Errorf("simulate: truth: %s does not probe %q", src, dst)
}

// window iterates the seconds overlapping [from, to) with their overlap
// weight (fraction of the second), starting no earlier than the epoch.
func (f *Fabric) window(from, to time.Time, fn func(k int64, w float64)) {
	a, b := from.UnixNano(), to.UnixNano()
	if a < f.epochSec*nsPerSec {
		a = f.epochSec * nsPerSec
	}
	for k := a / nsPerSec; k*nsPerSec < b; k++ {
		lo, hi := max(a, k*nsPerSec), min(b, (k+1)*nsPerSec)
		if hi > lo {
			fn(k, float64(hi-lo)/float64(nsPerSec))
		}
	}
}

// Interface returns the exact truth of an interface over [from, to).
func (t *Truth) Interface(device, name string, from, to time.Time) (InterfaceTruth, error) {
	ifc, err := t.iface(device, name)
	if err != nil {
		return InterfaceTruth{}, err
	}
	if !to.After(from) {
		return InterfaceTruth{}, fmt.Errorf("simulate: truth: empty window %s..%s", from, to)
	}
	f := t.f
	fs := f.snapshotFaults()
	out := InterfaceTruth{Site: ifc.dev.site, Device: ifc.dev.name, Interface: ifc.name, From: from, To: to, SpeedBps: f.cfg.PortSpeedBps}
	f.window(from, to, func(k int64, w float64) {
		r, up := f.ifaceRates(fs, ifc, k)
		if !up {
			out.DownSeconds += w
		}
		for i := range r {
			out.delta[i] += w * float64(r[i])
		}
	})
	out.fill(to.Sub(from).Seconds())
	return out, nil
}

func (o *InterfaceTruth) fill(secs float64) {
	d := &o.delta
	speed := float64(o.SpeedBps)
	o.InOctets, o.OutOctets = d[cInOctets], d[cOutOctets]
	o.InPkts = d[cInUnicast] + d[cInBroadcast] + d[cInMulticast]
	o.OutPkts = d[cOutUnicast] + d[cOutBroadcast] + d[cOutMulticast]
	o.InErrors, o.InDiscards, o.OutErrors, o.OutDiscards = d[cInErrors], d[cInDiscards], d[cOutErrors], d[cOutDiscards]
	o.InBps = d[cInOctets] * 8 / secs
	o.OutBps = d[cOutOctets] * 8 / secs
	o.UtilIn = o.InBps / speed
	o.UtilOut = o.OutBps / speed
	inPkts := d[cInUnicast] + d[cInBroadcast] + d[cInMulticast]
	outPkts := d[cOutUnicast] + d[cOutBroadcast] + d[cOutMulticast]
	o.InPps = inPkts / secs
	o.OutPps = outPkts / secs
	o.InErrorsPs = d[cInErrors] / secs
	o.InDiscardsPs = d[cInDiscards] / secs
	o.OutDiscardsPs = d[cOutDiscards] / secs
	o.OutErrorsPs = d[cOutErrors] / secs
	if den := inPkts + outPkts + d[cInDiscards] + d[cInErrors]; den > 0 {
		o.LossRatio = (d[cInErrors] + d[cInDiscards] + d[cOutDiscards]) / den
	}
}

// Link returns the exact truth of the probe test src→dst over [from, to).
func (t *Truth) Link(srcDevice, dstDevice string, from, to time.Time) (LinkTruth, error) {
	l, err := t.link(srcDevice, dstDevice)
	if err != nil {
		return LinkTruth{}, err
	}
	if !to.After(from) {
		return LinkTruth{}, fmt.Errorf("simulate: truth: empty window %s..%s", from, to)
	}
	f := t.f
	fs := f.snapshotFaults()
	out := LinkTruth{SrcSite: l.src.site, SrcDevice: l.src.name, DstSite: l.dst.site, DstDevice: l.dst.name, From: from, To: to}
	var rtt, jit float64
	f.window(from, to, func(k int64, w float64) {
		ps := f.probeSecond(fs, l, k)
		out.ProbesSent += w * float64(ps.sent)
		out.ProbesReceived += w * float64(ps.received)
		rtt += w * float64(ps.received) * ps.avgUs
		jit += w * float64(ps.received) * ps.jitUs
	})
	if out.ProbesReceived > 0 {
		out.RTTMs = rtt / out.ProbesReceived / 1000
		out.JitterMs = jit / out.ProbesReceived / 1000
	}
	if out.ProbesSent > 0 {
		out.LossRatio = (out.ProbesSent - out.ProbesReceived) / out.ProbesSent
	}
	return out, nil
}

// Interfaces returns the truth of every interface over [from, to).
func (t *Truth) Interfaces(from, to time.Time) ([]InterfaceTruth, error) {
	var out []InterfaceTruth
	for _, d := range t.f.devices {
		for _, ifc := range d.ifaces {
			it, err := t.Interface(d.name, ifc.name, from, to)
			if err != nil {
				return nil, err
			}
			out = append(out, it)
		}
	}
	return out, nil
}

// Links returns the truth of every probed link over [from, to).
func (t *Truth) Links(from, to time.Time) ([]LinkTruth, error) {
	var out []LinkTruth
	for _, d := range t.f.devices {
		for _, l := range d.links {
			lt, err := t.Link(d.name, l.dst.name, from, to)
			if err != nil {
				return nil, err
			}
			out = append(out, lt)
		}
	}
	return out, nil
}

// Counters returns an interface's exact counter values at an instant
// (not wrapped; the served values are these modulo 2^counter-bits).
func (t *Truth) Counters(device, name string, at time.Time) (Counters, error) {
	ifc, err := t.iface(device, name)
	if err != nil {
		return Counters{}, err
	}
	f := t.f
	tns := max(at.UnixNano(), f.epochSec*nsPerSec)
	k := tns / nsPerSec
	var st ctrState
	f.ctrStateAt(ifc, k, &st)
	var cum [numCounters]uint64
	for i := range cum {
		cum[i] = st.cum[i] + mulDivSec(st.rate[i], tns-k*nsPerSec)
	}
	return countersFrom(cum, st.lastClear), nil
}

// OperStatus returns "UP" or "DOWN" for an interface at an instant.
func (t *Truth) OperStatus(device, name string, at time.Time) (string, error) {
	ifc, err := t.iface(device, name)
	if err != nil {
		return "", err
	}
	if ifaceDown(t.f.snapshotFaults(), ifc, at.UnixNano()/nsPerSec) {
		return "DOWN", nil
	}
	return "UP", nil
}

// truthInterfaceRow is one line of the truth file for an interface.
type truthInterfaceRow struct {
	Type          string  `json:"type"`
	TS            string  `json:"ts"`
	Site          string  `json:"site"`
	Device        string  `json:"device"`
	Interface     string  `json:"interface"`
	OperStatus    string  `json:"oper_status"`
	SpeedBps      uint64  `json:"speed_bps"`
	UtilIn        float64 `json:"util_in"`
	UtilOut       float64 `json:"util_out"`
	LossRatio     float64 `json:"loss_ratio"`
	InErrorsPs    float64 `json:"in_errors_ps"`
	InDiscardsPs  float64 `json:"in_discards_ps"`
	OutDiscardsPs float64 `json:"out_discards_ps"`
	OutErrorsPs   float64 `json:"out_errors_ps"`
	InBps         float64 `json:"in_bps"`
	OutBps        float64 `json:"out_bps"`
	InPps         float64 `json:"in_pps"`
	OutPps        float64 `json:"out_pps"`
}

// truthLinkRow is one line of the truth file for a link.
type truthLinkRow struct {
	Type           string  `json:"type"`
	TS             string  `json:"ts"`
	SrcSite        string  `json:"src_site"`
	SrcDevice      string  `json:"src_device"`
	DstSite        string  `json:"dst_site"`
	DstDevice      string  `json:"dst_device"`
	RTTMs          float64 `json:"rtt_ms"`
	JitterMs       float64 `json:"jitter_ms"`
	LossRatio      float64 `json:"loss_ratio"`
	ProbesSent     uint64  `json:"probes_sent"`
	ProbesReceived uint64  `json:"probes_received"`
}

func round6(v float64) float64 { return math.Round(v*1e9) / 1e9 }

// writeTruthUpTo writes the truth of every completed second before k.
func (f *Fabric) writeTruthUpTo(k int64) {
	if f.truthBuf == nil {
		return
	}
	fs := f.snapshotFaults()
	enc := json.NewEncoder(f.truthBuf)
	for ; f.truthNext < k; f.truthNext++ {
		s := f.truthNext
		ts := time.Unix(s, 0).UTC().Format(time.RFC3339)
		for _, d := range f.devices {
			for _, ifc := range d.ifaces {
				r, up := f.ifaceRates(fs, ifc, s)
				it := InterfaceTruth{SpeedBps: f.cfg.PortSpeedBps}
				for i := range r {
					it.delta[i] = float64(r[i])
				}
				it.fill(1)
				row := truthInterfaceRow{
					Type: "interface", TS: ts, Site: d.site, Device: d.name, Interface: ifc.name,
					OperStatus: "UP", SpeedBps: f.cfg.PortSpeedBps,
					UtilIn: round6(it.UtilIn), UtilOut: round6(it.UtilOut), LossRatio: round6(it.LossRatio),
					InErrorsPs: it.InErrorsPs, InDiscardsPs: it.InDiscardsPs, OutDiscardsPs: it.OutDiscardsPs,
					OutErrorsPs: it.OutErrorsPs, InBps: it.InBps, OutBps: it.OutBps, InPps: it.InPps, OutPps: it.OutPps,
				}
				if !up {
					row.OperStatus = "DOWN"
				}
				if err := enc.Encode(&row); err != nil {
					f.log.Warn("truth file write failed", "err", err)
					return
				}
			}
			for _, l := range d.links {
				ps := f.probeSecond(fs, l, s)
				row := truthLinkRow{
					Type: "link", TS: ts, SrcSite: d.site, SrcDevice: d.name, DstSite: l.dst.site, DstDevice: l.dst.name,
					RTTMs: ps.avgUs / 1000, JitterMs: ps.jitUs / 1000,
					LossRatio:  round6(float64(ps.sent-ps.received) / float64(ps.sent)),
					ProbesSent: ps.sent, ProbesReceived: ps.received,
				}
				if err := enc.Encode(&row); err != nil {
					f.log.Warn("truth file write failed", "err", err)
					return
				}
			}
		}
	}
}
