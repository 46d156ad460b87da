package kpi

import (
	"strconv"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// BenchmarkEngine feeds 10,000 interfaces, one sample per second each with
// all 12 standard counters, in steady state (windows closing as they go).
// ns/op is per sample.
func BenchmarkEngine(b *testing.B) {
	const n = 10000
	e := NewEngine(DefaultConfiguration(), "bench")
	samples := make([]*wirepb.Sample, n)
	for i := range samples {
		samples[i] = ifSample("dev"+strconv.Itoa(i/48), "eth"+strconv.Itoa(i%48), t0, 10e9, cv{
			wirepb.Counter_IN_OCTETS: 0, wirepb.Counter_IN_UNICAST_PKTS: 0, wirepb.Counter_IN_BROADCAST_PKTS: 0,
			wirepb.Counter_IN_MULTICAST_PKTS: 0, wirepb.Counter_IN_ERRORS: 0, wirepb.Counter_IN_DISCARDS: 0,
			wirepb.Counter_OUT_OCTETS: 0, wirepb.Counter_OUT_UNICAST_PKTS: 0, wirepb.Counter_OUT_BROADCAST_PKTS: 0,
			wirepb.Counter_OUT_MULTICAST_PKTS: 0, wirepb.Counter_OUT_ERRORS: 0, wirepb.Counter_OUT_DISCARDS: 0,
		})
	}
	var out []*wirepb.KPI
	step := func(round int64) {
		t := t0 + round*sec
		for _, s := range samples {
			s.DeviceTimeUnixNano = t
			for _, c := range s.GetInterface().Counters {
				c.Value += 1000 + uint64(c.Counter)
			}
		}
	}
	// warm up: two windows, so every series has open windows and buffers
	round := int64(0)
	for ; round < 25; round++ {
		step(round)
		for _, s := range samples {
			e.Add(s, time.Unix(0, s.DeviceTimeUnixNano+int64(time.Millisecond)))
		}
		out = e.Collect(time.Unix(0, t0+round*sec), out[:0])
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == n {
			i = 0
			round++
			b.StopTimer()
			step(round)
			b.StartTimer()
			out = e.Collect(time.Unix(0, t0+round*sec), out[:0])
		}
		s := samples[i]
		e.Add(s, time.Unix(0, s.DeviceTimeUnixNano+int64(time.Millisecond)))
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
