package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
)

// DefaultStallAfter is the stall-after of the consumers whose commits
// normally move every few seconds (the sink, the rules engine, the
// dispatcher).
const DefaultStallAfter = 2 * time.Minute

// Lag reports the true lag of a stage's consumers and tells when their
// commits stall. The lag of a partition is its log end offset minus the
// group's committed offset (its log start offset while the group has
// committed nothing): the records a restart would read again, whatever the
// consumer has fetched. It is asked of the brokers every interval (one
// offset fetch and one end-offset listing per group), for the partitions
// this member owns, so the sum over the members is the group's lag.
//
// A partition is stalled when its committed offset has not moved for
// stall-after while its lag stayed above 0 (a partition whose lag reaches 0
// is caught up, whatever its commits). The stage's Ready returns Stalled's
// error, so /readyz turns red, and turns green again at the first check
// that sees the commits move.
//
// Metrics, through the stage's Reporter:
// telemetry_<stage>_consumer_lag_records{topic} (summed over the member's
// partitions), telemetry_<stage>_consumer_stalled_partitions{topic} and
// telemetry_<stage>_consumer_stalls_total{topic} (partitions that became
// stalled).
type Lag struct {
	stallAfter time.Duration
	interval   time.Duration
	log        *slog.Logger
	lag        *prometheus.GaugeVec
	stalled    *prometheus.GaugeVec
	stalls     *prometheus.CounterVec

	mu     sync.Mutex
	groups []*GroupLag
}

// NewLag declares the consumer metrics of r's stage, with a series at 0
// for each of topics. A partition counts as stalled after stallAfter
// without a commit while it lags; the brokers are asked every
// stallAfter/8, at least every 5 s and at most every 50 ms.
func NewLag(r *component.Reporter, stallAfter time.Duration, topics ...string) *Lag {
	known := component.Values(topics...)
	return &Lag{
		stallAfter: stallAfter,
		interval:   min(max(stallAfter/8, 50*time.Millisecond), 5*time.Second),
		log:        r.Log,
		lag: r.GaugeVec("consumer_lag_records",
			"Records between the group's committed offset and the log end offset, summed over the partitions this member owns, per topic.",
			[]string{"topic"}, known...),
		stalled: r.GaugeVec("consumer_stalled_partitions",
			"Partitions of this member whose committed offset has not moved for stall-after while they lag, per topic.",
			[]string{"topic"}, known...),
		stalls: r.CounterVec("consumer_stalls_total",
			"Partitions that became stalled (committed offset unchanged for stall-after while lagging), per topic.",
			[]string{"topic"}, known...),
	}
}

// StallAfter is how long a lagging partition may go without a commit.
func (l *Lag) StallAfter() time.Duration { return l.stallAfter }

// Interval is how often Run asks the brokers.
func (l *Lag) Interval() time.Duration { return l.interval }

// Group returns the watcher of one consumer group of the stage. Call its
// Assigned and Forget from the group's partition callbacks, and Run once
// the client exists.
func (l *Lag) Group(group string) *GroupLag {
	g := &GroupLag{l: l, group: group, parts: map[string]map[int32]*partLag{}}
	l.mu.Lock()
	l.groups = append(l.groups, g)
	l.mu.Unlock()
	return g
}

// Stalled returns nil, or an error naming every stalled partition of the
// stage's groups (for Ready).
func (l *Lag) Stalled() error {
	l.mu.Lock()
	groups := slices.Clone(l.groups)
	l.mu.Unlock()
	var msgs []string
	for _, g := range groups {
		if s := g.stalledText(); s != "" {
			msgs = append(msgs, s)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// publish recomputes the gauges of topics from every group.
func (l *Lag) publish(topics map[string]bool) {
	l.mu.Lock()
	groups := slices.Clone(l.groups)
	l.mu.Unlock()
	lag := map[string]int64{}
	stalled := map[string]int{}
	for _, g := range groups {
		g.mu.Lock()
		for t, ps := range g.parts {
			for _, p := range ps {
				lag[t] += p.lag
				if p.stalled {
					stalled[t]++
				}
			}
		}
		g.mu.Unlock()
	}
	for t := range topics {
		l.lag.WithLabelValues(t).Set(float64(lag[t]))
		l.stalled.WithLabelValues(t).Set(float64(stalled[t]))
	}
}

// GroupLag watches the commits of one consumer group on the partitions
// this member owns.
type GroupLag struct {
	l     *Lag
	group string

	mu    sync.Mutex
	parts map[string]map[int32]*partLag
}

// partLag is what is known of one owned partition.
type partLag struct {
	known     bool  // a check has seen it
	committed int64 // -1: nothing committed
	lag       int64
	// movedAt is when the committed offset last moved, the lag was last
	// 0, or the partition was assigned: the stall clock's origin.
	movedAt time.Time
	stalled bool
}

// Assigned records partitions this member got (an OnPartitionsAssigned
// callback): each starts with a full stall-after to commit.
func (g *GroupLag) Assigned(m map[string][]int32) {
	now := time.Now()
	g.mu.Lock()
	for t, ps := range m {
		tp := g.parts[t]
		if tp == nil {
			tp = map[int32]*partLag{}
			g.parts[t] = tp
		}
		for _, p := range ps {
			if tp[p] == nil {
				tp[p] = &partLag{movedAt: now}
			}
		}
	}
	g.mu.Unlock()
}

// Forget drops partitions this member no longer owns (revoked or lost):
// their lag is the next owner's.
func (g *GroupLag) Forget(m map[string][]int32) {
	topics := map[string]bool{}
	g.mu.Lock()
	for t, ps := range m {
		for _, p := range ps {
			delete(g.parts[t], p)
		}
		topics[t] = true
	}
	g.mu.Unlock()
	g.l.publish(topics)
}

// Run checks every interval until ctx ends, through cl (the group's own
// client: it asks the brokers only, it does not consume). A check that
// fails (no broker answers) keeps what the last one knew.
func (g *GroupLag) Run(ctx context.Context, cl *kgo.Client) {
	t := time.NewTicker(g.l.interval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, max(g.l.interval, 5*time.Second))
		err := g.Check(cctx, cl)
		cancel()
		if err != nil && ctx.Err() == nil {
			g.l.log.Debug("consumer lag check failed", "group", g.group, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check asks the brokers once for the group's committed offsets and the
// end offsets of the owned partitions, and updates the lag, the stall
// state and the metrics.
func (g *GroupLag) Check(ctx context.Context, cl *kgo.Client) error {
	g.mu.Lock()
	var topics []string
	for t, ps := range g.parts {
		if len(ps) > 0 {
			topics = append(topics, t)
		}
	}
	g.mu.Unlock()
	if len(topics) == 0 {
		return nil
	}
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, g.group)
	if err != nil {
		return fmt.Errorf("fetch committed offsets of %s: %w", g.group, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	commitOf := func(t string, p int32) int64 {
		if o, ok := committed.Lookup(t, p); ok && o.Err == nil && o.At >= 0 {
			return o.At
		}
		return -1
	}
	// A partition without a commit lags from its log start offset.
	var starts kadm.ListedOffsets
	g.mu.Lock()
	need := false
	for t, ps := range g.parts {
		for p := range ps {
			need = need || commitOf(t, p) < 0
		}
	}
	g.mu.Unlock()
	if need {
		if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
			return fmt.Errorf("list start offsets: %w", err)
		}
	}
	now := time.Now()
	touched := map[string]bool{}
	g.mu.Lock()
	for t, ps := range g.parts {
		touched[t] = true
		for p, st := range ps {
			end, ok := ends.Lookup(t, p)
			if !ok || end.Err != nil {
				continue
			}
			c := commitOf(t, p)
			from := c
			if from < 0 {
				from = 0
				if s, ok := starts.Lookup(t, p); ok && s.Err == nil {
					from = s.Offset
				}
			}
			g.observe(t, p, st, c, max(end.Offset-from, 0), now)
		}
	}
	g.mu.Unlock()
	g.l.publish(touched)
	return nil
}

// observe updates one partition's state from a check (g.mu held).
func (g *GroupLag) observe(topic string, p int32, st *partLag, committed, lag int64, now time.Time) {
	if !st.known || committed != st.committed || lag == 0 {
		if st.known || lag == 0 {
			st.movedAt = now
		}
		st.known, st.committed = true, committed
	}
	st.lag = lag
	stalled := lag > 0 && now.Sub(st.movedAt) >= g.l.stallAfter
	switch {
	case stalled && !st.stalled:
		g.l.stalls.WithLabelValues(topic).Inc()
		g.l.log.Warn("consumer stalled: its committed offset has not moved while it lags",
			"group", g.group, "topic", topic, "partition", p, "committed", committed, "lag", lag,
			"since", st.movedAt.UTC().Format(time.RFC3339))
	case !stalled && st.stalled:
		g.l.log.Info("consumer commits again", "group", g.group, "topic", topic, "partition", p,
			"committed", committed, "lag", lag)
	}
	st.stalled = stalled
}

// stalledText describes the group's stalled partitions, "" if none.
func (g *GroupLag) stalledText() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	type sp struct {
		topic string
		p     int32
		st    partLag
	}
	var out []sp
	for t, ps := range g.parts {
		for p, st := range ps {
			if st.stalled {
				out = append(out, sp{t, p, *st})
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	slices.SortFunc(out, func(a, b sp) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.p - b.p)
	})
	const most = 8
	var parts []string
	for i, s := range out {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(out)-most))
			break
		}
		c := "nothing committed"
		if s.st.committed >= 0 {
			c = fmt.Sprintf("committed %d", s.st.committed)
		}
		parts = append(parts, fmt.Sprintf("%s/%d (lag %d, %s, unchanged for %s)", s.topic, s.p, s.st.lag, c,
			time.Since(s.st.movedAt).Round(time.Second)))
	}
	return fmt.Sprintf("consumer group %s stalled: %s", g.group, strings.Join(parts, ", "))
}
