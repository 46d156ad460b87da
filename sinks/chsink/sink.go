package chsink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Stage is the sink's name: its metrics are telemetry_sink_*, its log
// lines carry component=sink, the dead letters it writes say component
// "sink".
const Stage = "sink"

// Dependencies are what the sink needs from the outside.
type Dependencies struct {
	// Logger is the process's logger; the sink adds component=sink (do
	// not add a component key yourself: it would be there twice).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Kafka is the kafka section (brokers, topics, TLS, SASL).
	Kafka *kafka.Configuration
	// KafkaOpts are extra franz-go options (tests: fast rebalances).
	KafkaOpts []kgo.Opt
}

// Stats is a snapshot of what the sink did, read from its metrics (so the
// two cannot differ). Its maps have a key for every label value of the
// matching metric, at 0 until the first event.
type Stats struct {
	// Rows written (confirmed by ClickHouse) per table:
	// telemetry_sink_rows_total{table}.
	Rows map[string]uint64
	// Records consumed from Kafka, per topic: telemetry_sink_records_total{topic}.
	Records map[string]uint64
	// Batches inserted (all tables), insert errors (all tables), retries
	// of a failed flush: telemetry_sink_batches_total,
	// telemetry_sink_insert_errors_total, telemetry_sink_retries_total.
	Batches, InsertErrors, Retries uint64
	// DeadLetters is the number of records the sink dead-lettered
	// (telemetry_sink_deadletters_total), DeadLetterReasons the same per
	// reason (DeadLetterReasons).
	DeadLetters       uint64
	DeadLetterReasons map[string]uint64
	// DeadLettersLost: dead letters Kafka refused for good, logged with
	// what they stood for and skipped (telemetry_sink_deadletters_lost_total).
	DeadLettersLost uint64
	// Commits of Kafka offsets after a confirmed flush, and failed ones:
	// telemetry_sink_commits_total, telemetry_sink_commit_errors_total.
	Commits, CommitErrors uint64
	// PartitionsDropped by the retention step of servers without TTL:
	// telemetry_sink_retention_partitions_dropped_total.
	PartitionsDropped uint64
}

// DeadLetterReasons are the reasons (label values of
// telemetry_sink_deadletters_total) the sink gives up on a record for:
// an unexpected schema header, an unknown wire version, an empty or
// malformed record, a row that does not fit its table's columns
// (ErrRowMismatch), a timestamp out of the range ClickHouse stores
// (ErrTimestampRange), a tenant that is not a tenant id (ErrTenant),
// anything else.
func DeadLetterReasons() []string {
	return []string{"schema", "unknown-version", "empty", "malformed", "columns", "timestamp", "tenant", "other"}
}

// metrics are the sink's metrics, declared through its Reporter. Stats
// reads them: they are the one count of what the sink did.
type metrics struct {
	rows         *prometheus.CounterVec
	records      *prometheus.CounterVec
	batches      *prometheus.CounterVec
	insertErrors *prometheus.CounterVec
	retries      prometheus.Counter
	deadLetters  *prometheus.CounterVec
	lostDLs      prometheus.Counter
	commits      prometheus.Counter
	commitErrors prometheus.Counter
	dropped      prometheus.Counter

	// label values known in advance: every series exists from the start
	tables, topics, reasons []string
	// recordsOf is records' series per topic, resolved once (the poll
	// loop adds to it without a label lookup).
	recordsOf map[string]prometheus.Counter
}

// newMetrics declares the sink's metrics through r, with a series at 0 for
// every table, topic and dead-letter reason: a healthy sink shows "0
// insert errors", not "No data".
func newMetrics(r *component.Reporter, topics []string) (*metrics, error) {
	tables := schema.Names()
	reasons := DeadLetterReasons()
	m := &metrics{
		rows:         r.CounterVec("rows_total", "Rows written to ClickHouse (confirmed), per table.", []string{"table"}, component.Values(tables...)...),
		records:      r.CounterVec("records_total", "Kafka records consumed, per topic.", []string{"topic"}, component.Values(topics...)...),
		batches:      r.CounterVec("batches_total", "Batches inserted into ClickHouse, per table.", []string{"table"}, component.Values(tables...)...),
		insertErrors: r.CounterVec("insert_errors_total", "Failed batch inserts, per table.", []string{"table"}, component.Values(tables...)...),
		retries:      r.Counter("retries_total", "Retries of a flush after a ClickHouse or Kafka error."),
		deadLetters:  r.CounterVec("deadletters_total", "Records the sink could not store and dead-lettered, per reason.", []string{"reason"}, component.Values(reasons...)...),
		lostDLs:      r.Counter("deadletters_lost_total", "Dead letters Kafka refused for good: logged with the source record's coordinates, sizes and SHA-256, and skipped."),
		commits:      r.Counter("commits_total", "Kafka offset commits after a confirmed flush."),
		commitErrors: r.Counter("commit_errors_total", "Failed Kafka offset commits (records will be replayed and deduplicated)."),
		dropped:      r.Counter("retention_partitions_dropped_total", "Partitions dropped by the retention step (servers without TTL)."),
		tables:       tables, topics: topics, reasons: reasons,
		recordsOf: map[string]prometheus.Counter{},
	}
	for _, t := range topics {
		m.recordsOf[t] = m.records.WithLabelValues(t)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register %w", err)
	}
	return m, nil
}

// addRecords counts n records consumed from topic.
func (m *metrics) addRecords(topic string, n int) {
	c, ok := m.recordsOf[topic]
	if !ok {
		c = m.records.WithLabelValues(topic)
	}
	c.Add(float64(n))
}

func counterValue(c prometheus.Counter) uint64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	return uint64(d.GetCounter().GetValue())
}

// stats reads the counters.
func (m *metrics) stats() Stats {
	st := Stats{Rows: map[string]uint64{}, Records: map[string]uint64{}, DeadLetterReasons: map[string]uint64{},
		Retries: counterValue(m.retries), Commits: counterValue(m.commits), CommitErrors: counterValue(m.commitErrors),
		DeadLettersLost:   counterValue(m.lostDLs),
		PartitionsDropped: counterValue(m.dropped)}
	for _, t := range m.tables {
		st.Rows[t] = counterValue(m.rows.WithLabelValues(t))
		st.Batches += counterValue(m.batches.WithLabelValues(t))
		st.InsertErrors += counterValue(m.insertErrors.WithLabelValues(t))
	}
	for t, c := range m.recordsOf {
		st.Records[t] = counterValue(c)
	}
	for _, r := range m.reasons {
		n := counterValue(m.deadLetters.WithLabelValues(r))
		st.DeadLetterReasons[r] = n
		st.DeadLetters += n
	}
	return st
}

// Sink consumes the kpis, samples, remediations and deadletter topics and
// writes them to ClickHouse in batches. Offsets are committed only after
// ClickHouse confirmed every row of the batch; a failed insert is retried
// with exponential back-off, consumption pausing meanwhile.
type Sink struct {
	cfg  Configuration
	deps Dependencies
	log  *slog.Logger
	m    *metrics
	lag  *kafka.Lag
	glag *kafka.GroupLag

	conn driver.Conn
	cl   *kgo.Client
	caps Capabilities

	cur       *batch           // being filled by the poll loop
	free      chan *batch      // batches the flusher is done with
	flushCh   chan *batch      // full batches, to the flusher (unbuffered)
	firstSeen map[string]int64 // site\x00device → first seen, Unix ns

	// flushCtx ends the flusher's retries; cancelled by Stop after a grace period.
	flushCtx    context.Context
	flushCancel context.CancelFunc

	// decoding scratch
	kpis    *wire.KPIDecoder    // aliasing: strings point into the record until copied into the buffers
	samples *wire.SampleDecoder // aliasing, likewise
	event   wirepb.RemediationEvent
	dead    wirepb.DeadLetter

	// life serialises Start and Stop; running (set once Start succeeded,
	// cleared by Stop) is read without it by Ready.
	life     sync.Mutex
	started  bool
	stopped  bool
	running  atomic.Bool
	stopOnce component.Once

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ component.Component = (*Sink)(nil)
	_ component.Readier   = (*Sink)(nil)
)

// New builds the sink; it connects nothing (Start does).
func New(cfg Configuration, deps Dependencies) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if deps.Kafka == nil {
		return nil, errors.New("clickhouse sink: Dependencies.Kafka is required")
	}
	if err := deps.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	r := component.NewReporter(Stage, deps.Logger, deps.Registerer)
	t := deps.Kafka.Topics
	m, err := newMetrics(r, []string{t.KPIs, t.Samples, t.Remediations, t.DeadLetter})
	if err != nil {
		return nil, err
	}
	lag := kafka.NewLag(r, cfg.StallAfter, t.KPIs, t.Samples, t.Remediations, t.DeadLetter)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("register %w", err)
	}
	return &Sink{
		cfg: cfg, deps: deps, log: r.Log, m: m,
		firstSeen: map[string]int64{},
		samples:   wire.NewAliasingSampleDecoder(),
		kpis:      wire.NewAliasingKPIDecoder(),
		lag:       lag,
		glag:      lag.Group(cfg.GroupID),
	}, nil
}

// Capabilities returns what Start found on the server.
func (s *Sink) Capabilities() Capabilities { return s.caps }

// Start connects to ClickHouse, migrates the schema, loads the devices'
// first_seen, joins the consumer group (creating the pipeline's topics
// when missing) and consumes in the background. ctx bounds the start-up
// only: the sink runs until Stop, whatever becomes of ctx. A sink starts
// once: a Start after a Start or a Stop is an error.
func (s *Sink) Start(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	switch {
	case s.stopped:
		return errors.New("sink: stopped")
	case s.started:
		return errors.New("sink: already started")
	}
	conn, err := Open(ctx, s.cfg)
	if err != nil {
		return err
	}
	caps, err := Migrate(ctx, conn, s.cfg, s.log)
	if err != nil {
		_ = conn.Close()
		return err
	}
	s.conn, s.caps = conn, caps
	if err := s.loadFirstSeen(ctx); err != nil {
		_ = conn.Close()
		return err
	}
	t := s.deps.Kafka.Topics
	opts := []kgo.Opt{
		kgo.ConsumerGroup(s.cfg.GroupID),
		kgo.ConsumeTopics(t.KPIs, t.Samples, t.Remediations, t.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Offsets are committed by the flusher, per batch, once ClickHouse
		// confirmed it. A rebalance may hand a partition over with a batch
		// in flight: the new owner replays it and the tables deduplicate.
		kgo.DisableAutoCommit(),
		kgo.DefaultProduceTopic(t.DeadLetter),
		kgo.ProducerLinger(0),
		// Large fetches: while a batch is being inserted the client buffers
		// one fetch per broker; make it big enough for the next batch.
		kgo.FetchMaxBytes(64 << 20),
		kgo.FetchMaxPartitionBytes(16 << 20),
		// The lag is of the partitions this member owns, so the sum over
		// members is the group's.
		kgo.OnPartitionsAssigned(s.assignedLag),
		kgo.OnPartitionsRevoked(s.forgetLag),
		kgo.OnPartitionsLost(s.forgetLag),
	}
	// The dead-letter topic must exist to produce to it: the client
	// creates the pipeline's topics when missing (bounded in time; without
	// the right to, it goes on).
	cl, err := s.deps.Kafka.NewClient(ctx, s.log, append(opts, s.deps.KafkaOpts...)...)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("sink: %w", err)
	}
	s.cl = cl
	// One batch filled by the poll loop while inFlight others are inserted.
	s.free = make(chan *batch, inFlight+1)
	for range inFlight {
		s.free <- s.newBatch()
	}
	s.cur = s.newBatch()
	s.flushCh = make(chan *batch)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.flushCtx, s.flushCancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Add(3)
	go s.run(rctx)
	go s.flusher(s.store, s.commit)
	go func() { defer s.wg.Done(); s.glag.Run(rctx, cl) }()
	if !caps.TTL && s.retentionEnabled() {
		s.wg.Add(1)
		go s.retentionLoop(rctx)
	}
	s.started = true
	s.running.Store(true)
	s.log.Info("sink started", "database", s.cfg.Database, "group", s.cfg.GroupID,
		"topics", []string{t.KPIs, t.Samples, t.Remediations, t.DeadLetter}, "raw_samples", s.cfg.RawSamples,
		"batch_size", s.cfg.BatchSize, "flush_interval", s.cfg.FlushInterval)
	return nil
}

func (s *Sink) retentionEnabled() bool {
	return s.cfg.RetentionDays > 0 || s.cfg.RawRetentionDays > 0 || s.cfg.RollupRetentionDays > 0
}

// Stop flushes what is buffered (bounded in time), commits, leaves the
// group and closes the connections. Records not confirmed by ClickHouse
// are not committed: the next start replays them. Stop is idempotent,
// safe concurrently and without a Start; every call returns the first
// one's error.
func (s *Sink) Stop() error {
	return s.stopOnce.Do(s.stop)
}

func (s *Sink) stop() error {
	s.life.Lock()
	defer s.life.Unlock()
	s.stopped = true
	if !s.started {
		return nil
	}
	s.running.Store(false)
	s.cancel()
	// The last batches get a grace period to reach ClickHouse; what does
	// not is not committed and is replayed by the next start.
	grace := time.AfterFunc(s.cfg.FlushInterval+10*time.Second, s.flushCancel)
	s.wg.Wait()
	grace.Stop()
	s.flushCancel()
	s.cl.Close()
	err := s.conn.Close()
	s.log.Info("sink stopped")
	return err
}

// Ready reports whether the sink runs, no partition it owns is stalled
// (its committed offset unchanged for stall-after while it lags: a batch
// ClickHouse keeps refusing; the error names the partitions) and
// ClickHouse answers (for /readyz).
func (s *Sink) Ready(ctx context.Context) error {
	if !s.running.Load() {
		return errors.New("not running")
	}
	if err := s.lag.Stalled(); err != nil {
		return err
	}
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Sink) Stats() Stats { return s.m.stats() }

func (s *Sink) loadFirstSeen(ctx context.Context) error {
	rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT site, device, min(first_seen) FROM %s.%s GROUP BY site, device", s.cfg.Database, schema.Devices))
	if err != nil {
		return fmt.Errorf("load devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var site, device string
		var first time.Time
		if err := rows.Scan(&site, &device, &first); err != nil {
			return fmt.Errorf("load devices: %w", err)
		}
		s.firstSeen[site+"\x00"+device] = first.UnixNano()
	}
	return rows.Err()
}

func (s *Sink) retentionLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RetentionInterval)
	defer t.Stop()
	for {
		n, err := ApplyRetention(ctx, s.conn, s.caps, s.cfg, time.Now(), s.log)
		s.m.dropped.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("retention step failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// batch is what one flush stores and commits: rows per table, dead
// letters to produce, and the offsets to commit once both are confirmed.
type batch struct {
	bufs    *buffers
	sent    map[string]bool // tables already confirmed (not re-sent on retry)
	dls     []*kgo.Record
	offsets map[string]map[int32]kgo.EpochOffset
	records int
	flushAt time.Time
}

// newBatch is a batch of the sink's database and default tenant.
func (s *Sink) newBatch() *batch {
	b := newBatch(s.cfg.Database)
	b.bufs.defaultTenant = defaultTenant(s.cfg)
	return b
}

func newBatch(db string) *batch {
	return &batch{bufs: newBuffers(db), sent: map[string]bool{}, offsets: map[string]map[int32]kgo.EpochOffset{}}
}

func (b *batch) reset() {
	b.bufs.reset()
	clear(b.sent)
	clear(b.dls)
	b.dls = b.dls[:0]
	clear(b.offsets)
	b.records = 0
}

// track adds records of one partition, in offset order, to the batch.
func (b *batch) track(recs []*kgo.Record) {
	last := recs[len(recs)-1]
	p := b.offsets[last.Topic]
	if p == nil {
		p = map[int32]kgo.EpochOffset{}
		b.offsets[last.Topic] = p
	}
	p[last.Partition] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
	b.records += len(recs)
}

// run is the consume loop: poll, decode into the current batch, hand it
// to the flusher by size or time. While the flusher is busy (ClickHouse
// slow or down) the hand-over blocks and consumption pauses.
func (s *Sink) run(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.flushCh)
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if s.cur.records > 0 {
			pctx, cancel = context.WithDeadline(ctx, s.cur.flushAt)
		}
		fetches := s.cl.PollRecords(pctx, s.cfg.BatchSize-s.cur.bufs.rows())
		cancel()
		if kafka.Closed(ctx, fetches) {
			if s.cur.records > 0 {
				// Final batch: handed over unless the grace period ends first.
				select {
				case s.flushCh <- s.cur:
				case <-s.flushCtx.Done():
				}
			}
			return
		}
		kafka.LogFetchErrors(s.log, fetches)
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			if s.cur.records == 0 {
				s.cur.flushAt = time.Now().Add(s.cfg.FlushInterval)
			}
			s.cur.track(p.Records)
			s.handle(p.Topic, p.Records)
			s.m.addRecords(p.Topic, len(p.Records))
		})
		if s.cur.records == 0 {
			continue
		}
		if s.cur.bufs.rows()+len(s.cur.dls) >= s.cfg.BatchSize || s.cur.records >= s.cfg.BatchSize || !time.Now().Before(s.cur.flushAt) {
			select {
			case s.flushCh <- s.cur:
			case <-ctx.Done():
				// Stopping while the flusher is stuck: this batch is not
				// committed; the next start replays it.
				return
			}
			select {
			case s.cur = <-s.free:
			case <-ctx.Done():
				return
			}
		}
	}
}

// inFlight is how many batches the flusher inserts at once: the next
// batch streams to the server while it still writes the previous one
// (sorting, the part, the rollup views), which is where an insert spends
// most of its time. Offsets are still committed in batch order.
const inFlight = 2

// flusher stores the batches, up to inFlight at a time (each insert
// retrying on its own), and commits their offsets strictly in order: a
// batch's offsets only after it and every batch before it are stored.
// store and commit are s.store and s.commit (parameters for the tests of
// the ordering).
func (s *Sink) flusher(store func(context.Context, *batch) error, commit func(context.Context, *batch)) {
	defer s.wg.Done()
	type pending struct {
		b    *batch
		done chan error
	}
	var q []pending
	failed := false // a batch was not stored: commit nothing after it
	complete := func(err error) {
		b := q[0].b
		q = q[1:]
		switch {
		case err != nil:
			failed = true
			s.log.Warn("batch not stored before shutdown; it will be replayed on restart", "err", err, "records", b.records)
		case failed:
			s.log.Warn("batch stored but not committed, an earlier one was not stored; it will be replayed (deduplicated)", "records", b.records)
		default:
			commit(s.flushCtx, b)
		}
		b.reset()
		s.free <- b
	}
	in := s.flushCh
	for in != nil || len(q) > 0 {
		var oldest chan error
		if len(q) > 0 {
			oldest = q[0].done
		}
		next := in
		if len(q) == inFlight {
			next = nil
		}
		select {
		case b, ok := <-next:
			if !ok {
				in = nil
				continue
			}
			done := make(chan error, 1)
			go func() { done <- store(s.flushCtx, b) }()
			q = append(q, pending{b, done})
		case err := <-oldest:
			complete(err)
		}
	}
}

// assignedLag starts watching the commits of partitions this member got.
func (s *Sink) assignedLag(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.glag.Assigned(m)
}

// forgetLag stops watching partitions this member no longer owns.
func (s *Sink) forgetLag(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.glag.Forget(m)
}

// handle decodes records of one topic into the current batch; a record it
// cannot store is dead-lettered.
func (s *Sink) handle(topic string, recs []*kgo.Record) {
	t := s.deps.Kafka.Topics
	var want string
	var add func(r *kgo.Record) error
	switch topic {
	case t.KPIs:
		want, add = wire.SchemaKPI, s.addKPI
	case t.Samples:
		want, add = wire.SchemaSample, s.addSample
	case t.Remediations:
		want, add = wire.SchemaRemediation, s.addRemediation
	case t.DeadLetter:
		want, add = wire.SchemaDeadLetter, s.addDeadLetter
	default:
		add = func(*kgo.Record) error { return fmt.Errorf("unexpected topic %s", topic) }
	}
	for _, r := range recs {
		if h, ok := wire.SchemaOf(r); ok && string(h) != want {
			s.deadLetter(r, "schema", fmt.Errorf("unexpected %s header %q on topic %s (want %q)", wire.SchemaHeader, h, r.Topic, want))
			continue
		}
		if err := add(r); err != nil {
			s.deadLetter(r, reasonLabel(err), err)
		}
	}
}

func (s *Sink) addKPI(r *kgo.Record) error {
	k, err := s.kpis.Decode(r.Value)
	if err != nil {
		return err
	}
	return s.cur.bufs.addKPI(k)
}

func (s *Sink) addSample(r *kgo.Record) error {
	sm, err := s.samples.Decode(r.Value)
	if err != nil {
		return err
	}
	return s.cur.bufs.addSample(sm, s.cfg.RawSamples, s.firstSeen)
}

func (s *Sink) addRemediation(r *kgo.Record) error {
	if err := wire.DecodeRemediation(r.Value, &s.event); err != nil {
		return err
	}
	return s.cur.bufs.addRemediation(&s.event)
}

func (s *Sink) addDeadLetter(r *kgo.Record) error {
	d := &s.dead
	if err := wire.DecodeDeadLetter(r.Value, d); err != nil {
		return err
	}
	ts := d.GetTimeUnixNano()
	if ts == 0 {
		ts = r.Timestamp.UnixNano()
	}
	return s.cur.bufs.addTenantDeadLetter(d.GetTenant(), ts, d.GetComponent(), d.GetReason(), d.GetSourceTopic(), d.GetSourcePartition(), d.GetSourceOffset(), d.GetKey(), d.GetPayload())
}

func reasonLabel(err error) string {
	switch {
	case errors.Is(err, wire.ErrUnknownVersion):
		return "unknown-version"
	case errors.Is(err, wire.ErrEmpty):
		return "empty"
	case errors.Is(err, wire.ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrRowMismatch):
		return "columns"
	case errors.Is(err, ErrTimestampRange):
		return "timestamp"
	case errors.Is(err, ErrTenant):
		return "tenant"
	}
	return "other"
}

// deadLetter sends a record the sink cannot store to the dead-letter topic
// (produced, and confirmed, before the batch's offsets are committed). A
// broken record on the dead-letter topic itself goes straight to the
// deadletters table, so it cannot loop.
func (s *Sink) deadLetter(r *kgo.Record, label string, cause error) {
	s.m.deadLetters.WithLabelValues(label).Inc()
	now := time.Now()
	s.log.Debug("dead-lettering record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", cause)
	if r.Topic != s.deps.Kafka.Topics.DeadLetter {
		s.cur.dls = append(s.cur.dls, wire.DeadLetterRecord(s.deps.Kafka.Topics.DeadLetter, Stage, cause, r, now))
		return
	}
	d := wire.DeadLetter(Stage, cause, r, now)
	if err := s.cur.bufs.addTenantDeadLetter(d.GetTenant(), d.GetTimeUnixNano(), d.GetComponent(), d.GetReason(), d.GetSourceTopic(),
		d.GetSourcePartition(), d.GetSourceOffset(), d.GetKey(), d.GetPayload()); err != nil {
		// The deadletters table refuses the row (a build whose row builder
		// and schema disagree): nowhere left to keep it but the log.
		s.log.Error("dead letter dropped: its row does not fit the deadletters table", "topic", r.Topic,
			"partition", r.Partition, "offset", r.Offset, "reason", cause, "err", err)
	}
}

// backoff returns the wait before retry attempt n (1-based): exponential
// from 100 ms, capped, with jitter.
func (s *Sink) backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < s.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxRetryBackoff)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// store inserts every table of b and produces its dead letters, retrying
// what failed (the same rows; tables already inserted are not sent again)
// with back-off until it all succeeds or ctx ends. The flusher commits the
// offsets.
func (s *Sink) store(ctx context.Context, b *batch) error {
	for attempt := 1; ; attempt++ {
		err := s.tryFlush(ctx, b)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		s.m.retries.Inc()
		wait := s.backoff(attempt)
		s.log.Warn("flush failed; retrying the same batch", "attempt", attempt, "in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// commit commits a stored batch's offsets.
func (s *Sink) commit(ctx context.Context, b *batch) {
	if err := kafka.CommitSync(ctx, s.cl, b.offsets); err != nil {
		// The rows are stored: a replay is deduplicated by the tables.
		s.m.commitErrors.Inc()
		s.log.Warn("kafka commit failed; records will be replayed (deduplicated)", "err", err)
		return
	}
	s.m.commits.Inc()
}

func (s *Sink) tryFlush(ctx context.Context, b *batch) error {
	for _, tb := range b.bufs.order {
		if tb.rows == 0 || b.sent[tb.t.Name] {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second+s.cfg.DialTimeout)
		err := tb.send(ictx, s.conn)
		cancel()
		if err != nil {
			s.m.insertErrors.WithLabelValues(tb.t.Name).Inc()
			return err
		}
		b.sent[tb.t.Name] = true
		s.m.rows.WithLabelValues(tb.t.Name).Add(float64(tb.rows))
		s.m.batches.WithLabelValues(tb.t.Name).Inc()
	}
	if len(b.dls) > 0 {
		return s.produceDeadLetters(ctx, b)
	}
	return nil
}

// produceDeadLetters produces the batch's dead letters. One Kafka refuses
// for good (the client retries the others without end) is logged with
// what it stood for, counted and dropped: its record is accounted for and
// never holds the partition back. Those not sent because ctx ended stay,
// for the next attempt.
func (s *Sink) produceDeadLetters(ctx context.Context, b *batch) error {
	res := s.cl.ProduceSync(ctx, b.dls...)
	var again []*kgo.Record
	var first error
	for _, r := range res {
		switch {
		case r.Err == nil:
		case ctx.Err() != nil || errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded) || errors.Is(r.Err, kgo.ErrClientClosed):
			again = append(again, r.Record)
			first = cmp.Or(first, r.Err)
		default:
			s.m.lostDLs.Inc()
			kafka.LogLostDeadLetter(s.log, r.Record, r.Err)
		}
	}
	clear(b.dls)
	b.dls = append(b.dls[:0], again...)
	if first != nil {
		return fmt.Errorf("produce dead letters: %w", first)
	}
	return nil
}
