package kpi

import (
	"strconv"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// BenchmarkEngine feeds 10,000 interfaces (one sample per second each, all
// 12 standard counters) in steady state, windows closing as they go. Like
// the processor's decoder, it reuses one Sample, filling it per call; the
// series state (10,000 series) is what the engine works through. ns/op is
// per sample.
func BenchmarkEngine(b *testing.B) {
	const n = 10000
	e := NewEngine(DefaultConfiguration(), "bench")
	devs := make([]string, n)
	ifaces := make([]string, n)
	for i := range devs {
		devs[i], ifaces[i] = "dev"+strconv.Itoa(i/48), "eth"+strconv.Itoa(i%48)
	}
	s := ifSample("", "", t0, 10e9, cv{
		wirepb.Counter_IN_OCTETS: 0, wirepb.Counter_IN_UNICAST_PKTS: 0, wirepb.Counter_IN_BROADCAST_PKTS: 0,
		wirepb.Counter_IN_MULTICAST_PKTS: 0, wirepb.Counter_IN_ERRORS: 0, wirepb.Counter_IN_DISCARDS: 0,
		wirepb.Counter_OUT_OCTETS: 0, wirepb.Counter_OUT_UNICAST_PKTS: 0, wirepb.Counter_OUT_BROADCAST_PKTS: 0,
		wirepb.Counter_OUT_MULTICAST_PKTS: 0, wirepb.Counter_OUT_ERRORS: 0, wirepb.Counter_OUT_DISCARDS: 0,
	})
	st := s.GetInterface()
	var out []*wirepb.KPI
	i, round := 0, int64(0)
	feed := func() {
		if i == n {
			i = 0
			round++
			out = e.Collect(time.Unix(0, t0+round*sec), out[:0])
		}
		t := t0 + round*sec
		s.Device, s.DeviceTimeUnixNano = devs[i], t
		st.Interface = ifaces[i]
		for _, c := range st.Counters {
			c.Value = uint64(round) * (1000 + uint64(c.Counter))
		}
		e.Add(s, time.Unix(0, t+int64(time.Millisecond)))
		i++
	}
	// warm up: 25 rounds, so every series has open windows and buffers
	for range 25 * n {
		feed()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		feed()
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	// per CPU-second of this process (GC included): what one core does,
	// whatever else the machine is running
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "samples/cpu-s")
}
