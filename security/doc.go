// Package security holds the end-to-end tests of the pipeline's security
// controls: Kafka over TLS and SASL/SCRAM through common/kafka, ClickHouse
// over TLS with a password through sinks/chsink, secrets kept out of
// logs and out of `telemetry config keys`, and HTTP endpoints bound to
// loopback by default. It has no code of its own beyond these tests; see
// docs/security.md for the threat model and which test proves each control.
package security
