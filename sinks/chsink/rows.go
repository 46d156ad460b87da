package chsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// vec is one column of a buffered batch. Columns hold no pointers
// (numbers as they are, timestamps as Unix nanoseconds, strings as one byte
// buffer and end offsets), so the garbage collector never scans a batch,
// however large, and a string costs no allocation of its own.
type vec interface {
	// appendTo copies rows [from, to) into a clickhouse-go batch column;
	// sc holds the slices strings and timestamps are converted through.
	appendTo(c driver.BatchColumn, from, to int, sc *scratch) error
	// truncate drops the values after the first n (a row left half-built).
	truncate(n int)
	reset()
}

// number is a column type clickhouse-go takes as a slice as it is.
type number interface {
	uint8 | uint32 | uint64 | int32 | int64 | float64
}

type vecOf[T number] struct{ v []T }

func (x *vecOf[T]) appendTo(c driver.BatchColumn, from, to int, _ *scratch) error {
	return c.Append(x.v[from:to])
}

func (x *vecOf[T]) reset() { x.v = resetKeeping(x.v) }

func (x *vecOf[T]) truncate(n int) { x.v = x.v[:min(n, len(x.v))] }

// resetKeeping empties s for the next batch, keeping its memory unless the
// batch used under a quarter of it: after a backlog (batches of batch-size
// rows) the buffers go back to the size of the steady stream instead of
// holding the peak for good.
func resetKeeping[T any](s []T) []T {
	if len(s)*4 < cap(s) && cap(s) > minKeptRows {
		return nil
	}
	return s[:0]
}

// minKeptRows is the column capacity a buffer always keeps.
const minKeptRows = 4096

// tsVec is a timestamp column in Unix nanoseconds.
type tsVec struct{ vecOf[int64] }

func (x *tsVec) appendTo(c driver.BatchColumn, from, to int, sc *scratch) error {
	t := sc.times[:to-from]
	for i, ns := range x.v[from:to] {
		t[i] = nanos(ns)
	}
	return c.Append(t)
}

// strVec is a string column: the values back to back in buf, value i
// ending at end[i].
type strVec struct {
	buf []byte
	end []int
}

func (x *strVec) add(v string) {
	x.buf = append(x.buf, v...)
	x.end = append(x.end, len(x.buf))
}

// at returns value i, sharing buf's memory: valid until the next reset.
func (x *strVec) at(i int) string {
	start := 0
	if i > 0 {
		start = x.end[i-1]
	}
	if start == x.end[i] {
		return ""
	}
	return unsafe.String(&x.buf[start], x.end[i]-start)
}

// appendTo hands the values over as strings that share buf (clickhouse-go
// copies them into its own column, and buf is not touched until the batch
// is confirmed and reset).
func (x *strVec) appendTo(c driver.BatchColumn, from, to int, sc *scratch) error {
	s := sc.strs[:to-from]
	for i := range s {
		s[i] = x.at(from + i)
	}
	err := c.Append(s)
	clear(s)
	return err
}

func (x *strVec) truncate(n int) {
	if n >= len(x.end) {
		return
	}
	x.end = x.end[:n]
	if n == 0 {
		x.buf = x.buf[:0]
	} else {
		x.buf = x.buf[:x.end[n-1]]
	}
}

func (x *strVec) reset() {
	x.end = resetKeeping(x.end)
	if x.end == nil {
		x.buf = nil
	} else {
		x.buf = x.buf[:0]
	}
}

// scratch is the conversion space of one insert: a block's strings or
// timestamps at a time.
type scratch struct {
	strs  []string
	times []time.Time
}

func newScratch(rows int) *scratch {
	return &scratch{strs: make([]string, rows), times: make([]time.Time, rows)}
}

func newVec(k schema.Kind) (vec, error) {
	switch k {
	case schema.Time, schema.TimeNano:
		return &tsVec{}, nil
	case schema.LowCardinality, schema.String:
		return &strVec{}, nil
	case schema.Float64:
		return &vecOf[float64]{}, nil
	case schema.UInt64, schema.Counter, schema.Sequence:
		return &vecOf[uint64]{}, nil
	case schema.UInt32:
		return &vecOf[uint32]{}, nil
	case schema.UInt8:
		return &vecOf[uint8]{}, nil
	case schema.Int32:
		return &vecOf[int32]{}, nil
	case schema.Int64:
		return &vecOf[int64]{}, nil
	}
	return nil, fmt.Errorf("column kind %s has no buffer", k)
}

// ErrRowMismatch is the error of a row builder whose values do not match
// its table's columns (schema package) in number or type: a build whose
// row builder and table definition disagree. The sink dead-letters the
// record (reason "columns") instead of storing a shifted row; the row
// tests catch it before a build ships.
var ErrRowMismatch = errors.New("row does not match the table's columns")

// tableBuf buffers rows of one table column by column, so a batch is sent
// with one Append per column (the fastest clickhouse-go path), and kept
// until ClickHouse confirms it: a failed insert is retried from the same
// buffer.
type tableBuf struct {
	t      schema.Table
	insert string
	cols   []vec
	i      int
	rows   int
	// bad is the first mismatch of the row being built (nil: none).
	bad error
}

func newTableBuf(db string, t schema.Table) *tableBuf {
	b := &tableBuf{t: t, insert: fmt.Sprintf("INSERT INTO %s.%s (%s)", db, t.Name, strings.Join(t.ColumnNames(), ", "))}
	for _, c := range t.Columns {
		v, err := newVec(c.Kind)
		if err != nil {
			// Every value built for it is a mismatch: the row is refused.
			v = badVec{}
		}
		b.cols = append(b.cols, v)
	}
	return b
}

// badVec stands for a column whose kind has no buffer: no builder matches
// it, so no row of its table is ever stored (each is refused by end).
type badVec struct{}

func (badVec) appendTo(driver.BatchColumn, int, int, *scratch) error { return ErrRowMismatch }
func (badVec) truncate(int)                                          {}
func (badVec) reset()                                                {}

// Row builders: call in column order, then end(), which refuses a row
// whose values did not match the columns.

// put appends v to the next column, which must hold values of type T.
func put[T number](b *tableBuf, v T) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*vecOf[T]); ok {
			x.v = append(x.v, v)
			b.i++
			return b
		}
	}
	return b.mismatch(v)
}

// ts appends a timestamp in Unix nanoseconds.
func (b *tableBuf) ts(ns int64) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*tsVec); ok {
			x.v = append(x.v, ns)
			b.i++
			return b
		}
	}
	return b.mismatch(nanos(ns))
}

func (b *tableBuf) str(v string) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*strVec); ok {
			x.add(v)
			b.i++
			return b
		}
	}
	return b.mismatch(v)
}

// mismatch notes that the value for column b.i does not fit it (the first
// mismatch of a row is kept) and moves on; end refuses the row.
//
//go:noinline
func (b *tableBuf) mismatch(v any) *tableBuf {
	if b.bad == nil {
		if b.i < len(b.t.Columns) {
			c := b.t.Columns[b.i]
			b.bad = fmt.Errorf("%w: %s.%s (column %d, %s, Go %s) given a %T", ErrRowMismatch, b.t.Name, c.Name, b.i+1, c.Kind, c.Kind.GoType(), v)
		} else {
			b.bad = fmt.Errorf("%w: %s has %d columns, given a value %d (%T)", ErrRowMismatch, b.t.Name, len(b.cols), b.i+1, v)
		}
	}
	b.i++
	return b
}

func (b *tableBuf) f64(v float64) *tableBuf { return put(b, v) }
func (b *tableBuf) u64(v uint64) *tableBuf  { return put(b, v) }
func (b *tableBuf) u32(v uint32) *tableBuf  { return put(b, v) }
func (b *tableBuf) u8(v uint8) *tableBuf    { return put(b, v) }
func (b *tableBuf) i32(v int32) *tableBuf   { return put(b, v) }
func (b *tableBuf) i64(v int64) *tableBuf   { return put(b, v) }

// end completes the row. A row whose values did not match the columns is
// taken back out of the buffer and refused with an ErrRowMismatch.
func (b *tableBuf) end() error {
	if b.bad == nil && b.i == len(b.cols) {
		b.i = 0
		b.rows++
		return nil
	}
	return b.refuse()
}

//go:noinline
func (b *tableBuf) refuse() error {
	err := b.bad
	if err == nil {
		err = fmt.Errorf("%w: %s has %d columns, the row %d values", ErrRowMismatch, b.t.Name, len(b.cols), b.i)
	}
	for _, c := range b.cols {
		c.truncate(b.rows)
	}
	b.i, b.bad = 0, nil
	return err
}

func (b *tableBuf) reset() {
	for _, c := range b.cols {
		c.reset()
	}
	b.i, b.rows, b.bad = 0, 0, nil
}

// blockRows is the most rows a native block of an insert carries. A batch
// goes to ClickHouse as one INSERT of blocks of this size: clickhouse-go's
// columns then grow once to a block and are reused for the next (a fresh
// column growing to a whole batch row by row was the largest client cost
// of an insert), and the server, which gathers the blocks of an INSERT
// before it writes (min_insert_block_size_rows), still writes one part.
const blockRows = 32768

// send inserts the buffered rows in one INSERT. The buffer is kept (the
// caller resets it once every table of the flush succeeded).
func (b *tableBuf) send(ctx context.Context, conn driver.Conn) error {
	batch, err := conn.PrepareBatch(ctx, b.insert)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", b.t.Name, err)
	}
	sc := newScratch(min(b.rows, blockRows))
	for from := 0; from < b.rows; from += blockRows {
		to := min(from+blockRows, b.rows)
		for i, c := range b.cols {
			if err := c.appendTo(batch.Column(i), from, to, sc); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("append %s.%s: %w", b.t.Name, b.t.Columns[i].Name, err)
			}
		}
		if to == b.rows {
			break
		}
		if err := batch.Flush(); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("insert %d rows into %s: %w", b.rows, b.t.Name, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", b.rows, b.t.Name, err)
	}
	return nil
}

func nanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func windowSeconds(k *wirepb.KPI) uint32 {
	d := k.GetWindowEndUnixNano() - k.GetWindowStartUnixNano()
	if d <= 0 {
		return 0
	}
	return uint32((d + 500_000_000) / 1_000_000_000)
}

func operStatus(s wirepb.OperStatus) string {
	if s == wirepb.OperStatus_OPER_STATUS_UNSPECIFIED {
		return ""
	}
	return s.String()
}

// buffers holds one tableBuf per table the sink writes.
type buffers struct {
	byName map[string]*tableBuf
	order  []*tableBuf
}

func newBuffers(db string) *buffers {
	b := &buffers{byName: map[string]*tableBuf{}}
	for _, t := range schema.Tables() {
		tb := newTableBuf(db, t)
		b.byName[t.Name] = tb
		b.order = append(b.order, tb)
	}
	return b
}

// table returns the buffer of the table named name. A name the schema
// does not list gets a buffer that refuses every row (never nil).
func (b *buffers) table(name string) *tableBuf {
	if t := b.byName[name]; t != nil {
		return t
	}
	return &tableBuf{t: schema.Table{Name: name}, bad: fmt.Errorf("%w: no table %s in the schema", ErrRowMismatch, name)}
}

func (b *buffers) rows() int {
	n := 0
	for _, t := range b.order {
		n += t.rows
	}
	return n
}

func (b *buffers) reset() {
	for _, t := range b.order {
		t.reset()
	}
}

// addKPI appends a decoded KPI to its table.
func (b *buffers) addKPI(k *wirepb.KPI) error {
	ts := k.GetWindowStartUnixNano()
	switch body := k.GetBody().(type) {
	case *wirepb.KPI_Interface:
		i := body.Interface
		return b.table(schema.InterfaceKPIs).ts(ts).str(k.GetSite()).str(k.GetDevice()).str(i.GetInterface()).
			f64(i.GetUtilIn()).f64(i.GetUtilOut()).f64(i.GetLossRatio()).f64(i.GetInErrorsPs()).f64(i.GetInDiscardsPs()).
			f64(i.GetOutDiscardsPs()).f64(i.GetOutErrorsPs()).u64(i.GetSpeedBps()).f64(i.GetInBps()).f64(i.GetOutBps()).
			f64(i.GetInPps()).f64(i.GetOutPps()).str(operStatus(i.GetOperStatus())).u32(windowSeconds(k)).u32(k.GetSamples()).
			str(k.GetId()).end()
	case *wirepb.KPI_Link:
		l := body.Link
		return b.table(schema.LinkKPIs).ts(ts).str(k.GetSite()).str(k.GetDevice()).str(l.GetDstSite()).str(l.GetDstDevice()).
			f64(l.GetRttMs()).f64(l.GetRttP50Ms()).f64(l.GetRttP95Ms()).f64(l.GetRttP99Ms()).f64(l.GetJitterMs()).f64(l.GetLossRatio()).
			u64(l.GetProbesSent()).u64(l.GetProbesReceived()).u32(windowSeconds(k)).str(k.GetId()).end()
	case *wirepb.KPI_Pipeline:
		p := body.Pipeline
		return b.table(schema.PipelineKPIs).ts(ts).str(p.GetInstance()).f64(p.GetDelayP50Ms()).f64(p.GetDelayP99Ms()).
			f64(p.GetDelayMaxMs()).u64(p.GetSamples()).u32(windowSeconds(k)).end()
	case *wirepb.KPI_DeviceKpi:
		d := body.DeviceKpi
		return b.table(schema.DeviceKPIs).ts(ts).str(k.GetSite()).str(k.GetDevice()).u8(uint8(min(d.GetReachable(), 1))).
			str(deviceState(d.GetState())).str(d.GetLastError()).f64(d.GetUpRatio()).u32(windowSeconds(k)).u32(k.GetSamples()).
			str(k.GetId()).end()
	}
	return nil
}

// addSample appends a decoded sample: interface and probe samples to the
// raw tables when raw is set, device samples to devices.
func (b *buffers) addSample(s *wirepb.Sample, raw bool, firstSeen map[string]int64) error {
	ts := s.GetDeviceTimeUnixNano()
	switch body := s.GetBody().(type) {
	case *wirepb.Sample_Interface:
		if !raw {
			return nil
		}
		i := body.Interface
		if len(i.GetCounters()) == 0 {
			// State only (ON_CHANGE oper-status, last-clear, speed).
			return b.table(schema.InterfaceState).ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).ts(s.GetReceiveTimeUnixNano()).
				str(s.GetSite()).str(s.GetDevice()).str(i.GetInterface()).
				u64(i.GetSpeedBps()).str(operStatus(i.GetOperStatus())).u64(uint64(max(i.GetLastClearUnixNano(), 0))).
				str(s.GetCollector()).u64(s.GetSeq()).end()
		}
		var c [15]uint64
		for _, cv := range i.GetCounters() {
			if n := int(cv.GetCounter()); n > 0 && n < len(c) {
				c[n] = cv.GetValue()
			}
		}
		return b.table(schema.InterfaceCounters).ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).ts(s.GetReceiveTimeUnixNano()).
			str(s.GetSite()).str(s.GetDevice()).str(i.GetInterface()).
			u64(c[wirepb.Counter_IN_OCTETS]).u64(c[wirepb.Counter_IN_UNICAST_PKTS]).u64(c[wirepb.Counter_IN_BROADCAST_PKTS]).
			u64(c[wirepb.Counter_IN_MULTICAST_PKTS]).u64(c[wirepb.Counter_IN_ERRORS]).u64(c[wirepb.Counter_IN_DISCARDS]).
			u64(c[wirepb.Counter_OUT_OCTETS]).u64(c[wirepb.Counter_OUT_UNICAST_PKTS]).u64(c[wirepb.Counter_OUT_BROADCAST_PKTS]).
			u64(c[wirepb.Counter_OUT_MULTICAST_PKTS]).u64(c[wirepb.Counter_OUT_ERRORS]).u64(c[wirepb.Counter_OUT_DISCARDS]).
			u64(i.GetSpeedBps()).str(operStatus(i.GetOperStatus())).str(s.GetCollector()).u64(s.GetSeq()).end()
	case *wirepb.Sample_Probe:
		if !raw {
			return nil
		}
		p := body.Probe
		return b.table(schema.ProbeResults).ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).
			str(s.GetSite()).str(s.GetDevice()).str(p.GetPeerSite()).str(p.GetPeerDevice()).
			f64(p.GetMinDelayUs()).f64(p.GetMaxDelayUs()).f64(p.GetAvgDelayUs()).f64(p.GetStddevDelayUs()).f64(p.GetJitterUs()).
			f64(p.GetLossPercentage() / 100).u64(p.GetProbesSent()).u64(p.GetProbesReceived()).end()
	case *wirepb.Sample_DeviceState:
		d := body.DeviceState
		seen := ts
		if ts == 0 {
			seen = s.GetReceiveTimeUnixNano()
		}
		key := s.GetSite() + "\x00" + s.GetDevice()
		first, ok := firstSeen[key]
		if !ok || seen < first {
			first = seen
			firstSeen[key] = first
		}
		return b.table(schema.Devices).str(s.GetSite()).str(s.GetDevice()).str(d.GetAddress()).ts(first).ts(seen).
			str(deviceState(d.GetState())).str(d.GetLastError()).end()
	}
	return nil
}

func deviceState(s wirepb.DeviceState) string {
	switch s {
	case wirepb.DeviceState_CONNECTING:
		return "connecting"
	case wirepb.DeviceState_DEVICE_UP:
		return "up"
	case wirepb.DeviceState_DEVICE_DOWN:
		return "down"
	}
	return ""
}

func lowerEnum(s fmt.Stringer, unspecified string) string {
	v := s.String()
	if v == unspecified {
		return ""
	}
	return strings.ToLower(v)
}

// addRemediation appends one lifecycle transition.
func (b *buffers) addRemediation(e *wirepb.RemediationEvent) error {
	return b.table(schema.RemediationEvents).ts(e.GetTimeUnixNano()).str(e.GetEventId()).str(e.GetRule()).
		str(lowerEnum(e.GetState(), "EVENT_STATE_UNSPECIFIED")).str(lowerEnum(e.GetSeverity(), "SEVERITY_UNSPECIFIED")).
		str(e.GetSite()).str(e.GetDevice()).str(e.GetInterface()).str(e.GetDstSite()).str(e.GetDstDevice()).str(e.GetKpi()).
		f64(e.GetValue()).f64(e.GetThreshold()).ts(e.GetFiredUnixNano()).str(e.GetAction()).str(e.GetMessage()).
		u32(e.GetAttempt()).end()
}

// addDeadLetter appends one dead letter.
func (b *buffers) addDeadLetter(ts int64, component, reason, topic string, partition int32, offset int64, key, payload []byte) error {
	return b.table(schema.DeadLetters).ts(ts).str(component).str(reason).str(topic).i32(partition).i64(offset).
		str(string(key)).str(string(payload)).end()
}
