package chsink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meshtelemetry/telemetry/common/tenant"
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
	case schema.LowCardinality, schema.String, schema.Tenant:
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

// ErrTimestampRange is the error of a row with a timestamp out of the
// range the sink stores, 1970-01-01 00:00:00 to 2099-12-31 23:59:59.999999999
// UTC; the sink dead-letters the record (reason "timestamp"). ClickHouse's
// DateTime holds UInt32 seconds, to 2106-02-07 06:28:15: on 18.16 every
// timestamp column is a DateTime and a later one wraps (a KPI dated 2200
// was stored as 2063); on current servers the columns are DateTime64, but
// the TTL (toDateTime(ts) + N days) and the dashboards' time functions go
// through DateTime and wrap the same way (2200 → 2063, 1960 → 2096), and a
// row of 2106 with a 30-day TTL wraps to 1970 and is deleted at once. The
// years to 2106 leave room for a TTL of up to six years.
var ErrTimestampRange = errors.New("timestamp out of the range the sink stores")

// maxStoredNs is the last nanosecond the sink stores (2100-01-01 00:00:00
// UTC less 1 ns); the first is 0.
const maxStoredNs = 4_102_444_800*uint64(time.Second) - 1

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
	// badAt is 1 + the column of the row being built that was given a
	// value it cannot hold (0: none); end refuses the row. badNs is the
	// value when it was a timestamp out of range (badTime).
	badAt   int
	badTime bool
	badNs   int64
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
// whose values did not match the columns. A mismatch is only noted (badAt,
// out of line in mismatch, so the common path stays short); end explains
// it. One method per Go type rather than a generic put: a generic builder
// that is not inlined finds its type through its shape's dictionary on
// every value (BenchmarkRowBuilding: slower on the sample rows).

// ts appends a timestamp in Unix nanoseconds; one out of the range the
// sink stores (0 to maxStoredNs) refuses the row.
func (b *tableBuf) ts(ns int64) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*tsVec); ok {
			if uint64(ns) > maxStoredNs { // a negative one too
				return b.outOfRange(ns)
			}
			x.v = append(x.v, ns)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

func (b *tableBuf) str(v string) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*strVec); ok {
			x.add(v)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

func (b *tableBuf) f64(v float64) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*vecOf[float64]); ok {
			x.v = append(x.v, v)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

func (b *tableBuf) u64(v uint64) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*vecOf[uint64]); ok {
			x.v = append(x.v, v)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

func (b *tableBuf) u32(v uint32) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*vecOf[uint32]); ok {
			x.v = append(x.v, v)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

func (b *tableBuf) u8(v uint8) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*vecOf[uint8]); ok {
			x.v = append(x.v, v)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

func (b *tableBuf) i32(v int32) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*vecOf[int32]); ok {
			x.v = append(x.v, v)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

func (b *tableBuf) i64(v int64) *tableBuf {
	if b.i < len(b.cols) {
		if x, ok := b.cols[b.i].(*vecOf[int64]); ok {
			x.v = append(x.v, v)
			b.i++
			return b
		}
	}
	return b.mismatch()
}

// mismatch notes that column b.i cannot hold the value given for it.
//
//go:noinline
func (b *tableBuf) mismatch() *tableBuf {
	if b.badAt == 0 {
		b.badAt = b.i + 1
	}
	b.i++
	return b
}

// outOfRange notes that column b.i was given a timestamp out of the range
// the sink stores.
//
//go:noinline
func (b *tableBuf) outOfRange(ns int64) *tableBuf {
	if b.badAt == 0 {
		b.badAt, b.badTime, b.badNs = b.i+1, true, ns
	}
	b.i++
	return b
}

// end completes the row. A row whose values did not match the columns is
// taken back out of the buffer and refused with an ErrRowMismatch.
func (b *tableBuf) end() error {
	if b.badAt == 0 && b.i == len(b.cols) {
		b.i = 0
		b.rows++
		return nil
	}
	return b.refuse()
}

// refuse takes the row being built back out and says what did not match.
func (b *tableBuf) refuse() error {
	var err error
	switch {
	case len(b.t.Columns) == 0:
		err = fmt.Errorf("%w: no table %s in the schema", ErrRowMismatch, b.t.Name)
	case b.badTime && b.badAt <= len(b.t.Columns):
		err = fmt.Errorf("%w: %s.%s = %d ns (%s): the sink stores 1970-01-01 00:00:00 to 2099-12-31 23:59:59 UTC",
			ErrTimestampRange, b.t.Name, b.t.Columns[b.badAt-1].Name, b.badNs, time.Unix(0, b.badNs).UTC().Format(time.RFC3339Nano))
	case b.badAt > 0 && b.badAt <= len(b.t.Columns):
		c := b.t.Columns[b.badAt-1]
		err = fmt.Errorf("%w: %s.%s (column %d, %s) given a value of another type than %s", ErrRowMismatch, b.t.Name, c.Name, b.badAt, c.Kind, c.Kind.GoType())
	default:
		err = fmt.Errorf("%w: %s has %d columns, the row %d values", ErrRowMismatch, b.t.Name, len(b.cols), b.i)
	}
	for _, c := range b.cols {
		c.truncate(b.rows)
	}
	b.i, b.badAt, b.badTime = 0, 0, false
	return err
}

func (b *tableBuf) reset() {
	for _, c := range b.cols {
		c.reset()
	}
	b.i, b.rows, b.badAt, b.badTime = 0, 0, 0, false
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

// Stored names of the events' enum values, in lower case, made once (was
// strings.ToLower per row: two allocations). Value 0 is every enum's
// *_UNSPECIFIED, stored as "".
var (
	eventStateNames = lowerNames(wirepb.EventState_name)
	severityNames   = lowerNames(wirepb.Severity_name)
)

// lowerNames lists the names of an enum's values 0..max from its
// generated name map, in lower case, "" for 0 and for numbers without a
// name.
func lowerNames(names map[int32]string) []string {
	var n int32
	for v := range names {
		n = max(n, v)
	}
	out := make([]string, n+1)
	for v, name := range names {
		if v > 0 {
			out[v] = strings.ToLower(name)
		}
	}
	return out
}

// enumName is the stored name of enum value n; a value this build does
// not know is stored as its number.
func enumName(names []string, n int32) string {
	if n >= 0 && int(n) < len(names) && (n == 0 || names[n] != "") {
		return names[n]
	}
	return strconv.Itoa(int(n))
}

func operStatus(s wirepb.OperStatus) string {
	if s == wirepb.OperStatus_OPER_STATUS_UNSPECIFIED {
		return ""
	}
	return s.String()
}

// buffers holds one tableBuf per table the sink writes.
type buffers struct {
	// defaultTenant is the tenant of a record that names none.
	defaultTenant string
	byName        map[string]*tableBuf
	order         []*tableBuf
	// the tables the row builders write, resolved once (never nil)
	interfaceKPIs, linkKPIs, pipelineKPIs, deviceKPIs, interfaceCounters, interfaceState,
	probeResults, devices, remediationEvents, deadLetters *tableBuf
}

func newBuffers(db string) *buffers {
	b := &buffers{byName: map[string]*tableBuf{}, defaultTenant: tenant.Default}
	for _, t := range schema.Tables() {
		tb := newTableBuf(db, t)
		b.byName[t.Name] = tb
		b.order = append(b.order, tb)
	}
	b.resolve()
	return b
}

// resolve points the row builders' tables at their buffers.
func (b *buffers) resolve() {
	b.interfaceKPIs, b.linkKPIs = b.table(schema.InterfaceKPIs), b.table(schema.LinkKPIs)
	b.pipelineKPIs, b.deviceKPIs = b.table(schema.PipelineKPIs), b.table(schema.DeviceKPIs)
	b.interfaceCounters, b.interfaceState = b.table(schema.InterfaceCounters), b.table(schema.InterfaceState)
	b.probeResults, b.devices = b.table(schema.ProbeResults), b.table(schema.Devices)
	b.remediationEvents, b.deadLetters = b.table(schema.RemediationEvents), b.table(schema.DeadLetters)
}

// table returns the buffer of the table named name. A name the schema
// does not list gets a buffer that refuses every row (never nil).
func (b *buffers) table(name string) *tableBuf {
	if t := b.byName[name]; t != nil {
		return t
	}
	return &tableBuf{t: schema.Table{Name: name}}
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

// ErrTenant is the error of a record whose tenant is not a tenant id
// (tenant.CheckID): the sink dead-letters it (reason "tenant") rather than
// store a row no tenant's user can be given.
var ErrTenant = errors.New("record's tenant is not a tenant id")

// tenantOf is the stored tenant of a record naming tenant t: the default
// tenant when it names none (records written before tenants).
func (b *buffers) tenantOf(t string) (string, error) {
	if t == "" {
		return b.defaultTenant, nil
	}
	if err := tenant.CheckID(t); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTenant, err)
	}
	return t, nil
}

// addKPI appends a decoded KPI to its table.
func (b *buffers) addKPI(k *wirepb.KPI) error {
	tn, err := b.tenantOf(k.GetTenant())
	if err != nil {
		return err
	}
	ts := k.GetWindowStartUnixNano()
	switch body := k.GetBody().(type) {
	case *wirepb.KPI_Interface:
		i := body.Interface
		return b.interfaceKPIs.ts(ts).str(k.GetSite()).str(k.GetDevice()).str(i.GetInterface()).
			f64(i.GetUtilIn()).f64(i.GetUtilOut()).f64(i.GetLossRatio()).f64(i.GetInErrorsPs()).f64(i.GetInDiscardsPs()).
			f64(i.GetOutDiscardsPs()).f64(i.GetOutErrorsPs()).u64(i.GetSpeedBps()).f64(i.GetInBps()).f64(i.GetOutBps()).
			f64(i.GetInPps()).f64(i.GetOutPps()).str(operStatus(i.GetOperStatus())).u32(windowSeconds(k)).u32(k.GetSamples()).
			str(k.GetId()).str(tn).end()
	case *wirepb.KPI_Link:
		l := body.Link
		return b.linkKPIs.ts(ts).str(k.GetSite()).str(k.GetDevice()).str(l.GetDstSite()).str(l.GetDstDevice()).
			f64(l.GetRttMs()).f64(l.GetRttP50Ms()).f64(l.GetRttP95Ms()).f64(l.GetRttP99Ms()).f64(l.GetJitterMs()).f64(l.GetLossRatio()).
			u64(l.GetProbesSent()).u64(l.GetProbesReceived()).u32(windowSeconds(k)).str(k.GetId()).str(tn).end()
	case *wirepb.KPI_Pipeline:
		p := body.Pipeline
		return b.pipelineKPIs.ts(ts).str(p.GetInstance()).f64(p.GetDelayP50Ms()).f64(p.GetDelayP99Ms()).
			f64(p.GetDelayMaxMs()).u64(p.GetSamples()).u32(windowSeconds(k)).str(tn).end()
	case *wirepb.KPI_DeviceKpi:
		d := body.DeviceKpi
		return b.deviceKPIs.ts(ts).str(k.GetSite()).str(k.GetDevice()).u8(uint8(min(d.GetReachable(), 1))).
			str(deviceState(d.GetState())).str(d.GetLastError()).f64(d.GetUpRatio()).u32(windowSeconds(k)).u32(k.GetSamples()).
			str(k.GetId()).str(tn).end()
	}
	return nil
}

// addSample appends a decoded sample: interface and probe samples to the
// raw tables when raw is set, device samples to devices.
func (b *buffers) addSample(s *wirepb.Sample, raw bool, firstSeen map[string]int64) error {
	tn, err := b.tenantOf(s.GetTenant())
	if err != nil {
		return err
	}
	ts := s.GetDeviceTimeUnixNano()
	switch body := s.GetBody().(type) {
	case *wirepb.Sample_Interface:
		if !raw {
			return nil
		}
		i := body.Interface
		if len(i.GetCounters()) == 0 {
			// State only (ON_CHANGE oper-status, last-clear, speed).
			return b.interfaceState.ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).ts(s.GetReceiveTimeUnixNano()).
				str(s.GetSite()).str(s.GetDevice()).str(i.GetInterface()).
				u64(i.GetSpeedBps()).str(operStatus(i.GetOperStatus())).u64(uint64(max(i.GetLastClearUnixNano(), 0))).
				str(s.GetCollector()).u64(s.GetSeq()).str(tn).end()
		}
		var c [15]uint64
		for _, cv := range i.GetCounters() {
			if n := int(cv.GetCounter()); n > 0 && n < len(c) {
				c[n] = cv.GetValue()
			}
		}
		return b.interfaceCounters.ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).ts(s.GetReceiveTimeUnixNano()).
			str(s.GetSite()).str(s.GetDevice()).str(i.GetInterface()).
			u64(c[wirepb.Counter_IN_OCTETS]).u64(c[wirepb.Counter_IN_UNICAST_PKTS]).u64(c[wirepb.Counter_IN_BROADCAST_PKTS]).
			u64(c[wirepb.Counter_IN_MULTICAST_PKTS]).u64(c[wirepb.Counter_IN_ERRORS]).u64(c[wirepb.Counter_IN_DISCARDS]).
			u64(c[wirepb.Counter_OUT_OCTETS]).u64(c[wirepb.Counter_OUT_UNICAST_PKTS]).u64(c[wirepb.Counter_OUT_BROADCAST_PKTS]).
			u64(c[wirepb.Counter_OUT_MULTICAST_PKTS]).u64(c[wirepb.Counter_OUT_ERRORS]).u64(c[wirepb.Counter_OUT_DISCARDS]).
			u64(i.GetSpeedBps()).str(operStatus(i.GetOperStatus())).str(s.GetCollector()).u64(s.GetSeq()).str(tn).end()
	case *wirepb.Sample_Probe:
		if !raw {
			return nil
		}
		p := body.Probe
		return b.probeResults.ts(ts).u64(uint64(s.GetDeviceTimeUnixNano())).
			str(s.GetSite()).str(s.GetDevice()).str(p.GetPeerSite()).str(p.GetPeerDevice()).
			f64(p.GetMinDelayUs()).f64(p.GetMaxDelayUs()).f64(p.GetAvgDelayUs()).f64(p.GetStddevDelayUs()).f64(p.GetJitterUs()).
			f64(p.GetLossPercentage() / 100).u64(p.GetProbesSent()).u64(p.GetProbesReceived()).str(tn).end()
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
			if uint64(seen) <= maxStoredNs { // one out of range is refused: it must not stay first
				firstSeen[key] = first
			}
		}
		return b.devices.str(s.GetSite()).str(s.GetDevice()).str(d.GetAddress()).ts(first).ts(seen).
			str(deviceState(d.GetState())).str(d.GetLastError()).str(tn).end()
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

// addRemediation appends one lifecycle transition.
func (b *buffers) addRemediation(e *wirepb.RemediationEvent) error {
	tn, err := b.tenantOf(e.GetTenant())
	if err != nil {
		return err
	}
	return b.remediationEvents.ts(e.GetTimeUnixNano()).str(e.GetEventId()).str(e.GetRule()).
		str(enumName(eventStateNames, int32(e.GetState()))).str(enumName(severityNames, int32(e.GetSeverity()))).
		str(e.GetSite()).str(e.GetDevice()).str(e.GetInterface()).str(e.GetDstSite()).str(e.GetDstDevice()).str(e.GetKpi()).
		f64(e.GetValue()).f64(e.GetThreshold()).ts(e.GetFiredUnixNano()).str(e.GetAction()).str(e.GetMessage()).
		u32(e.GetAttempt()).str(tn).end()
}

// addDeadLetter appends one dead letter of the default tenant.
func (b *buffers) addDeadLetter(ts int64, component, reason, topic string, partition int32, offset int64, key, payload []byte) error {
	return b.addTenantDeadLetter("", ts, component, reason, topic, partition, offset, key, payload)
}

// addTenantDeadLetter appends one dead letter of tenant tn ("": the
// default tenant).
func (b *buffers) addTenantDeadLetter(tn string, ts int64, component, reason, topic string, partition int32, offset int64, key, payload []byte) error {
	tn, err := b.tenantOf(tn)
	if err != nil {
		return err
	}
	return b.deadLetters.ts(ts).str(component).str(reason).str(topic).i32(partition).i64(offset).
		str(string(key)).str(string(payload)).str(tn).end()
}
