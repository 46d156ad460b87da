package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Dependencies are what the sink needs from the outside.
type Dependencies struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Kafka is the kafka section (brokers, topics, TLS, SASL).
	Kafka *kafka.Configuration
}

// Stats is a snapshot of what the sink did.
type Stats struct {
	// Rows written (confirmed by ClickHouse) per table.
	Rows map[string]uint64
	// Records consumed from Kafka, per topic.
	Records map[string]uint64
	// Batches inserted, insert errors, retries of a failed flush.
	Batches, InsertErrors, Retries uint64
	// DeadLetters is the number of records the sink dead-lettered.
	DeadLetters uint64
	// Commits of Kafka offsets after a confirmed flush.
	Commits uint64
}

type metrics struct {
	rows         *prometheus.CounterVec
	records      *prometheus.CounterVec
	batches      *prometheus.CounterVec
	insertErrors *prometheus.CounterVec
	retries      prometheus.Counter
	deadLetters  *prometheus.CounterVec
	commits      prometheus.Counter
	commitErrors prometheus.Counter
	dropped      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetry_sink_rows_total",
			Help: "Rows written to ClickHouse (confirmed), per table."}, []string{"table"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetry_sink_records_total",
			Help: "Kafka records consumed, per topic."}, []string{"topic"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetry_sink_batches_total",
			Help: "Batches inserted into ClickHouse, per table."}, []string{"table"}),
		insertErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetry_sink_insert_errors_total",
			Help: "Failed batch inserts, per table."}, []string{"table"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "telemetry_sink_retries_total",
			Help: "Retries of a flush after a ClickHouse or Kafka error."}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telemetry_sink_deadletters_total",
			Help: "Records the sink could not store and dead-lettered, per reason."}, []string{"reason"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "telemetry_sink_commits_total",
			Help: "Kafka offset commits after a confirmed flush."}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "telemetry_sink_commit_errors_total",
			Help: "Failed Kafka offset commits (records will be replayed and deduplicated)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "telemetry_sink_retention_partitions_dropped_total",
			Help: "Partitions dropped by the retention step (servers without TTL)."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rows, m.records, m.batches, m.insertErrors, m.retries, m.deadLetters, m.commits, m.commitErrors, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register sink metrics: %w", err)
		}
	}
	return m, nil
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

	conn driver.Conn
	cl   *kgo.Client
	caps Capabilities

	bufs      *buffers
	sent      map[string]bool // tables of the pending flush already confirmed
	dls       []*kgo.Record   // dead letters to produce before the commit
	pending   int             // records polled since the last commit
	firstSeen map[string]time.Time

	// decoding scratch
	kpi    wirepb.KPI
	sample wirepb.Sample
	event  wirepb.RemediationEvent
	dead   wirepb.DeadLetter

	mu    sync.Mutex
	stats Stats

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

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
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	return &Sink{
		cfg: cfg, deps: deps, log: deps.Logger.With("component", "sink"), m: m,
		bufs: newBuffers(cfg.Database), sent: map[string]bool{}, firstSeen: map[string]time.Time{},
		stats: Stats{Rows: map[string]uint64{}, Records: map[string]uint64{}},
	}, nil
}

// Capabilities returns what Start found on the server.
func (s *Sink) Capabilities() Capabilities { return s.caps }

// Start connects to ClickHouse, migrates the schema, loads the devices'
// first_seen, joins the consumer group and consumes in the background.
func (s *Sink) Start(ctx context.Context) error {
	conn, err := Open(ctx, s.cfg)
	if err != nil {
		return err
	}
	s.conn = conn
	caps, err := Migrate(ctx, conn, s.cfg, s.log)
	if err != nil {
		_ = conn.Close()
		return err
	}
	s.caps = caps
	if err := s.loadFirstSeen(ctx); err != nil {
		_ = conn.Close()
		return err
	}
	opts, err := s.deps.Kafka.Opts()
	if err != nil {
		_ = conn.Close()
		return err
	}
	t := s.deps.Kafka.Topics
	opts = append(opts,
		kgo.ConsumerGroup(s.cfg.GroupID),
		kgo.ConsumeTopics(t.KPIs, t.Samples, t.Remediations, t.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.DefaultProduceTopic(t.DeadLetter),
		kgo.ProducerLinger(0),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("kafka client: %w", err)
	}
	s.cl = cl
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(1)
	go s.run(rctx)
	if !caps.TTL && s.retentionEnabled() {
		s.wg.Add(1)
		go s.retentionLoop(rctx)
	}
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
// are not committed: the next start replays them.
func (s *Sink) Stop() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	// Leaving the group revokes partitions: allow it (rebalances are
	// blocked between a poll and its commit).
	s.cl.CloseAllowingRebalance()
	err := s.conn.Close()
	s.cancel = nil
	s.log.Info("sink stopped")
	return err
}

// Ready reports whether ClickHouse answers (for /readyz).
func (s *Sink) Ready(ctx context.Context) error {
	if s.conn == nil {
		return errors.New("not started")
	}
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Rows = make(map[string]uint64, len(s.stats.Rows))
	for k, v := range s.stats.Rows {
		out.Rows[k] = v
	}
	out.Records = make(map[string]uint64, len(s.stats.Records))
	for k, v := range s.stats.Records {
		out.Records[k] = v
	}
	return out
}

func (s *Sink) loadFirstSeen(ctx context.Context) error {
	rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT site, device, min(first_seen) FROM %s.%s GROUP BY site, device", s.cfg.Database, TableDevices))
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
		s.firstSeen[site+"\x00"+device] = first.UTC()
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

// run is the consume loop: poll, decode into the table buffers, flush by
// size or time, commit after the flush.
func (s *Sink) run(ctx context.Context) {
	defer s.wg.Done()
	var flushAt time.Time
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if s.pending > 0 {
			pctx, cancel = context.WithDeadline(ctx, flushAt)
		}
		fetches := s.cl.PollRecords(pctx, s.cfg.BatchSize)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			// Final flush, bounded: what cannot be stored is not committed.
			fctx, fcancel := context.WithTimeout(context.Background(), s.cfg.FlushInterval+10*time.Second)
			if s.pending > 0 {
				if err := s.flush(fctx); err != nil {
					s.log.Warn("final flush failed; records will be replayed on restart", "err", err, "records", s.pending)
				}
			}
			fcancel()
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("kafka fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			if s.pending == 0 && n == 0 {
				flushAt = time.Now().Add(s.cfg.FlushInterval)
			}
			n++
			s.handle(r)
		})
		s.pending += n
		if s.pending == 0 {
			s.cl.AllowRebalance()
			continue
		}
		if s.bufs.rows()+len(s.dls) >= s.cfg.BatchSize || s.pending >= s.cfg.BatchSize || !time.Now().Before(flushAt) {
			if err := s.flush(ctx); err != nil {
				// Only on shutdown: the loop exits at the next poll.
				s.log.Warn("flush interrupted", "err", err)
			}
		}
	}
}

// handle decodes one record into the buffers, or dead-letters it.
func (s *Sink) handle(r *kgo.Record) {
	t := s.deps.Kafka.Topics
	s.m.records.WithLabelValues(r.Topic).Inc()
	s.mu.Lock()
	s.stats.Records[r.Topic]++
	s.mu.Unlock()
	want := ""
	switch r.Topic {
	case t.KPIs:
		want = wire.SchemaKPI
	case t.Samples:
		want = wire.SchemaSample
	case t.Remediations:
		want = wire.SchemaRemediation
	case t.DeadLetter:
		want = wire.SchemaDeadLetter
	}
	for _, h := range r.Headers {
		if h.Key == wire.SchemaHeader && string(h.Value) != want {
			s.deadLetter(r, "schema", fmt.Errorf("unexpected %s header %q on topic %s (want %q)", wire.SchemaHeader, h.Value, r.Topic, want))
			return
		}
	}
	var err error
	switch r.Topic {
	case t.KPIs:
		if err = wire.DecodeKPI(r.Value, &s.kpi); err == nil {
			s.bufs.addKPI(&s.kpi)
		}
	case t.Samples:
		if err = wire.DecodeSample(r.Value, &s.sample); err == nil {
			s.bufs.addSample(&s.sample, s.cfg.RawSamples, s.firstSeen)
		}
	case t.Remediations:
		if err = wire.DecodeRemediation(r.Value, &s.event); err == nil {
			s.bufs.addRemediation(&s.event)
		}
	case t.DeadLetter:
		if err = wire.DecodeDeadLetter(r.Value, &s.dead); err == nil {
			d := &s.dead
			ts := nanos(d.GetTimeUnixNano())
			if d.GetTimeUnixNano() == 0 {
				ts = r.Timestamp.UTC()
			}
			s.bufs.addDeadLetter(ts, d.GetComponent(), d.GetReason(), d.GetSourceTopic(), d.GetSourcePartition(), d.GetSourceOffset(), d.GetKey(), d.GetPayload())
		}
	default:
		err = fmt.Errorf("unexpected topic %s", r.Topic)
	}
	if err != nil {
		s.deadLetter(r, reasonLabel(err), err)
	}
}

func reasonLabel(err error) string {
	switch {
	case errors.Is(err, wire.ErrUnknownVersion):
		return "unknown-version"
	case errors.Is(err, wire.ErrEmpty):
		return "empty"
	case errors.Is(err, wire.ErrMalformed):
		return "malformed"
	}
	return "other"
}

// deadLetter sends a record the sink cannot store to the dead-letter topic
// (produced, and confirmed, before the batch's offsets are committed). A
// broken record on the dead-letter topic itself goes straight to the
// deadletters table, so it cannot loop.
func (s *Sink) deadLetter(r *kgo.Record, label string, cause error) {
	s.m.deadLetters.WithLabelValues(label).Inc()
	s.mu.Lock()
	s.stats.DeadLetters++
	s.mu.Unlock()
	now := time.Now().UTC()
	s.log.Debug("dead-lettering record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", cause)
	if r.Topic == s.deps.Kafka.Topics.DeadLetter {
		s.bufs.addDeadLetter(now, "sink", cause.Error(), r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		return
	}
	dl := &wirepb.DeadLetter{
		Reason: cause.Error(), Component: "sink", SourceTopic: r.Topic, SourcePartition: r.Partition,
		SourceOffset: r.Offset, Key: r.Key, Payload: r.Value, TimeUnixNano: now.UnixNano(),
	}
	v, err := wire.Marshal(nil, dl)
	if err != nil {
		// Cannot happen with a valid message; keep it in the table anyway.
		s.bufs.addDeadLetter(now, "sink", cause.Error(), r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		return
	}
	s.dls = append(s.dls, &kgo.Record{
		Topic: s.deps.Kafka.Topics.DeadLetter, Key: r.Key, Value: v,
		Headers: []kgo.RecordHeader{{Key: wire.SchemaHeader, Value: []byte(wire.SchemaDeadLetter)}},
	})
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

// flush inserts every buffered table (retrying the failed ones with the
// same rows until they succeed or ctx ends), produces the dead letters,
// then commits the offsets of every record polled so far.
func (s *Sink) flush(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := s.tryFlush(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return err
		}
		s.m.retries.Inc()
		s.mu.Lock()
		s.stats.Retries++
		s.mu.Unlock()
		wait := s.backoff(attempt)
		s.log.Warn("flush failed; retrying the same batch", "attempt", attempt, "in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	if err := s.cl.CommitUncommittedOffsets(ctx); err != nil {
		// The rows are stored: a replay is deduplicated by the tables.
		s.m.commitErrors.Inc()
		s.log.Warn("kafka commit failed; records will be replayed (deduplicated)", "err", err)
	} else {
		s.m.commits.Inc()
		s.mu.Lock()
		s.stats.Commits++
		s.mu.Unlock()
	}
	s.bufs.reset()
	clear(s.sent)
	s.dls = s.dls[:0]
	s.pending = 0
	s.cl.AllowRebalance()
	return nil
}

func (s *Sink) tryFlush(ctx context.Context) error {
	for _, tb := range s.bufs.order {
		if tb.rows == 0 || s.sent[tb.t.name] {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second+s.cfg.DialTimeout)
		err := tb.send(ictx, s.conn)
		cancel()
		if err != nil {
			s.m.insertErrors.WithLabelValues(tb.t.name).Inc()
			s.mu.Lock()
			s.stats.InsertErrors++
			s.mu.Unlock()
			return err
		}
		s.sent[tb.t.name] = true
		s.m.rows.WithLabelValues(tb.t.name).Add(float64(tb.rows))
		s.m.batches.WithLabelValues(tb.t.name).Inc()
		s.mu.Lock()
		s.stats.Rows[tb.t.name] += uint64(tb.rows)
		s.stats.Batches++
		s.mu.Unlock()
	}
	if len(s.dls) > 0 {
		if err := s.cl.ProduceSync(ctx, s.dls...).FirstErr(); err != nil {
			return fmt.Errorf("produce dead letters: %w", err)
		}
		s.dls = s.dls[:0]
	}
	return nil
}
