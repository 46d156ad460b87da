package wasm

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// AppendKPI encodes k (version 1, wire.Marshal) as the next record of the
// batch b.
func AppendKPI(b []byte, k *wirepb.KPI) ([]byte, error) {
	start := len(b)
	b = append(b, batchTag, 0)
	out, err := wire.Marshal(b, k)
	if err != nil {
		return b[:start], err
	}
	return wire.FixLength(out, start+2), nil
}

// KPIs runs kpis through the hook (the processor's process hook) and
// returns what goes on: kpis itself when no module changed the batch,
// else new KPIs decoded from the last output. A KPI that does not encode
// is passed on around the modules (and logged by the caller's marshal).
func (h *Hook) KPIs(ctx context.Context, sc *Scratch, kpis []*wirepb.KPI) []*wirepb.KPI {
	if h.Len() == 0 || len(kpis) == 0 {
		return kpis
	}
	in := sc.in[:0]
	var bad []*wirepb.KPI
	n := 0
	for _, k := range kpis {
		var err error
		if in, err = AppendKPI(in, k); err != nil {
			bad = append(bad, k)
			continue
		}
		n++
	}
	sc.in = in
	out, _, changed := h.Run(ctx, sc, in, n)
	if !changed {
		return kpis
	}
	res := bad
	_ = EachRecord(out, func(rec []byte) error {
		k := &wirepb.KPI{}
		if err := wire.DecodeKPI(rec, k); err == nil { // validated by Run
			res = append(res, k)
		}
		return nil
	})
	return res
}

// Samples runs samples through the hook (the collect hook) and returns
// what goes on: samples itself when no module changed the batch, else new
// samples decoded from the last output (tools and tests; the collector
// runs encoded batches through Run).
func (h *Hook) Samples(ctx context.Context, sc *Scratch, samples []*wirepb.Sample) ([]*wirepb.Sample, error) {
	if h.Len() == 0 || len(samples) == 0 {
		return samples, nil
	}
	in := sc.in[:0]
	for i, s := range samples {
		var err error
		if in, err = AppendSample(in, s); err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
	}
	sc.in = in
	out, _, changed := h.Run(ctx, sc, in, len(samples))
	if !changed {
		return samples, nil
	}
	res := []*wirepb.Sample{}
	err := EachRecord(out, func(rec []byte) error {
		s := &wirepb.Sample{}
		if err := wire.DecodeSample(rec, s); err != nil {
			return err
		}
		res = append(res, s)
		return nil
	})
	return res, err
}

// CloneSample is a deep copy of s.
func CloneSample(s *wirepb.Sample) *wirepb.Sample { return proto.Clone(s).(*wirepb.Sample) }
