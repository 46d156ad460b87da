package chsink

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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

func newVec(k kind) vec {
	switch k {
	case kTS, kTSNano:
		return &tsVec{}
	case kLC, kStr:
		return &strVec{}
	case kF64:
		return &vecOf[float64]{}
	case kU64, kU64Mono, kU64Seq:
		return &vecOf[uint64]{}
	case kU32:
		return &vecOf[uint32]{}
	case kU8:
		return &vecOf[uint8]{}
	case kI32:
		return &vecOf[int32]{}
	case kI64:
		return &vecOf[int64]{}
	}
	panic("unknown column kind")
}

// tableBuf buffers rows of one table column by column, so a batch is sent
// with one Append per column (the fastest clickhouse-go path), and kept
// until ClickHouse confirms it: a failed insert is retried from the same
// buffer.
type tableBuf struct {
	t      table
	insert string
	cols   []vec
	i      int
	rows   int
}

func newTableBuf(db string, t table) *tableBuf {
	b := &tableBuf{t: t, insert: fmt.Sprintf("INSERT INTO %s.%s (%s)", db, t.name, strings.Join(t.columnNames(), ", "))}
	for _, c := range t.cols {
		b.cols = append(b.cols, newVec(c.kind))
	}
	return b
}

// Row builders: call in column order, then end().

// put appends v to the next column, which must hold values of type T.
func put[T number](b *tableBuf, v T) *tableBuf {
	x := b.cols[b.i].(*vecOf[T])
	x.v = append(x.v, v)
	b.i++
	return b
}

// ts appends a timestamp in Unix nanoseconds.
func (b *tableBuf) ts(ns int64) *tableBuf {
	x := b.cols[b.i].(*tsVec)
	x.v = append(x.v, ns)
	b.i++
	return b
}

func (b *tableBuf) str(v string) *tableBuf {
	b.cols[b.i].(*strVec).add(v)
	b.i++
	return b
}

func (b *tableBuf) f64(v float64) *tableBuf { return put(b, v) }
func (b *tableBuf) u64(v uint64) *tableBuf  { return put(b, v) }
func (b *tableBuf) u32(v uint32) *tableBuf  { return put(b, v) }
func (b *tableBuf) u8(v uint8) *tableBuf    { return put(b, v) }
func (b *tableBuf) i32(v int32) *tableBuf   { return put(b, v) }
func (b *tableBuf) i64(v int64) *tableBuf   { return put(b, v) }

func (b *tableBuf) end() {
	if b.i != len(b.cols) {
		panic(fmt.Sprintf("%s: row has %d values, table has %d columns", b.t.name, b.i, len(b.cols)))
	}
	b.i = 0
	b.rows++
}

func (b *tableBuf) reset() {
	for _, c := range b.cols {
		c.reset()
	}
	b.i, b.rows = 0, 0
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
		return fmt.Errorf("prepare %s: %w", b.t.name, err)
	}
	sc := newScratch(min(b.rows, blockRows))
	for from := 0; from < b.rows; from += blockRows {
		to := min(from+blockRows, b.rows)
		for i, c := range b.cols {
			if err := c.appendTo(batch.Column(i), from, to, sc); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("append %s.%s: %w", b.t.name, b.t.cols[i].name, err)
			}
		}
		if to == b.rows {
			break
		}
		if err := batch.Flush(); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("insert %d rows into %s: %w", b.rows, b.t.name, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", b.rows, b.t.name, err)
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
	for _, t := range allTables() {
		tb := newTableBuf(db, t)
		b.byName[t.name] = tb
		b.order = append(b.order, tb)
	}
	return b
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
func (b *buffers) addKPI(k *wirepb.KPI) {
	ts := k.GetWindowStartUnixNano()
	switch body := k.GetBody().(type) {
	case *wirepb.KPI_Interface:
		i := body.Interface
		b.byName[TableInterfaceKPIs].ts(ts).str(k.GetSite()).str(k.GetDevice()).str(i.GetInterface()).
			f64(i.GetUtilIn()).f64(i.GetUtilOut()).f64(i.GetLossRatio()).f64(i.GetInErrorsPs()).f64(i.GetInDiscardsPs()).
			f64(i.GetOutDiscardsPs()).f64(i.GetOutErrorsPs()).u64(i.GetSpeedBps()).f64(i.GetInBps()).f64(i.GetOutBps()).
			f64(i.GetInPps()).f64(i.GetOutPps()).str(operStatus(i.GetOperStatus())).u32(windowSeconds(k)).u32(k.GetSamples()).
			str(k.GetId()).end()
	case *wirepb.KPI_Link:
		l := body.Link
		b.byName[TableLinkKPIs].ts(ts).str(k.GetSite()).str(k.GetDevice()).str(l.GetDstSite()).str(l.GetDstDevice()).
			f64(l.GetRttMs()).f64(l.GetRttP50Ms()).f64(l.GetRttP95Ms()).f64(l.GetRttP99Ms()).f64(l.GetJitterMs()).f64(l.GetLossRatio()).
			u64(l.GetProbesSent()).u64(l.GetProbesReceived()).u32(windowSeconds(k)).str(k.GetId()).end()
	case *wirepb.KPI_Pipeline:
		p := body.Pipeline
		b.byName[TablePipelineKPIs].ts(ts).str(p.GetInstance()).f64(p.GetDelayP50Ms()).f64(p.GetDelayP99Ms()).
			f64(p.GetDelayMaxMs()).u64(p.GetSamples()).u32(windowSeconds(k)).end()
	case *wirepb.KPI_DeviceKpi:
		d := body.DeviceKpi
		b.byName[TableDeviceKPIs].ts(ts).str(k.GetSite()).str(k.GetDevice()).u8(uint8(min(d.GetReachable(), 1))).
			str(deviceState(d.GetState())).str(d.GetLastError()).f64(d.GetUpRatio()).u32(windowSeconds(k)).u32(k.GetSamples()).
			str(k.GetId()).end()
	}
}

// addSample appends a decoded sample: interface and probe samples to the
// raw tables when raw is set, device samples to devices.
func (b *buffers) addSample(s *wirepb.Sample, raw bool, firstSeen map[string]int64) {
	ts := s.GetDeviceTimeUnixNano()
	switch body := s.GetBody().(type) {
	case *wirepb.Sample_Interface:
		if !raw {
			return
		}
		i := body.Interface
		if len(i.GetCounters()) == 0 {
			// State only (ON_CHANGE oper-status, last-clear, speed).
			b.byName[TableInterfaceState].ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).ts(s.GetReceiveTimeUnixNano()).
				str(s.GetSite()).str(s.GetDevice()).str(i.GetInterface()).
				u64(i.GetSpeedBps()).str(operStatus(i.GetOperStatus())).u64(uint64(max(i.GetLastClearUnixNano(), 0))).
				str(s.GetCollector()).u64(s.GetSeq()).end()
			return
		}
		var c [15]uint64
		for _, cv := range i.GetCounters() {
			if n := int(cv.GetCounter()); n > 0 && n < len(c) {
				c[n] = cv.GetValue()
			}
		}
		b.byName[TableInterfaceCounters].ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).ts(s.GetReceiveTimeUnixNano()).
			str(s.GetSite()).str(s.GetDevice()).str(i.GetInterface()).
			u64(c[wirepb.Counter_IN_OCTETS]).u64(c[wirepb.Counter_IN_UNICAST_PKTS]).u64(c[wirepb.Counter_IN_BROADCAST_PKTS]).
			u64(c[wirepb.Counter_IN_MULTICAST_PKTS]).u64(c[wirepb.Counter_IN_ERRORS]).u64(c[wirepb.Counter_IN_DISCARDS]).
			u64(c[wirepb.Counter_OUT_OCTETS]).u64(c[wirepb.Counter_OUT_UNICAST_PKTS]).u64(c[wirepb.Counter_OUT_BROADCAST_PKTS]).
			u64(c[wirepb.Counter_OUT_MULTICAST_PKTS]).u64(c[wirepb.Counter_OUT_ERRORS]).u64(c[wirepb.Counter_OUT_DISCARDS]).
			u64(i.GetSpeedBps()).str(operStatus(i.GetOperStatus())).str(s.GetCollector()).u64(s.GetSeq()).end()
	case *wirepb.Sample_Probe:
		if !raw {
			return
		}
		p := body.Probe
		b.byName[TableProbeResults].ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).
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
		b.byName[TableDevices].str(s.GetSite()).str(s.GetDevice()).str(d.GetAddress()).ts(first).ts(seen).
			str(deviceState(d.GetState())).str(d.GetLastError()).end()
	}
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
func (b *buffers) addRemediation(e *wirepb.RemediationEvent) {
	b.byName[TableRemediationEvents].ts(e.GetTimeUnixNano()).str(e.GetEventId()).str(e.GetRule()).
		str(lowerEnum(e.GetState(), "EVENT_STATE_UNSPECIFIED")).str(lowerEnum(e.GetSeverity(), "SEVERITY_UNSPECIFIED")).
		str(e.GetSite()).str(e.GetDevice()).str(e.GetInterface()).str(e.GetDstSite()).str(e.GetDstDevice()).str(e.GetKpi()).
		f64(e.GetValue()).f64(e.GetThreshold()).ts(e.GetFiredUnixNano()).str(e.GetAction()).str(e.GetMessage()).
		u32(e.GetAttempt()).end()
}

// addDeadLetter appends one dead letter.
func (b *buffers) addDeadLetter(ts int64, component, reason, topic string, partition int32, offset int64, key, payload []byte) {
	b.byName[TableDeadLetters].ts(ts).str(component).str(reason).str(topic).i32(partition).i64(offset).
		str(string(key)).str(string(payload)).end()
}
