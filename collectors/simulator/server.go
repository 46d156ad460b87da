package simulator

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// gnmiVersion is the gNMI specification version served.
const gnmiVersion = "0.10.0"

// onChangeCheck is how often ON_CHANGE subscriptions look for changes.
const onChangeCheck = 100 * time.Millisecond

// Leaf kinds.
const (
	kindUint = iota
	kindOper
	kindSpeed
	kindDouble
)

type leafDef struct {
	rel      []*gpb.PathElem
	kind     int
	onChange bool // last-clear, oper-status, port-speed: meaningful for ON_CHANGE
}

// entity kinds
const (
	entIface = iota
	entProbe
)

// entity is one list entry served: an interface or a probe test.
type entity struct {
	kind  int
	dev   *device
	ifc   *iface
	l     *link
	elems []*gpb.PathElem // path of the list entry (the notification prefix)
	wire  *wireEnt        // pre-encoded parts for target = dev.name
}

func elems(names ...string) []*gpb.PathElem {
	out := make([]*gpb.PathElem, len(names))
	for i, n := range names {
		out[i] = &gpb.PathElem{Name: n}
	}
	return out
}

// schema holds the static leaf definitions (built once per fabric).
type schema struct {
	ifLeaves    []leafDef
	probeLeaves []leafDef
}

func newSchema() *schema {
	s := &schema{}
	for _, c := range []string{
		"in-octets", "in-unicast-pkts", "in-broadcast-pkts", "in-multicast-pkts", "in-errors", "in-discards",
		"out-octets", "out-unicast-pkts", "out-broadcast-pkts", "out-multicast-pkts", "out-errors", "out-discards",
	} {
		s.ifLeaves = append(s.ifLeaves, leafDef{rel: elems("state", "counters", c), kind: kindUint})
	}
	s.ifLeaves = append(s.ifLeaves,
		leafDef{rel: elems("state", "counters", "last-clear"), kind: kindUint, onChange: true},
		leafDef{rel: elems("state", "oper-status"), kind: kindOper, onChange: true},
		leafDef{rel: elems("ethernet", "state", "port-speed"), kind: kindSpeed, onChange: true},
	)
	for _, c := range []string{"min-delay", "max-delay", "avg-delay", "stddev-delay", "jitter"} {
		s.probeLeaves = append(s.probeLeaves, leafDef{rel: elems("results", "state", c), kind: kindUint})
	}
	s.probeLeaves = append(s.probeLeaves, leafDef{rel: elems("results", "state", "loss-percentage"), kind: kindDouble})
	for _, c := range []string{"probes-sent", "probes-received"} {
		s.probeLeaves = append(s.probeLeaves, leafDef{rel: elems("results", "state", c), kind: kindUint})
	}
	return s
}

func (s *schema) leaves(kind int) []leafDef {
	if kind == entIface {
		return s.ifLeaves
	}
	return s.probeLeaves
}

// entities returns (building once) the served list entries of a device.
func (f *Fabric) entities(d *device) []*entity {
	d.entOnce.Do(func() {
		for _, ifc := range d.ifaces {
			d.ents = append(d.ents, &entity{kind: entIface, dev: d, ifc: ifc, elems: []*gpb.PathElem{
				{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": ifc.name}},
			}})
		}
		for _, l := range d.links {
			d.ents = append(d.ents, &entity{kind: entProbe, dev: d, l: l, elems: []*gpb.PathElem{
				{Name: "probes"}, {Name: "probe", Key: map[string]string{"name": l.dst.site}},
				{Name: "tests"}, {Name: "test", Key: map[string]string{"name": l.dst.name}},
			}})
		}
		for _, e := range d.ents {
			e.wire = f.newWireEnt(d.name, e)
		}
	})
	return d.ents
}

// matchPath reports whether pattern p (with "*" and "..." wildcards and
// "*" key values) matches path full or one of its ancestors' subtrees.
func matchPath(p, full []*gpb.PathElem) bool {
	if len(p) == 0 {
		return true
	}
	if p[0].GetName() == "..." {
		for i := 0; i <= len(full); i++ {
			if matchPath(p[1:], full[i:]) {
				return true
			}
		}
		return false
	}
	if len(full) == 0 {
		return false
	}
	if n := p[0].GetName(); n != "*" && n != full[0].Name {
		return false
	}
	for k, v := range p[0].GetKey() {
		if v == "*" {
			continue
		}
		if fv, ok := full[0].Key[k]; !ok || fv != v {
			return false
		}
	}
	return matchPath(p[1:], full[1:])
}

// resolve returns, per entity of d, the bitmask of leaves matched by pattern.
func (f *Fabric) resolve(d *device, pattern []*gpb.PathElem, fn func(e *entity, mask uint32)) {
	full := make([]*gpb.PathElem, 0, 8)
	for _, e := range f.entities(d) {
		var mask uint32
		for i, lf := range f.schema.leaves(e.kind) {
			full = append(append(full[:0], e.elems...), lf.rel...)
			if matchPath(pattern, full) {
				mask |= 1 << uint(i)
			}
		}
		if mask != 0 {
			fn(e, mask)
		}
	}
}

// pathElems joins prefix and path elements, converting the deprecated
// string elements if needed.
func pathElems(prefix, p *gpb.Path) ([]*gpb.PathElem, error) {
	var out []*gpb.PathElem
	for _, x := range []*gpb.Path{prefix, p} {
		if x == nil {
			continue
		}
		if len(x.GetElem()) == 0 && len(x.GetElement()) > 0 {
			return nil, errors.New("deprecated path element strings are not supported; use elem")
		}
		out = append(out, x.GetElem()...)
	}
	return out, nil
}

// entSub is one entity of a subscription group with its reusable messages.
type entSub struct {
	e     *entity
	mask  uint32
	leafs []leafDef

	resp  *gpb.SubscribeResponse
	notif *gpb.Notification
	ups   []*gpb.Update
	uvals []*gpb.TypedValue_UintVal
	dvals []*gpb.TypedValue_DoubleVal
	up    *gpb.TypedValue_StringVal
	down  *gpb.TypedValue_StringVal

	vals     [16]uint64
	last     [16]uint64
	haveLast bool
	ts       int64
	sel      []uint8 // leaves selected by build
	wire     *wireEnt
	is       ifSample
	ps       probeSample
}

func (f *Fabric) newEntSub(target string, e *entity, mask uint32) *entSub {
	es := &entSub{e: e, mask: mask, leafs: f.schema.leaves(e.kind)}
	es.notif = &gpb.Notification{Prefix: &gpb.Path{Target: target, Elem: e.elems}}
	es.resp = &gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: es.notif}}
	es.ups = make([]*gpb.Update, len(es.leafs))
	es.uvals = make([]*gpb.TypedValue_UintVal, len(es.leafs))
	es.dvals = make([]*gpb.TypedValue_DoubleVal, len(es.leafs))
	es.up = &gpb.TypedValue_StringVal{StringVal: "UP"}
	es.down = &gpb.TypedValue_StringVal{StringVal: "DOWN"}
	speed, _ := speedIdentity(f.cfg.PortSpeedBps)
	for i, lf := range es.leafs {
		u := &gpb.Update{Path: &gpb.Path{Elem: lf.rel}, Val: &gpb.TypedValue{}}
		switch lf.kind {
		case kindUint:
			es.uvals[i] = &gpb.TypedValue_UintVal{}
			u.Val.Value = es.uvals[i]
		case kindDouble:
			es.dvals[i] = &gpb.TypedValue_DoubleVal{}
			u.Val.Value = es.dvals[i]
		case kindOper:
			u.Val.Value = es.up
		case kindSpeed:
			u.Val.Value = &gpb.TypedValue_StringVal{StringVal: speed}
		}
		es.ups[i] = u
	}
	es.notif.Update = make([]*gpb.Update, 0, len(es.leafs))
	es.sel = make([]uint8, 0, len(es.leafs))
	es.wire = f.wireFor(target, e)
	return es
}

// eval samples the entity at tns into es.vals.
func (f *Fabric) eval(es *entSub, tns int64) {
	v := &es.vals
	switch es.e.kind {
	case entIface:
		f.sampleIface(es.e.ifc, tns, &es.is)
		copy(v[:numCounters], es.is.ctr[:])
		v[12] = uint64(es.is.lastClear)
		v[13] = 0
		if es.is.up {
			v[13] = 1
		}
		v[14] = f.cfg.PortSpeedBps
	case entProbe:
		f.sampleLink(es.e.l, tns, &es.ps)
		p := &es.ps
		v[0], v[1], v[2], v[3], v[4] = p.minUs, p.maxUs, p.avgUs, p.stddevUs, p.jitter
		v[5] = math.Float64bits(p.lossPct)
		v[6], v[7] = p.sent, p.received
	}
}

// build selects the leaves of the mask to send (all of them, or only those
// changed since the last send when changedOnly), and returns their number.
// The message is then produced by fill (protobuf objects) or encode (wire
// bytes).
func (es *entSub) build(tns int64, changedOnly bool) int {
	es.ts = tns
	es.sel = es.sel[:0]
	for i := range es.leafs {
		if es.mask&(1<<uint(i)) == 0 {
			continue
		}
		if changedOnly && es.haveLast && es.vals[i] == es.last[i] {
			continue
		}
		es.sel = append(es.sel, uint8(i))
	}
	es.last = es.vals
	es.haveLast = true
	return len(es.sel)
}

// fill sets the reusable protobuf notification from the selected leaves.
func (es *entSub) fill() *gpb.Notification {
	es.notif.Timestamp = es.ts
	es.notif.Update = es.notif.Update[:0]
	for _, i := range es.sel {
		switch es.leafs[i].kind {
		case kindUint:
			es.uvals[i].UintVal = es.vals[i]
		case kindDouble:
			es.dvals[i].DoubleVal = math.Float64frombits(es.vals[i])
		case kindOper:
			if es.vals[i] == 1 {
				es.ups[i].Val.Value = es.up
			} else {
				es.ups[i].Val.Value = es.down
			}
		}
		es.notif.Update = append(es.notif.Update, es.ups[i])
	}
	return es.notif
}

// group is the subscriptions of a stream sharing mode and timing.
type group struct {
	mode      gpb.SubscriptionMode
	interval  time.Duration // sample interval, or the ON_CHANGE check period
	heartbeat time.Duration
	suppress  bool
	ents      []*entSub
	byEnt     map[*entity]*entSub
	next      time.Time
	nextHB    time.Time
}

type groupKey struct {
	mode      gpb.SubscriptionMode
	interval  time.Duration
	heartbeat time.Duration
	suppress  bool
}

// gnmiServer implements the gNMI service.
type gnmiServer struct {
	gpb.UnimplementedGNMIServer
	f *Fabric
}

func (f *Fabric) checkAuth(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	userOK := subtle.ConstantTimeCompare([]byte(get("username")), []byte(f.cfg.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(get("password")), []byte(f.cfg.Password)) == 1
	if !userOK || !passOK {
		f.m.errors.WithLabelValues("unauthenticated").Inc()
		return status.Error(codes.Unauthenticated, "bad username or password")
	}
	return nil
}

func (f *Fabric) unaryAuth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := f.checkAuth(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (f *Fabric) streamAuth(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := f.checkAuth(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// Capabilities lists the models and encodings.
func (s *gnmiServer) Capabilities(context.Context, *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	return &gpb.CapabilityResponse{
		SupportedModels: []*gpb.ModelData{
			{Name: "openconfig-interfaces", Organization: "OpenConfig working group", Version: "3.7.1"},
			{Name: "openconfig-if-ethernet", Organization: "OpenConfig working group", Version: "2.13.0"},
			{Name: "openconfig-probes", Organization: "OpenConfig working group", Version: "0.0.2"},
		},
		SupportedEncodings: []gpb.Encoding{gpb.Encoding_JSON, gpb.Encoding_JSON_IETF, gpb.Encoding_PROTO},
		GNMIVersion:        gnmiVersion,
	}, nil
}

func checkEncoding(e gpb.Encoding) error {
	switch e {
	case gpb.Encoding_JSON, gpb.Encoding_JSON_IETF, gpb.Encoding_PROTO:
		return nil
	}
	return status.Errorf(codes.Unimplemented, "encoding %s is not supported (JSON, JSON_IETF, PROTO)", e)
}

func (f *Fabric) device(target string) (*device, error) {
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "prefix.target is required: this server serves many targets")
	}
	d, ok := f.byName[target]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown target %q", target)
	}
	return d, nil
}

// Get returns the current values of the requested paths.
func (s *gnmiServer) Get(_ context.Context, req *gpb.GetRequest) (*gpb.GetResponse, error) {
	f := s.f
	if err := checkEncoding(req.GetEncoding()); err != nil {
		return nil, err
	}
	target := req.GetPrefix().GetTarget()
	d, err := f.device(target)
	if err != nil {
		return nil, err
	}
	if d.isDown() {
		return nil, status.Errorf(codes.Unavailable, "target %s is down", target)
	}
	masks := map[*entity]uint32{}
	var order []*entity
	paths := req.GetPath()
	if len(paths) == 0 {
		paths = []*gpb.Path{{}}
	}
	for _, p := range paths {
		pe, err := pathElems(req.GetPrefix(), p)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		f.resolve(d, pe, func(e *entity, m uint32) {
			if _, ok := masks[e]; !ok {
				order = append(order, e)
			}
			masks[e] |= m
		})
	}
	if len(order) == 0 {
		return nil, status.Error(codes.NotFound, "no data matches the requested paths")
	}
	tns := f.nowNs()
	resp := &gpb.GetResponse{}
	var nUp int
	for _, e := range order {
		es := f.newEntSub(target, e, masks[e])
		f.eval(es, tns)
		nUp += es.build(tns, false)
		resp.Notification = append(resp.Notification, es.fill())
	}
	f.count(d, len(order), nUp)
	return resp, nil
}

func (d *device) isDown() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.manualDown || d.rebootDown
}

func (f *Fabric) count(d *device, notifs, updates int) {
	if notifs == 0 {
		return
	}
	f.stats.notifications.Add(uint64(notifs))
	f.stats.updates.Add(uint64(updates))
	d.stats.notifications.Add(uint64(notifs))
	d.stats.updates.Add(uint64(updates))
	f.m.notifications.Add(float64(notifs))
	f.m.updates.Add(float64(updates))
}

// Subscribe serves STREAM, ONCE and POLL subscriptions.
func (s *gnmiServer) Subscribe(stream gpb.GNMI_SubscribeServer) error {
	f := s.f
	err := f.subscribe(stream)
	if err != nil {
		if st, ok := status.FromError(err); ok {
			f.m.errors.WithLabelValues(st.Code().String()).Inc()
		}
	}
	return err
}

// stream is one running Subscribe RPC.
type stream struct {
	f      *Fabric
	d      *device
	target string
	srv    gpb.GNMI_SubscribeServer
	groups []*group
	all    []*entSub // every entity once (initial update, ONCE, POLL)
	sync   *gpb.SubscribeResponse
	raw    rawMsg
}

func (f *Fabric) subscribe(srv gpb.GNMI_SubscribeServer) error {
	req, err := srv.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	list := req.GetSubscribe()
	if list == nil {
		return status.Error(codes.InvalidArgument, "the first SubscribeRequest must carry a SubscriptionList")
	}
	if err := checkEncoding(list.GetEncoding()); err != nil {
		return err
	}
	target := list.GetPrefix().GetTarget()
	d, err := f.device(target)
	if err != nil {
		return err
	}
	st := &stream{f: f, d: d, target: target, srv: srv,
		sync: &gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_SyncResponse{SyncResponse: true}}}
	if err := st.build(list); err != nil {
		return err
	}

	d.mu.Lock()
	down := d.manualDown || d.rebootDown
	downCh := d.downCh
	d.mu.Unlock()
	if down {
		return status.Errorf(codes.Unavailable, "target %s is down", target)
	}
	mode := list.GetMode()
	f.m.subscriptions.WithLabelValues(mode.String()).Inc()
	f.stats.subscriptions.Add(1)
	d.stats.subscriptions.Add(1)
	f.stats.active.Add(1)
	d.stats.active.Add(1)
	f.m.active.Inc()
	defer func() {
		f.stats.active.Add(-1)
		d.stats.active.Add(-1)
		f.m.active.Dec()
	}()

	ctx := srv.Context()
	switch mode {
	case gpb.SubscriptionList_ONCE:
		if err := st.sendAll(); err != nil {
			return err
		}
		return st.sendSync()
	case gpb.SubscriptionList_POLL:
		return st.poll(ctx, downCh)
	case gpb.SubscriptionList_STREAM:
		return st.run(ctx, downCh, list.GetUpdatesOnly())
	}
	return status.Errorf(codes.InvalidArgument, "unknown subscription mode %v", mode)
}

// build resolves the subscriptions into groups of entities.
func (st *stream) build(list *gpb.SubscriptionList) error {
	f := st.f
	groups := map[groupKey]*group{}
	allMask := map[*entity]uint32{}
	var allOrder []*entity
	subs := list.GetSubscription()
	if len(subs) == 0 {
		subs = []*gpb.Subscription{{}}
	}
	for i, sub := range subs {
		pe, err := pathElems(list.GetPrefix(), sub.GetPath())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "subscription %d: %v", i, err)
		}
		k := groupKey{mode: sub.GetMode(), suppress: sub.GetSuppressRedundant(), heartbeat: time.Duration(sub.GetHeartbeatInterval())}
		if list.GetMode() != gpb.SubscriptionList_STREAM {
			// ONCE and POLL ignore the per-subscription mode and timing.
			k = groupKey{mode: gpb.SubscriptionMode_SAMPLE, interval: time.Second}
		}
		if k.mode == gpb.SubscriptionMode_TARGET_DEFINED {
			k.mode = gpb.SubscriptionMode_SAMPLE
		}
		if k.heartbeat != 0 && k.heartbeat < f.cfg.MinSampleInterval {
			return status.Errorf(codes.InvalidArgument, "subscription %d: heartbeat_interval %s is below the minimum %s", i, k.heartbeat, f.cfg.MinSampleInterval)
		}
		switch k.mode {
		case gpb.SubscriptionMode_SAMPLE:
			if list.GetMode() == gpb.SubscriptionList_STREAM {
				k.interval = time.Duration(sub.GetSampleInterval())
			}
			if k.interval == 0 {
				k.interval = time.Second
			}
			if k.interval < f.cfg.MinSampleInterval {
				return status.Errorf(codes.InvalidArgument, "subscription %d: sample_interval %s is below the minimum %s", i, k.interval, f.cfg.MinSampleInterval)
			}
		case gpb.SubscriptionMode_ON_CHANGE:
			k.interval = onChangeCheck
			k.suppress = false
		default:
			return status.Errorf(codes.InvalidArgument, "subscription %d: unknown mode %v", i, sub.GetMode())
		}
		g, ok := groups[k]
		if !ok {
			g = &group{mode: k.mode, interval: k.interval, heartbeat: k.heartbeat, suppress: k.suppress, byEnt: map[*entity]*entSub{}}
			groups[k] = g
			st.groups = append(st.groups, g)
		}
		f.resolve(st.d, pe, func(e *entity, m uint32) {
			if es, ok := g.byEnt[e]; ok {
				es.mask |= m
			} else {
				es := f.newEntSub(st.target, e, m)
				g.byEnt[e] = es
				g.ents = append(g.ents, es)
			}
			if _, ok := allMask[e]; !ok {
				allOrder = append(allOrder, e)
			}
			allMask[e] |= m
		})
	}
	if len(allOrder) == 0 {
		return status.Errorf(codes.NotFound, "no data of target %s matches the subscription paths", st.target)
	}
	for _, e := range allOrder {
		es := f.newEntSub(st.target, e, allMask[e])
		st.all = append(st.all, es)
	}
	// Deterministic group order: shortest interval first.
	sort.SliceStable(st.groups, func(i, j int) bool { return st.groups[i].interval < st.groups[j].interval })
	kept := st.groups[:0]
	for _, g := range st.groups {
		if len(g.ents) > 0 {
			kept = append(kept, g)
		}
	}
	st.groups = kept
	return nil
}

// send sends one prepared notification, encoded directly to the wire
// (see encode.go); the codec passes the bytes through.
func (st *stream) send(es *entSub) error {
	st.raw.buf = es.encode()
	return st.srv.SendMsg(&st.raw)
}

func (st *stream) sendSync() error {
	if err := st.srv.Send(st.sync); err != nil {
		return err
	}
	st.f.stats.syncs.Add(1)
	st.d.stats.syncs.Add(1)
	return nil
}

// sendAll sends every subscribed leaf once, one notification per entity.
func (st *stream) sendAll() error { return st.sendAllAt(st.f.nowNs()) }

// sendAllAt is sendAll with values at device time tns.
func (st *stream) sendAllAt(tns int64) error {
	var n, u int
	defer func() { st.f.count(st.d, n, u) }()
	for _, es := range st.all {
		st.f.eval(es, tns)
		nu := es.build(tns, false)
		if err := st.send(es); err != nil {
			return err
		}
		n++
		u += nu
	}
	return nil
}

func (st *stream) poll(ctx context.Context, downCh chan struct{}) error {
	if err := st.sendAll(); err != nil {
		return err
	}
	if err := st.sendSync(); err != nil {
		return err
	}
	reqs := make(chan *gpb.SubscribeRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			r, err := st.srv.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-st.f.ctx.Done():
			return status.Error(codes.Unavailable, "simulator stopping")
		case <-downCh:
			return status.Errorf(codes.Unavailable, "target %s went down", st.target)
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case r := <-reqs:
			if r.GetPoll() == nil {
				return status.Error(codes.InvalidArgument, "only Poll requests may follow a POLL SubscriptionList")
			}
			if err := st.sendAll(); err != nil {
				return err
			}
			if err := st.sendSync(); err != nil {
				return err
			}
		}
	}
}

// run serves a STREAM subscription until the client leaves, the target
// goes down or the fabric stops.
func (st *stream) run(ctx context.Context, downCh chan struct{}, updatesOnly bool) error {
	f := st.f
	tns := f.nowNs()
	if !updatesOnly {
		if err := st.sendAllAt(tns); err != nil {
			return err
		}
	}
	// Seed the change detectors (ON_CHANGE, suppress_redundant) with the
	// values of the initial update: values are a function of time, so
	// evaluating again at the same instant gives exactly what was sent.
	for _, g := range st.groups {
		for _, es := range g.ents {
			f.eval(es, tns)
			es.build(tns, false)
		}
	}
	if err := st.sendSync(); err != nil {
		return err
	}
	now := time.Now()
	for _, g := range st.groups {
		g.next = now.Add(g.interval)
		if g.heartbeat > 0 {
			g.nextHB = now.Add(g.heartbeat)
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := st.groups[0].next
		for _, g := range st.groups[1:] {
			if g.next.Before(next) {
				next = g.next
			}
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-f.ctx.Done():
			return status.Error(codes.Unavailable, "simulator stopping")
		case <-downCh:
			return status.Errorf(codes.Unavailable, "target %s went down", st.target)
		case <-timer.C:
		}
		now := time.Now()
		tns := f.nowNs()
		for _, g := range st.groups {
			if now.Before(g.next) {
				continue
			}
			g.next = g.next.Add(g.interval)
			if g.next.Before(now) {
				// Fell behind: skip missed ticks rather than burst.
				g.next = now.Add(g.interval)
			}
			hb := false
			if g.heartbeat > 0 && !now.Before(g.nextHB) {
				hb = true
				g.nextHB = now.Add(g.heartbeat)
			}
			changedOnly := !hb && (g.mode == gpb.SubscriptionMode_ON_CHANGE || g.suppress)
			if err := st.tick(g, tns, changedOnly); err != nil {
				return err
			}
		}
	}
}

// tick samples and sends one group.
func (st *stream) tick(g *group, tns int64, changedOnly bool) error {
	f := st.f
	var n, u int
	defer func() { f.count(st.d, n, u) }()
	for _, es := range g.ents {
		f.eval(es, tns)
		nu := es.build(tns, changedOnly)
		if nu == 0 {
			continue
		}
		if err := st.send(es); err != nil {
			return err
		}
		n++
		u += nu
	}
	return nil
}

// String renders a target for logs.
func (t Target) String() string {
	return fmt.Sprintf("%s (%d interfaces, %d peers)", t.Name, len(t.Interfaces), len(t.Peers))
}
