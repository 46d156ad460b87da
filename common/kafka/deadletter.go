package kafka

import (
	"encoding/hex"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// LogLostDeadLetter logs a dead letter Kafka refused for good (an error
// the client does not retry: it retries the others without end), with
// what it stood for, read back from the dead letter: the source record's
// topic, partition and offset, its key, its sizes and the SHA-256 of its
// payload. The record is then accounted for in the log (and the caller's
// counter) although it is kept nowhere, and the consumer commits past it:
// a record that cannot be dead-lettered never holds its partition back.
func LogLostDeadLetter(log *slog.Logger, dl *kgo.Record, err error) {
	var d wirepb.DeadLetter
	if derr := wire.DecodeDeadLetter(dl.Value, &d); derr != nil {
		log.Error("dead letter refused by kafka and lost", "topic", dl.Topic, "key", string(dl.Key), "err", err)
		return
	}
	log.Error("dead letter refused by kafka and lost; the record is skipped",
		"source_topic", d.GetSourceTopic(), "source_partition", d.GetSourcePartition(), "source_offset", d.GetSourceOffset(),
		"key", string(d.GetKey()), "key_size", d.GetKeySize(), "payload_size", d.GetPayloadSize(),
		"payload_sha256", hex.EncodeToString(d.GetPayloadSha256()), "reason", d.GetReason(), "err", err)
}
