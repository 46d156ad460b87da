// Package faults holds the pipeline's fault tests: real processes and real
// Apache Kafka brokers (private clusters started by common/kafkatest, or the
// shared broker of scripts/services.sh) are killed with SIGKILL mid-stream
// and restarted, and each test asserts exactly what was kept and what was
// dropped:
//
//   - TestKafkaBrokerKilled: the only broker is killed and restarted while
//     simulator → collector → Kafka → processor runs; the collector's
//     buffered samples are all delivered, once, and KPIs continue.
//   - TestKafkaClusterLosesBroker: a 3-node cluster (replication factor 3,
//     acks=all, min.insync.replicas 2) loses one node and gets it back;
//     production and consumption never stop and nothing is lost.
//   - TestProcessorKilled: a `telemetry process` subprocess is killed and a
//     new one takes over; after de-duplication by KPI id it produced exactly
//     the KPIs (ids and values) of an uninterrupted run. Two variants kill it
//     once its commits are past the samples that carried the port speed
//     (older than process.state-horizon), without and with a heartbeat on
//     the collector's on_change subscriptions.
//   - TestCollectorKilled: a `telemetry collect` subprocess is killed and
//     restarted; what is lost is the records in flight, bounded by the
//     producer buffer, and it is measured exactly.
//
// The package has no code of its own: the tests are in _test.go files and
// run with `go test ./faults/` (they skip without TELEMETRY_TEST_KAFKA and
// TELEMETRY_TEST_KAFKA_LIBS, and fail without them when CI is set). See
// docs/faults.md for what each test asserts and the measured results.
package faults
