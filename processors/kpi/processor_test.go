package kpi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func producer(t testing.TB, kc *kafka.Configuration) *kgo.Client {
	t.Helper()
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ProducerLinger(time.Millisecond), kgo.DefaultProduceTopic(kc.Topics.Samples))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func sampleRecord(t testing.TB, s *wirepb.Sample) *kgo.Record {
	v, err := wire.Marshal(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: wire.SampleKey(nil, s), Value: v,
		Headers: []kgo.RecordHeader{{Key: wire.SchemaHeader, Value: []byte(wire.SchemaSample)}}}
}

// rateOf is the constant in-octet rate (bytes/s) of test interface i.
func rateOf(i int) uint64 { return uint64(1+i) * 1e6 }

// produceRounds writes rounds [from, to) of one sample per second for n
// interfaces (device d<i>, interface e1, 1 Gb/s).
func produceRounds(t testing.TB, cl *kgo.Client, n int, from, to int64) {
	t.Helper()
	produceRoundsSpeed(t, cl, n, from, to, 1e9)
}

// produceRoundsSpeed is produceRounds with the speed in every sample (or 0).
func produceRoundsSpeed(t testing.TB, cl *kgo.Client, n int, from, to int64, speed uint64) {
	t.Helper()
	var recs []*kgo.Record
	for r := from; r < to; r++ {
		for i := 0; i < n; i++ {
			s := ifSample("d"+strconv.Itoa(i), "e1", t0+r*sec, speed, cv{
				wirepb.Counter_IN_OCTETS:       uint64(r) * rateOf(i),
				wirepb.Counter_IN_UNICAST_PKTS: uint64(r) * 1000,
				wirepb.Counter_IN_ERRORS:       uint64(r) * 10,
			})
			recs = append(recs, sampleRecord(t, s))
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func newTestProcessor(t testing.TB, kc *kafka.Configuration, instance string) (*Processor, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfiguration()
	cfg.Instance = instance
	cfg.GroupID = "g-" + kc.Topics.Samples
	cfg.CommitInterval = 100 * time.Millisecond
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Dependencies{Registerer: reg, Kafka: kc, KafkaOpts: kafkatest.FastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p, reg
}

// kpiReader reads the kpis topic from the start, keyed by id.
type kpiReader struct {
	cl   *kgo.Client
	mu   sync.Mutex
	byID map[string][]*wirepb.KPI
	keys map[string]string
}

func newKPIReader(t testing.TB, kc *kafka.Configuration) *kpiReader {
	opts, _ := kc.Opts()
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.KPIs), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &kpiReader{cl: cl, byID: map[string][]*wirepb.KPI{}, keys: map[string]string{}}
}

// until polls until cond holds on the interface KPIs read so far.
func (r *kpiReader) until(t testing.TB, d time.Duration, cond func(map[string][]*wirepb.KPI) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond(r.byID) {
		if time.Now().After(deadline) {
			t.Fatalf("timeout: %d distinct KPIs read", len(r.byID))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := r.cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(rec *kgo.Record) {
			var k wirepb.KPI
			if err := wire.DecodeKPI(rec.Value, &k); err != nil {
				t.Errorf("bad KPI record: %v", err)
				return
			}
			if len(rec.Headers) != 1 || string(rec.Headers[0].Value) != wire.SchemaKPI {
				t.Errorf("headers %v", rec.Headers)
			}
			r.byID[k.Id] = append(r.byID[k.Id], &k)
			r.keys[k.Id] = string(rec.Key)
		})
	}
}

func interfaceCount(m map[string][]*wirepb.KPI) int {
	n := 0
	for _, ks := range m {
		if ks[0].GetInterface() != nil {
			n++
		}
	}
	return n
}

// checkInterfaceKPIs asserts every interface window [0, windows) appears,
// copies of one id are identical, and values are exact.
func checkInterfaceKPIs(t *testing.T, r *kpiReader, n, windows int) {
	t.Helper()
	seen := map[string]bool{}
	for id, ks := range r.byID {
		k := ks[0]
		ik := k.GetInterface()
		if ik == nil {
			continue
		}
		for _, other := range ks[1:] {
			if !sameKPI(k, other) {
				t.Errorf("id %s: two different values %v / %v", id, k, other)
			}
		}
		i, _ := strconv.Atoi(k.Device[1:])
		w := (k.WindowStartUnixNano - t0) / (10 * sec)
		near(t, fmt.Sprintf("%s window %d util_in", k.Device, w), ik.UtilIn, float64(rateOf(i))*8/1e9, 1e-9)
		near(t, "in_errors_ps", ik.InErrorsPs, 10, 1e-9)
		if want := "s1/" + k.Device + "/e1"; r.keys[id] != want {
			t.Errorf("key %q, want %q", r.keys[id], want)
		}
		seen[k.Device+"/"+strconv.FormatInt(w, 10)] = true
	}
	for i := 0; i < n; i++ {
		for w := 0; w < windows; w++ {
			if !seen["d"+strconv.Itoa(i)+"/"+strconv.Itoa(w)] {
				t.Errorf("d%d window %d missing", i, w)
			}
		}
	}
	if len(seen) != n*windows {
		t.Errorf("%d distinct interface windows, want %d", len(seen), n*windows)
	}
}

func TestProcessorEndToEnd(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	cl := producer(t, kc)
	produceRounds(t, cl, 3, 0, 45)
	// an undecodable record and a probe
	wrongSchema := sampleRecord(t, probe(t0+6*sec, 1000, 10, 0, 0, 0))
	wrongSchema.Headers[0].Value = []byte(wire.SchemaKPI)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("junk"), Value: []byte{0xff, 0x01}}, wrongSchema,
		sampleRecord(t, probe(t0+5*sec, 1000, 10, 0, 0, 0))).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p, reg := newTestProcessor(t, kc, "one")
	r := newKPIReader(t, kc)
	r.until(t, 20*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= 3*4 })
	checkInterfaceKPIs(t, r, 3, 4)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.SamplesIn != 3*45+1 || st.DeadLetters != 2 || st.Drops["decode"] != 2 || st.KPIsOut < 12 {
		t.Errorf("stats %+v", st)
	}
	if v := metricValue(t, reg, "telemetry_processor_samples_total"); v != 3*45+1 {
		t.Errorf("telemetry_processor_samples_total = %g", v)
	}
	if v := metricValue(t, reg, "telemetry_processor_deadletters_total"); v != 2 {
		t.Errorf("telemetry_processor_deadletters_total = %g", v)
	}
	// the dead letter
	opts, _ := kc.Opts()
	dl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.DeadLetter))...)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []*wirepb.DeadLetter
	for len(got) < 2 && ctx.Err() == nil {
		dl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			d := &wirepb.DeadLetter{}
			if err := wire.DecodeDeadLetter(r.Value, d); err != nil {
				t.Errorf("dead letter: %v", err)
			}
			got = append(got, d)
		})
	}
	var junk bool
	for _, d := range got {
		if d.Component != "processor" || d.Reason == "" || d.SourceTopic != kc.Topics.Samples {
			t.Errorf("dead letter %v", d)
		}
		junk = junk || string(d.Key) == "junk" && string(d.Payload) == "\xff\x01"
	}
	if len(got) != 2 || !junk {
		t.Errorf("dead letters: %v", got)
	}
	// committed offsets stop at what open windows ([40,50) here) still need
	adm := kadm.NewClient(dl)
	offs, err := adm.FetchOffsets(ctx, "g-"+kc.Topics.Samples)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, kc.Topics.Samples)
	if err != nil {
		t.Fatal(err)
	}
	var committed, end int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
	if committed <= 0 || committed >= end {
		t.Errorf("committed %d of %d: want some, but not the open window's samples", committed, end)
	}
}

// TestHugeRecordDeadLettered: records the broker takes but the processor
// cannot decode, up to ~1 MB (issue 18: a dead letter wrapping a
// 1,040,000-byte record is over the client's 1,000,012-byte batch limit,
// so it was refused and the processor never committed again), are
// dead-lettered in a record that fits, with their sizes and hash, and the
// processor keeps emitting and committing past them.
func TestHugeRecordDeadLettered(t *testing.T) {
	const n = 2
	kc, _ := kafkatest.Fake(t, 2)
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	// the broker's limit (1,048,588) rather than the client's default
	big, err := kgo.NewClient(append(opts, kgo.ProducerBatchMaxBytes(1_048_588), kgo.DefaultProduceTopic(kc.Topics.Samples))...)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	cl := producer(t, kc)
	produceRounds(t, cl, n, 0, 15)
	rnd := rand.New(rand.NewPCG(18, 1))
	sizes := []int{0, 999_000, 1_040_000}
	bad := map[int64]*kgo.Record{} // by size
	for _, size := range sizes {
		v := make([]byte, size)
		for i := range v {
			v[i] = byte(rnd.Uint32())
		}
		if size > 0 {
			v[0] = 0xff // field 31, wire type 7: never a valid sample
		}
		// one record per batch: together they would be over the broker's limit
		r := &kgo.Record{Key: []byte("big"), Value: v, Headers: wire.Headers(wire.SchemaSample)}
		if err := big.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		bad[int64(size)] = r
	}
	p, _ := newTestProcessor(t, kc, "big")
	defer p.Stop()
	testenv.Eventually(t, 20*time.Second, "the bad records dead-lettered", func() bool { return p.Stats().DeadLetters == uint64(len(sizes)) })
	commits := p.Stats().Commits
	produceRounds(t, cl, n, 15, 45)
	r := newKPIReader(t, kc)
	r.until(t, 20*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= n*4 })
	checkInterfaceKPIs(t, r, n, 4)

	// committed past every bad record, by the commits after them
	adm := kadm.NewClient(cl)
	testenv.Eventually(t, 20*time.Second, "offsets committed past the bad records", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, "g-"+kc.Topics.Samples)
		if err != nil {
			return false
		}
		for _, rec := range bad {
			if o, ok := offs.Lookup(kc.Topics.Samples, rec.Partition); !ok || o.At <= rec.Offset {
				return false
			}
		}
		return true
	})
	if st := p.Stats(); st.Commits <= commits || st.ProduceErrors != 0 || st.Drops["decode"] != uint64(len(sizes)) {
		t.Errorf("stats %+v: want commits after %d, no produce error, %d decode drops", st, commits, len(sizes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		t.Errorf("not ready: %v", err)
	}

	// the dead letters: each fits, and says what it stands for
	dl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.DeadLetter), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	got := map[int64]*wirepb.DeadLetter{}
	for len(got) < len(sizes) && ctx.Err() == nil {
		dl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			if len(rec.Key)+len(rec.Value) >= 1_000_012-1024 {
				t.Errorf("dead letter record of %d bytes: does not fit with room to spare", len(rec.Key)+len(rec.Value))
			}
			if s, ok := wire.SchemaOf(rec); !ok || string(s) != wire.SchemaDeadLetter {
				t.Errorf("dead letter headers %v", rec.Headers)
			}
			d := &wirepb.DeadLetter{}
			if err := wire.DecodeDeadLetter(rec.Value, d); err != nil {
				t.Errorf("dead letter: %v", err)
				return
			}
			got[int64(d.PayloadSize)] = d
		})
	}
	for _, size := range sizes {
		src, d := bad[int64(size)], got[int64(size)]
		if d == nil {
			t.Errorf("no dead letter for the %d-byte record (got %d)", size, len(got))
			continue
		}
		sum := sha256.Sum256(src.Value)
		if d.Component != Stage || d.Reason == "" || d.SourceTopic != kc.Topics.Samples ||
			d.SourcePartition != src.Partition || d.SourceOffset != src.Offset || string(d.Key) != "big" || d.KeySize != 3 ||
			!bytes.Equal(d.PayloadSha256, sum[:]) || !bytes.Equal(d.Payload, src.Value[:min(size, wire.MaxDeadLetterPayload)]) {
			t.Errorf("dead letter of the %d-byte record: component %q reason %q from %s/%d@%d key %q (%d) payload %d bytes, sha256 %x",
				size, d.Component, d.Reason, d.SourceTopic, d.SourcePartition, d.SourceOffset, d.Key, d.KeySize, len(d.Payload), d.PayloadSha256)
		}
	}
}

// TestRebalance runs two processors in one group; one joins late, one stops
// mid-stream. Every window comes out, copies of one id are identical.
func TestRebalance(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 4)
	rebalance(t, kc)
}

// TestRebalanceRealKafka is TestRebalance against the real broker.
func TestRebalanceRealKafka(t *testing.T) {
	rebalance(t, realKafka(t, 4))
}

// realKafka returns a kafka section for the real test broker with this
// test's own topics (deleted on cleanup).
func realKafka(t *testing.T, partitions int32) *kafka.Configuration {
	t.Helper()
	brokers := testenv.Kafka(t)
	kc := kafka.DefaultConfiguration()
	kc.Brokers = brokers
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	kc.Topics = kafka.Topics{Samples: "kpitest.samples." + suffix, KPIs: "kpitest.kpis." + suffix,
		Remediations: "kpitest.rem." + suffix, DeadLetter: "kpitest.dl." + suffix}
	kc.Partitions = partitions
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.OwnTopics(t, &kc, cl)
	return &kc
}

func rebalance(t *testing.T, kc *kafka.Configuration) {
	const n = 16
	cl := producer(t, kc)
	a, _ := newTestProcessor(t, kc, "a")
	produceRounds(t, cl, n, 0, 25)
	testenv.Eventually(t, 20*time.Second, "a to consume 25 rounds", func() bool { return a.Stats().SamplesIn >= n*25 })
	b, _ := newTestProcessor(t, kc, "b")
	// trickle rounds in while b joins: both work on the stream (the sleeps
	// are the scenario: rounds spread over the rebalance, not a wait)
	for r := int64(25); r < 63; r++ {
		produceRounds(t, cl, n, r, r+1)
		time.Sleep(10 * time.Millisecond)
	}
	testenv.Eventually(t, 20*time.Second, "a and b to consume 63 rounds, b some", func() bool {
		return a.Stats().SamplesIn+b.Stats().SamplesIn >= n*63 && b.Stats().SamplesIn > 0
	})
	if a.Stats().KPIsOut == 0 {
		t.Error("a produced nothing before stopping")
	}
	// stop a mid-window (open windows [60,70) on its partitions)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	for r := int64(63); r < 120; r += 5 {
		produceRounds(t, cl, n, r, min(r+5, 120))
		time.Sleep(10 * time.Millisecond) // the scenario: rounds spread over b's takeover
	}
	r := newKPIReader(t, kc)
	// windows [0,10) .. [100,110) close by t=112
	r.until(t, 30*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= n*11 })
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	checkInterfaceKPIs(t, r, n, 11)
	if b.Stats().KPIsOut == 0 {
		t.Error("b produced nothing")
	}
	t.Logf("a: %+v", a.Stats())
	t.Logf("b: %+v", b.Stats())
}

// metricValue sums a metric family's samples.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// BenchmarkProcessor measures end-to-end throughput through an in-process
// broker: decode, engine, KPI production, commits. ns/op is per sample.
func BenchmarkProcessor(b *testing.B) {
	kc, _ := kafkatest.Fake(b, 4)
	cl := producer(b, kc)
	const ifaces = 1000
	rounds := int64(max(b.N/ifaces, 1))
	b.StopTimer()
	var recs []*kgo.Record
	for r := int64(0); r < rounds; r++ {
		for i := 0; i < ifaces; i++ {
			counters := cv{}
			for c := wirepb.Counter_IN_OCTETS; c <= wirepb.Counter_OUT_DISCARDS; c++ {
				counters[c] = uint64(r) * uint64(1000+i)
			}
			recs = append(recs, sampleRecord(b, ifSample("d"+strconv.Itoa(i/48), "e"+strconv.Itoa(i%48), t0+r*sec, 1e9, counters)))
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	total := uint64(len(recs))
	b.ReportAllocs()
	b.StartTimer()
	start := time.Now()
	p, _ := newTestProcessor(b, kc, "bench")
	testenv.Eventually(b, 20*time.Second, "every sample consumed", func() bool { return p.Stats().SamplesIn >= total })
	el := time.Since(start)
	b.StopTimer()
	if err := p.Stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total)/el.Seconds(), "samples/s")
	if math.IsNaN(el.Seconds()) {
		b.Fatal("no time")
	}
}

// TestStopLeavesNoGoroutine: Start then Stop returns to the goroutine count
// from before (the broker's own goroutines excluded).
func TestStopLeavesNoGoroutine(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	produceRounds(t, producer(t, kc), 2, 0, 15)
	prev := -1
	testenv.Eventually(t, 5*time.Second, "the goroutine count to settle", func() bool {
		n := runtime.NumGoroutine()
		settled := n == prev
		prev = n
		return settled
	})
	before := runtime.NumGoroutine()
	p, _ := newTestProcessor(t, kc, "leak")
	testenv.Eventually(t, 20*time.Second, "the 30 samples consumed", func() bool { return p.Stats().SamplesIn == 30 })
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	defer func() { // runs when Eventually fails the test, too
		if t.Failed() {
			buf := make([]byte, 1<<20)
			t.Logf("%d goroutines after Stop, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
	}()
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("the goroutine count back to %d after Stop", before),
		func() bool { return runtime.NumGoroutine() <= before })
}

// caughtUp reports whether p has committed everything its open windows do
// not need: what its next commit would commit, it already has.
func caughtUp(p *Processor) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	needed := p.engine.NeededAll(nil)
	for part, next := range p.consumed {
		off := next
		if n, ok := needed[part]; ok && n < off {
			off = n
		}
		if off > p.committed[part] {
			return false
		}
	}
	return len(p.consumed) > 0
}

// crash stops a processor the hard way: no final produce, no final commit
// (what a killed process leaves behind).
func crash(p *Processor) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.client.Close()
}

// TestCrashRecovery: a processor dies mid-window without its final commit;
// its successor recomputes from the last commit: every window comes out,
// copies identical.
func TestCrashRecovery(t *testing.T) {
	const n = 8
	kc, _ := kafkatest.Fake(t, 2)
	cl := producer(t, kc)
	a, _ := newTestProcessor(t, kc, "a")
	for r := int64(0); r < 47; r += 4 {
		produceRounds(t, cl, n, r, min(r+4, 47))
		time.Sleep(30 * time.Millisecond) // the scenario: commits happen along the way
	}
	testenv.Eventually(t, 20*time.Second, "a to consume 47 rounds", func() bool { return a.Stats().SamplesIn >= n*47 })
	testenv.Eventually(t, 10*time.Second, "a's commits to catch up", func() bool { return caughtUp(a) })
	crash(a)
	if a.Stats().Commits == 0 {
		t.Error("a never committed")
	}
	produceRounds(t, cl, n, 47, 83)
	b, _ := newTestProcessor(t, kc, "b")
	r := newKPIReader(t, kc)
	r.until(t, 20*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= n*8 })
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	checkInterfaceKPIs(t, r, n, 8)
}

// TestCrashRecoveryStateOnChange: speed and oper-status come once, on
// change, before the counters (as with an ON_CHANGE subscription); the
// successor of a crashed processor still knows them.
func TestCrashRecoveryStateOnChange(t *testing.T) {
	const n = 4
	kc, _ := kafkatest.Fake(t, 2)
	cl := producer(t, kc)
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		st := ifSample("d"+strconv.Itoa(i), "e1", t0-sec/2, 1e9, nil) // speed and oper only
		recs = append(recs, sampleRecord(t, st))
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	a, _ := newTestProcessor(t, kc, "a")
	produceRoundsSpeed(t, cl, n, 0, 47, 0)
	testenv.Eventually(t, 20*time.Second, "a to consume 48 rounds", func() bool { return a.Stats().SamplesIn >= n*48 })
	testenv.Eventually(t, 10*time.Second, "a's commits to catch up", func() bool { return caughtUp(a) })
	crash(a)
	produceRoundsSpeed(t, cl, n, 47, 83, 0)
	b, _ := newTestProcessor(t, kc, "b")
	r := newKPIReader(t, kc)
	r.until(t, 20*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= n*8 })
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	checkInterfaceKPIs(t, r, n, 8)
	for _, ks := range r.byID {
		for _, k := range ks {
			if i := k.GetInterface(); i != nil && (i.SpeedBps != 1e9 || i.OperStatus != wirepb.OperStatus_UP) {
				t.Errorf("%s window %d: speed %d oper %v", k.Device, (k.WindowStartUnixNano-t0)/sec, i.SpeedBps, i.OperStatus)
			}
		}
	}
}
