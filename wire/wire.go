// Package wire holds the records every stage of the pipeline exchanges on
// Kafka — samples, KPIs, remediation events and dead letters — and the rules
// for putting them on the wire: Protocol Buffers (see wire.proto), a version
// in every message, and a schema header on every Kafka record.
package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Version is the wire version this build writes and the newest it reads.
const Version uint32 = 1

// SchemaHeader is the Kafka record header naming the message in the value.
const SchemaHeader = "telemetry-schema"

// TenantHeader is the Kafka record header naming the tenant of the record
// (docs/tenancy.md), the same as the message's tenant field: consumers can
// filter a tenant's records without decoding them. Records written before
// tenants existed have neither; they belong to the default tenant.
const TenantHeader = "telemetry-tenant"

// Schema names carried in SchemaHeader.
const (
	SchemaSample      = "sample.v1"
	SchemaKPI         = "kpi.v1"
	SchemaRemediation = "remediation.v1"
	SchemaDeadLetter  = "deadletter.v1"
)

// Errors a decoder returns. Callers dead-letter the record with the error
// text as the reason and count it.
var (
	// ErrUnknownVersion means the record was written by a newer (or broken)
	// writer: its version is 0 or greater than Version.
	ErrUnknownVersion = errors.New("unknown wire version")
	// ErrMalformed means the bytes are not a valid message.
	ErrMalformed = errors.New("malformed record")
	// ErrEmpty means the message has no body.
	ErrEmpty = errors.New("record has no body")
)

// versioned is any wire message: all carry a version.
type versioned interface {
	proto.Message
	GetVersion() uint32
}

// unmarshal decodes b into m and checks its version.
func unmarshal(b []byte, m versioned) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if v := m.GetVersion(); v == 0 || v > Version {
		return fmt.Errorf("%w: %d (this build reads up to %d)", ErrUnknownVersion, v, Version)
	}
	return nil
}

// DecodeSample decodes a telemetry.samples record value into s (reused by
// the caller to save allocations).
func DecodeSample(b []byte, s *wirepb.Sample) error {
	s.Reset()
	if err := unmarshal(b, s); err != nil {
		return err
	}
	if s.Body == nil {
		return ErrEmpty
	}
	return nil
}

// DecodeKPI decodes a telemetry.kpis record value.
func DecodeKPI(b []byte, k *wirepb.KPI) error {
	k.Reset()
	if err := unmarshal(b, k); err != nil {
		return err
	}
	if k.Body == nil {
		return ErrEmpty
	}
	return nil
}

// DecodeRemediation decodes a telemetry.remediations record value.
func DecodeRemediation(b []byte, e *wirepb.RemediationEvent) error {
	e.Reset()
	if err := unmarshal(b, e); err != nil {
		return err
	}
	if e.EventId == "" {
		return fmt.Errorf("%w: remediation event without event_id", ErrMalformed)
	}
	return nil
}

// DecodeDeadLetter decodes a telemetry.deadletter record value.
func DecodeDeadLetter(b []byte, d *wirepb.DeadLetter) error {
	d.Reset()
	return unmarshal(b, d)
}

// Marshal encodes any wire message, appending to buf (which may be nil),
// after stamping the current version.
func Marshal(buf []byte, m versioned) ([]byte, error) {
	switch v := m.(type) {
	case *wirepb.Sample:
		v.Version = Version
	case *wirepb.KPI:
		v.Version = Version
	case *wirepb.RemediationEvent:
		v.Version = Version
	case *wirepb.DeadLetter:
		v.Version = Version
	}
	out, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", m, err)
	}
	return out, nil
}

// SampleKey is the Kafka key of a sample: records of one series land on one
// partition, in order.
func SampleKey(buf []byte, s *wirepb.Sample) []byte {
	buf = append(buf, s.GetDevice()...)
	switch b := s.GetBody().(type) {
	case *wirepb.Sample_Interface:
		buf = append(buf, '/')
		buf = append(buf, b.Interface.GetInterface()...)
	case *wirepb.Sample_Probe:
		buf = append(buf, "/probe:"...)
		buf = append(buf, b.Probe.GetPeerSite()...)
		buf = append(buf, '/')
		buf = append(buf, b.Probe.GetPeerDevice()...)
	}
	return buf
}
