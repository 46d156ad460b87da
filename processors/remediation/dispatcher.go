package remediation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/processors/remediation/webhook"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// dispatcher consumes transitions and delivers them. Deliveries run
// concurrently (bounded by max-in-flight and each webhook's concurrency);
// transitions of one event are delivered in order; a record's offset is
// committed only once it and every record before it on its partition is
// delivered or dead-lettered.
type dispatcher struct {
	r   *Remediator
	cl  *kgo.Client
	lag *kafka.GroupLag
	sem chan struct{}
	wg  sync.WaitGroup

	mu    sync.Mutex
	parts map[int32]*partTracker
	tails map[string]chan struct{} // event id → done channel of its last queued delivery
}

// partTracker orders the in-flight records of one partition.
type partTracker struct {
	pending []*tracked
}

type tracked struct {
	rec  *kgo.Record
	done bool
}

func newDispatcher(ctx context.Context, r *Remediator, lag *kafka.GroupLag) (*dispatcher, error) {
	d := &dispatcher{r: r, lag: lag, sem: make(chan struct{}, r.cfg.MaxInFlight),
		parts: map[int32]*partTracker{}, tails: map[string]chan struct{}{}}
	cl, err := r.deps.Kafka.NewClient(ctx, r.log,
		kgo.ConsumerGroup(r.cfg.DispatcherGroupID),
		kgo.ConsumeTopics(r.deps.Kafka.Topics.Remediations),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsRevoked(d.revoked),
		kgo.OnPartitionsLost(d.lost),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { lag.Assigned(m) }),
	)
	if err != nil {
		return nil, fmt.Errorf("remediation dispatcher: %w", err)
	}
	d.cl = cl
	return d, nil
}

// forget drops the trackers of partitions this instance no longer owns:
// deliveries still running for them finish but do not mark (the new owner
// delivers them again, with the same webhook-id).
func (d *dispatcher) forget(assigned map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ps := range assigned {
		for _, p := range ps {
			delete(d.parts, p)
		}
	}
}

func (d *dispatcher) revoked(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	d.forget(assigned)
	d.lag.Forget(assigned)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		d.r.log.Warn("dispatcher commit on revoke failed", "err", err)
	}
}

func (d *dispatcher) lost(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	d.forget(assigned)
	d.lag.Forget(assigned)
}

func (d *dispatcher) track(rec *kgo.Record) *tracked {
	d.mu.Lock()
	defer d.mu.Unlock()
	pt := d.parts[rec.Partition]
	if pt == nil {
		pt = &partTracker{}
		d.parts[rec.Partition] = pt
	}
	t := &tracked{rec: rec}
	pt.pending = append(pt.pending, t)
	return t
}

// finish marks t handled and marks for commit the longest handled prefix
// of its partition.
func (d *dispatcher) finish(t *tracked) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t.done = true
	pt := d.parts[t.rec.Partition]
	if pt == nil {
		return
	}
	var last *kgo.Record
	i := 0
	for ; i < len(pt.pending) && pt.pending[i].done; i++ {
		last = pt.pending[i].rec
	}
	if i > 0 {
		pt.pending = pt.pending[i:]
		d.cl.MarkCommitRecords(last)
	}
}

func (d *dispatcher) run(ctx context.Context) {
	defer d.wg.Wait()
	for {
		fetches := d.cl.PollFetches(ctx)
		if kafka.Closed(ctx, fetches) {
			return
		}
		kafka.LogFetchErrors(d.r.log, fetches)
		for it := fetches.RecordIter(); !it.Done(); {
			rec := it.Next()
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			d.r.m.inFlight.Inc()
			t := d.track(rec)
			d.dispatch(ctx, t)
		}
	}
}

// release ends a record's handling: handled (offset may be committed) or
// abandoned (ctx ended: it will be consumed again).
func (d *dispatcher) release(t *tracked, handled bool) {
	if handled {
		d.finish(t)
	}
	<-d.sem
	d.r.m.inFlight.Dec()
}

// dispatch decides what to do with one record; deliveries run in their own
// goroutine, after the previous delivery of the same event.
func (d *dispatcher) dispatch(ctx context.Context, t *tracked) {
	r, rec := d.r, t.rec
	var ev wirepb.RemediationEvent
	if s, _ := wire.SchemaOf(rec); len(s) > 0 && string(s) != wire.SchemaRemediation {
		d.deadLetter(ctx, t, reasonUnexpectedSchema, errors.New("unexpected schema "+string(s)))
		return
	}
	if err := wire.DecodeRemediation(rec.Value, &ev); err != nil {
		d.deadLetter(ctx, t, reasonDecode, err)
		return
	}
	if ev.Tenant != "" && !tenant.Valid(ev.Tenant) {
		d.deadLetter(ctx, t, reasonDecode, fmt.Errorf("%w: tenant %q: %w", wire.ErrMalformed, ev.Tenant, tenant.CheckID(ev.Tenant)))
		return
	}
	switch ev.State {
	case wirepb.EventState_FIRING, wirepb.EventState_ESCALATED, wirepb.EventState_RESOLVED:
	default: // our own dispatched/acknowledged/failed records
		d.release(t, true)
		return
	}
	if ev.Action == "" {
		r.m.dropped.inc(reasonNoAction)
		d.release(t, true)
		return
	}
	// The event's tenant's webhook of that name, else the provider's:
	// never another tenant's.
	key, ok := r.webhookKeyFor(ev.Tenant, ev.Action)
	if !ok {
		d.deadLetter(ctx, t, reasonUnknownWebhook, fmt.Errorf("no webhook named %q for tenant %q on this dispatcher",
			ev.Action, r.deps.Tenants.Or(ev.Tenant)))
		return
	}
	cl := r.clients[key]
	if w := r.webhooks[key]; !w.delivers(rules.StateName(ev.State)) {
		d.release(t, true)
		return
	}
	d.mu.Lock()
	prev := d.tails[ev.EventId]
	done := make(chan struct{})
	d.tails[ev.EventId] = done
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			close(done)
			d.mu.Lock()
			if d.tails[ev.EventId] == done {
				delete(d.tails, ev.EventId)
			}
			d.mu.Unlock()
		}()
		if prev != nil {
			select {
			case <-prev:
			case <-ctx.Done():
				d.release(t, false)
				return
			}
		}
		d.deliver(ctx, t, &ev, key, cl)
	}()
}

// body renders the delivery body of ev for the webhook of key.
func (d *dispatcher) body(ev *wirepb.RemediationEvent, key string) (webhook.Message, error) {
	var payload []byte
	if tpl := d.r.rules.Load().templates[ev.Rule]; tpl != nil {
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, rules.EventOf(ev)); err != nil {
			return webhook.Message{}, fmt.Errorf("rule %q: action.template: %w", ev.Rule, err)
		}
		payload = buf.Bytes()
	}
	m := webhook.Message{ID: webhook.DeliveryID(ev)}
	ce := webhook.NewCloudEvent(ev, d.r.cfg.Source, payload)
	if d.r.webhooks[key].Format == "raw" {
		m.ContentType = "application/json"
		if payload != nil {
			m.Body = payload
			return m, nil
		}
		b, err := webhook.Encode(ce.Data)
		m.Body = b
		return m, err
	}
	m.ContentType = webhook.ContentTypeCloudEvents
	b, err := webhook.Encode(ce)
	m.Body = b
	return m, err
}

func (d *dispatcher) deliver(ctx context.Context, t *tracked, ev *wirepb.RemediationEvent, key string, cl *webhook.Client) {
	r := d.r
	m, err := d.body(ev, key)
	if err != nil {
		d.deadLetter(ctx, t, reasonRender, err)
		return
	}
	firing := ev.State == wirepb.EventState_FIRING
	var proms []<-chan error
	if firing {
		proms = append(proms, d.transition(ctx, ev, wirepb.EventState_DISPATCHED, 1, "dispatched to "+ev.Action))
	}
	res := cl.Deliver(ctx, m)
	if ctx.Err() != nil {
		d.release(t, false)
		return
	}
	if !res.Delivered {
		r.m.deliveries.inc(key + "/dead_letter")
		reason := fmt.Sprintf("gave up after %d attempt(s): %v", res.Attempts, res.Err)
		if res.Permanent {
			reason = fmt.Sprintf("refused, not retried: %v", res.Err)
		}
		r.log.Warn("delivery failed, dead-lettered", "event_id", ev.EventId, "state", rules.StateName(ev.State),
			"webhook", key, "attempts", res.Attempts, "err", res.Err)
		if firing {
			proms = append(proms, d.transition(ctx, ev, wirepb.EventState_FAILED, uint32(res.Attempts), reason))
		}
		if waitAll(proms) != nil {
			d.release(t, false)
			return
		}
		d.deadLetter(ctx, t, reasonDelivery, errors.New(reason))
		return
	}
	r.m.deliveries.inc(key + "/delivered")
	if we := ev.GetWindowEndUnixNano(); we > 0 {
		r.m.latency.Observe(time.Since(time.Unix(0, we)).Seconds())
	}
	if firing {
		proms = append(proms, d.transition(ctx, ev, wirepb.EventState_ACKNOWLEDGED, uint32(res.Attempts),
			fmt.Sprintf("acknowledged by %s (HTTP %d, attempt %d)", ev.Action, res.Status, res.Attempts)))
	}
	if err := waitAll(proms); err != nil {
		r.log.Warn("could not record transition; record will be handled again", "event_id", ev.EventId, "err", err)
		d.release(t, false)
		return
	}
	d.release(t, true)
}

func waitAll(ps []<-chan error) error {
	var errs []error
	for _, p := range ps {
		errs = append(errs, <-p)
	}
	return errors.Join(errs...)
}

// transition produces a dispatcher-side transition of ev (asynchronously;
// the channel yields the produce result).
func (d *dispatcher) transition(ctx context.Context, ev *wirepb.RemediationEvent, st wirepb.EventState, attempt uint32, msg string) <-chan error {
	ch := make(chan error, 1)
	tr := &wirepb.RemediationEvent{EventId: ev.EventId, Tenant: ev.Tenant, Rule: ev.Rule, State: st, Severity: ev.Severity,
		Site: ev.Site, Device: ev.Device, Interface: ev.Interface, DstSite: ev.DstSite, DstDevice: ev.DstDevice,
		Kpi: ev.Kpi, Value: ev.Value, Threshold: ev.Threshold, TimeUnixNano: time.Now().UnixNano(),
		FiredUnixNano: ev.FiredUnixNano, WindowEndUnixNano: ev.WindowEndUnixNano, Action: ev.Action,
		Message: msg, Attempt: attempt}
	rec, err := d.r.remediationRecord(tr)
	if err != nil {
		ch <- err
		return ch
	}
	d.r.producer.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err == nil {
			d.r.m.transitions.inc(rules.StateName(st))
		}
		ch <- err
	})
	return ch
}

// deadLetter sends the record to the dead-letter topic, then releases it
// (handled) once the dead letter is on Kafka, or Kafka refused it for good
// (lostDeadLetter).
func (d *dispatcher) deadLetter(ctx context.Context, t *tracked, reason string, cause error) {
	r := d.r
	if reason != reasonDelivery {
		r.m.dropped.inc(reason)
	}
	rec := r.deadLetter(dispatcherComponent, reason, cause, t.rec)
	r.producer.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed):
			r.log.Warn("dead letter not written; record will be handled again", "err", err)
			d.release(t, false)
			return
		default:
			r.lostDeadLetter(dispatcherComponent, rec, err)
		}
		d.release(t, true)
	})
}

func (d *dispatcher) close() error {
	d.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Dead letters and transitions still buffered: their callbacks mark
	// (or abandon) records, so let them land before committing.
	_ = d.r.producer.Flush(ctx)
	err := d.cl.CommitMarkedOffsets(ctx)
	d.cl.Close()
	if err != nil {
		return fmt.Errorf("remediation dispatcher: commit: %w", err)
	}
	return nil
}
