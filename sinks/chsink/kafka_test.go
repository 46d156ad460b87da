package chsink

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// liveKafka returns a kafka section with topics of this test's own,
// created now and deleted on cleanup, and a producer client.
func liveKafka(t testing.TB) (*kafka.Configuration, *kgo.Client) {
	t.Helper()
	kc := kafka.DefaultConfiguration()
	kc.Brokers = testenv.Kafka(t)
	p := "sinktest." + randomSuffix() + "."
	kc.Topics = kafka.Topics{Samples: p + "samples", KPIs: p + "kpis", Remediations: p + "remediations", DeadLetter: p + "deadletter"}
	kc.Partitions = 2
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(4<<20))...)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.OwnTopics(t, &kc, cl)
	return &kc, cl
}

func record(t testing.TB, topic, schema string, key []byte, m proto.Message) *kgo.Record {
	t.Helper()
	var v []byte
	var err error
	switch x := m.(type) {
	case *wirepb.KPI:
		v, err = wire.Marshal(nil, x)
	case *wirepb.Sample:
		v, err = wire.Marshal(nil, x)
	case *wirepb.RemediationEvent:
		v, err = wire.Marshal(nil, x)
	case *wirepb.DeadLetter:
		v, err = wire.Marshal(nil, x)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: key, Value: v, Headers: []kgo.RecordHeader{{Key: wire.SchemaHeader, Value: []byte(schema)}}}
}

func kpiRecords(t testing.TB, kc *kafka.Configuration, kpis []*wirepb.KPI) []*kgo.Record {
	out := make([]*kgo.Record, len(kpis))
	for i, k := range kpis {
		out[i] = record(t, kc.Topics.KPIs, wire.SchemaKPI, []byte(k.GetSite()+"/"+k.GetDevice()), k)
	}
	return out
}

func produce(t testing.TB, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}
