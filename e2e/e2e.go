// Package e2e holds the end-to-end tests and the soak benchmark of the
// whole pipeline, run in one process by demo.Run: the accounting test
// (every sample the simulator emits is stored in ClickHouse or counted as
// dropped with a reason, none twice) and the soak (sustained samples/s,
// memory growth and telemetry delay). See docs/e2e.md.
package e2e
