package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/tlsfiles"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Session states, as in the devices table.
const (
	StateConnecting = "connecting"
	StateUp         = "up"
	StateDown       = "down"
)

var stateNames = []string{StateConnecting, StateUp, StateDown}

// Session failure causes: the cause label of
// telemetry_collector_target_errors_total and the keys of
// TargetStatus.Errors.
const (
	causeAuth            = "auth"
	causeUnavailable     = "unavailable"
	causeTimeout         = "timeout"
	causeConnectTimeout  = "connect_timeout"
	causeStalled         = "stalled"
	causeMessageTooLarge = "message_too_large"
	causeRejected        = "rejected"
	causeCanceled        = "canceled"
	causeClosed          = "closed"
	causeTargetError     = "target_error"
	causeConfig          = "config"
	causeDial            = "dial"
	causeStream          = "stream"
)

// causeNames is the one list of causes, the order of docs/collector.md.
var causeNames = []string{causeAuth, causeUnavailable, causeTimeout, causeConnectTimeout, causeStalled,
	causeMessageTooLarge, causeRejected, causeCanceled, causeClosed, causeTargetError, causeConfig, causeDial, causeStream}

// SessionErrorCauses returns the causes a session fails for: the label
// values of telemetry_collector_target_errors_total and the keys of
// TargetStatus.Errors.
func SessionErrorCauses() []string { return append([]string(nil), causeNames...) }

// causeError is a session failure with its cause label.
type causeError struct {
	cause string
	err   error
}

func (e *causeError) Error() string { return e.cause + ": " + e.err.Error() }
func (e *causeError) Unwrap() error { return e.err }

func withCause(cause string, err error) error { return &causeError{cause: cause, err: err} }

// causeOf classifies a session error for target_errors_total.
func causeOf(err error) string {
	var ce *causeError
	if errors.As(err, &ce) {
		return ce.cause
	}
	if errors.Is(err, io.EOF) {
		return causeClosed
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unauthenticated, codes.PermissionDenied:
			return causeAuth
		case codes.Unavailable:
			return causeUnavailable
		case codes.DeadlineExceeded:
			return causeTimeout
		case codes.ResourceExhausted:
			return causeMessageTooLarge
		case codes.Unimplemented, codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition:
			return causeRejected
		case codes.Canceled:
			return causeCanceled
		}
	}
	return causeStream
}

// session collects one target until its context ends, reconnecting with
// back-off.
type session struct {
	c   *Collector
	cfg TargetConfig
	// subs are the target's subscriptions; serve builds their requests
	// for each connection (a target that never answers holds none).
	subs []Subscription
	seq  *atomic.Uint64
	log  logger

	cancel context.CancelFunc
	done   chan struct{}
	// life is the collector's (ended by Stop), prod its producer.
	life context.Context
	prod *producer

	mu         sync.Mutex
	state      string
	emitted    string // last state sent to the inventory
	lastEmit   time.Time
	lastErr    string
	errs       map[string]uint64
	lastUpdate atomic.Int64 // unix ns of the last message
	upSince    time.Time

	// series are the target's own series, or those shared by the targets
	// beyond metrics-max-targets.
	series  *targetSeries
	limiter component.LogLimiter
	flood   *bucket // nil: no cap
	// tenant owns the target: its samples' tenant and fair share.
	tenant *tenantState
	// stallTimeout is 0 when the subscriptions promise no periodic
	// traffic (on_change without heartbeat, once): silence is normal then.
	stallTimeout time.Duration
}

// stallTimeoutFor is how long a session may stay silent: the configured
// timeout, at least three of the shortest period its subscriptions promise
// (any stream's traffic counts, so the most frequent one sets the pace; a
// slow heartbeat on another must not hide a stalled counter stream); 0 when
// they promise none.
func stallTimeoutFor(cfg time.Duration, subs []Subscription) time.Duration {
	if cfg <= 0 {
		return 0
	}
	var period time.Duration
	promise := func(p time.Duration) {
		if p > 0 && (period == 0 || p < period) {
			period = p
		}
	}
	for _, s := range subs {
		switch {
		case s.Mode == "poll" || (s.Mode == "stream" && s.StreamMode == "sample"):
			promise(s.SampleInterval)
		case s.Mode == "stream" && s.HeartbeatInterval > 0:
			promise(s.HeartbeatInterval)
		}
	}
	if period == 0 {
		return 0
	}
	return max(cfg, 3*period)
}

// bucket is a token bucket of updates per second, shared by a target's
// streams. A notification is let through while there are tokens, and may
// overdraw them (so one big notification is not refused forever); the
// debt is paid back before the next one passes.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate int) *bucket {
	return &bucket{rate: float64(rate), tokens: float64(rate)}
}

func (b *bucket) take(n uint64, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens <= 0 {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// logger is the subset of slog.Logger sessions use.
type logger interface {
	Warn(msg string, args ...any)
	Info(msg string, args ...any)
	Debug(msg string, args ...any)
}

// buildRequests groups the target's subscriptions into Subscribe requests:
// one per (mode, encoding) for stream mode, one per subscription for once
// and poll.
func buildRequests(subs []Subscription, target string) (reqs []*gnmi.SubscribeRequest, poll []time.Duration, once []bool) {
	type key struct{ mode, enc string }
	streams := map[key]*gnmi.SubscriptionList{}
	var order []key
	for _, s := range subs {
		var list *gnmi.SubscriptionList
		k := key{s.Mode, s.Encoding}
		if s.Mode == "stream" {
			list = streams[k]
		}
		if list == nil {
			list = &gnmi.SubscriptionList{
				Prefix:   &gnmi.Path{Target: target},
				Encoding: encodings[s.Encoding],
			}
			switch s.Mode {
			case "stream":
				list.Mode = gnmi.SubscriptionList_STREAM
				streams[k] = list
				order = append(order, k)
			case "once":
				list.Mode = gnmi.SubscriptionList_ONCE
				reqs = append(reqs, &gnmi.SubscribeRequest{Request: &gnmi.SubscribeRequest_Subscribe{Subscribe: list}})
				poll, once = append(poll, 0), append(once, true)
			case "poll":
				list.Mode = gnmi.SubscriptionList_POLL
				reqs = append(reqs, &gnmi.SubscribeRequest{Request: &gnmi.SubscribeRequest_Subscribe{Subscribe: list}})
				poll, once = append(poll, s.SampleInterval), append(once, false)
			}
		}
		for _, p := range s.Paths {
			els, _ := parsePath(p) // validated
			gp := &gnmi.Path{}
			for _, e := range els {
				gp.Elem = append(gp.Elem, &gnmi.PathElem{Name: e.name, Key: e.keys})
			}
			sub := &gnmi.Subscription{Path: gp, SuppressRedundant: s.SuppressRedundant,
				HeartbeatInterval: uint64(s.HeartbeatInterval)}
			if s.Mode == "stream" {
				switch s.StreamMode {
				case "sample":
					sub.Mode = gnmi.SubscriptionMode_SAMPLE
					sub.SampleInterval = uint64(s.SampleInterval)
				case "on_change":
					sub.Mode = gnmi.SubscriptionMode_ON_CHANGE
				default:
					sub.Mode = gnmi.SubscriptionMode_TARGET_DEFINED
				}
			}
			list.Subscription = append(list.Subscription, sub)
		}
	}
	for _, k := range order {
		reqs = append(reqs, &gnmi.SubscribeRequest{Request: &gnmi.SubscribeRequest_Subscribe{Subscribe: streams[k]}})
		poll, once = append(poll, 0), append(once, false)
	}
	return reqs, poll, once
}

func (s *session) setState(state string, err error) {
	s.mu.Lock()
	if err != nil {
		s.lastErr = err.Error()
		cause := causeOf(err)
		s.errs[cause]++
		s.series.targetError(cause)
		if s.limiter.Allow("session:" + cause) {
			s.log.Warn("target session failed", "cause", cause, "err", err)
		}
	}
	prev := s.state
	s.state = state
	if state == StateUp {
		s.upSince = time.Now()
		s.lastErr = ""
	}
	lastErr := s.lastErr
	// The inventory sees connecting only before the first success: a down
	// target retrying stays down until it is up again.
	emit := state != s.emitted && !(state == StateConnecting && s.emitted == StateDown)
	if emit {
		s.emitted = state
	}
	s.mu.Unlock()
	if emit {
		s.emitDevice(state, lastErr)
	}
	if prev == state {
		return
	}
	s.series.setState(prev, state)
	if state == StateUp {
		s.c.m.targetsUp.Inc()
		s.log.Info("target up")
	} else if prev == StateUp {
		s.c.m.targetsUp.Dec()
	}
}

var wireStates = map[string]wirepb.DeviceState{
	StateConnecting: wirepb.DeviceState_CONNECTING,
	StateUp:         wirepb.DeviceState_DEVICE_UP,
	StateDown:       wirepb.DeviceState_DEVICE_DOWN,
}

// reemit produces the inventory record of the target's last emitted
// state again when inventory-interval passed since the last one, in every
// state: the processor's device KPI believes a state for a bounded time
// (process.state-horizon), so a target down for hours must keep saying so.
func (s *session) reemit() {
	s.mu.Lock()
	st, le, due := s.emitted, s.lastErr, time.Since(s.lastEmit) >= s.c.cfg.InventoryInterval
	s.mu.Unlock()
	if st != "" && due {
		s.emitDevice(st, le)
	}
}

// emitDevice produces the inventory record of the target.
func (s *session) emitDevice(state, lastErr string) {
	s.mu.Lock()
	s.lastEmit = time.Now()
	s.mu.Unlock()
	now := time.Now().UnixNano()
	smp := &wirepb.Sample{
		Site: s.cfg.Site, Device: s.cfg.Name, Collector: s.c.cfg.Instance, Tenant: s.tenant.stamp,
		DeviceTimeUnixNano: now, ReceiveTimeUnixNano: now, Seq: s.seq.Add(1),
		Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{
			Address: s.cfg.Address, State: wireStates[state], LastError: lastErr}},
	}
	// Inventory is small and matters: wait for room (bounded by the
	// collector's life), never drop it on a momentary full buffer.
	// Counted as handed over whatever becomes of it, like samples: a
	// dropped one is counted again by its reason.
	st := newSendState()
	s.c.t.inventory.Add(1)
	s.prod.produce(s.life, smp, st)
}

// run is the session's life: connect, serve, back off, again.
func (s *session) run(ctx context.Context) {
	defer close(s.done)
	defer func() {
		s.mu.Lock()
		st := s.state
		s.mu.Unlock()
		s.series.left(st)
	}()
	bo := newBackoff(s.c.cfg.Backoff)
	first := true
	for {
		if !first {
			s.series.reconnects.Inc()
		}
		first = false
		s.setState(StateConnecting, nil)
		err := s.serve(ctx)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		wasUp := s.state == StateUp
		s.mu.Unlock()
		if err == nil {
			err = withCause(causeClosed, errors.New("all subscriptions ended"))
		}
		s.setState(StateDown, err)
		if wasUp {
			bo.reset()
		}
		if !s.backOff(ctx, bo.next()) {
			return
		}
	}
}

// backOff waits d before the next attempt, re-emitting the inventory
// record meanwhile; false when ctx ended.
func (s *session) backOff(ctx context.Context, d time.Duration) bool {
	s.reemit() // due across attempts shorter than the interval
	t := time.NewTimer(d)
	defer t.Stop()
	// A timer for when the record is due, not a ticker: 10,000 targets
	// backing off do not wake up 10,000 times a second.
	inv := time.NewTimer(s.untilReemit())
	defer inv.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-inv.C:
			s.reemit()
			inv.Reset(s.untilReemit())
		}
	}
}

// untilReemit is how long until the inventory record is due again (at
// least 10 ms).
func (s *session) untilReemit() time.Duration {
	s.mu.Lock()
	last := s.lastEmit
	s.mu.Unlock()
	return max(s.c.cfg.InventoryInterval-time.Since(last), 10*time.Millisecond)
}

// dialOptions builds the gRPC credentials of the target.
func (s *session) dialOptions() ([]grpc.DialOption, error) {
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.c.cfg.MaxMessageSize)),
	}
	if s.cfg.Insecure {
		return append(opts, grpc.WithTransportCredentials(insecure.NewCredentials())), nil
	}
	t := s.cfg.TLS
	tc, err := tlsfiles.Client{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName, SkipVerify: t.SkipVerify}.Config()
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	return append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc))), nil
}

// serve runs one connection: every Subscribe request on its own stream;
// the first stream to fail ends them all.
func (s *session) serve(parent context.Context) error {
	opts, err := s.dialOptions()
	if err != nil {
		return withCause(causeConfig, err)
	}
	conn, err := grpc.NewClient(s.cfg.Address, opts...)
	if err != nil {
		return withCause(causeDial, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	if s.cfg.Username != "" {
		pw, err := s.cfg.password()
		if err != nil {
			return withCause(causeConfig, err)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "username", s.cfg.Username, "password", pw)
	}
	client := gnmi.NewGNMIClient(conn)
	s.lastUpdate.Store(time.Now().UnixNano())
	var gotFirst atomic.Bool
	var wg sync.WaitGroup
	reqs, poll, once := buildRequests(s.subs, s.cfg.Name)
	errc := make(chan error, len(reqs))
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.stream(ctx, client, req, poll[i], once[i], &gotFirst)
			if err != nil {
				cancel(err)
			}
			errc <- err
		}()
	}
	// Watchdog: connect timeout, stalls, periodic inventory.
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watch(ctx, cancel, &gotFirst)
	}()
	ended := 0
	var first error
	for ended < len(reqs) {
		select {
		case err := <-errc:
			ended++
			if err != nil && first == nil {
				first = err
			}
		case <-ctx.Done():
			ended = len(reqs)
		}
	}
	if first == nil && parent.Err() == nil && ctx.Err() == nil {
		// Only once subscriptions, all done: stay connected until told otherwise.
		<-ctx.Done()
	}
	cause := context.Cause(ctx)
	cancel(nil)
	wg.Wait()
	if first == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		first = cause
	}
	var ce *causeError
	if cause != nil && errors.As(cause, &ce) {
		first = cause // watchdog reasons win over the stream's Canceled
	}
	return first
}

// watch ends the session when the target does not answer within the dial
// timeout or stalls, and re-emits the inventory record.
func (s *session) watch(ctx context.Context, cancel context.CancelCauseFunc, gotFirst *atomic.Bool) {
	start := time.Now()
	tick := time.Second
	if st := s.stallTimeout; st > 0 && st/4 < tick {
		tick = max(st/4, 10*time.Millisecond)
	}
	if it := s.c.cfg.InventoryInterval; it < tick {
		tick = it
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if !gotFirst.Load() {
				if now.Sub(start) > s.c.cfg.DialTimeout {
					cancel(withCause(causeConnectTimeout, fmt.Errorf("no response within %s", s.c.cfg.DialTimeout)))
					return
				}
				continue
			}
			// now is when the tick was due, not when it ran: after this
			// process was stopped (SIGSTOP, a paused VM) the first check
			// does not count the stop as the target's silence, and by the
			// next one the streams have read what waited in the
			// connections (faults TestCollectorFrozen). Keep it so.
			if st := s.stallTimeout; st > 0 && now.UnixNano()-s.lastUpdate.Load() > int64(st) {
				cancel(withCause(causeStalled, fmt.Errorf("nothing received for %s", st)))
				return
			}
			s.reemit()
		}
	}
}

// stream runs one Subscribe stream until it fails or ctx ends.
func (s *session) stream(ctx context.Context, client gnmi.GNMIClient, req *gnmi.SubscribeRequest,
	poll time.Duration, once bool, gotFirst *atomic.Bool) error {
	st, err := client.Subscribe(ctx, grpc.ForceCodecV2(s.c.codec))
	if err != nil {
		return err
	}
	if err := st.Send(req); err != nil {
		return err
	}
	if poll > 0 {
		go func() {
			t := time.NewTicker(poll)
			defer t.Stop()
			pr := &gnmi.SubscribeRequest{Request: &gnmi.SubscribeRequest_Poll{Poll: &gnmi.Poll{}}}
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if st.Send(pr) != nil {
						return
					}
				}
			}
		}()
	}
	dec := newDecoder(s.c.matcher, s.cfg.Name, s.cfg.Site, s.c.cfg.Instance, s.c.cfg.MaxUpdatesPerNotification)
	sst := newSendState()
	raw := &rawResponse{}
	for {
		// RecvMsg into a rawResponse: the bytes, not gNMI Go types (see rawdecode.go).
		if err := st.RecvMsg(raw); err != nil {
			if once && errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		now := time.Now()
		s.lastUpdate.Store(now.UnixNano())
		if !gotFirst.Swap(true) {
			s.setState(StateUp, nil)
		}
		samples, _, terr := dec.decodeRaw(raw.buf, now.UnixNano())
		if terr != nil {
			return withCause(causeTargetError, terr)
		}
		s.handle(ctx, dec, sst, samples, now)
	}
}

// handle produces the samples of one notification and counts.
func (s *session) handle(ctx context.Context, dec *decoder, sst *sendState, samples []*wirepb.Sample, now time.Time) {
	if s.flood != nil && dec.updates > 0 && !s.flood.take(dec.updates, now) {
		dec.errs[reasonFlood] += dec.updates
		samples = nil
	}
	admitted := samples
	if len(samples) > 0 && !s.tenant.admit(s.c, len(samples), now) {
		admitted = nil // counted as handed over, then dropped (tenant_rate)
	}
	for _, smp := range admitted {
		smp.Seq = s.seq.Add(1)
		smp.Tenant = s.tenant.stamp
		if e := s.c.edge; e != nil {
			e.add(ctx, s.c, smp, sst) // collect.wasm, then the producer
		} else {
			s.prod.produce(ctx, smp, sst)
		}
	}
	if len(samples) > 0 {
		s.series.samples.Add(float64(len(samples)))
		s.c.t.samples.Add(uint64(len(samples)))
	}
	if dec.updates > 0 {
		s.series.updates.Add(float64(dec.updates))
		s.c.t.updates.Add(dec.updates)
		dec.updates = 0
	}
	s.series.lastUpdate.Set(float64(now.UnixNano()) / 1e9)
	for r, cnt := range dec.errs {
		if cnt == 0 {
			continue
		}
		dec.errs[r] = 0
		s.series.decodeErrors[r].Add(float64(cnt))
		s.c.t.decodeErrs[r].Add(cnt)
		if s.limiter.Allow(reasonNames[r]) {
			s.log.Warn("undecodable updates from target (logged once a minute per reason)",
				"reason", reasonNames[r], "count", cnt)
		}
	}
}
