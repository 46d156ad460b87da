package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// dropReason is why a record handed to the producer was not stored (the
// reason label of telemetry_collector_samples_dropped_total, a key of
// Stats.Dropped). Every reason but unconfirmed is a certain loss.
type dropReason uint8

const (
	dropBufferFull dropReason = iota
	// dropDeliveryFailed: Kafka refused the record (an error the client
	// does not retry: too large, not authorized, ...).
	dropDeliveryFailed
	// dropShutdown: stopped while waiting for room in the buffer; the
	// record never reached the Kafka client.
	dropShutdown
	dropMarshal
	// dropUnconfirmed: handed to the Kafka client but not acknowledged
	// within delivery-timeout, or when Stop gave up flushing
	// (flush-timeout). Its fate is unknown: the client then fails the
	// records it holds, those of a request already on the wire too, and a
	// broker that was only hung writes that request when it runs again. So
	// the count is an upper bound of what was lost.
	dropUnconfirmed
	// dropTenantRate: over the tenant's max-samples-per-second (dropped
	// before the producer, counted as handed to it).
	dropTenantRate
	numDropReasons
)

// dropReasonNames is the one list of drop reasons: the metric's label
// values and the keys of Stats.Dropped are both made from it.
var dropReasonNames = [numDropReasons]string{
	dropBufferFull:     "buffer_full",
	dropDeliveryFailed: "delivery_failed",
	dropShutdown:       "shutdown",
	dropMarshal:        "marshal",
	dropUnconfirmed:    "unconfirmed",
	dropTenantRate:     "tenant_rate",
}

func (r dropReason) String() string { return dropReasonNames[r] }

// DropReasons returns the reasons a record is dropped for: the label
// values of telemetry_collector_samples_dropped_total and the keys of
// Stats.Dropped.
func DropReasons() []string { return append([]string(nil), dropReasonNames[:]...) }

// producer puts samples on the samples topic: batched, compressed,
// idempotent, acks=all, and bounded. At most Buffer.MaxRecords records
// (and about Buffer.MaxBytes bytes) wait for Kafka; a sender finding the
// buffer full waits up to Buffer.MaxBlock (a slow Kafka slows the gNMI
// reads down), then drops and counts.
type producer struct {
	cl       *kgo.Client
	topic    string
	sem      chan struct{}
	maxBytes int64
	maxBlock time.Duration
	m        *metrics
	t        *tally
	log      *slog.Logger
	limiter  component.LogLimiter

	pool    sync.Pool
	headers map[string][]kgo.RecordHeader // by tenant; read-only
	promise func(*kgo.Record, error)

	bytes    atomic.Int64
	inflight sync.WaitGroup
}

// sendState is one sender's (session's) view of the buffer: whether it is
// overflowing (then it drops without waiting until space frees), and its
// reusable timer.
type sendState struct {
	overflow bool
	timer    *time.Timer
}

func newSendState() *sendState {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &sendState{timer: t}
}

// newProducer creates the producer's Kafka client from the kafka section's
// options. It does not create the pipeline's topics (kafka.NewClient does):
// a collector only writes to the samples topic, often with a principal
// allowed to do nothing else, and `telemetry collect --create-topics`
// creates them when asked. The client connects lazily: nothing here waits
// for the brokers.
func newProducer(cfg Configuration, kc *kafka.Configuration, m *metrics, t *tally, log *slog.Logger,
	tenants map[string]*tenantState) (*producer, error) {
	opts, err := kc.Opts()
	if err != nil {
		return nil, err
	}
	opts = append(opts, kafka.WithLogger(log))
	var codec kgo.CompressionCodec
	switch cfg.Compression {
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	default:
		codec = kgo.NoCompression()
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(kc.Topics.Samples),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent writes are on by default and need acks=all
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		// Our own semaphore is the bound; kgo's is a backstop that never blocks first.
		kgo.MaxBufferedRecords(2*cfg.Buffer.MaxRecords+16),
	)
	if cfg.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	p := &producer{
		cl:       cl,
		topic:    kc.Topics.Samples,
		sem:      make(chan struct{}, cfg.Buffer.MaxRecords),
		maxBytes: int64(cfg.Buffer.MaxBytes),
		maxBlock: cfg.Buffer.MaxBlock,
		m:        m,
		t:        t,
		log:      log,
		limiter:  component.LogLimiter{Period: time.Minute},
		headers:  make(map[string][]kgo.RecordHeader, len(tenants)),
	}
	for _, ts := range tenants {
		p.headers[ts.stamp] = ts.headers
	}
	p.pool.New = func() any { return &kgo.Record{} }
	p.promise = p.done
	return p, nil
}

// drop counts n records dropped for reason, in Stats and in the metric.
func (p *producer) drop(reason dropReason, n uint64) {
	p.t.drop(p.m, reason, n)
}

// acquire takes a buffer slot for one record of size bytes.
func (p *producer) acquire(ctx context.Context, st *sendState, size int) bool {
	select {
	case p.sem <- struct{}{}:
		if p.bytes.Load()+int64(size) <= p.maxBytes {
			st.overflow = false
			return true
		}
		<-p.sem
	default:
	}
	if st.overflow || p.maxBlock == 0 {
		return false
	}
	deadline := time.Now().Add(p.maxBlock)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			st.overflow = true
			return false
		}
		if wait > 10*time.Millisecond && p.bytes.Load()+int64(size) > p.maxBytes {
			wait = 10 * time.Millisecond // bytes bound: poll
		}
		st.timer.Reset(wait)
		select {
		case p.sem <- struct{}{}:
			st.timer.Stop()
			if p.bytes.Load()+int64(size) <= p.maxBytes {
				st.overflow = false
				return true
			}
			<-p.sem
			select {
			case <-ctx.Done():
				return false
			case <-time.After(time.Millisecond):
			}
		case <-st.timer.C:
		case <-ctx.Done():
			st.timer.Stop()
			return false
		}
	}
}

// produce marshals s and hands it to Kafka; false when it was dropped
// (and counted).
func (p *producer) produce(ctx context.Context, s *wirepb.Sample, st *sendState) bool {
	r := p.pool.Get().(*kgo.Record)
	key, val := r.Key[:0], r.Value[:0]
	*r = kgo.Record{}
	var err error
	val, err = wire.AppendSample(val, s)
	if err != nil {
		p.drop(dropMarshal, 1)
		p.pool.Put(r)
		return false
	}
	return p.send(ctx, r, wire.SampleKey(key, s), val, p.headersOf(s.Tenant), st)
}

// headersOf returns the headers of a sample whose tenant field is tenant:
// shared, for the tenants of the configuration.
func (p *producer) headersOf(tenant string) []kgo.RecordHeader {
	if h, ok := p.headers[tenant]; ok {
		return h
	}
	return wire.TenantHeaders(wire.SchemaSample, tenant)
}

// produceValue hands an encoded sample (a record value of the samples
// topic) of tenant and its key to Kafka, as produce (the edge's batches
// that no module changed: encoded once).
func (p *producer) produceValue(ctx context.Context, key, val []byte, tenant string, st *sendState) bool {
	r := p.pool.Get().(*kgo.Record)
	k, v := append(r.Key[:0], key...), append(r.Value[:0], val...)
	*r = kgo.Record{}
	return p.send(ctx, r, k, v, p.headersOf(tenant), st)
}

// send hands the pooled record r with key, val and headers to Kafka once
// the buffer has room; false when it was dropped (and counted).
func (p *producer) send(ctx context.Context, r *kgo.Record, key, val []byte, headers []kgo.RecordHeader, st *sendState) bool {
	if !p.acquire(ctx, st, len(val)) {
		reason := dropBufferFull
		if ctx.Err() != nil {
			reason = dropShutdown
		}
		p.drop(reason, 1)
		r.Key, r.Value = key, val
		p.pool.Put(r)
		return false
	}
	r.Key = key
	r.Value = val
	r.Topic = p.topic
	r.Headers = headers
	p.bytes.Add(int64(len(val)))
	p.inflight.Add(1)
	p.cl.Produce(context.Background(), r, p.promise)
	return true
}

// done is the promise of every record.
func (p *producer) done(r *kgo.Record, err error) {
	p.bytes.Add(-int64(len(r.Value)))
	<-p.sem
	if err != nil {
		switch {
		case errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled):
			p.drop(dropUnconfirmed, 1)
		case errors.Is(err, kgo.ErrRecordTimeout):
			p.drop(dropUnconfirmed, 1)
			if p.limiter.Allow("timeout") {
				p.log.Warn("samples not delivered to Kafka within delivery-timeout; a hung broker may still store them (logged once a minute)",
					"topic", p.topic, "err", err)
			}
		default:
			p.drop(dropDeliveryFailed, 1)
			if p.limiter.Allow("delivery") {
				p.log.Warn("samples not delivered to Kafka (logged once a minute)", "topic", p.topic, "err", err)
			}
		}
	} else {
		p.t.produced.Add(1)
		p.m.produced.Inc()
	}
	key, val := r.Key[:0], r.Value[:0]
	*r = kgo.Record{Key: key, Value: val}
	p.pool.Put(r)
	p.inflight.Done()
}

// buffered is the number of records waiting for Kafka.
func (p *producer) buffered() int { return len(p.sem) }

// close flushes for up to timeout, then closes the client; records not
// acknowledged by then are counted as dropped with reason unconfirmed.
func (p *producer) close(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ferr := p.cl.Flush(ctx)
	p.cl.Close()
	p.inflight.Wait()
	if ferr != nil {
		return fmt.Errorf("flush: %w", ferr)
	}
	return nil
}
