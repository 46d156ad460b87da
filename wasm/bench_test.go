package wasm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/meshtelemetry/telemetry/wasm"
	"github.com/meshtelemetry/telemetry/wasm/wasmtest"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// benchSamples are n interface samples as the collector makes them from a
// gNMI notification: 12 counters, speed and oper-status.
func benchSamples(n int) []*wirepb.Sample {
	out := samples(n)
	for _, s := range out {
		it := s.GetInterface()
		it.Counters = nil
		for c := wirepb.Counter_IN_OCTETS; c <= wirepb.Counter_OUT_DISCARDS; c++ {
			it.Counters = append(it.Counters, &wirepb.CounterValue{Counter: c, Value: uint64(c) * 123456789})
		}
		it.SpeedBps = 100e9
	}
	return out
}

var batchSizes = []int{100, 1000}

// BenchmarkWasmCollectNoop is the no-op module's overhead per sample in
// the collect hook: copy an encoded batch into the module, call it, take
// its "unchanged" answer. The batch is encoded beforehand: the collector
// encodes each sample once, as its Kafka record value, and a batch that
// comes back unchanged is produced from those bytes (collectors/collector
// edge.go), so the encoding is not a cost of the hook.
func BenchmarkWasmCollectNoop(b *testing.B) {
	h := newHook(b, wasm.HookCollect, nil, wasm.ModuleConfig{Path: wasmtest.Build(b, "noop")})
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			var sc wasm.Scratch
			var buf []byte
			for _, s := range benchSamples(n) {
				buf, _ = wasm.AppendSample(buf, s)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, _, changed := h.Run(ctx, &sc, buf, n); changed {
					b.Fatal("changed")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
		})
	}
}

// BenchmarkWasmEncodeBatch is what encoding a batch costs the collector
// (wire.AppendSample per sample, done for Kafka with or without modules),
// for reference beside BenchmarkWasmCollectNoop.
func BenchmarkWasmEncodeBatch(b *testing.B) {
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			in := benchSamples(n)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = buf[:0]
				for _, s := range in {
					buf, _ = wasm.AppendSample(buf, s)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
		})
	}
}

// BenchmarkWasmExample runs each collect example on batches as the
// collector does (encode, call, decode what changed), beside the same
// transformation in Starlark (the .star twin beside the module), which
// gets each sample as a dict as gnmic's and Telegraf's processors do.
func BenchmarkWasmExample(b *testing.B) {
	for _, name := range []string{"normalize", "dropports", "circuits"} {
		h := newHook(b, wasm.HookCollect, nil, wasm.ModuleConfig{Path: wasmtest.Build(b, name)})
		for _, n := range batchSizes {
			b.Run(fmt.Sprintf("%s/wasm/batch=%d", name, n), func(b *testing.B) {
				in := benchSamples(n)
				var sc wasm.Scratch
				var buf []byte
				dec := wire.NewSampleDecoder()
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					buf = buf[:0]
					for _, s := range in {
						buf, _ = wasm.AppendSample(buf, s)
					}
					out, _, changed := h.Run(ctx, &sc, buf, n)
					if changed {
						if err := wasm.EachRecord(out, func(rec []byte) error {
							_, err := dec.Decode(rec)
							return err
						}); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
			})
			b.Run(fmt.Sprintf("%s/starlark/batch=%d", name, n), func(b *testing.B) {
				apply := starlarkApply(b, name)
				in := benchSamples(n)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					starlarkSamples(b, apply, in)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
			})
		}
	}
}

// BenchmarkWasmExampleErrorBudget runs the process example on a window's
// interface KPIs beside its Starlark twin.
func BenchmarkWasmExampleErrorBudget(b *testing.B) {
	h := newHook(b, wasm.HookProcess, nil, wasm.ModuleConfig{Path: wasmtest.Build(b, "errorbudget")})
	kpis := func(n int) []*wirepb.KPI {
		out := make([]*wirepb.KPI, n)
		for i := range out {
			out[i] = &wirepb.KPI{Id: fmt.Sprintf("k%d", i), Site: "site1", Device: "site1-sw1", WindowStartUnixNano: 1, WindowEndUnixNano: 2, Samples: 10,
				Body: &wirepb.KPI_Interface{Interface: &wirepb.InterfaceKPI{Interface: fmt.Sprintf("Ethernet%d", i), UtilIn: 0.4, UtilOut: 0.3, LossRatio: 0.0004, SpeedBps: 100e9, InBps: 4e10}}}
		}
		return out
	}
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("errorbudget/wasm/batch=%d", n), func(b *testing.B) {
			in := kpis(n)
			var sc wasm.Scratch
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if out := h.KPIs(ctx, &sc, in); len(out) != n {
					b.Fatal(len(out))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/kpi")
		})
		b.Run(fmt.Sprintf("errorbudget/starlark/batch=%d", n), func(b *testing.B) {
			apply := starlarkApply(b, "errorbudget")
			in := kpis(n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				list := make([]starlark.Value, len(in))
				for i, k := range in {
					d := starlark.NewDict(8)
					it := k.GetInterface()
					d.SetKey(starlark.String("site"), starlark.String(k.Site))
					d.SetKey(starlark.String("device"), starlark.String(k.Device))
					d.SetKey(starlark.String("interface"), starlark.String(it.Interface))
					d.SetKey(starlark.String("util_in"), starlark.Float(it.UtilIn))
					d.SetKey(starlark.String("util_out"), starlark.Float(it.UtilOut))
					d.SetKey(starlark.String("loss_ratio"), starlark.Float(it.LossRatio))
					list[i] = d
				}
				res, err := starlark.Call(&starlark.Thread{}, apply, starlark.Tuple{starlark.NewList(list)}, nil)
				if err != nil {
					b.Fatal(err)
				}
				out := make([]*wirepb.KPI, 0, len(in))
				iter := starlark.Iterate(res)
				var v starlark.Value
				i := 0
				for iter.Next(&v) {
					d := v.(*starlark.Dict)
					burn, _, _ := d.Get(starlark.String("error_budget_burn"))
					k := in[i]
					k.Fields = map[string]float64{"error_budget_burn": float64(burn.(starlark.Float))}
					out = append(out, k)
					i++
				}
				iter.Done()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/kpi")
		})
	}
}

// starlarkApply loads the example's .star twin and returns its apply.
func starlarkApply(tb testing.TB, name string) starlark.Value {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join("examples", name, name+".star"))
	if err != nil {
		tb.Fatal(err)
	}
	globals, err := starlark.ExecFileOptions(&syntax.FileOptions{}, &starlark.Thread{Name: name}, name+".star", src, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return globals["apply"]
}

var counterNames = func() map[wirepb.Counter]starlark.String {
	m := map[wirepb.Counter]starlark.String{}
	for c, n := range wirepb.Counter_name {
		m[wirepb.Counter(c)] = starlark.String(n)
	}
	return m
}()

// starlarkSamples runs apply on the samples as dicts (tags and values, as
// gnmic's event processors see them) and reads the answer back into
// samples.
func starlarkSamples(tb testing.TB, apply starlark.Value, in []*wirepb.Sample) []*wirepb.Sample {
	list := make([]starlark.Value, len(in))
	for i, s := range in {
		it := s.GetInterface()
		d := starlark.NewDict(20)
		d.SetKey(starlark.String("site"), starlark.String(s.Site))
		d.SetKey(starlark.String("device"), starlark.String(s.Device))
		d.SetKey(starlark.String("interface"), starlark.String(it.Interface))
		d.SetKey(starlark.String("speed_bps"), starlark.MakeUint64(it.SpeedBps))
		d.SetKey(starlark.String("oper_status"), starlark.MakeInt(int(it.OperStatus)))
		for _, c := range it.Counters {
			d.SetKey(counterNames[c.Counter], starlark.MakeUint64(c.Value))
		}
		list[i] = d
	}
	res, err := starlark.Call(&starlark.Thread{}, apply, starlark.Tuple{starlark.NewList(list)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	byDict := make(map[*starlark.Dict]*wirepb.Sample, len(in))
	for i, v := range list {
		byDict[v.(*starlark.Dict)] = in[i]
	}
	out := make([]*wirepb.Sample, 0, len(in))
	iter := starlark.Iterate(res)
	defer iter.Done()
	var v starlark.Value
	for iter.Next(&v) {
		d := v.(*starlark.Dict)
		s := byDict[d]
		name, _, _ := d.Get(starlark.String("interface"))
		speed, _, _ := d.Get(starlark.String("speed_bps"))
		sp, _ := starlark.AsInt32(speed)
		_ = sp
		c := wasm.CloneSample(s)
		c.GetInterface().Interface = string(name.(starlark.String))
		if u, ok := speed.(starlark.Int).Uint64(); ok {
			c.GetInterface().SpeedBps = u
		}
		out = append(out, c)
	}
	return out
}
