// Package simulator is a simulated switch fabric: a real gNMI server serving
// many targets from one listener, with OpenConfig interface counters and
// probe results computed from a deterministic traffic model, injectable
// faults (from a scenario file or at run time) and exact ground truth.
//
// See docs/simulator.md for the served paths, the traffic model, the
// scenario format and the exact truth formulas.
package simulator

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// TLSConfiguration enables TLS on the gNMI listener.
type TLSConfiguration struct {
	// CertFile and KeyFile are the server certificate and key (PEM).
	// Both empty: plaintext.
	CertFile string `yaml:"cert-file"`
	KeyFile  string `yaml:"key-file"`
	// ClientCAFile, when set, requires and verifies client certificates
	// signed by this CA (mTLS).
	ClientCAFile string `yaml:"client-ca-file"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfiguration) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Configuration is the simulate section of the configuration file.
type Configuration struct {
	// Listen is the gNMI listen address (host:port; port 0 picks one).
	Listen string `yaml:"listen"`
	// Sites is the number of sites ("site1".."siteN").
	Sites int `yaml:"sites"`
	// SwitchesPerSite is the number of switches per site ("<site>-sw1"..).
	SwitchesPerSite int `yaml:"switches-per-site"`
	// InterfacesPerSwitch is the number of interfaces ("Ethernet1"..).
	InterfacesPerSwitch int `yaml:"interfaces-per-switch"`
	// PortSpeedBps is the port speed in bits/s; one of 1e9, 10e9, 25e9,
	// 40e9, 100e9, 400e9 (served as an OpenConfig SPEED_* identity).
	PortSpeedBps uint64 `yaml:"port-speed-bps"`
	// CounterBits is the counter width: counters wrap at 2^CounterBits
	// (1..64, default 64).
	CounterBits int `yaml:"counter-bits"`
	// Scenario is a fault scenario YAML file ("" = no faults).
	Scenario string `yaml:"scenario"`
	// TruthFile, when set, receives the ground truth as JSON lines, one
	// line per interface and per link per second.
	TruthFile string `yaml:"truth-file"`
	// Seed makes the traffic noise deterministic.
	Seed int64 `yaml:"seed"`
	// BaseUtilization is the mean offered load of an interface (0..1).
	BaseUtilization float64 `yaml:"base-utilization"`
	// PacketSize is the average packet size in octets.
	PacketSize uint64 `yaml:"packet-size"`
	// ErrorRate is a baseline ratio of received packets counted as
	// in-errors (and the same ratio as in-discards); default 0.
	ErrorRate float64 `yaml:"error-rate"`
	// ProbesPerSecond is the number of probes each link test sends per second.
	ProbesPerSecond uint64 `yaml:"probes-per-second"`
	// MinSampleInterval is the smallest accepted sample_interval.
	MinSampleInterval time.Duration `yaml:"min-sample-interval"`
	// TLS optionally secures the listener.
	TLS TLSConfiguration `yaml:"tls"`
	// Username and Password, when Username is set, are required in the gRPC
	// metadata ("username", "password") of every RPC.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// DefaultConfiguration returns the defaults: 4 sites × 2 switches × 8
// interfaces at 10 Gbit/s on 127.0.0.1:57400.
func DefaultConfiguration() Configuration {
	return Configuration{
		Listen:              "127.0.0.1:57400",
		Sites:               4,
		SwitchesPerSite:     2,
		InterfacesPerSwitch: 8,
		PortSpeedBps:        10_000_000_000,
		CounterBits:         64,
		Seed:                1,
		BaseUtilization:     0.3,
		PacketSize:          800,
		ProbesPerSecond:     10,
		MinSampleInterval:   10 * time.Millisecond,
	}
}

// speedIdentity maps a port speed to its OpenConfig ETHERNET_SPEED identity.
func speedIdentity(bps uint64) (string, bool) {
	switch bps {
	case 1_000_000_000:
		return "SPEED_1GB", true
	case 10_000_000_000:
		return "SPEED_10GB", true
	case 25_000_000_000:
		return "SPEED_25GB", true
	case 40_000_000_000:
		return "SPEED_40GB", true
	case 100_000_000_000:
		return "SPEED_100GB", true
	case 400_000_000_000:
		return "SPEED_400GB", true
	}
	return "", false
}

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.Sites < 1 || c.Sites > 1000 {
		return fmt.Errorf("sites: %d is not in 1..1000", c.Sites)
	}
	if c.SwitchesPerSite < 1 || c.SwitchesPerSite > 1000 {
		return fmt.Errorf("switches-per-site: %d is not in 1..1000", c.SwitchesPerSite)
	}
	if c.InterfacesPerSwitch < 1 || c.InterfacesPerSwitch > 1024 {
		return fmt.Errorf("interfaces-per-switch: %d is not in 1..1024", c.InterfacesPerSwitch)
	}
	if _, ok := speedIdentity(c.PortSpeedBps); !ok {
		return fmt.Errorf("port-speed-bps: %d is not one of 1e9, 10e9, 25e9, 40e9, 100e9, 400e9", c.PortSpeedBps)
	}
	if c.CounterBits < 1 || c.CounterBits > 64 {
		return fmt.Errorf("counter-bits: %d is not in 1..64", c.CounterBits)
	}
	if c.BaseUtilization < 0 || c.BaseUtilization > 1 {
		return fmt.Errorf("base-utilization: %g is not in 0..1", c.BaseUtilization)
	}
	if c.PacketSize < 64 || c.PacketSize > 9216 {
		return fmt.Errorf("packet-size: %d is not in 64..9216", c.PacketSize)
	}
	if c.ErrorRate < 0 || c.ErrorRate >= 0.5 {
		return fmt.Errorf("error-rate: %g is not in [0, 0.5)", c.ErrorRate)
	}
	if c.ProbesPerSecond < 1 || c.ProbesPerSecond > 100000 {
		return fmt.Errorf("probes-per-second: %d is not in 1..100000", c.ProbesPerSecond)
	}
	if c.MinSampleInterval < time.Millisecond {
		return fmt.Errorf("min-sample-interval: %s is below 1ms", c.MinSampleInterval)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls.cert-file: cert-file and key-file go together")
	}
	if c.TLS.ClientCAFile != "" && !c.TLS.Enabled() {
		return errors.New("tls.client-ca-file: needs tls.cert-file and tls.key-file")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("username: must be set when password is")
	}
	return nil
}
