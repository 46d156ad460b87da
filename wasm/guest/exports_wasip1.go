//go:build wasip1

package guest

import "unsafe"

// state is the module's one codec and buffers: a module instance is called
// by one host worker at a time.
var (
	c   codec
	in  []byte
	out []byte
)

//go:wasmexport telemetry_abi_version
func abiVersion() int32 { return ABIVersion }

// alloc reserves the input region for batches of up to size bytes: the
// host writes each batch there until it needs a bigger one.
//
//go:wasmexport telemetry_alloc
func alloc(size uint32) uint32 {
	if uint32(cap(in)) < size || cap(in) == 0 {
		in = make([]byte, max(size, 64))
	}
	in = in[:cap(in)]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
}

// input is the batch the host wrote at ptr.
func input(ptr, size uint32) []byte {
	if size == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ptr))), size)
}

// result is the i64 a hook export returns for the batch b.
func result(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	return int64(uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))<<32 | uint64(len(b)))
}

// Collect is the body of a telemetry_collect export: it decodes the
// SampleBatch at ptr, calls f and returns what f answers. f returns the
// samples to pass on (the same ones, rewritten ones, a subset, added
// ones) and whether it changed anything; false passes the batch on exactly
// as it came, whatever f returned.
func Collect(ptr, size uint32, f func([]*Sample) ([]*Sample, bool)) int64 {
	b, changed, err := c.runSamples(input(ptr, size), out[:0], f)
	if err != nil {
		return ErrorCode
	}
	if !changed {
		return Unchanged
	}
	out = b
	return result(out)
}

// Process is the body of a telemetry_process export: as Collect, for the
// KPIs of closed windows. Leaving a KPI out of the answer vetoes it.
func Process(ptr, size uint32, f func([]*KPI) ([]*KPI, bool)) int64 {
	b, changed, err := c.runKPIs(input(ptr, size), out[:0], f)
	if err != nil {
		return ErrorCode
	}
	if !changed {
		return Unchanged
	}
	out = b
	return result(out)
}

// names is the module's names view (CollectNames).
var names Names

// CollectNames is the body of a telemetry_collect_names export: f gets
// the names view of the batch at ptr and makes its edits on it; no edit
// passes the batch on exactly as it came.
func CollectNames(ptr, size uint32, f func(*Names)) int64 {
	names.Reset(input(ptr, size))
	f(&names)
	return result(names.Edits())
}
