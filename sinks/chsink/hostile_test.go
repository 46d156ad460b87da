package chsink

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
	"google.golang.org/protobuf/proto"
)

// TestHostileNamesStoredExactlyBySink: every name of the shared hostile
// corpus that a record can carry (valid UTF-8, whatever the ingestion
// policy would say: a writer to Kafka is not the collector) is stored by the
// sink exactly as sent, as site, device and interface, through real Kafka
// into ClickHouse 18.16 (bound parameters, nothing of a name is SQL); a
// record whose name is not valid UTF-8 cannot be decoded and is
// dead-lettered as malformed, never stored, never a stall.
func TestHostileNamesStoredExactlyBySink(t *testing.T) {
	cfg, conn := liveConfig(t)
	kc, prod := liveKafka(t)
	cfg.FlushInterval = 200 * time.Millisecond
	cfg.GroupID = "sinktest-hostile-" + randomSuffix()
	s := startSink(t, cfg, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	base := genInterfaceKPIs(1, 1)[0]
	base.WindowStartUnixNano = testenv.Anchor().UnixNano()
	base.WindowEndUnixNano = base.WindowStartUnixNano + int64(time.Second)
	var kpis []*wirepb.KPI
	names := map[string]string{} // kpi id → name
	invalid := 0
	for _, h := range testenv.HostileNames() {
		if !utf8.ValidString(h.Value) {
			invalid++
			continue
		}
		k := proto.Clone(base).(*wirepb.KPI)
		k.Id = "hostile-" + h.Label
		k.Site, k.Device = h.Value, h.Value
		k.GetInterface().Interface = h.Value
		kpis = append(kpis, k)
		names[k.Id] = h.Value
	}
	if invalid == 0 {
		t.Fatal("the corpus has no invalid UTF-8 name: the malformed case is untested")
	}
	recs := kpiRecords(t, kc, kpis)
	// A name that is not valid UTF-8: proto.Marshal refuses it, a hostile
	// writer does not. Marshal a placeholder and put the bytes in place.
	bad := proto.Clone(base).(*wirepb.KPI)
	bad.Id, bad.Site = "hostile-invalid-utf8", "PLACEHOLDER"
	v, err := proto.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	v = bytes.Replace(v, []byte("PLACEHOLDER"), []byte("bad\xff\xfename"), 1)
	raw := record(t, kc.Topics.KPIs, wire.SchemaKPI, []byte("bad"), base)
	raw.Value = v
	produce(t, prod, append(recs, raw))

	testenv.Eventually(t, 60*time.Second, "every valid name stored and the invalid one dead-lettered", func() bool {
		st := s.Stats()
		return st.Rows[schema.InterfaceKPIs] == uint64(len(kpis)) && st.DeadLetterReasons["malformed"] == 1
	})
	q := fmt.Sprintf("SELECT site, device, interface FROM %s.%s FINAL WHERE kpi_id = ?", cfg.Database, schema.InterfaceKPIs)
	for id, name := range names {
		var site, dev, iface string
		if err := conn.QueryRow(ctx, q, id).Scan(&site, &dev, &iface); err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if site != name || dev != name || iface != name {
			t.Errorf("%s: stored %q / %q / %q, sent %q", id, site, dev, iface, name)
		}
	}
	if n := count(t, conn, "SELECT count() FROM "+cfg.Database+"."+schema.InterfaceKPIs+" WHERE kpi_id = 'hostile-invalid-utf8'"); n != 0 {
		t.Errorf("the record with an invalid UTF-8 name was stored (%d rows)", n)
	}
}
