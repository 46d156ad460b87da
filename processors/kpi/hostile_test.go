package kpi

import (
	"context"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/kafkatest"
	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestHostileNamesCarriedExactly: every name of the shared hostile corpus
// that a record can carry (valid UTF-8) goes through the processor as site,
// device and interface and comes out in its KPIs exactly as it came in, with
// exact values, one series per name: a quote, a backslash, a slash, a NUL or
// a 10 kB name neither merges two series nor splits one, nor stalls the
// partition. Names are the dashboards' business to quote (they never put
// one in SQL) and the collector's to police; the processor keeps them.
func TestHostileNamesCarriedExactly(t *testing.T) {
	kc, _ := kafkatest.Fake(t, 2)
	cl := producer(t, kc)
	var names []string
	for _, h := range testenv.HostileNames() {
		if utf8.ValidString(h.Value) && h.Value != "" {
			names = append(names, h.Value)
		}
	}
	var recs []*kgo.Record
	for r := int64(0); r < 25; r++ {
		for _, n := range names {
			s := ifSample(n, n, t0+r*sec, 1e9, cv{wirepb.Counter_IN_OCTETS: uint64(r) * 1e6})
			s.Site = n
			recs = append(recs, sampleRecord(t, s))
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p, _ := newTestProcessor(t, kc, "hostile")
	defer p.Stop()
	r := newKPIReader(t, kc)
	// Windows [0,10) and [10,20) of every name are closed by the samples
	// up to 24 s.
	r.until(t, 60*time.Second, func(m map[string][]*wirepb.KPI) bool { return interfaceCount(m) >= 2*len(names) })
	seen := map[string]int{}
	for id, ks := range r.byID {
		k := ks[0]
		ik := k.GetInterface()
		if ik == nil {
			continue
		}
		if k.Site != k.Device || ik.Interface != k.Device {
			t.Errorf("%s: site %q, device %q, interface %q: names mixed", id, k.Site, k.Device, ik.Interface)
		}
		near(t, "util_in of "+id, ik.UtilIn, 8e6/1e9, 1e-9)
		seen[k.Device]++
	}
	for _, n := range names {
		if seen[n] != 2 {
			t.Errorf("name %q (%d bytes): %d windows, want 2", truncate(n), len(n), seen[n])
		}
	}
	if len(seen) != len(names) {
		t.Errorf("%d distinct names in the KPIs, %d sent", len(seen), len(names))
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
