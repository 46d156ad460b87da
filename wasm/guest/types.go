// Package guest helps writing the pipeline's WebAssembly edge processors
// in Go (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
//
// Importing the package exports telemetry_abi_version and telemetry_alloc
// from the module; the module exports its hook itself and hands the batch
// to Collect or Process, which decode it, call the module's function and
// encode what it returns:
//
//	package main
//
//	import "github.com/meshtelemetry/telemetry/wasm/guest"
//
//	func main() {}
//
//	//go:wasmexport telemetry_collect
//	func collect(ptr, size uint32) int64 { return guest.Collect(ptr, size, edit) }
//
//	func edit(samples []*guest.Sample) ([]*guest.Sample, bool) { ... }
//
// A collect module that only reads interface names (to rename samples or
// drop them) exports telemetry_collect_names instead and hands the names
// view to CollectNames: it gets the names and makes edits (Names), and the
// host applies them to the records, so nothing is decoded or encoded in
// the module, which is several times cheaper:
//
//	//go:wasmexport telemetry_collect_names
//	func collect(ptr, size uint32) int64 { return guest.CollectNames(ptr, size, edit) }
//
//	func edit(v *guest.Names) { ... v.Name(i) ... v.Rename(i, name) ... v.Drop(i) ... }
//
// The types mirror wire.proto's Sample and KPI (docs/wasm.md has the ABI
// for other languages). Samples and KPIs handed to a function, the slices
// they hold and their strings, which point into the batch, are valid
// during the call only: copy what a module keeps across calls
// (strings.Clone). Decoding is lazy where it pays: an interface's counters
// are decoded only when Counters is called, and passed through untouched
// otherwise.
package guest

// ABIVersion is the batch ABI this package speaks (telemetry_abi_version).
const ABIVersion = 1

// Unchanged is what a hook export returns to pass the batch on exactly as
// it came (nothing decoded, nothing copied: the cheapest answer).
const Unchanged int64 = -1

// ErrorCode is what a hook export returns when it cannot handle the batch
// (counted by the host with reason "module", then the module's on-error
// applies). Any negative value but Unchanged is an error code.
const ErrorCode int64 = -2

// CounterID is wire.proto's Counter.
type CounterID int32

// Counters (wire.proto's Counter).
const (
	InOctets           CounterID = 1
	InUnicastPkts      CounterID = 2
	InBroadcastPkts    CounterID = 3
	InMulticastPkts    CounterID = 4
	InErrors           CounterID = 5
	InDiscards         CounterID = 6
	OutOctets          CounterID = 7
	OutUnicastPkts     CounterID = 8
	OutBroadcastPkts   CounterID = 9
	OutMulticastPkts   CounterID = 10
	OutErrors          CounterID = 11
	OutDiscards        CounterID = 12
	InFCSErrors        CounterID = 13
	CarrierTransitions CounterID = 14
)

// OperStatus is wire.proto's OperStatus (1 UP, 2 DOWN, ...).
type OperStatus int32

// Oper statuses.
const (
	Up   OperStatus = 1
	Down OperStatus = 2
)

// Sample is wire.proto's Sample: one interface snapshot, one probe result
// or one device state, of one device at one device time. Exactly one of
// Interface, Probe and DeviceState is set.
type Sample struct {
	Site, Device string
	// DeviceTime and ReceiveTime are ns since the epoch, UTC.
	DeviceTime, ReceiveTime int64
	Collector               string
	Seq                     uint64
	// Tenant owns the sample (docs/tenancy.md); empty: the default tenant.
	Tenant      string
	Interface   *Interface
	Probe       *Probe
	DeviceState *DeviceState
	// unknown keeps the fields this package does not know, re-encoded as
	// they came.
	unknown []byte
	// orig is the sample as decoded: encoding copies what did not change.
	orig orig
}

// orig is a decoded sample's record and what its fields were, so that
// encoding copies the record, or splices a new interface name into it,
// instead of encoding every field again (Go's WebAssembly code pays for
// every branch).
type orig struct {
	rec                             []byte
	site, device, collector, tenant string
	deviceTime, receiveTime         int64
	seq                             uint64
	iface                           *Interface
	name                            string
	speed                           uint64
	oper                            OperStatus
	lastClear                       int64
	// offsets in rec: the interface field (tag to end), its body, and its
	// name field (tag to end; nameStart -1 when absent)
	ifStart, ifBody, ifEnd, nameStart, nameEnd int
}

// Interface is wire.proto's InterfaceState.
type Interface struct {
	Name string
	// SpeedBps is 0 when the sample does not carry it.
	SpeedBps   uint64
	OperStatus OperStatus
	// LastClear is ns since the epoch; 0 when absent.
	LastClear int64

	// counters are decoded from raw on the first Counters call: a module
	// that does not look at them pays nothing for them.
	counters []Counter
	raw      []byte
	decoded  bool
}

// Counter is one counter of an interface.
type Counter struct {
	ID    CounterID
	Value uint64
}

// Counters returns the interface's counters, decoded on first use. The
// slice is the interface's own: edit values in place, or replace it with
// SetCounters.
func (i *Interface) Counters() []Counter {
	if !i.decoded {
		i.counters = decodeCounters(i.counters[:0], i.raw)
		i.decoded = true
	}
	return i.counters
}

// SetCounters replaces the interface's counters.
func (i *Interface) SetCounters(cs []Counter) {
	i.counters, i.decoded = cs, true
}

// Counter returns the value of counter id and whether the sample has it.
func (i *Interface) Counter(id CounterID) (uint64, bool) {
	for _, c := range i.Counters() {
		if c.ID == id {
			return c.Value, true
		}
	}
	return 0, false
}

// Probe is wire.proto's ProbeResult (delays in µs).
type Probe struct {
	PeerSite, PeerDevice                                                        string
	MinDelayUs, MaxDelayUs, AvgDelayUs, StddevDelayUs, JitterUs, LossPercentage float64
	ProbesSent, ProbesReceived                                                  uint64
}

// DeviceState is wire.proto's Device (the collector's inventory record).
type DeviceState struct {
	Address   string
	State     int32
	LastError string
}

// KPI is wire.proto's KPI: the KPIs of one entity over one window. Exactly
// one of Interface, Link, Pipeline and DeviceKPI is set.
type KPI struct {
	// ID is deterministic per (entity, window): keep it on a rewritten
	// KPI; give a derived one its own (for example ID + "/burn").
	ID           string
	Site, Device string
	// WindowStart and WindowEnd are ns since the epoch, UTC.
	WindowStart, WindowEnd int64
	Samples                uint32
	// Tenant of the KPI's samples; empty: the default tenant.
	Tenant    string
	Interface *InterfaceKPI
	Link      *LinkKPI
	Pipeline  *PipelineKPI
	DeviceKPI *DeviceKPI
	// Fields are derived values (wire.proto's KPI.fields).
	Fields  map[string]float64
	unknown []byte
}

// InterfaceKPI is wire.proto's InterfaceKPI.
type InterfaceKPI struct {
	Interface                                            string
	UtilIn, UtilOut, LossRatio                           float64
	InErrorsPs, InDiscardsPs, OutDiscardsPs, OutErrorsPs float64
	SpeedBps                                             uint64
	InBps, OutBps, InPps, OutPps                         float64
	OperStatus                                           OperStatus
}

// LinkKPI is wire.proto's LinkKPI.
type LinkKPI struct {
	DstSite, DstDevice                                       string
	RTTMs, RTTP50Ms, RTTP95Ms, RTTP99Ms, JitterMs, LossRatio float64
	ProbesSent, ProbesReceived                               uint64
}

// PipelineKPI is wire.proto's PipelineKPI.
type PipelineKPI struct {
	Instance                           string
	DelayP50Ms, DelayP99Ms, DelayMaxMs float64
	Samples                            uint64
}

// DeviceKPI is wire.proto's DeviceKPI.
type DeviceKPI struct {
	Reachable uint32
	State     int32
	LastError string
	UpRatio   float64
}
