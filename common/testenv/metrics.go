package testenv

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Series returns the series of the metric family name by the value of
// label: each series' counter or gauge value. A family without series, or
// not registered, is an empty map.
func Series(t testing.TB, g prometheus.Gatherer, name, label string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out[lp.GetValue()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// StopConcurrently calls stop from n goroutines at once, fails the test
// unless every call returned the same result (a Stop is idempotent and
// safe concurrently), and returns that result.
func StopConcurrently(t testing.TB, stop func() error, n int) error {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stop()
		}()
	}
	wg.Wait()
	for i, err := range errs[1:] {
		if err != errs[0] {
			t.Errorf("concurrent Stops returned %v (call 0) and %v (call %d)", errs[0], err, i+1)
		}
	}
	return errs[0]
}
