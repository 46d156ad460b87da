package simulator

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
)

// Counter indices of an interface (in the order they are served).
const (
	cInOctets = iota
	cInUnicast
	cInBroadcast
	cInMulticast
	cInErrors
	cInDiscards
	cOutOctets
	cOutUnicast
	cOutBroadcast
	cOutMulticast
	cOutErrors
	cOutDiscards
	numCounters
)

const nsPerSec = int64(1_000_000_000)

// forever is the end second of a fault without duration.
const forever = math.MaxInt64

// Peer is the far end of a probed link.
type Peer struct {
	Site   string
	Device string
}

// Target is one simulated switch, addressed by its gNMI target name.
type Target struct {
	// Name is the gNMI target name (equal to Device).
	Name string
	// Site is the device's site (the name's prefix before "-").
	Site string
	// Device is the switch name, "<site>-sw<n>".
	Device string
	// Interfaces are the interface names, "Ethernet1"..
	Interfaces []string
	// Peers are the probed far ends (swN of every other site), in the order
	// of the uplink interfaces: Peers[i] is reached over
	// Interfaces[i % len(Interfaces)].
	Peers []Peer
}

// device is one switch.
type device struct {
	name, site string
	siteIdx    int
	ifaces     []*iface
	links      []*link // outgoing probe tests
	ifByName   map[string]*iface

	mu         sync.Mutex
	manualDown bool
	rebootDown bool
	downCh     chan struct{} // closed when the target goes down

	entOnce sync.Once
	ents    []*entity

	stats statCounters
}

// iface is one interface and its counter state.
type iface struct {
	dev      *device
	name     string
	id       uint64
	base     float64 // base utilization of this interface
	phaseIn  float64
	phaseOut float64

	mu   sync.Mutex
	st   ctrState
	prev ctrState // the second before st (streams sampling slightly older instants)
}

// ctrState is the cumulative counter state at the start of second sec.
type ctrState struct {
	sec       int64
	cum       [numCounters]uint64
	rate      [numCounters]uint64
	up        bool
	lastClear int64
}

// link is the probe test from src to dst (swN of two sites).
type link struct {
	src, dst     *device
	srcIf, dstIf *iface
	id           uint64
	baseRTTus    float64
	baseJitterUs float64

	mu   sync.Mutex
	st   probeState
	prev probeState
}

// probeSecond is what a link's probes did in one second.
type probeSecond struct {
	sent, received uint64
	avgUs, jitUs   float64 // valid when received > 0
}

type probeState struct {
	sec  int64
	sent uint64
	recv uint64
	cur  probeSecond
}

// cfault is a fault compiled against the fabric: seconds and pointers.
type cfault struct {
	Fault
	startSec, endSec int64 // [startSec, endSec)
	dev              *device
	ifc              *iface // nil: all interfaces of dev
	siteA, siteB     string
	periodSec        int64
}

func (c *cfault) active(k int64) bool { return k >= c.startSec && k < c.endSec }

func (c *cfault) coversIface(ifc *iface) bool {
	return c.dev == ifc.dev && (c.ifc == nil || c.ifc == ifc)
}

// splitmix64 is a small deterministic hash.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit returns a deterministic number in [0,1) from its inputs.
func (f *Fabric) unit(id, salt uint64, k int64) float64 {
	h := splitmix64(uint64(f.cfg.Seed) ^ splitmix64(id*0x100000001b3^salt) ^ splitmix64(uint64(k)))
	return float64(h>>11) / (1 << 53)
}

// compileFault checks a fault's names against the fabric and converts its
// offsets to seconds from base (a second index).
func (f *Fabric) compileFault(ft Fault, base int64) (cfault, error) {
	if err := ft.Validate(); err != nil {
		return cfault{}, err
	}
	c := cfault{Fault: ft}
	c.startSec = base + ceilSec(ft.Start.Nanoseconds())
	c.endSec = forever
	if ft.Duration > 0 {
		c.endSec = c.startSec + max(1, ceilSec(ft.Duration.Nanoseconds()))
	}
	c.periodSec = ceilSec(ft.Period.Nanoseconds())
	if ft.Type == FaultLatency {
		for _, s := range ft.Sites {
			if _, ok := f.siteIdx[s]; !ok {
				return c, fmt.Errorf("sites: %q is not a site of the fabric (site1..site%d)", s, len(f.sites))
			}
		}
		c.siteA, c.siteB = ft.Sites[0], ft.Sites[1]
		return c, nil
	}
	d, ok := f.byName[ft.Device]
	if !ok {
		return c, fmt.Errorf("device: %q is not a device of the fabric", ft.Device)
	}
	c.dev = d
	if ft.Interface != "" {
		if ft.Type == FaultCounterReset {
			return c, fmt.Errorf("interface: not allowed for counter_reset")
		}
		ifc, ok := d.ifByName[ft.Interface]
		if !ok {
			return c, fmt.Errorf("interface: %q is not an interface of %s", ft.Interface, d.name)
		}
		c.ifc = ifc
	}
	return c, nil
}

func ceilSec(ns int64) int64 { return (ns + nsPerSec - 1) / nsPerSec }

// snapshotFaults returns the current fault list (append-only).
func (f *Fabric) snapshotFaults() []cfault {
	f.fmu.RLock()
	defer f.fmu.RUnlock()
	return f.faults
}

// faultsUpTo returns the fault list for computing the served state up to
// second k, and records that seconds up to k are fixed: Inject only adds
// faults starting after the fence.
func (f *Fabric) faultsUpTo(k int64) []cfault {
	f.fmu.RLock()
	defer f.fmu.RUnlock()
	for {
		cur := f.fence.Load()
		if cur >= k || f.fence.CompareAndSwap(cur, k) {
			break
		}
	}
	return f.faults
}

// ifaceDown reports whether an interface is down in second k.
func ifaceDown(fs []cfault, ifc *iface, k int64) bool {
	for i := range fs {
		c := &fs[i]
		if !c.active(k) {
			continue
		}
		switch c.Type {
		case FaultLinkDown:
			if c.coversIface(ifc) {
				return true
			}
		case FaultFlap:
			if c.coversIface(ifc) && ((k-c.startSec)/c.periodSec)%2 == 0 {
				return true
			}
		case FaultCounterReset:
			if c.dev == ifc.dev && c.Duration > 0 {
				return true
			}
		}
	}
	return false
}

// resetAt reports whether device d reboots (counters cleared) at the start of second k.
func resetAt(fs []cfault, d *device, k int64) bool {
	for i := range fs {
		if fs[i].Type == FaultCounterReset && fs[i].dev == d && fs[i].startSec == k {
			return true
		}
	}
	return false
}

// offered returns the offered load (ratio of port speed) of an interface
// in second k for direction dir (0 in, 1 out), without faults.
func (f *Fabric) offered(ifc *iface, k int64, dir uint64) float64 {
	phase := ifc.phaseIn
	if dir == 1 {
		phase = ifc.phaseOut
	}
	day := float64(((k%86400)+86400)%86400) / 86400
	u := ifc.base * (1 + 0.25*math.Sin(2*math.Pi*day+phase))
	u *= 1 + 0.2*(f.unit(ifc.id, 0x10+dir, k)-0.5)
	return math.Min(math.Max(u, 0), 1)
}

// ifaceRates computes the counter increments of an interface in second k.
func (f *Fabric) ifaceRates(fs []cfault, ifc *iface, k int64) (r [numCounters]uint64, up bool) {
	if ifaceDown(fs, ifc, k) {
		return r, false
	}
	uin, uout := f.offered(ifc, k, 0), f.offered(ifc, k, 1)
	loss := 0.0
	for i := range fs {
		c := &fs[i]
		if !c.active(k) || !c.coversIface(ifc) {
			continue
		}
		switch c.Type {
		case FaultCongestion:
			uin, uout = c.Load, c.Load
		case FaultLoss:
			loss = math.Max(loss, c.Ratio)
		}
	}
	pkt := float64(f.cfg.PacketSize)
	capacity := math.Floor(float64(f.cfg.PortSpeedBps) / 8 / pkt) // packets/s at line rate
	e := f.cfg.ErrorRate

	// Inbound: what arrives is capped at line rate; loss and the baseline
	// error rate turn received packets into in-errors and in-discards.
	pin := math.Floor(math.Min(uin, 1) * capacity)
	lostIn := math.Round(pin * loss)
	inErr := math.Floor(lostIn/2) + math.Round(pin*e)
	inDisc := lostIn - math.Floor(lostIn/2) + math.Round(pin*e)
	if inErr+inDisc > pin {
		inErr, inDisc = math.Floor(pin/2), pin-math.Floor(pin/2)
	}
	inGood := pin - inErr - inDisc
	r[cInOctets] = uint64(pin * pkt)
	r[cInErrors] = uint64(inErr)
	r[cInDiscards] = uint64(inDisc)
	splitPkts(uint64(inGood), &r[cInUnicast], &r[cInBroadcast], &r[cInMulticast])

	// Outbound: the offered load above line rate is discarded (congestion);
	// loss discards a share r of what could be sent. As RFC 2863 says, the
	// out-*-pkts counters count every packet the higher layer asked to send,
	// discarded or not, while out-octets count what was transmitted; so the
	// loss formula yields the configured ratio (see docs/simulator.md).
	pout := math.Floor(uout * capacity)
	sendable := math.Min(pout, capacity)
	congDisc := pout - sendable
	lossOut := math.Round(sendable * loss)
	outErr := math.Round(sendable * e)
	if lossOut+outErr > sendable {
		outErr = sendable - lossOut
	}
	outSent := sendable - lossOut - outErr
	r[cOutOctets] = uint64(outSent * pkt)
	r[cOutErrors] = uint64(outErr)
	r[cOutDiscards] = uint64(congDisc + lossOut)
	splitPkts(uint64(pout), &r[cOutUnicast], &r[cOutBroadcast], &r[cOutMulticast])
	return r, true
}

// splitPkts divides good packets: 0.5% broadcast, 1.5% multicast, rest unicast.
func splitPkts(n uint64, uc, bc, mc *uint64) {
	*bc = n / 200
	*mc = n * 3 / 200
	*uc = n - *bc - *mc
}

// advance moves an interface's counter state to the start of second k.
// The caller holds ifc.mu.
func (f *Fabric) advance(ifc *iface, k int64) {
	st := &ifc.st
	if st.sec >= k {
		return
	}
	fs := f.faultsUpTo(k)
	for st.sec < k {
		ifc.prev = *st
		for i := range st.cum {
			st.cum[i] += st.rate[i]
		}
		st.sec++
		if resetAt(fs, ifc.dev, st.sec) {
			st.cum = [numCounters]uint64{}
			st.lastClear = st.sec * nsPerSec
		}
		st.rate, st.up = f.ifaceRates(fs, ifc, st.sec)
	}
}

// mulDivSec returns rate*ns/1e9 exactly (ns < 1e9).
func mulDivSec(rate uint64, ns int64) uint64 {
	hi, lo := bits.Mul64(rate, uint64(ns))
	q, _ := bits.Div64(hi, lo, uint64(nsPerSec))
	return q
}

// ifSample is one interface's state at an instant.
type ifSample struct {
	ctr       [numCounters]uint64 // wrapped at CounterBits
	lastClear int64
	up        bool
}

// sampleIface computes an interface's counters at tns (unix ns).
func (f *Fabric) sampleIface(ifc *iface, tns int64, out *ifSample) {
	if tns < f.epochSec*nsPerSec {
		tns = f.epochSec * nsPerSec
	}
	k := tns / nsPerSec
	frac := tns - k*nsPerSec
	ifc.mu.Lock()
	f.advance(ifc, k)
	st := &ifc.st
	if k < st.sec {
		// Another stream already moved past this instant.
		st = &ifc.prev
		if k != st.sec {
			ifc.mu.Unlock()
			var slow ctrState
			f.ctrStateAt(ifc, k, &slow)
			st = &slow
			f.fillIfSample(st, frac, out)
			return
		}
	}
	f.fillIfSample(st, frac, out)
	ifc.mu.Unlock()
}

func (f *Fabric) fillIfSample(st *ctrState, frac int64, out *ifSample) {
	for i := range st.cum {
		out.ctr[i] = (st.cum[i] + mulDivSec(st.rate[i], frac)) & f.mask
	}
	out.lastClear = st.lastClear
	out.up = st.up
}

// ctrStateAt computes an interface's counter state at the start of second
// k from the fabric's boot (slow: O(k - epoch)).
func (f *Fabric) ctrStateAt(ifc *iface, k int64, st *ctrState) {
	fs := f.snapshotFaults()
	*st = ctrState{sec: f.epochSec, lastClear: f.epochSec * nsPerSec}
	for s := f.epochSec; s <= k; s++ {
		if s > f.epochSec {
			for i := range st.cum {
				st.cum[i] += st.rate[i]
			}
		}
		if resetAt(fs, ifc.dev, s) {
			st.cum = [numCounters]uint64{}
			st.lastClear = s * nsPerSec
		}
		st.sec = s
		st.rate, st.up = f.ifaceRates(fs, ifc, s)
	}
}

// linkFaults returns the latency faults' added RTT, jitter (µs) and probe
// loss for a link in second k, and whether its interfaces are down.
func (f *Fabric) probeSecond(fs []cfault, l *link, k int64) probeSecond {
	ps := probeSecond{sent: f.cfg.ProbesPerSecond}
	lossRatio := 0.0
	if ifaceDown(fs, l.srcIf, k) || ifaceDown(fs, l.dstIf, k) {
		lossRatio = 1
	}
	addRTT, addJit := 0.0, 0.0
	a, b := l.src.site, l.dst.site
	for i := range fs {
		c := &fs[i]
		if c.Type != FaultLatency || !c.active(k) {
			continue
		}
		if (c.siteA == a && c.siteB == b) || (c.siteA == b && c.siteB == a) {
			addRTT += c.RTTMs * 1000
			addJit += c.JitterMs * 1000
			lossRatio = math.Max(lossRatio, c.Loss)
		}
	}
	lost := math.Floor(lossRatio*float64(ps.sent) + f.unit(l.id, 0x20, k))
	if lossRatio >= 1 {
		lost = float64(ps.sent)
	}
	lost = math.Min(lost, float64(ps.sent))
	ps.received = ps.sent - uint64(lost)
	if ps.received > 0 {
		ps.avgUs = math.Round(l.baseRTTus*(1+0.04*(f.unit(l.id, 0x21, k)-0.5)) + addRTT)
		ps.jitUs = math.Round(l.baseJitterUs*(1+0.2*(f.unit(l.id, 0x22, k)-0.5)) + addJit)
	}
	return ps
}

// probeSample is one link test's results at an instant.
type probeSample struct {
	sent, received                        uint64
	minUs, maxUs, avgUs, stddevUs, jitter uint64
	lossPct                               float64
}

func (f *Fabric) sampleLink(l *link, tns int64, out *probeSample) {
	if tns < f.epochSec*nsPerSec {
		tns = f.epochSec * nsPerSec
	}
	k := tns / nsPerSec
	frac := tns - k*nsPerSec
	l.mu.Lock()
	st := &l.st
	if st.sec < k {
		fs := f.faultsUpTo(k)
		for st.sec < k {
			l.prev = *st
			st.sent += st.cur.sent
			st.recv += st.cur.received
			st.sec++
			st.cur = f.probeSecond(fs, l, st.sec)
		}
	}
	var slow probeState
	if k < st.sec {
		st = &l.prev
		if k != st.sec {
			f.probeStateAt(l, k, &slow)
			st = &slow
		}
	}
	cur := st.cur
	out.sent = st.sent + mulDivSec(cur.sent, frac)
	out.received = st.recv + mulDivSec(cur.received, frac)
	l.mu.Unlock()
	fillProbeResults(cur, out)
}

// probeStateAt computes a link's probe state at the start of second k.
func (f *Fabric) probeStateAt(l *link, k int64, st *probeState) {
	fs := f.snapshotFaults()
	*st = probeState{sec: f.epochSec, cur: f.probeSecond(fs, l, f.epochSec)}
	for st.sec < k {
		st.sent += st.cur.sent
		st.recv += st.cur.received
		st.sec++
		st.cur = f.probeSecond(fs, l, st.sec)
	}
}

// fillProbeResults derives the served delay statistics of one second:
// avg = RTT, stddev = jitter = J, min = max(0, RTT-2J), max = RTT+2J.
func fillProbeResults(ps probeSecond, out *probeSample) {
	out.lossPct = 100 * float64(ps.sent-ps.received) / float64(ps.sent)
	if ps.received == 0 {
		out.minUs, out.maxUs, out.avgUs, out.stddevUs, out.jitter = 0, 0, 0, 0, 0
		return
	}
	out.avgUs = uint64(ps.avgUs)
	out.jitter = uint64(ps.jitUs)
	out.stddevUs = out.jitter
	out.maxUs = out.avgUs + 2*out.jitter
	if out.avgUs > 2*out.jitter {
		out.minUs = out.avgUs - 2*out.jitter
	} else {
		out.minUs = 0
	}
}

// buildTopology creates the devices, interfaces and links.
func (f *Fabric) buildTopology() {
	c := f.cfg
	f.byName = map[string]*device{}
	f.siteIdx = map[string]int{}
	var ifID uint64
	for s := 1; s <= c.Sites; s++ {
		site := fmt.Sprintf("site%d", s)
		f.siteIdx[site] = s - 1
		f.sites = append(f.sites, site)
		for w := 1; w <= c.SwitchesPerSite; w++ {
			d := &device{
				name:     fmt.Sprintf("%s-sw%d", site, w),
				site:     site,
				siteIdx:  s - 1,
				ifByName: map[string]*iface{},
				downCh:   make(chan struct{}),
			}
			for i := 1; i <= c.InterfacesPerSwitch; i++ {
				ifID++
				ifc := &iface{dev: d, name: fmt.Sprintf("Ethernet%d", i), id: ifID}
				ifc.base = c.BaseUtilization * (0.7 + 0.6*f.unit(ifID, 1, 0))
				ifc.phaseIn = 2 * math.Pi * f.unit(ifID, 2, 0)
				ifc.phaseOut = 2 * math.Pi * f.unit(ifID, 3, 0)
				d.ifaces = append(d.ifaces, ifc)
				d.ifByName[ifc.name] = ifc
			}
			f.devices = append(f.devices, d)
			f.byName[d.name] = d
		}
	}
	// swN of site A probes swN of every other site B over its uplink
	// Ethernet((index of B among A's peers) % K + 1).
	var linkID uint64 = 1 << 32
	for _, d := range f.devices {
		sw := d.name[len(d.site):] // "-swN"
		peerIdx := 0
		for _, site := range f.sites {
			if site == d.site {
				continue
			}
			dst := f.byName[site+sw]
			linkID++
			l := &link{src: d, dst: dst, id: linkID}
			l.srcIf = d.ifaces[peerIdx%len(d.ifaces)]
			// The far end's uplink toward d's site.
			back := 0
			for _, s2 := range f.sites {
				if s2 == dst.site {
					continue
				}
				if s2 == d.site {
					break
				}
				back++
			}
			l.dstIf = dst.ifaces[back%len(dst.ifaces)]
			lo, hi := min(d.siteIdx, dst.siteIdx), max(d.siteIdx, dst.siteIdx)
			pair := uint64(lo*1000 + hi)
			l.baseRTTus = 1000 + math.Floor(19000*f.unit(pair, 4, 0))
			l.baseJitterUs = 50 + math.Floor(250*f.unit(pair, 5, 0))
			d.links = append(d.links, l)
			peerIdx++
		}
	}
}
