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
//	TELEMETRY_TEST_CLOCK_SHIFT a Go duration added to Now (default 0; CI's any-day step sets it)
//
// Test data that meets a server's clock (a TTL, a retention, a partition
// drop, a "last full week", a schedule) is placed relative to Now, never at
// a fixed date: a fixed date passes the day it is written and fails once a
// TTL catches up with it. TestNoFixedDates enforces that.
package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// ClockShiftEnv names the variable that shifts Now.
const ClockShiftEnv = "TELEMETRY_TEST_CLOCK_SHIFT"

// Now is the test clock: the wall clock plus TELEMETRY_TEST_CLOCK_SHIFT. CI
// runs the date-sensitive packages a second time with the clock a year
// ahead, so an expectation written as a literal date, or data placed at one,
// fails today rather than on the day a TTL reaches it. A malformed shift
// panics with the variable's name: it is a broken test setup, and Now is
// also used to initialise package-level test data.
func Now() time.Time {
	d, err := ClockShift()
	if err != nil {
		panic(err)
	}
	return time.Now().Add(d).UTC()
}

// Anchor is where tests place data that meets a server's clock: the start
// of the UTC hour one day before Now, so a run of a few hours stays inside
// one hour's rollup and far inside every TTL and retention (7 days at the
// shortest).
func Anchor() time.Time {
	return Now().Truncate(time.Hour).Add(-24 * time.Hour)
}

// ClockShift parses TELEMETRY_TEST_CLOCK_SHIFT (empty is 0).
func ClockShift() (time.Duration, error) {
	v := os.Getenv(ClockShiftEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", ClockShiftEnv, v, err)
	}
	return d, nil
}

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
