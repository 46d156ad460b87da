package remediation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/processors/remediation/rules"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// engineLoop consumes KPIs and runs one rules.Engine per assigned
// partition: an entity's KPIs all land on one partition (key = entity), so
// its state lives with the partition. When a partition is revoked its
// engine is dropped (soft state; see docs/remediation.md).
type engineLoop struct {
	r    *Remediator
	cl   *kgo.Client
	opts []kgo.Opt // connection options, for the warm-up reader
	lag  *kafka.GroupLag

	// failingSince is when producing transitions started failing (Unix
	// ns), 0 while it succeeds; Ready reads it.
	failingSince atomic.Int64

	mu      sync.Mutex
	engines map[int32]*rules.Engine
	last    map[int32]rules.Counts
	newest  int64 // newest window_end seen (KPI time), for state expiry
}

func newEngineLoop(ctx context.Context, r *Remediator, base []kgo.Opt, lag *kafka.GroupLag) (*engineLoop, error) {
	e := &engineLoop{r: r, opts: base, lag: lag, engines: map[int32]*rules.Engine{}, last: map[int32]rules.Counts{}}
	cl, err := r.deps.Kafka.NewClient(ctx, r.log,
		kgo.ConsumerGroup(r.cfg.GroupID),
		kgo.ConsumeTopics(r.deps.Kafka.Topics.KPIs),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsRevoked(e.revoked),
		kgo.OnPartitionsLost(e.lost),
		kgo.OnPartitionsAssigned(e.assigned),
	)
	if err != nil {
		return nil, fmt.Errorf("remediation engine: %w", err)
	}
	e.cl = cl
	return e, nil
}

func (e *engineLoop) setRules(rs []rules.Rule) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.engines {
		if err := en.SetRules(rs); err != nil {
			return err
		}
	}
	e.syncActive()
	return nil
}

func (e *engineLoop) drop(assigned map[string][]int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ps := range assigned {
		for _, p := range ps {
			if en := e.engines[p]; en != nil && en.Active() > 0 {
				e.r.log.Info("partition revoked: forgetting its rule state", "partition", p, "active_events", en.Active())
			}
			delete(e.engines, p)
			delete(e.last, p)
		}
	}
	e.syncActive()
}

func (e *engineLoop) revoked(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	e.lag.Forget(assigned)
	// Rebalances happen between polls (BlockRebalanceOnPoll): every record
	// handled so far is marked, so commit them before letting go.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		e.r.log.Warn("commit on revoke failed", "err", err)
	}
	e.drop(assigned)
}

func (e *engineLoop) lost(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	e.lag.Forget(assigned)
	e.drop(assigned)
}

// assigned warms up the state of newly assigned partitions (see warmup).
func (e *engineLoop) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	e.lag.Assigned(assigned)
	parts := assigned[e.r.deps.Kafka.Topics.KPIs]
	if e.r.cfg.Warmup <= 0 || len(parts) == 0 {
		return
	}
	start := time.Now()
	n, err := e.warmup(ctx, cl, parts)
	if err != nil {
		e.r.log.Warn("warm-up failed: partitions start with empty state", "partitions", parts, "err", err)
		e.r.m.dropped.inc(reasonWarmupFailed)
		return
	}
	e.r.log.Info("warm-up done", "partitions", parts, "kpis_replayed", n, "took", time.Since(start))
}

// warmup rebuilds the rule state of partitions this instance just got:
// it replays their KPIs from `warmup` ago up to the group's committed
// offset through fresh engines, discarding the transitions (the previous
// owner produced them). The engine being deterministic, an event that
// started within the warm-up window continues on this instance with the
// same id, and resolves or escalates as if nothing had happened.
//
// It uses the client the callback got: the group may assign partitions
// before newEngineLoop has stored its own client in e.cl.
func (e *engineLoop) warmup(ctx context.Context, cl *kgo.Client, parts []int32) (int, error) {
	r := e.r
	topic := r.deps.Kafka.Topics.KPIs
	ctx, cancel := context.WithTimeout(ctx, r.cfg.WarmupTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, r.cfg.GroupID)
	if err != nil {
		return 0, fmt.Errorf("fetch committed offsets: %w", err)
	}
	from, err := adm.ListOffsetsAfterMilli(ctx, time.Now().Add(-r.cfg.Warmup).UnixMilli(), topic)
	if err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	until := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	for _, p := range parts {
		c, ok := committed.Lookup(topic, p)
		f, ok2 := from.Lookup(topic, p)
		if !ok || !ok2 || c.Err != nil || f.Err != nil || c.At <= 0 || f.Offset >= c.At {
			continue
		}
		until[p] = c.At
		offsets[p] = kgo.NewOffset().At(f.Offset)
	}
	if len(until) == 0 {
		return 0, nil
	}
	rd, err := kgo.NewClient(append(slices.Clone(e.opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	rs := r.rules.Load().rules
	fresh := map[int32]*rules.Engine{}
	for p := range until {
		fresh[p] = r.newEngine(rs)
	}
	kd := wire.NewKPIDecoder()
	var out []*wirepb.RemediationEvent
	n := 0
	for len(until) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		fs.EachRecord(func(rec *kgo.Record) {
			end, ok := until[rec.Partition]
			if !ok || rec.Offset >= end {
				return
			}
			if k, err := kd.Decode(rec.Value); err == nil {
				out = fresh[rec.Partition].Observe(k, out[:0])
				n++
			}
			if rec.Offset >= end-1 {
				delete(until, rec.Partition)
			}
		})
	}
	e.mu.Lock()
	for p, en := range fresh {
		if e.engines[p] == nil {
			e.engines[p] = en
			e.last[p] = en.Counts()
		}
	}
	e.syncActive()
	e.mu.Unlock()
	return n, nil
}

// syncActive updates the active-event gauge (e.mu held).
func (e *engineLoop) syncActive() {
	n := 0
	for _, en := range e.engines {
		n += en.Active()
	}
	e.r.m.active.Store(int64(n))
}

func (e *engineLoop) run(ctx context.Context) {
	r := e.r
	var out []*wirepb.RemediationEvent
	var recs, dls []*kgo.Record
	kd := wire.NewKPIDecoder() // Observe keeps no pointer into the KPI
	lastExpire := time.Now()
	for {
		fetches := e.cl.PollFetches(ctx)
		if kafka.Closed(ctx, fetches) {
			e.cl.AllowRebalance()
			return
		}
		kafka.LogFetchErrors(r.log, fetches)
		recs, dls = recs[:0], dls[:0]
		e.mu.Lock()
		rs := r.rules.Load().rules
		fetches.EachRecord(func(rec *kgo.Record) {
			if s, _ := wire.SchemaOf(rec); len(s) > 0 && string(s) != wire.SchemaKPI {
				r.m.dropped.inc(reasonUnexpectedSchema)
				dls = append(dls, r.deadLetter(engineComponent, reasonUnexpectedSchema, errors.New("unexpected schema "+string(s)), rec))
				return
			}
			k, err := kd.Decode(rec.Value)
			if err == nil && k.Tenant != "" && !tenant.Valid(k.Tenant) {
				err = fmt.Errorf("%w: tenant %q: %w", wire.ErrMalformed, k.Tenant, tenant.CheckID(k.Tenant))
			}
			if err != nil {
				reason := reasonDecode
				if errors.Is(err, wire.ErrUnknownVersion) {
					reason = reasonUnknownVersion
				}
				r.m.dropped.inc(reason)
				dls = append(dls, r.deadLetter(engineComponent, reason, err, rec))
				return
			}
			en := e.engines[rec.Partition]
			if en == nil {
				en = r.newEngine(rs)
				e.engines[rec.Partition] = en
			}
			out = en.Observe(k, out[:0])
			r.m.kpis.add(1)
			e.newest = max(e.newest, k.GetWindowEndUnixNano())
			for _, ev := range out {
				if ev.Action != "" {
					if _, ok := r.webhookKeyFor(ev.Tenant, ev.Action); !ok {
						// a provider rule's webhook that neither this
						// tenant nor the provider has: the topic only
						ev.Action = ""
					}
				}
				state := rules.StateName(ev.State)
				r.m.transitions.inc(state)
				rr, err := r.remediationRecord(ev)
				if err != nil {
					r.log.Error("encode transition", "err", err)
					continue
				}
				recs = append(recs, rr)
				r.log.Info("remediation event", "event_id", ev.EventId, "state", state, "rule", ev.Rule,
					"message", ev.Message)
			}
		})
		for p, en := range e.engines {
			c, prev := en.Counts(), e.last[p]
			if d := c.SuppressedCooldown - prev.SuppressedCooldown; d > 0 {
				r.m.suppressed.add(reasonCooldown, d)
			}
			if d := c.SuppressedFlap - prev.SuppressedFlap; d > 0 {
				r.m.suppressed.add(reasonFlap, d)
			}
			if d := c.Stale - prev.Stale; d > 0 {
				r.m.dropped.add(reasonStaleWindow, d)
			}
			e.last[p] = c
		}
		if time.Since(lastExpire) > time.Minute && e.newest > 0 {
			for _, en := range e.engines {
				en.Expire(e.newest - int64(r.cfg.StateTTL))
			}
			lastExpire = time.Now()
		}
		e.syncActive()
		e.mu.Unlock()
		if len(recs) > 0 {
			// Transitions are on Kafka before the KPIs behind them are
			// marked: nothing is lost on a crash (a replay re-derives the
			// same event ids).
			if err := e.produce(ctx, recs); err != nil {
				e.cl.AllowRebalance()
				return
			}
		}
		if len(dls) > 0 {
			if err := e.produceDeadLetters(ctx, dls); err != nil {
				e.cl.AllowRebalance()
				return
			}
		}
		fetches.EachRecord(func(rec *kgo.Record) { e.cl.MarkCommitRecords(rec) })
		e.cl.AllowRebalance()
	}
}

// produce writes recs, retrying until it succeeds or ctx ends. While it
// fails, failingSince says since when (see Ready).
func (e *engineLoop) produce(ctx context.Context, recs []*kgo.Record) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := e.r.producer.ProduceSync(ctx, recs...).FirstErr()
		if err == nil {
			e.failingSince.Store(0)
			return nil
		}
		e.failingSince.CompareAndSwap(0, time.Now().UnixNano())
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.r.log.Error("produce transitions failed; retrying (KPIs not committed)", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// produceDeadLetters writes the poll's dead letters. One Kafka refuses for
// good (the producer retries the others without end) is accounted for by
// lostDeadLetter and its record handled all the same: it never holds the
// partition back. It fails only when ctx ends (the records are then not
// marked, and read again by the next owner).
func (e *engineLoop) produceDeadLetters(ctx context.Context, dls []*kgo.Record) error {
	for _, res := range e.r.producer.ProduceSync(ctx, dls...) {
		if res.Err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.r.lostDeadLetter(engineComponent, res.Record, res.Err)
	}
	return nil
}

func (e *engineLoop) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.cl.CommitMarkedOffsets(ctx)
	e.cl.Close()
	if err != nil {
		return fmt.Errorf("remediation engine: commit: %w", err)
	}
	return nil
}
