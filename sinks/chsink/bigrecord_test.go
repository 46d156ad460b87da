package chsink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestHugeRecordsDeadLetteredLive: garbage records of 0 B, 999,000 B,
// 1,040,000 B and just under the real broker's limit on the samples and
// KPIs topics are dead-lettered (each dead letter fits, with the source's
// size and SHA-256), the records after them are stored, and the group
// commits to the end of both topics: one bad record never stalls the sink.
func TestHugeRecordsDeadLetteredLive(t *testing.T) {
	cfg, _ := liveConfig(t)
	kc, prod := liveKafka(t)
	cfg.FlushInterval = 200 * time.Millisecond
	cfg.GroupID = "sinktest-big-" + randomSuffix()
	s := startSink(t, cfg, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The broker's default message.max.bytes is 1,048,588 for a whole
	// batch; a record of 1,048,000 B leaves room for its batch overhead.
	sizes := []int{0, 999_000, 1_040_000, 1_048_000}
	sums := map[[32]byte]int{}
	var recs []*kgo.Record
	for _, topic := range []string{kc.Topics.Samples, kc.Topics.KPIs} {
		for _, n := range sizes {
			v := make([]byte, n)
			_, _ = rand.Read(v)
			sums[sha256.Sum256(v)] = n
			schemaName := wire.SchemaSample
			if topic == kc.Topics.KPIs {
				schemaName = wire.SchemaKPI
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("big-%d", n)), Value: v, Headers: wire.Headers(schemaName)})
		}
	}
	for _, r := range recs { // one at a time: each is a batch of its own
		produce(t, prod, []*kgo.Record{r})
	}
	good := genInterfaceKPIs(8, 8)
	produce(t, prod, kpiRecords(t, kc, good))

	testenv.Eventually(t, 60*time.Second, "the records after the big ones stored", func() bool {
		return s.Stats().Rows[schema.InterfaceKPIs] == uint64(len(good))
	})
	testenv.Eventually(t, 30*time.Second, "the group's offsets at the end of both topics", func() bool {
		return committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.KPIs) && committedToEnd(ctx, prod, cfg.GroupID, kc.Topics.Samples)
	})
	if got := s.Stats().DeadLetters; got != uint64(len(recs)) {
		t.Errorf("dead letters %d, want %d", got, len(recs))
	}

	// The dead letters on their topic: each fits, and says what it stands for.
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.DeadLetter), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[[32]byte]bool{}
	testenv.Eventually(t, 30*time.Second, "every dead letter read back", func() bool {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			dl := &wirepb.DeadLetter{}
			if err := wire.DecodeDeadLetter(r.Value, dl); err != nil {
				t.Errorf("dead letter does not decode: %v", err)
				return
			}
			var sum [32]byte
			copy(sum[:], dl.GetPayloadSha256())
			n, ok := sums[sum]
			switch {
			case !ok:
				t.Errorf("dead letter of an unknown record: %d B", dl.GetPayloadSize())
			case dl.GetPayloadSize() != uint64(n) || len(dl.GetPayload()) > wire.MaxDeadLetterPayload || len(r.Value) > wire.MaxDeadLetterPayload+8<<10:
				t.Errorf("dead letter of %d B: size %d, payload %d B, record %d B", n, dl.GetPayloadSize(), len(dl.GetPayload()), len(r.Value))
			}
			seen[sum] = true
		})
		return len(seen) == len(sums)
	})
}
