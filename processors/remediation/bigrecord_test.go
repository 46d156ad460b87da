package remediation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// brokerMaxMessageBytes is Kafka's (and kfake's) default message.max.bytes.
const brokerMaxMessageBytes = 1_048_588

// garbageSizes are the sizes of the undecodable records each consumer
// gets: empty, just under franz-go's default batch limit (1,000,012), over
// it (the size that stalled the consumers when a dead letter carried the
// whole record, issue 18), and just under the broker's limit.
var garbageSizes = []int{0, 999_000, 1_040_000, brokerMaxMessageBytes - 1024}

// garbage returns n bytes that do not decode as any record (0xff 0xff is
// not a protobuf field), with the given key.
func garbage(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if n >= 2 {
		b[0], b[1] = 0xff, 0xff
	}
	return b
}

// produceGarbage writes one undecodable record per garbageSizes on topic
// with schema's header (the header says it is fine; the payload is not),
// through a producer allowed records up to the broker's limit, and returns
// them keyed by their Kafka key.
func produceGarbage(t *testing.T, k *kafka.Configuration, topic, schema string) map[string][]byte {
	t.Helper()
	prod := client(t, k, kgo.ProducerBatchMaxBytes(brokerMaxMessageBytes), kgo.ProducerBatchCompression(kgo.NoCompression()))
	out := map[string][]byte{}
	for _, n := range garbageSizes {
		key := fmt.Sprintf("big-%d", n)
		v := garbage(t, n)
		out[key] = v
		rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: v, Headers: wire.Headers(schema)}
		if err := prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatalf("produce %d bytes: %v", n, err)
		}
	}
	return out
}

// checkDeadLetters reads the dead letters of sent and checks that each
// fits, names comp and the source record, and keeps the key, the sizes,
// the payload's head and its SHA-256.
func checkDeadLetters(t *testing.T, k *kafka.Configuration, topic, comp string, sent map[string][]byte) {
	t.Helper()
	recs := readAll(t, k, k.Topics.DeadLetter, 20*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= len(sent) })
	if len(recs) != len(sent) {
		t.Fatalf("%d dead letters, want %d", len(recs), len(sent))
	}
	for _, rec := range recs {
		if h, _ := wire.SchemaOf(rec); string(h) != wire.SchemaDeadLetter {
			t.Errorf("dead letter schema header %q", h)
		}
		if n := len(rec.Key) + len(rec.Value); n > wire.MaxDeadLetterPayload+64<<10 {
			t.Errorf("dead letter of %d bytes", n)
		}
		var dl wirepb.DeadLetter
		if err := wire.DecodeDeadLetter(rec.Value, &dl); err != nil {
			t.Fatal(err)
		}
		src, ok := sent[string(dl.Key)]
		if !ok {
			t.Errorf("dead letter of an unknown record %q", dl.Key)
			continue
		}
		sum := sha256.Sum256(src)
		if dl.Component != comp || dl.SourceTopic != topic || dl.Reason == "" ||
			dl.PayloadSize != uint64(len(src)) || dl.KeySize != uint64(len(dl.Key)) ||
			!bytes.Equal(dl.PayloadSha256, sum[:]) ||
			len(dl.Payload) != min(len(src), wire.MaxDeadLetterPayload) || !bytes.Equal(dl.Payload, src[:len(dl.Payload)]) {
			t.Errorf("dead letter of %s: component %q, topic %q, reason %q, payload %d of %d bytes, sha256 %x",
				dl.Key, dl.Component, dl.SourceTopic, dl.Reason, len(dl.Payload), dl.PayloadSize, dl.PayloadSha256)
		}
	}
}

// committedToEnd waits until group has committed every record of topic.
func committedToEnd(t *testing.T, k *kafka.Configuration, group, topic string, also func() bool) {
	t.Helper()
	adm := kadm.NewClient(client(t, k))
	var committed, end int64
	testenv.Eventually(t, 20*time.Second, "every record of "+topic+" committed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		committed, end = 0, 0
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				committed += o.At
			}
		})
		ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
		return end > 0 && committed == end && also()
	})
	t.Logf("%s: committed %d of %d", topic, committed, end)
}

// The rules engine dead-letters undecodable KPI records of any size the
// broker takes (issue 18: a ~1 MB one stalled it), and goes on evaluating
// and committing the KPIs after them.
func TestEngineDeadLettersRecordsOfAnySize(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	cfg := DefaultConfiguration()
	cfg.Dispatcher = false
	cfg.Rules = []Rule{lossRule("")}
	r := startRemediator(t, cfg, k)
	sent := produceGarbage(t, k, k.Topics.KPIs, wire.SchemaKPI)
	prod := client(t, k)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(10 * time.Second)
	const n = 6
	for i := 0; i < n; i++ {
		ws := t0.Add(time.Duration(i) * 10 * time.Second)
		kp := linkKPI(ws, ws.Add(10*time.Second), "par", "lon", 0.5)
		produce(t, prod, k.Topics.KPIs, wire.SchemaKPI, kpiKey(kp), kp)
	}
	committedToEnd(t, k, cfg.GroupID, k.Topics.KPIs, func() bool { return r.Stats().KPIs == n })
	checkDeadLetters(t, k, k.Topics.KPIs, engineComponent, sent)
	if st := r.Stats(); st.Firing != 1 || st.DeadLetters != uint64(len(sent)) ||
		st.Dropped[reasonDecode]+st.Dropped[reasonUnknownVersion] != uint64(len(sent)) {
		t.Errorf("stats %+v", st)
	}
	checkStats(t, r)
}

// The dispatcher dead-letters undecodable remediation records of any size
// the broker takes, and goes on delivering and committing the events
// after them.
func TestDispatcherDeadLettersRecordsOfAnySize(t *testing.T) {
	k, _ := kafkatest.Fake(t, 1)
	recv, secret := startReceiver(t)
	cfg := DefaultConfiguration()
	cfg.Engine = false
	cfg.Webhooks = []Webhook{{Name: "gitops", URL: recv.URL(), Secret: secret}}
	r := startRemediator(t, cfg, k)
	sent := produceGarbage(t, k, k.Topics.Remediations, wire.SchemaRemediation)
	prod := client(t, k)
	now := time.Now().UnixNano()
	ev := &wirepb.RemediationEvent{EventId: "evt-after-garbage", Rule: "r", State: wirepb.EventState_FIRING,
		Kpi: "link.loss_ratio", Site: "par", Device: "d", DstSite: "lon", DstDevice: "e",
		TimeUnixNano: now, FiredUnixNano: now, WindowEndUnixNano: now, Action: "gitops"}
	produce(t, prod, k.Topics.Remediations, wire.SchemaRemediation, ev.EventId, ev)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := recv.WaitFor(ctx, 1); err != nil {
		t.Fatalf("the event after the garbage not delivered: %v (stats %+v)", err, r.Stats())
	}
	// The dispatcher's own dispatched and acknowledged transitions follow
	// on the topic; it commits them too.
	committedToEnd(t, k, cfg.DispatcherGroupID, k.Topics.Remediations, func() bool { return r.Stats().Acknowledged == 1 })
	checkDeadLetters(t, k, k.Topics.Remediations, dispatcherComponent, sent)
	if st := r.Stats(); st.Deliveries != 1 || st.DeadLetters != uint64(len(sent)) ||
		st.Dropped[reasonDecode] != uint64(len(sent)) {
		t.Errorf("stats %+v", st)
	}
	checkStats(t, r)
}
