package collector

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/meshtelemetry/telemetry/common/component"
	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// edge runs the collect hook's WebAssembly modules (collect.wasm) on the
// samples before Kafka. Sessions hand each sample to a lane chosen by its
// device (so one device's samples keep their order); a lane encodes it at
// once into the batch it is filling (the encoding is the Kafka record
// value), and the lane's goroutine takes whatever accumulated while it
// ran the previous batch, runs the modules on it and produces the result:
// under load batches grow, and one module call serves many samples. A
// batch no module changed goes to Kafka as encoded, without a second
// encoding.
type edge struct {
	hook  *wasm.Hook
	lanes []*lane
	wg    sync.WaitGroup
}

// lane is one worker of the edge: the batch being filled, under mu.
type lane struct {
	mu   sync.Mutex
	buf  []byte // SampleBatch
	keys []byte
	ends []int // end of each record's key in keys
	offs []int // start of each record in buf
	// tenants is each record's tenant (its header)
	tenants []string
	// room is closed (and replaced) when the lane takes its batch: a
	// sender waiting for room wakes up.
	room     chan struct{}
	work     chan struct{} // a token: there is something to take
	maxBytes int
	closed   bool
}

// maxBatch bounds the samples of one module call: a lane splits what it
// took into batches of at most maxBatch (a module's timeout is per call).
const maxBatch = 1000

// maxLaneBytes bounds a lane's pending batch (about 8 ms of a 100k
// samples/s collector per lane at the default buffer).
const maxLaneBytes = 4 << 20

// newEdge builds the collect hook; nil when no module is configured.
func newEdge(cfg Configuration, r *component.Reporter) (*edge, error) {
	if len(cfg.Wasm) == 0 {
		return nil, nil
	}
	n := runtime.GOMAXPROCS(0)
	h, err := wasm.New(wasm.HookCollect, cfg.Wasm, wasm.Dependencies{Reporter: r, Instances: n})
	if err != nil {
		return nil, err
	}
	e := &edge{hook: h}
	per := max(min(cfg.Buffer.MaxBytes/n, maxLaneBytes), 64<<10)
	for range n {
		e.lanes = append(e.lanes, &lane{room: make(chan struct{}), work: make(chan struct{}, 1), maxBytes: per})
	}
	return e, nil
}

// start loads the modules and starts the lanes, which produce through p.
func (e *edge) start(ctx context.Context, c *Collector, p *producer) error {
	if err := e.hook.Start(ctx); err != nil {
		return err
	}
	for _, l := range e.lanes {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			l.run(c, e.hook, p)
		}()
	}
	return nil
}

// stop drains the lanes (every sample handed over is run and produced)
// and stops the modules. The sessions must have ended.
func (e *edge) stop() {
	for _, l := range e.lanes {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.signal()
	}
	e.wg.Wait()
	e.hook.Stop()
}

// add hands s to its lane; false when it was dropped (and counted), as
// producer.produce. It waits for room up to buffer.max-block.
func (e *edge) add(ctx context.Context, c *Collector, s *wirepb.Sample, st *sendState) bool {
	h := uint32(2166136261) // FNV-1a of the device
	for i := 0; i < len(s.Device); i++ {
		h = (h ^ uint32(s.Device[i])) * 16777619
	}
	l := e.lanes[h%uint32(len(e.lanes))]
	var deadline time.Time
	for {
		l.mu.Lock()
		if len(l.buf) < l.maxBytes || l.closed {
			break
		}
		room := l.room
		l.mu.Unlock()
		if st.overflow || c.cfg.Buffer.MaxBlock == 0 {
			c.t.drop(c.m, dropBufferFull, 1)
			return false
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.cfg.Buffer.MaxBlock)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			st.overflow = true
			c.t.drop(c.m, dropBufferFull, 1)
			return false
		}
		st.timer.Reset(wait)
		select {
		case <-room:
			st.timer.Stop()
		case <-st.timer.C:
		case <-ctx.Done():
			st.timer.Stop()
			c.t.drop(c.m, dropShutdown, 1)
			return false
		}
	}
	st.overflow = false
	start := len(l.buf)
	buf, err := wasm.AppendSample(l.buf, s)
	if err != nil {
		l.mu.Unlock()
		c.t.drop(c.m, dropMarshal, 1)
		return false
	}
	l.buf = buf
	l.offs = append(l.offs, start)
	l.keys = wire.SampleKey(l.keys, s)
	l.ends = append(l.ends, len(l.keys))
	l.tenants = append(l.tenants, s.Tenant)
	l.mu.Unlock()
	l.signal()
	return true
}

// signal wakes the lane's goroutine.
func (l *lane) signal() {
	select {
	case l.work <- struct{}{}:
	default:
	}
}

// run takes the lane's batches until it is closed and drained.
func (l *lane) run(c *Collector, h *wasm.Hook, p *producer) {
	var (
		sc         wasm.Scratch
		buf, keys  []byte
		ends, offs []int
		tenants    []string
		dec        = wire.NewSampleDecoder()
		st         = newSendState()
	)
	for {
		<-l.work
		l.mu.Lock()
		buf, l.buf = l.buf, buf[:0]
		keys, l.keys = l.keys, keys[:0]
		ends, l.ends = l.ends, ends[:0]
		offs, l.offs = l.offs, offs[:0]
		clear(tenants)
		tenants, l.tenants = l.tenants, tenants[:0]
		closed := l.closed
		close(l.room)
		l.room = make(chan struct{})
		l.mu.Unlock()
		for first := 0; first < len(ends); first += maxBatch {
			last := min(first+maxBatch, len(ends))
			l.process(c, h, p, &sc, dec, st, buf, keys, offs, ends, tenants, first, last)
		}
		if closed {
			l.mu.Lock()
			empty := len(l.ends) == 0
			l.mu.Unlock()
			if empty {
				return
			}
			l.signal()
		}
	}
}

// process runs the records first..last-1 of the taken batch through the
// modules and produces the result.
func (l *lane) process(c *Collector, h *wasm.Hook, p *producer, sc *wasm.Scratch, dec *wire.SampleDecoder, st *sendState,
	buf, keys []byte, offs, ends []int, tenants []string, first, last int) {
	end := len(buf)
	if last < len(offs) {
		end = offs[last]
	}
	batch, keyStart := buf[offs[first]:end], 0
	if first > 0 {
		keyStart = ends[first-1]
	}
	// the collector's life: once stopped, a full Kafka buffer drops
	// (shutdown) instead of waiting
	ctx := c.lifeContext()
	out, _, changed := h.Run(context.Background(), sc, batch, last-first)
	if !changed {
		i, start := first, keyStart
		_ = wasm.EachRecord(out, func(rec []byte) error {
			p.produceValue(ctx, keys[start:ends[i]], rec, tenants[i], st)
			start = ends[i]
			i++
			return nil
		})
		return
	}
	_ = wasm.EachRecord(out, func(rec []byte) error {
		if s, err := dec.Decode(rec); err == nil { // validated by Run
			c.restamp(s)
			p.produce(ctx, s, st)
		}
		return nil
	})
}

// WasmStats returns the collect hook's per-module counters (none without
// collect.wasm). With modules, the collector's Stats add up as
// Samples + Inventory + the modules' Added = Produced + the drops + the
// modules' Dropped + Buffered + WasmQueued.
func (c *Collector) WasmStats() []wasm.ModuleStats {
	if c.edge == nil {
		return nil
	}
	return c.edge.hook.Stats()
}

// WasmQueued is the samples waiting in the edge's lanes.
func (c *Collector) WasmQueued() int {
	if c.edge == nil {
		return 0
	}
	n := 0
	for _, l := range c.edge.lanes {
		l.mu.Lock()
		n += len(l.ends)
		l.mu.Unlock()
	}
	return n
}

// ReloadWasm loads the collect hook's module files now, as the watcher
// does once a change is stable (tests, tools).
func (c *Collector) ReloadWasm(ctx context.Context) error {
	if c.edge == nil {
		return nil
	}
	return c.edge.hook.Reload(ctx)
}

// lifeContext is the collector's life (cancelled by Stop).
func (c *Collector) lifeContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx
}
