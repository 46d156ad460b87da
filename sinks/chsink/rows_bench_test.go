package chsink

import (
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// appender adapts a clickhouse-go column to driver.BatchColumn, so a
// buffer is copied into the very columns a batch would hold, without a
// server.
type appender struct{ c chcolumn.Interface }

func (a appender) Append(v any) error {
	_, err := a.c.Append(v)
	return err
}

func (a appender) AppendRow(v any) error { return a.c.AppendRow(v) }

// BenchmarkBuffers measures the sink's client work per row between a
// decoded KPI and the bytes of a native block: appending to the column
// buffers, copying them into clickhouse-go's columns (send) and encoding
// the block. Rows go in batches of 200 000 interface KPIs, the default
// batch-size, with the column types of an old (18.16) and a current server.
func BenchmarkBuffers(b *testing.B) {
	const rows = 200000
	kpis := genInterfaceKPIs(rows, 2000)
	for _, tc := range []struct {
		name string
		caps Capabilities
	}{{"legacy", Capabilities{}}, {"modern", ModernCapabilities()}} {
		b.Run(tc.name, func(b *testing.B) {
			bufs := newBuffers("db")
			tb := bufs.byName[schema.InterfaceKPIs]
			sc := newScratch(blockRows)
			var wire proto.Buffer
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				bufs.reset()
				for _, k := range kpis {
					bufs.addKPI(k)
				}
				// Fresh columns per insert, as PrepareBatch makes them.
				cols := make([]chcolumn.Interface, len(tb.t.Columns))
				for i, c := range tb.t.Columns {
					col, err := chcolumn.Type(columnType(c.Kind, tc.caps)).Column(c.Name, &chcolumn.ServerContext{Timezone: time.UTC})
					if err != nil {
						b.Fatal(err)
					}
					cols[i] = col
				}
				for from := 0; from < rows; from += blockRows {
					to := min(from+blockRows, rows)
					wire.Reset()
					for i, col := range cols {
						if err := tb.cols[i].appendTo(appender{col}, from, to, sc); err != nil {
							b.Fatal(err)
						}
						col.Encode(&wire)
						col.Reset()
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}

// BenchmarkRowBuilding measures the row builders alone: appending decoded
// records to the column buffers (no clickhouse-go column, no encoding),
// per kind of record.
func BenchmarkRowBuilding(b *testing.B) {
	const n = 20000
	ifs := genInterfaceKPIs(n, 2000)
	links := genLinkKPIs(n)
	devs := genDeviceKPIs(n)
	var samples []*wirepb.Sample
	for len(samples) < n {
		samples = append(samples, genSamples()[:2]...)
	}
	var events []*wirepb.RemediationEvent
	for len(events) < n {
		events = append(events, genEvents()...)
	}
	bufs := newBuffers("db")
	fs := map[string]int64{}
	for _, tc := range []struct {
		name string
		rows int
		add  func()
	}{
		{"interface_kpis", len(ifs), func() {
			for _, k := range ifs {
				bufs.addKPI(k)
			}
		}},
		{"link_kpis", len(links), func() {
			for _, k := range links {
				bufs.addKPI(k)
			}
		}},
		{"device_kpis", len(devs), func() {
			for _, k := range devs {
				bufs.addKPI(k)
			}
		}},
		{"samples", len(samples), func() {
			for _, s := range samples {
				bufs.addSample(s, true, fs)
			}
		}},
		{"remediation_events", len(events), func() {
			for _, e := range events {
				bufs.addRemediation(e)
			}
		}},
		{"deadletters", n, func() {
			for i := 0; i < n; i++ {
				bufs.addDeadLetter(int64(i), "processor", "malformed", "telemetry.samples", 3, int64(i), []byte("key"), []byte("payload"))
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bufs.reset()
				tc.add()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.rows), "ns/row")
		})
	}
}
