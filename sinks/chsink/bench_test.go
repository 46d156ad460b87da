package chsink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/common/testenv"
	"github.com/meshtelemetry/telemetry/sinks/schema"
)

// rowBinary encodes buffered rows in ClickHouse's RowBinary format, for
// clickhouse-client (the server's own bulk-load path).
func rowBinary(tb *tableBuf, caps Capabilities) []byte {
	var out bytes.Buffer
	var scratch [binary.MaxVarintLen64]byte
	for r := 0; r < tb.rows; r++ {
		for i, c := range tb.cols {
			switch x := c.(type) {
			case *tsVec:
				if caps.DateTime64 {
					prec := int64(1000)
					if tb.t.Columns[i].Kind == schema.TimeNano {
						prec = 1e9
					}
					_ = binary.Write(&out, binary.LittleEndian, x.v[r]/(1e9/prec))
				} else {
					_ = binary.Write(&out, binary.LittleEndian, uint32(nanos(x.v[r]).Unix()))
				}
			case *strVec:
				v := x.at(r)
				n := binary.PutUvarint(scratch[:], uint64(len(v)))
				out.Write(scratch[:n])
				out.WriteString(v)
			case *vecOf[float64]:
				_ = binary.Write(&out, binary.LittleEndian, math.Float64bits(x.v[r]))
			case *vecOf[uint64]:
				_ = binary.Write(&out, binary.LittleEndian, x.v[r])
			case *vecOf[uint32]:
				_ = binary.Write(&out, binary.LittleEndian, x.v[r])
			case *vecOf[int32]:
				_ = binary.Write(&out, binary.LittleEndian, x.v[r])
			case *vecOf[int64]:
				_ = binary.Write(&out, binary.LittleEndian, x.v[r])
			}
		}
	}
	return out.Bytes()
}

// bulkLoad runs clickhouse-client INSERT .. FORMAT format < file and
// returns how long it took.
func bulkLoad(t testing.TB, addr, insert, format, file string) time.Duration {
	t.Helper()
	host, port, _ := splitHostPort(addr)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--query", insert+" FORMAT "+format)
	cmd.Stdin = bufio.NewReaderSize(f, 1<<20)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clickhouse-client: %v\n%s", err, out)
	}
	return time.Since(start)
}

// exportNative writes the result of query in Native format to file, in
// blocks of up to 1,048,576 rows (max_insert_block_size: one insert block).
func exportNative(t testing.TB, addr, query, file string) {
	t.Helper()
	host, port, _ := splitHostPort(addr)
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--max_block_size", "1048576", "--query", query+" FORMAT Native")
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("clickhouse-client export: %v\n%s", err, stderr.String())
	}
}

func splitHostPort(a string) (string, string, error) {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			return a[:i], a[i+1:], nil
		}
	}
	return a, "9000", nil
}

// TestThroughputLive compares the sink's throughput (interface KPIs, Kafka
// → ClickHouse, end to end; and the insert path alone) with the server's
// own bulk-load rate for the same rows through clickhouse-client. Slow:
// runs only with TELEMETRY_BENCH=1 (rows: TELEMETRY_BENCH_ROWS, default
// 1000000; batch size: TELEMETRY_BENCH_BATCH, default the sink's 200000).
//
//	TELEMETRY_BENCH=1 go test ./sinks/chsink -run TestThroughputLive -v
func TestThroughputLive(t *testing.T) {
	if os.Getenv("TELEMETRY_BENCH") == "" {
		t.Skip("set TELEMETRY_BENCH=1 to run the throughput comparison")
	}
	if _, err := exec.LookPath("clickhouse-client"); err != nil {
		t.Skip("clickhouse-client not on PATH")
	}
	n := 1000000
	if v, err := strconv.Atoi(os.Getenv("TELEMETRY_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	addr := testenv.ClickHouse(t)
	cfg, conn := liveConfig(t)
	if v, err := strconv.Atoi(os.Getenv("TELEMETRY_BENCH_BATCH")); err == nil && v > 0 {
		cfg.BatchSize = v
	}
	if v := os.Getenv("TELEMETRY_BENCH_COMPRESSION"); v != "" {
		cfg.Compression = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	caps, err := Migrate(ctx, conn, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	kpis := genInterfaceKPIs(n, 2000)
	buf := newBuffers(cfg.Database)
	for _, k := range kpis {
		buf.addKPI(k)
	}
	tb := buf.byName[schema.InterfaceKPIs]
	truncate := func() {
		for _, tname := range []string{schema.InterfaceKPIs, schema.InterfaceKPIs1m, schema.InterfaceKPIs1h} {
			if err := conn.Exec(ctx, fmt.Sprintf("TRUNCATE TABLE %s.%s", cfg.Database, tname)); err != nil {
				t.Fatal(err)
			}
		}
	}

	countRows := func(final string) uint64 {
		return count(t, conn, fmt.Sprintf("SELECT count() FROM %s.interface_kpis %s", cfg.Database, final))
	}
	file := filepath.Join(t.TempDir(), "rows.bin")
	if err := os.WriteFile(file, rowBinary(tb, caps), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same rows in ClickHouse's Native format, as the server writes
	// them, in blocks as large as an insert takes (one part, as RowBinary).
	truncate()
	bulkLoad(t, addr, tb.insert, "RowBinary", file)
	native := filepath.Join(t.TempDir(), "rows.native")
	exportNative(t, addr, fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(tb.t.ColumnNames(), ", "), cfg.Database, tb.t.Name), native)
	// The machine is shared and noisy: interleave the runs and keep the
	// best of each (rounds of: bulk loads, sink insert path).
	const rounds = 3
	bulk, bulkRB, insertOnly := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for round := 0; round < rounds; round++ {
		// 1. The physical limit: clickhouse-client, Native from a file
		// (and RowBinary, for comparison).
		truncate()
		d := bulkLoad(t, addr, tb.insert, "Native", native)
		if got := countRows(""); got != uint64(n) {
			t.Fatalf("bulk load stored %d rows, want %d", got, n)
		}
		bulk = min(bulk, d)
		truncate()
		drb := bulkLoad(t, addr, tb.insert, "RowBinary", file)
		bulkRB = min(bulkRB, drb)
		// 2. The sink's insert path alone, one batch at a time (the sink
		// itself has two in flight): decode-free, batches of batch-size rows.
		truncate()
		sub := newBuffers(cfg.Database)
		start := time.Now()
		for i, k := range kpis {
			sub.addKPI(k)
			if sub.rows() >= cfg.BatchSize || i == len(kpis)-1 {
				if err := sub.byName[schema.InterfaceKPIs].send(ctx, conn); err != nil {
					t.Fatal(err)
				}
				sub.reset()
			}
		}
		insertOnly = min(insertOnly, time.Since(start))
		t.Logf("round %d: bulk Native %s, RowBinary %s, sink insert path %s", round+1, d.Round(time.Millisecond), drb.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}

	// 3. End to end: records pre-produced to Kafka, the sink consumes,
	// decodes, inserts, commits. Timed from the first record polled to the
	// last row confirmed (excludes the group join). Twice (two consumer
	// groups reading the same topic), best kept.
	kc, prod := liveKafka(t)
	produce(t, prod, kpiRecords(t, kc, kpis))
	e2eRate := 0.0
	var e2e time.Duration
	var e2eRows uint64
	for round := 0; round < 2; round++ {
		truncate()
		scfg := cfg
		scfg.GroupID = "sinkbench-" + randomSuffix()
		s, err := New(scfg, Dependencies{Logger: testLogger(t), Kafka: kc})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		// From the first record polled (the group join excluded) to the
		// last row confirmed: all n rows. (Counting from the first
		// confirmed batch would flatter the sink, whose next inserts are
		// already under way by then.)
		var t0 time.Time
		for {
			st := s.Stats()
			if t0.IsZero() && st.Records[kc.Topics.KPIs] > 0 {
				t0 = time.Now()
			}
			if st.Rows[schema.InterfaceKPIs] >= uint64(n) {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("timed out")
			}
			time.Sleep(time.Millisecond)
		}
		d := time.Since(t0)
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		if got := countRows("FINAL"); got != uint64(n) {
			t.Fatalf("sink stored %d rows, want %d", got, n)
		}
		r := float64(uint64(n)) / d.Seconds()
		t.Logf("end to end round %d: %d rows in %s", round+1, uint64(n), d.Round(time.Millisecond))
		if r > e2eRate {
			e2eRate, e2e, e2eRows = r, d, uint64(n)
		}
	}

	rate := func(rows uint64, d time.Duration) float64 { return float64(rows) / d.Seconds() }
	bulkRate, insRate := rate(uint64(n), bulk), rate(uint64(n), insertOnly)
	t.Logf("server %s, %d interface_kpis rows (+2 materialized views), batch-size %d, best of %d/%d/2", caps.Version, n, cfg.BatchSize, rounds, rounds)
	t.Logf("clickhouse-client Native bulk load:    %8.0f rows/s (%s)", bulkRate, bulk.Round(time.Millisecond))
	t.Logf("(clickhouse-client RowBinary:          %8.0f rows/s (%s))", rate(uint64(n), bulkRB), bulkRB.Round(time.Millisecond))
	t.Logf("sink insert path, one batch at a time: %8.0f rows/s (%s) = %.0f%% of bulk", insRate, insertOnly.Round(time.Millisecond), 100*insRate/bulkRate)
	t.Logf("sink end to end (Kafka → ClickHouse):  %8.0f rows/s (%d rows in %s) = %.0f%% of bulk", e2eRate, e2eRows, e2e.Round(time.Millisecond), 100*e2eRate/bulkRate)
	// Cost of exact reads before merges: plain vs FINAL vs GROUP BY key, and
	// the 1m rollup, on the rows just written (parts not merged yet).
	db := cfg.Database
	for _, q := range []struct{ name, sql string }{
		{"plain", "SELECT site, device, interface, avg(util_in), max(util_in) FROM " + db + ".interface_kpis GROUP BY site, device, interface FORMAT Null"},
		{"FINAL", "SELECT site, device, interface, avg(util_in), max(util_in) FROM " + db + ".interface_kpis FINAL GROUP BY site, device, interface FORMAT Null"},
		{"group-by-key (any)", "SELECT site, device, interface, avg(u), max(u) FROM (SELECT site, device, interface, ts, any(util_in) AS u FROM " + db + ".interface_kpis GROUP BY site, device, interface, ts) GROUP BY site, device, interface FORMAT Null"},
		{"rollup 1m avgMerge", "SELECT site, device, interface, avgMerge(util_in_avg), maxMerge(util_in_max) FROM " + db + ".interface_kpis_1m GROUP BY site, device, interface FORMAT Null"},
	} {
		best := time.Duration(math.MaxInt64)
		for i := 0; i < 5; i++ {
			st := time.Now()
			if err := conn.Exec(ctx, q.sql); err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			best = min(best, time.Since(st))
		}
		t.Logf("query %-20s best of 5: %s", q.name, best.Round(100*time.Microsecond))
	}
	parts := count(t, conn, "SELECT count() FROM system.parts WHERE database = ? AND table = 'interface_kpis' AND active", db)
	t.Logf("(interface_kpis: %d active parts)", parts)

	if e2eRate < 0.7*bulkRate {
		t.Logf("WARNING: end-to-end sink below 70%% of the bulk-load limit")
	}
}
