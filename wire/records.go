package wire

import (
	"crypto/sha256"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/common/tenant"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// Limits of a dead letter, so that it always fits in a Kafka record
// (franz-go's default batch limit is 1,000,012 bytes, a broker's default
// 1,048,588) whatever the size of the record it stands for: the cut key
// and payload, the reason and the fixed fields stay far below both.
const (
	MaxDeadLetterKey     = 4 << 10
	MaxDeadLetterPayload = 256 << 10
	MaxDeadLetterReason  = 1 << 10
)

// headers is read-only: one header slice per schema, shared by records.
var headers = func() map[string][]kgo.RecordHeader {
	m := map[string][]kgo.RecordHeader{}
	for _, s := range []string{SchemaSample, SchemaKPI, SchemaRemediation, SchemaDeadLetter} {
		m[s] = []kgo.RecordHeader{{Key: SchemaHeader, Value: []byte(s)}}
	}
	return m
}()

// Headers returns the headers of a record carrying schema (a Schema*
// name) and no tenant header (TenantHeaders adds it). The slice is shared:
// do not modify it.
func Headers(schema string) []kgo.RecordHeader {
	if h, ok := headers[schema]; ok {
		return h
	}
	return []kgo.RecordHeader{{Key: SchemaHeader, Value: []byte(schema)}}
}

// TenantHeaders returns the headers of a record carrying schema for
// tenant: the schema header, then TenantHeader with the tenant id; the
// schema header alone (Headers) when tenant is "". The slice is new on
// every call: a writer of many records of one tenant builds it once and
// shares it.
func TenantHeaders(schema, tenant string) []kgo.RecordHeader {
	if tenant == "" {
		return Headers(schema)
	}
	return []kgo.RecordHeader{{Key: SchemaHeader, Value: []byte(schema)}, {Key: TenantHeader, Value: []byte(tenant)}}
}

// SchemaOf returns the record's SchemaHeader value, and whether the record
// has the header. The value shares the record's memory; compare it with
// string(v) == name, which does not copy.
func SchemaOf(r *kgo.Record) ([]byte, bool) {
	return header(r, SchemaHeader)
}

// TenantOf returns the record's TenantHeader value, and whether the
// record has the header; like SchemaOf, the value shares the record's
// memory. It is what the writer said: a reader that relies on it for
// more than filtering checks it (tenant.Resolver.Check).
func TenantOf(r *kgo.Record) ([]byte, bool) {
	return header(r, TenantHeader)
}

func header(r *kgo.Record, key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// DeadLetter returns the dead letter of src: why component gave up on it,
// where it came from, its key and payload cut to the limits above, with
// their sizes and the SHA-256 of the whole payload, and its tenant when
// its TenantHeader holds a valid tenant id.
func DeadLetter(component string, cause error, src *kgo.Record, now time.Time) *wirepb.DeadLetter {
	sum := sha256.Sum256(src.Value)
	reason := "unknown"
	if cause != nil {
		reason = cause.Error()
	}
	var tn string
	if v, ok := TenantOf(src); ok && tenant.Valid(string(v)) {
		tn = string(v)
	}
	return &wirepb.DeadLetter{
		Tenant:          tn,
		Reason:          text(reason, MaxDeadLetterReason),
		Component:       text(component, MaxDeadLetterReason),
		SourceTopic:     text(src.Topic, MaxDeadLetterReason),
		SourcePartition: src.Partition,
		SourceOffset:    src.Offset,
		Key:             src.Key[:min(len(src.Key), MaxDeadLetterKey)],
		Payload:         src.Value[:min(len(src.Value), MaxDeadLetterPayload)],
		TimeUnixNano:    now.UnixNano(),
		KeySize:         uint64(len(src.Key)),
		PayloadSize:     uint64(len(src.Value)),
		PayloadSha256:   sum[:],
	}
}

// DeadLetterRecord is the record on topic of src's dead letter (see
// DeadLetter), keyed by src's key, cut like the payload, with the tenant
// header when the dead letter has a tenant.
func DeadLetterRecord(topic, component string, cause error, src *kgo.Record, now time.Time) *kgo.Record {
	dl := DeadLetter(component, cause, src, now)
	// Cannot fail: every string of dl is valid UTF-8 (text), every other
	// field bytes or a number.
	v, _ := Marshal(nil, dl)
	return &kgo.Record{Topic: topic, Key: dl.Key, Value: v, Headers: TenantHeaders(SchemaDeadLetter, dl.Tenant)}
}

// text is s as a proto3 string field accepts it: invalid UTF-8 (a reason
// quoting hostile bytes) replaced, which would otherwise make the whole
// dead letter fail to marshal, then cut to at most n bytes.
func text(s string, n int) string {
	return cut(strings.ToValidUTF8(s, "\uFFFD"), n)
}

// cut returns s cut to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}
