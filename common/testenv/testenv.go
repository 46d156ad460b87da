// Package testenv finds the real services tests talk to. A test that needs
// one skips when it is absent on a laptop, but fails when CI is set, so CI
// can never go green by skipping.
//
// Addresses come from the environment (scripts/services.sh prints them):
//
//	TELEMETRY_TEST_KAFKA       host:port of a real Apache Kafka broker (comma-separated list allowed)
//	TELEMETRY_TEST_CLICKHOUSE  host:port of a live ClickHouse server, native protocol
//	TELEMETRY_TEST_CLICKHOUSE_HTTP  host:port of its HTTP interface
//	TELEMETRY_TEST_CHDB        path of a python3 that can import chdb
//	TELEMETRY_TEST_KAFKA_LIBS  directory of Apache Kafka's jars (private clusters for fault tests)
package testenv

import (
	"os"
	"strings"
	"testing"
)

func need(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set but CI is: %s is required (run scripts/services.sh)", name, what)
	}
	t.Skipf("%s not set: no %s (run `make services`)", name, what)
	return ""
}

// Kafka returns the brokers of a real Apache Kafka cluster.
func Kafka(t testing.TB) []string {
	return strings.Split(need(t, "TELEMETRY_TEST_KAFKA", "real Kafka broker"), ",")
}

// ClickHouse returns host:port (native protocol) of a live ClickHouse server.
func ClickHouse(t testing.TB) string {
	return need(t, "TELEMETRY_TEST_CLICKHOUSE", "live ClickHouse server")
}

// ClickHouseHTTP returns host:port of the live server's HTTP interface.
func ClickHouseHTTP(t testing.TB) string {
	return need(t, "TELEMETRY_TEST_CLICKHOUSE_HTTP", "live ClickHouse server (HTTP)")
}

// CHDB returns a python3 interpreter that can import chdb (modern ClickHouse in process).
func CHDB(t testing.TB) string {
	return need(t, "TELEMETRY_TEST_CHDB", "python3 with chdb")
}

// KafkaLibs returns the directory holding Apache Kafka's jars (kafka_2.13,
// kafka-tools and their dependencies), from which fault tests start private
// clusters (see common/kafkatest).
func KafkaLibs(t testing.TB) string {
	return need(t, "TELEMETRY_TEST_KAFKA_LIBS", "Apache Kafka jars")
}
