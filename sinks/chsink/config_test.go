package chsink

import (
	"strings"
	"testing"
	"time"

	"github.com/meshtelemetry/telemetry/sinks/schema"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

func TestValidate(t *testing.T) {
	def := DefaultConfiguration()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		key    string
		change func(*Configuration)
	}{
		{"addresses", func(c *Configuration) { c.Addresses = nil }},
		{"addresses", func(c *Configuration) { c.Addresses = []string{"nohost"} }},
		{"database", func(c *Configuration) { c.Database = "bad-name; DROP" }},
		{"compression", func(c *Configuration) { c.Compression = "gzip" }},
		{"tls.cert-file", func(c *Configuration) { c.TLS.CertFile = "x" }},
		{"batch-size", func(c *Configuration) { c.BatchSize = 0 }},
		{"flush-interval", func(c *Configuration) { c.FlushInterval = 0 }},
		{"retention-days", func(c *Configuration) { c.RetentionDays = -1 }},
		{"group-id", func(c *Configuration) { c.GroupID = "" }},
		{"dial-timeout", func(c *Configuration) { c.DialTimeout = 0 }},
	} {
		c := DefaultConfiguration()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
			t.Errorf("%s: got %v, want an error starting with the key", tc.key, err)
		}
	}
}

func TestLegacySchema(t *testing.T) {
	all := strings.Join(SchemaStatements(LegacyCapabilities(), DefaultConfiguration()), "\n")
	for _, bad := range []string{"DateTime64", "LowCardinality", "CODEC", "TTL"} {
		if strings.Contains(all, bad) {
			t.Errorf("legacy schema uses %s", bad)
		}
	}
	for _, want := range []string{"PARTITION BY toYYYYMM(ts)", "ReplacingMergeTree(last_seen)", "CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry.link_kpis_1h_mv TO telemetry.link_kpis_1h"} {
		if !strings.Contains(all, want) {
			t.Errorf("legacy schema lacks %q", want)
		}
	}
	modern := strings.Join(SchemaStatements(ModernCapabilities(), DefaultConfiguration()), "\n")
	for _, want := range []string{"DateTime64(9, 'UTC')", "LowCardinality(String)", "CODEC(Gorilla, ZSTD(1))", "TTL toDateTime(ts) + toIntervalDay(7)", "toIntervalDay(400)"} {
		if !strings.Contains(modern, want) {
			t.Errorf("modern schema lacks %q", want)
		}
	}
}

func TestRawSamplesOff(t *testing.T) {
	b := newBuffers("db")
	fs := map[string]int64{}
	for _, s := range genSamples() {
		b.addSample(s, false, fs)
	}
	if b.byName[schema.InterfaceCounters].rows != 0 || b.byName[schema.ProbeResults].rows != 0 {
		t.Error("raw samples stored with raw-samples off")
	}
	if b.byName[schema.Devices].rows != 2 {
		t.Errorf("devices rows = %d, want 2", b.byName[schema.Devices].rows)
	}
	// first_seen is the earliest time seen, whatever the order.
	late := &wirepb.Sample{Version: 1, Site: "site0", Device: "dev0", DeviceTimeUnixNano: genStart.Add(-time.Minute).UnixNano(),
		Body: &wirepb.Sample_DeviceState{DeviceState: &wirepb.Device{State: wirepb.DeviceState_DEVICE_UP}}}
	b.addSample(late, false, fs)
	if got := fs["site0\x00dev0"]; got != genStart.Add(-time.Minute).UnixNano() {
		t.Errorf("first_seen = %s", nanos(got))
	}
}

func TestBackoff(t *testing.T) {
	s := &Sink{cfg: DefaultConfiguration()}
	s.cfg.MaxRetryBackoff = 2 * time.Second
	for n := 1; n <= 20; n++ {
		d := s.backoff(n)
		if d <= 0 || d > s.cfg.MaxRetryBackoff {
			t.Fatalf("backoff(%d) = %s", n, d)
		}
		if n == 20 && d < s.cfg.MaxRetryBackoff/2 {
			t.Fatalf("backoff(20) = %s, want near the cap", d)
		}
	}
}

// TestStateOnlySamplesApart: an ON_CHANGE sample (oper-status, speed, no
// counters) goes to interface_state, never to interface_counters, where it
// would share the key of a counters sample with the same device timestamp
// and replace its counters with zeros.
func TestStateOnlySamplesApart(t *testing.T) {
	b := newBuffers("db")
	fs := map[string]int64{}
	at := genStart.UnixNano()
	counters := &wirepb.Sample{Version: 1, Site: "s", Device: "d", DeviceTimeUnixNano: at,
		Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "e1",
			Counters: []*wirepb.CounterValue{{Counter: wirepb.Counter_IN_OCTETS, Value: 42}}}}}
	state := &wirepb.Sample{Version: 1, Site: "s", Device: "d", DeviceTimeUnixNano: at,
		Body: &wirepb.Sample_Interface{Interface: &wirepb.InterfaceState{Interface: "e1",
			OperStatus: wirepb.OperStatus_DOWN, SpeedBps: 10e9}}}
	b.addSample(counters, true, fs)
	b.addSample(state, true, fs)
	if got := b.byName[schema.InterfaceCounters].rows; got != 1 {
		t.Errorf("interface_counters rows = %d, want 1 (the counters sample only)", got)
	}
	if got := b.byName[schema.InterfaceState].rows; got != 1 {
		t.Errorf("interface_state rows = %d, want 1", got)
	}
	b.addSample(state, false, fs)
	if got := b.byName[schema.InterfaceState].rows; got != 1 {
		t.Errorf("state sample stored with raw-samples off")
	}
}
