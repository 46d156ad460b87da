package wasm

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// A batch is the encoding of wire.proto's SampleBatch or KPIBatch: field 1,
// length-delimited, once per record, each record exactly a Kafka record
// value of its topic (docs/wasm.md).
const batchTag = 1<<3 | 2

// AppendSampleRecord appends one encoded sample (a telemetry.samples
// record value) to the batch b.
func AppendSampleRecord(b, rec []byte) []byte {
	b = append(b, batchTag)
	b = protowire.AppendVarint(b, uint64(len(rec)))
	return append(b, rec...)
}

// AppendSample encodes s (version 1, wire.AppendSample) as the next record
// of the batch b.
func AppendSample(b []byte, s *wirepb.Sample) ([]byte, error) {
	start := len(b)
	b = append(b, batchTag, 0)
	out, err := wire.AppendSample(b, s)
	if err != nil {
		return b[:start], err
	}
	return wire.FixLength(out, start+2), nil
}

// errBatch is a batch that does not parse.
var errBatch = errors.New("malformed batch")

// EachRecord calls f with each record of the batch b, in order; it stops
// at f's first error. Fields other than 1 are skipped.
func EachRecord(b []byte, f func(rec []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errBatch, protowire.ParseError(n))
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return fmt.Errorf("%w: %w", errBatch, protowire.ParseError(m))
			}
			b = b[m:]
			continue
		}
		rec, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return fmt.Errorf("%w: %w", errBatch, protowire.ParseError(m))
		}
		b = b[m:]
		if err := f(rec); err != nil {
			return err
		}
	}
	return nil
}

// Count is the number of records in the batch b.
func Count(b []byte) (int, error) {
	n := 0
	err := EachRecord(b, func([]byte) error { n++; return nil })
	return n, err
}

// validator checks a module's output batch and counts its records.
type validator interface {
	validate(b []byte) (int, error)
}

// sampleValidator decodes every sample of a batch.
type sampleValidator struct{ dec *wire.SampleDecoder }

func (v sampleValidator) validate(b []byte) (int, error) {
	n := 0
	err := EachRecord(b, func(rec []byte) error {
		if _, err := v.dec.Decode(rec); err != nil {
			return fmt.Errorf("sample %d: %w", n, err)
		}
		n++
		return nil
	})
	return n, err
}

// kpiValidator decodes every KPI of a batch.
type kpiValidator struct{ dec *wire.KPIDecoder }

func (v kpiValidator) validate(b []byte) (int, error) {
	n := 0
	err := EachRecord(b, func(rec []byte) error {
		if _, err := v.dec.Decode(rec); err != nil {
			return fmt.Errorf("KPI %d: %w", n, err)
		}
		n++
		return nil
	})
	return n, err
}
