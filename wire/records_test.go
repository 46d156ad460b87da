package wire

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// TestDeadLetterAlwaysFits: whatever the size of the record given up on
// (up to the broker's limit, key included), its dead letter fits in a Kafka
// record, and says what it stands for.
func TestDeadLetterAlwaysFits(t *testing.T) {
	const producerLimit = 1_000_012 // franz-go's default ProducerBatchMaxBytes
	for _, size := range []int{0, 1, 999_000, 1_040_000, 1_048_000} {
		src := &kgo.Record{Topic: strings.Repeat("t", 300), Partition: 3, Offset: 42,
			Key: bytes.Repeat([]byte{'k'}, size/8), Value: bytes.Repeat([]byte{0xff}, size)}
		cause := errors.New(strings.Repeat("é", 5000)) // a hostile reason, multi-byte
		r := DeadLetterRecord("telemetry.deadletter", "sink", cause, src, time.Unix(0, 1))
		if n := len(r.Key) + len(r.Value) + 200; n > producerLimit/2 {
			t.Fatalf("size %d: dead letter of %d bytes", size, n)
		}
		dl := &wirepb.DeadLetter{}
		if err := DecodeDeadLetter(r.Value, dl); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		sum := sha256.Sum256(src.Value)
		if dl.GetPayloadSize() != uint64(size) || dl.GetKeySize() != uint64(size/8) || !bytes.Equal(dl.GetPayloadSha256(), sum[:]) ||
			dl.GetSourceOffset() != 42 || dl.GetSourcePartition() != 3 || dl.GetComponent() != "sink" {
			t.Fatalf("size %d: %+v", size, dl)
		}
		if !bytes.Equal(dl.GetPayload(), src.Value[:min(size, MaxDeadLetterPayload)]) || len(dl.GetReason()) > MaxDeadLetterReason ||
			!strings.HasPrefix(cause.Error(), dl.GetReason()) {
			t.Fatalf("size %d: payload or reason not a prefix of the source's", size)
		}
		if s, ok := SchemaOf(r); !ok || string(s) != SchemaDeadLetter {
			t.Fatalf("schema header %q", s)
		}
	}
}

func TestSchemaOf(t *testing.T) {
	r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: "other", Value: []byte("x")}, {Key: SchemaHeader, Value: []byte(SchemaKPI)}}}
	if s, ok := SchemaOf(r); !ok || string(s) != SchemaKPI {
		t.Fatalf("SchemaOf = %q, %v", s, ok)
	}
	if s, ok := SchemaOf(&kgo.Record{}); ok || s != nil {
		t.Fatalf("SchemaOf a record without the header = %q, %v", s, ok)
	}
}

// TestDeadLetterOfHostileText: a reason or topic with invalid UTF-8 (proto3
// strings refuse it) still gives a whole dead letter, with the text
// replaced where it was invalid.
func TestDeadLetterOfHostileText(t *testing.T) {
	src := &kgo.Record{Topic: "t\xfeopic", Partition: 1, Offset: 7, Key: []byte("k"), Value: []byte("payload")}
	r := DeadLetterRecord("telemetry.deadletter", "sink", errors.New("bad \xff byte"), src, time.Unix(0, 1))
	dl := &wirepb.DeadLetter{}
	if err := DecodeDeadLetter(r.Value, dl); err != nil {
		t.Fatalf("dead letter does not decode: %v", err)
	}
	if dl.GetReason() != "bad \uFFFD byte" || dl.GetSourceTopic() != "t\uFFFDopic" || string(dl.GetPayload()) != "payload" ||
		dl.GetSourceOffset() != 7 || dl.GetPayloadSize() != 7 {
		t.Fatalf("dead letter %+v", dl)
	}
}

// TestTenantHeaders: the tenant header follows the schema header, a
// record without a tenant has the schema header alone, and TenantOf reads
// it back.
func TestTenantHeaders(t *testing.T) {
	r := &kgo.Record{Headers: TenantHeaders(SchemaKPI, "acme")}
	if s, ok := SchemaOf(r); !ok || string(s) != SchemaKPI {
		t.Fatalf("SchemaOf = %q, %v", s, ok)
	}
	if tn, ok := TenantOf(r); !ok || string(tn) != "acme" {
		t.Fatalf("TenantOf = %q, %v", tn, ok)
	}
	h := TenantHeaders(SchemaSample, "")
	if len(h) != 1 || h[0].Key != SchemaHeader || string(h[0].Value) != SchemaSample {
		t.Fatalf("no tenant: headers %v", h)
	}
	if tn, ok := TenantOf(&kgo.Record{Headers: h}); ok || tn != nil {
		t.Fatalf("TenantOf a record without the header = %q, %v", tn, ok)
	}
	a, b := TenantHeaders(SchemaKPI, "acme"), TenantHeaders(SchemaKPI, "acme")
	a[1].Value[0] = 'X'
	if string(b[1].Value) != "acme" {
		t.Fatal("TenantHeaders slices share memory")
	}
}

// TestDeadLetterCarriesTheTenant: a dead letter takes its source's tenant
// from the source's tenant header when that is a valid tenant id, and its
// record carries the header too; otherwise it has no tenant.
func TestDeadLetterCarriesTheTenant(t *testing.T) {
	for _, tc := range []struct {
		header []kgo.RecordHeader
		want   string
	}{
		{TenantHeaders(SchemaSample, "acme"), "acme"},
		{Headers(SchemaSample), ""},
		{nil, ""},
		{TenantHeaders(SchemaSample, "ACME; DROP"), ""},
		{TenantHeaders(SchemaSample, "a\xff"), ""},
		{TenantHeaders(SchemaSample, strings.Repeat("a", 33)), ""},
	} {
		src := &kgo.Record{Topic: "telemetry.samples", Value: []byte("junk"), Headers: tc.header}
		r := DeadLetterRecord("telemetry.deadletter", "processor", errors.New("bad"), src, time.Unix(0, 1))
		dl := &wirepb.DeadLetter{}
		if err := DecodeDeadLetter(r.Value, dl); err != nil {
			t.Fatal(err)
		}
		if dl.GetTenant() != tc.want {
			t.Errorf("header %v: dead letter tenant %q, want %q", tc.header, dl.GetTenant(), tc.want)
		}
		tn, ok := TenantOf(r)
		if ok != (tc.want != "") || string(tn) != tc.want {
			t.Errorf("header %v: dead letter record's tenant header %q, %v", tc.header, tn, ok)
		}
		if s, _ := SchemaOf(r); string(s) != SchemaDeadLetter {
			t.Errorf("schema header %q", s)
		}
	}
}
