package simulator

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestParseScenario(t *testing.T) {
	s, err := ParseScenario([]byte(`
faults:
  - type: loss
    start: 10s
    duration: 1m
    device: site1-sw1
    interface: Ethernet1
    ratio: 0.05
  - type: latency
    start: 5
    sites: [site1, site2]
    rtt-ms: 30
    jitter-ms: 2.5
  - {type: flap, device: site2-sw1, period: 2s, duration: 10s}
  - {type: counter_reset, device: site3-sw1, start: 1.5}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Faults) != 4 {
		t.Fatalf("%d faults", len(s.Faults))
	}
	f0 := s.Faults[0]
	if f0.Type != FaultLoss || f0.Start != 10*time.Second || f0.Duration != time.Minute || f0.Ratio != 0.05 || f0.Interface != "Ethernet1" {
		t.Fatalf("fault 0: %+v", f0)
	}
	if s.Faults[1].Start != 5*time.Second || s.Faults[1].JitterMs != 2.5 || s.Faults[1].Sites[1] != "site2" {
		t.Fatalf("fault 1: %+v", s.Faults[1])
	}
	if s.Faults[3].Start != 1500*time.Millisecond {
		t.Fatalf("fault 3: %+v", s.Faults[3])
	}
	// A bare list and an empty file are accepted too.
	if s, err := ParseScenario([]byte("- {type: link_down, device: site1-sw1}\n")); err != nil || len(s.Faults) != 1 {
		t.Fatalf("bare list: %v %v", s, err)
	}
	if s, err := ParseScenario(nil); err != nil || len(s.Faults) != 0 {
		t.Fatalf("empty: %v %v", s, err)
	}
}

func TestScenarioErrors(t *testing.T) {
	cases := []struct{ body, want string }{
		{"faults: 3", "faults: must be a list"},
		{"foo: []", `unknown key "foo"`},
		{"- 3", "fault 0 (line 1): must be a mapping"},
		{"- {start: 1s}", "fault 0 (line 1): type: missing"},
		{"- {type: boom}", `fault 0 (line 1): type: "boom" is not`},
		{"- {type: link_down, device: a}\n- {type: loss, device: a, ratio: 0}", "fault 1 (line 2): ratio: 0 is not in (0,1]"},
		{"- {type: loss, device: a, ratio: 0.1, load: 2}", "fault 0 (line 1): load: unknown key for a loss fault"},
		{"- {type: congestion, device: a}", "load: 0 is not in (0,100]"},
		{"- {type: congestion, interface: Ethernet1, load: 1}", "device: missing"},
		{"- {type: latency, sites: [site1], rtt-ms: 3}", "sites: want exactly two sites"},
		{"- {type: latency, sites: [site1, site1], rtt-ms: 3}", "sites: want two different sites"},
		{"- {type: latency, sites: [site1, site2]}", "rtt-ms: one of rtt-ms"},
		{"- {type: latency, sites: site1, rtt-ms: 3}", "sites: must be a list"},
		{"- {type: flap, device: a, period: 100ms}", "period: 100ms is below 1s"},
		{"- {type: link_down, device: a, start: soon}", `start: "soon" is not a duration`},
		{"- {type: link_down, device: a, duration: -5s}", "duration: -5s is negative"},
		{"- {type: loss, device: a, ratio: abc}", `ratio: "abc" is not a number`},
		{"- {type: link_down, device: a, device: b}", "device: duplicate key"},
		{"- {type: link_down, device: [a]}", "device: must be a string"},
		{"- {type: loss, device: a, ratio: .nan}", "ratio:"},
		{"[", "scenario:"},
		{"- {type: link_down, device: a}\n---\n- {type: loss, device: b, ratio: 0.5}", "line 2: a second YAML document"},
	}
	for _, tc := range cases {
		_, err := ParseScenario([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.body, err, tc.want)
		}
	}
}

// TestScenarioEmptyDocumentsAccepted: a "---" before the faults or after
// them is not a second list.
func TestScenarioEmptyDocumentsAccepted(t *testing.T) {
	for _, body := range []string{
		"---\n- {type: link_down, device: a}",
		"- {type: link_down, device: a}\n---\n",
		"- {type: link_down, device: a}\n---\n# nothing else\n",
	} {
		s, err := ParseScenario([]byte(body))
		if err != nil || len(s.Faults) != 1 {
			t.Errorf("%q: got %v, %v; want one fault", body, s, err)
		}
	}
}

func TestScenarioAgainstFabric(t *testing.T) {
	cases := []struct{ body, want string }{
		{"- {type: link_down, device: site9-sw1}", `fault 0 (link_down): device: "site9-sw1" is not a device`},
		{"- {type: loss, device: site1-sw1, interface: Ethernet99, ratio: 0.1}", `fault 0 (loss): interface: "Ethernet99" is not an interface of site1-sw1`},
		{"- {type: latency, sites: [site1, site7], rtt-ms: 3}", `sites: "site7" is not a site`},
	}
	for _, tc := range cases {
		p := writeScenario(t, tc.body)
		cfg := DefaultConfiguration()
		cfg.Scenario = p
		_, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.body, err, tc.want)
		}
	}
	if _, err := LoadScenario("/nonexistent/scenario.yaml"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestDemoScenario(t *testing.T) {
	p := "../../deploy/scenarios/demo.yaml"
	if _, err := os.Stat(p); err != nil {
		t.Skip("no demo scenario")
	}
	cfg := DefaultConfiguration()
	cfg.Scenario = p
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.faults) < 6 {
		t.Fatalf("%d faults", len(f.faults))
	}
}

func TestConfigurationValidate(t *testing.T) {
	cases := []struct {
		mut  func(*Configuration)
		want string
	}{
		{func(c *Configuration) { c.Listen = "nope" }, "listen:"},
		{func(c *Configuration) { c.Sites = 0 }, "sites:"},
		{func(c *Configuration) { c.SwitchesPerSite = 0 }, "switches-per-site:"},
		{func(c *Configuration) { c.InterfacesPerSwitch = 0 }, "interfaces-per-switch:"},
		{func(c *Configuration) { c.PortSpeedBps = 123 }, "port-speed-bps:"},
		{func(c *Configuration) { c.CounterBits = 65 }, "counter-bits:"},
		{func(c *Configuration) { c.BaseUtilization = 2 }, "base-utilization:"},
		{func(c *Configuration) { c.PacketSize = 1 }, "packet-size:"},
		{func(c *Configuration) { c.TLS.CertFile = "x" }, "tls.cert-file:"},
		{func(c *Configuration) { c.TLS.ClientCAFile = "x" }, "tls.client-ca-file:"},
		{func(c *Configuration) { c.Password = "x" }, "username:"},
	}
	for _, tc := range cases {
		c := DefaultConfiguration()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want prefix %q", err, tc.want)
		}
	}
	c := DefaultConfiguration()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add([]byte("faults:\n  - {type: loss, device: site1-sw1, interface: Ethernet1, ratio: 0.05, start: 10s, duration: 1m}\n"))
	f.Add([]byte("- {type: latency, sites: [site1, site2], rtt-ms: 30, jitter-ms: 2}\n"))
	f.Add([]byte("- {type: flap, device: a, period: 2s}\n- {type: counter_reset, device: b, start: 3}\n"))
	f.Add([]byte("- {type: congestion, device: a, load: 1.5}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseScenario(b)
		if err != nil {
			return
		}
		for i := range s.Faults {
			if err := s.Faults[i].Validate(); err != nil {
				t.Fatalf("parsed fault %d does not validate: %v", i, err)
			}
		}
	})
}
