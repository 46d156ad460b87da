package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// ABIVersion is the version of the batch ABI this host speaks: a module's
// telemetry_abi_version() must return it (docs/wasm.md).
const ABIVersion = 1

// Names of the functions a module exports.
const (
	exportABIVersion = "telemetry_abi_version"
	exportAlloc      = "telemetry_alloc"
	// exportInit is the reactor's initializer (Go -buildmode=c-shared,
	// Rust cdylib, wasi-libc): run once when an instance is created.
	exportInit = "_initialize"
)

// Results of telemetry_collect / telemetry_process other than a buffer.
const (
	// resultUnchanged: the batch goes on exactly as the module received it.
	resultUnchanged = -1
)

// maxModuleSize bounds a .wasm file read from disk.
const maxModuleSize = 64 << 20

// callError is a failure of one call, with its reason.
type callError struct {
	reason reason
	err    error
}

func (e *callError) Error() string { return e.reason.String() + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// loadFile reads a module file.
func loadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxModuleSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxModuleSize {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxModuleSize>>20)
	}
	return b, nil
}

// version is one compiled version of a module's file, with its pool of
// instances. Holding a token of tokens is the right to hold an instance;
// free keeps the idle ones.
type version struct {
	cfg    ModuleConfig
	rt     wazero.Runtime
	cm     wazero.CompiledModule
	sum    string // sha-256 of the file, hex
	tokens chan struct{}
	free   chan *instance
	// names: the module exports telemetry_collect_names (the names view)
	// instead of telemetry_collect.
	names bool

	retired atomic.Bool
}

// compile compiles b for cfg in a runtime of its own (closing it closes
// every instance of the version) and checks its exports. checks compiles
// in the deadline checks that let a call be stopped (always but in a
// diagnostic benchmark).
func compile(ctx context.Context, cfg ModuleConfig, b []byte, cache wazero.CompilationCache, instances int, checks bool) (*version, error) {
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(checks)
	if cache != nil {
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	v := &version{cfg: cfg, rt: rt, sum: sumOf(b),
		tokens: make(chan struct{}, instances), free: make(chan *instance, instances)}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wasi: %w", err)
	}
	cm, err := rt.CompileModule(ctx, b)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("compile: %w", err)
	}
	v.cm = cm
	if err := v.checkExports(); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return v, nil
}

// checkExports checks the signatures of the ABI's exports and the
// module's imports (only WASI preview 1) and initial memory.
func (v *version) checkExports() error {
	fns := v.cm.ExportedFunctions()
	hook := v.cfg.Hook.export()
	if _, ok := fns[exportCollectNames]; ok && v.cfg.Hook == HookCollect {
		hook, v.names = exportCollectNames, true
	}
	want := []struct {
		name    string
		params  []api.ValueType
		results []api.ValueType
	}{
		{exportABIVersion, nil, []api.ValueType{api.ValueTypeI32}},
		{exportAlloc, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		{hook, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
	}
	for _, w := range want {
		f, ok := fns[w.name]
		if !ok {
			return fmt.Errorf("abi: the module does not export %s", w.name)
		}
		if !sameTypes(f.ParamTypes(), w.params) || !sameTypes(f.ResultTypes(), w.results) {
			return fmt.Errorf("abi: %s has signature %v -> %v, want %v -> %v", w.name,
				typeNames(f.ParamTypes()), typeNames(f.ResultTypes()), typeNames(w.params), typeNames(w.results))
		}
	}
	for _, f := range v.cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("abi: the module imports %s.%s; only %s is provided", mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	mems := v.cm.ExportedMemories()
	if len(mems) == 0 {
		return errors.New("abi: the module exports no memory")
	}
	for _, m := range mems {
		if uint64(m.Min())*pageSize > uint64(v.cfg.MemoryLimit) {
			return fmt.Errorf("memory: the module starts with %d MiB, over memory-limit (%d MiB)", uint64(m.Min())*pageSize>>20, v.cfg.MemoryLimit>>20)
		}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func typeNames(ts []api.ValueType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = api.ValueTypeName(t)
	}
	return out
}

// instance is one instantiated module: not safe for concurrent use.
type instance struct {
	v      *version
	mod    api.Module
	mem    api.Memory
	alloc  api.Function
	hook   api.Function
	memcap *memCap
	stderr *tail
	stack  [2]uint64
	// inPtr and inCap: the input region telemetry_alloc last returned.
	inPtr, inCap uint32
	inAlloc      bool
	// nv: the names view's buffers (v.names)
	nv namesView
}

// instantiate creates an instance and runs its initializer.
func (v *version) instantiate(ctx context.Context) (*instance, error) {
	mc := &memCap{limit: uint64(v.cfg.MemoryLimit)}
	st := &tail{max: 4 << 10}
	conf := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // a reactor: _initialize is called below, under the deadline
		WithStderr(st)
	if v.cfg.has(CapClock) {
		conf = conf.WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	}
	if v.cfg.has(CapRandom) {
		conf = conf.WithRandSource(rand.Reader)
	}
	ictx, cancel := context.WithTimeout(experimental.WithMemoryAllocator(ctx, mc), max(v.cfg.Timeout, time.Second))
	defer cancel()
	mod, err := v.rt.InstantiateModule(ictx, v.cm, conf)
	if err != nil {
		return nil, classify(ictx, mc, fmt.Errorf("instantiate: %w", err))
	}
	i := &instance{v: v, mod: mod, mem: mod.Memory(), memcap: mc, stderr: st,
		alloc: mod.ExportedFunction(exportAlloc), hook: mod.ExportedFunction(v.hookExport())}
	if init := mod.ExportedFunction(exportInit); init != nil {
		if _, err := init.Call(ictx); err != nil {
			mod.Close(context.Background())
			return nil, classify(ictx, mc, fmt.Errorf("%s: %w", exportInit, err))
		}
	}
	if i.mem == nil {
		mod.Close(context.Background())
		return nil, &callError{reasonABI, errors.New("the module exports no memory")}
	}
	return i, nil
}

// hookExport is the function the hook calls.
func (v *version) hookExport() string {
	if v.names {
		return exportCollectNames
	}
	return v.cfg.Hook.export()
}

// close closes the instance.
func (i *instance) close() { i.mod.Close(context.Background()) }

// selfCheck asks the ABI version and calls the hook on an empty batch.
func (i *instance) selfCheck() error {
	ctx, cancel := context.WithTimeout(context.Background(), max(i.v.cfg.Timeout, time.Second))
	defer cancel()
	res, err := i.mod.ExportedFunction(exportABIVersion).Call(ctx)
	if err != nil {
		return classify(ctx, i.memcap, fmt.Errorf("%s: %w", exportABIVersion, err))
	}
	if got := int32(res[0]); got != ABIVersion {
		return &callError{reasonABI, fmt.Errorf("%s() = %d; this host speaks ABI %d", exportABIVersion, got, ABIVersion)}
	}
	if _, _, _, err := i.call(nil, nil); err != nil {
		return fmt.Errorf("empty batch: %w", err)
	}
	return nil
}

// call runs the hook on the encoded batch in and appends its output to
// dst. changed is false when the module left the batch as it was (then
// out is dst unchanged). nOut is the output's record count when the host
// built the output itself (the names view), -1 when the module's output
// must be validated. A failure is a *callError; after a trap, timeout or
// memory failure the instance is closed and must not be used again.
func (i *instance) call(in, dst []byte) (out []byte, nOut int, changed bool, err error) {
	nOut = -1
	batch := in
	if i.v.names {
		if err := i.nv.build(batch); err != nil {
			return dst, 0, false, &callError{reasonABI, fmt.Errorf("names view: %w", err)}
		}
		in = i.nv.view
	}
	n := uint32(len(in))
	if uint64(len(in)) > uint64(i.v.cfg.MemoryLimit) {
		return dst, nOut, false, &callError{reasonMemory, fmt.Errorf("a batch of %d bytes is over memory-limit", len(in))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), i.v.cfg.Timeout)
	defer cancel()
	if !i.inAlloc || n > i.inCap {
		i.stack[0] = uint64(n)
		if err := i.alloc.CallWithStack(ctx, i.stack[:]); err != nil {
			return dst, nOut, false, classify(ctx, i.memcap, fmt.Errorf("%s: %w", exportAlloc, err))
		}
		i.inPtr, i.inCap, i.inAlloc = uint32(i.stack[0]), n, true
	}
	if !i.mem.Write(i.inPtr, in) {
		i.inAlloc = false
		return dst, nOut, false, &callError{reasonABI, fmt.Errorf("%s(%d) returned %#x: outside the module's memory", exportAlloc, n, i.inPtr)}
	}
	i.stack[0], i.stack[1] = uint64(i.inPtr), uint64(n)
	if err := i.hook.CallWithStack(ctx, i.stack[:]); err != nil {
		return dst, nOut, false, classify(ctx, i.memcap, err)
	}
	res := int64(i.stack[0])
	switch {
	case res == resultUnchanged, res == 0 && i.v.names:
		return dst, nOut, false, nil
	case res < 0:
		return dst, nOut, false, &callError{reasonModule, fmt.Errorf("%s returned error code %d", i.v.hookExport(), res)}
	}
	ptr, size := uint32(uint64(res)>>32), uint32(res)
	view, ok := i.mem.Read(ptr, size)
	if !ok {
		return dst, nOut, false, &callError{reasonABI, fmt.Errorf("%s returned %d bytes at %#x: outside the module's memory", i.v.hookExport(), size, ptr)}
	}
	if i.v.names {
		out, nOut, err := i.nv.apply(dst, batch, view)
		if err != nil {
			return dst, 0, false, &callError{reasonABI, err}
		}
		return out, nOut, true, nil
	}
	return append(dst, view...), nOut, true, nil
}

// classify names the reason of a failed call made under ctx.
func classify(ctx context.Context, mc *memCap, err error) error {
	switch {
	case mc.refused.Load():
		return &callError{reasonMemory, fmt.Errorf("memory-limit reached (%d MiB): %w", mc.limit>>20, err)}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &callError{reasonTimeout, err}
	default:
		return &callError{reasonTrap, err}
	}
}

// acquire takes an instance of v: an idle one or a new one, waiting while
// every one allowed is in use.
func (v *version) acquire(ctx context.Context) (*instance, error) {
	select {
	case v.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case i := <-v.free:
		return i, nil
	default:
	}
	i, err := v.instantiate(context.Background())
	if err != nil {
		<-v.tokens
		return nil, err
	}
	return i, nil
}

// release gives an instance back: to the idle ones when it is sound and v
// still current, else it is closed.
func (v *version) release(i *instance, sound bool) {
	if sound && !v.retired.Load() {
		v.free <- i // never blocks: at most cap(tokens) instances exist
		if v.retired.Load() {
			v.drain()
		}
	} else {
		i.close()
	}
	<-v.tokens
}

// drain closes the idle instances.
func (v *version) drain() {
	for {
		select {
		case i := <-v.free:
			i.close()
		default:
			return
		}
	}
}

// retire stops handing out v's instances: the idle ones are closed now,
// those in use when they come back; then the runtime is closed. It returns
// once every instance is closed (calls are bounded by their deadline).
func (v *version) retire() {
	v.retired.Store(true)
	v.drain()
	for range cap(v.tokens) {
		v.tokens <- struct{}{}
	}
	v.drain()
	v.rt.Close(context.Background())
}

// memCap is the memory allocator of one instance: it refuses to grow the
// linear memory past limit and remembers that it did, so that the failure
// that follows (a trap, or a Go module's "out of memory" exit) is counted
// as memory.
type memCap struct {
	limit   uint64
	refused atomic.Bool
}

// Allocate implements experimental.MemoryAllocator.
func (m *memCap) Allocate(capacity, _ uint64) experimental.LinearMemory {
	return &linearMemory{m: m, buf: make([]byte, 0, min(capacity, m.limit))}
}

type linearMemory struct {
	m   *memCap
	buf []byte
}

// Reallocate implements experimental.LinearMemory.
func (l *linearMemory) Reallocate(size uint64) []byte {
	if size > l.m.limit {
		l.m.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(l.buf)) {
		l.buf = l.buf[:size]
		return l.buf
	}
	n := make([]byte, size, min(max(size, 2*uint64(cap(l.buf))), l.m.limit))
	copy(n, l.buf)
	l.buf = n
	return n
}

// Free implements experimental.LinearMemory.
func (l *linearMemory) Free() { l.buf = nil }

// tail keeps the last max bytes a module wrote to stderr (for the log
// line of a failure).
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
