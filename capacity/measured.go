package capacity

import "errors"

// The measured costs, on the 2-core machine of BENCHMARKS.md (ClickHouse
// 18.16, Apache Kafka 4.1.1). docs/capacity.md gives the commands again
// with their output; rerun them and update these figures together.

const (
	// CPU, from the CPU profile of the end-to-end soak split by the
	// `stage` pprof label (40 switches × 100 interfaces every 100 ms,
	// 2.56 M samples, 255 k KPIs, 2.81 M rows in 60 s):
	//
	//	TELEMETRY_BENCH=1 TELEMETRY_SOAK_SITES=8 TELEMETRY_SOAK_SWITCHES=5 TELEMETRY_SOAK_IFACES=100 \
	//	  go test -count=1 -run 'TestSoak$' -v -cpuprofile cpu.pprof -o e2e.test ./e2e
	//	go tool pprof -tags e2e.test cpu.pprof
	//
	// collector 10.91 s, sink 5.85 s, processor 4.91 s, remediation
	// 0.70 s, simulator (the test load) 5.35 s, unlabelled (GC, franz-go
	// connections, scheduler) 7.42 s of 35.14 s. The unlabelled time is
	// spread over the stages in proportion (× 1.268): a pod of its own
	// pays its own GC and client.
	measuredCollectorCPUPerSample = 5.40 // 10.91 s / 2,559,868 samples × 1.268
	measuredProcessorCPUPerSample = 2.43 // 4.91 s / 2,559,948 records × 1.268
	measuredSinkCPUPerRow         = 2.64 // 5.85 s / 2,814,887 rows × 1.268
	measuredRemediationCPUPerKPI  = 3.48 // 0.70 s / 254,939 KPIs × 1.268
	// The soak's ClickHouse 18.16 server: 0.186 cores (mean of its
	// periods) at 46,900 rows/s inserted.
	measuredClickHouseCPUPerRow = 4.0

	// Memory. The base of every stage is an idle `telemetry <stage>`
	// (30 MiB resident: process_resident_memory_bytes on /metrics, one
	// target of 8 interfaces) plus the bound of its buffers at the
	// defaults: collect.buffer.max-bytes (64 MiB), the sink's fetch bound
	// (64 MiB), franz-go's default fetch bound for the processor and the
	// remediation (50 MiB).
	measuredIdleBytes       = 30 << 20
	measuredCollectorBase   = measuredIdleBytes + 64<<20
	measuredProcessorBase   = measuredIdleBytes + 50<<20
	measuredSinkBase        = measuredIdleBytes + 64<<20
	measuredRemediationBase = measuredIdleBytes + 50<<20
	// `telemetry collect` with 20 targets × 200 interfaces at 1 s: 79.7 MiB
	// resident against 30.3 MiB with 8 interfaces → 12.4 kB per interface.
	measuredCollectorBytesPerInterface = 12400
	// Live heap per series × 2 (GC headroom), from
	//	go test -run '^$' -bench 'SeriesMemory' -benchtime 1x ./capacity
	// KPI engine 1,625 B per interface series; rules engine (the example
	// rules) 204 B.
	measuredProcessorBytesPerSeries   = 2 * 1625
	measuredRemediationBytesPerSeries = 2 * 204

	// Kafka and ClickHouse, from a day of 48 simulated interfaces at 1 s
	// (4,147,200 samples, 423,361 KPIs of 10 s windows) through the sink
	// into ClickHouse 18.16:
	//
	//	TELEMETRY_CAPACITY=1 go test -count=1 -run 'TestMeasureStorage$' -v -timeout 30m ./capacity
	//
	// The topics' log sizes on the broker (lz4 batches, one replica).
	measuredKafkaBytesPerSample = 79.1
	measuredKafkaBytesPerKPI    = 104.1
	// interface_counters, compressed on disk after OPTIMIZE FINAL.
	measuredBytesPerRawRow = 64.1
	// interface_kpis with its two rollups and device_kpis, per KPI row.
	measuredBytesPerKPIRow = 78.7
	// The sink's column buffers hold a row as ClickHouse's uncompressed
	// columns do: interface_counters 169 B per row uncompressed.
	measuredSinkBytesPerBufferedRow = 169
)

// Measured returns the measured costs (see the constants for the command
// behind each figure).
func Measured() Costs {
	return Costs{
		CollectorCPUPerSample:      measuredCollectorCPUPerSample,
		ProcessorCPUPerSample:      measuredProcessorCPUPerSample,
		SinkCPUPerRow:              measuredSinkCPUPerRow,
		RemediationCPUPerKPI:       measuredRemediationCPUPerKPI,
		ClickHouseCPUPerRow:        measuredClickHouseCPUPerRow,
		CollectorBaseBytes:         measuredCollectorBase,
		CollectorBytesPerInterface: measuredCollectorBytesPerInterface,
		ProcessorBaseBytes:         measuredProcessorBase,
		ProcessorBytesPerSeries:    measuredProcessorBytesPerSeries,
		SinkBaseBytes:              measuredSinkBase,
		SinkBytesPerBufferedRow:    measuredSinkBytesPerBufferedRow,
		RemediationBaseBytes:       measuredRemediationBase,
		RemediationBytesPerSeries:  measuredRemediationBytesPerSeries,
		KafkaBytesPerSample:        measuredKafkaBytesPerSample,
		KafkaBytesPerKPI:           measuredKafkaBytesPerKPI,
		ClickHouseBytesPerRawRow:   measuredBytesPerRawRow,
		ClickHouseBytesPerKPIRow:   measuredBytesPerKPIRow,
	}
}

// SmallSite is the fabric the small overlay of deploy/kubernetes is sized
// for: 100 switches × 48 interfaces (≈ 5,000 samples/s).
func SmallSite() Fabric { return DefaultFabric(100, 48) }

// LargeSite is the fabric the large overlay is sized for: 10,000 switches
// × 100 interfaces (≈ 1 M samples/s).
func LargeSite() Fabric { return DefaultFabric(10000, 100) }

// ForSite plans a named site ("small" or "large") with the measured costs
// and the default assumptions.
func ForSite(name string) (Plan, error) {
	switch name {
	case "small":
		return Compute(SmallSite(), Measured(), DefaultAssumptions())
	case "large":
		return Compute(LargeSite(), Measured(), DefaultAssumptions())
	}
	return Plan{}, errors.New("capacity: unknown site " + name + " (small or large)")
}
