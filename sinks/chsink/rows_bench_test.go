package chsink

import (
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/meshtelemetry/telemetry/sinks/schema"
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
