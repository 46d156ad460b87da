// Package kpi turns counter, probe and device-state samples into KPIs
// (utilization, loss, latency, device reachability, the pipeline's own
// delay).
//
// The computation is the Engine (pure, no I/O: samples in, closed windows
// out); the Processor wraps it in a Kafka consumer group on the samples
// topic and produces wire.KPI records to the kpis topic, committing offsets
// only once the KPIs that depend on them are acknowledged. The exact KPI
// definitions are in docs/kpis.md.
package kpi

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshtelemetry/telemetry/wasm"
)

// Configuration is the process section of the configuration file.
type Configuration struct {
	// Window is the KPI window, aligned to the epoch: [t - t mod w, +w).
	Window time.Duration `yaml:"window"`
	// AllowedLateness: a window closes when its series' device-time
	// watermark passes window end + AllowedLateness.
	AllowedLateness time.Duration `yaml:"allowed-lateness"`
	// MaxGap: an interval between two samples of one counter longer than
	// this is not interpolated (the counter re-baselines); a series silent
	// for this long while other samples arrive (processing time, a stall of
	// the processor or of its input not counted) is closed and forgotten; a
	// device clock that jumps back by more than this restarts the series.
	MaxGap time.Duration `yaml:"max-gap"`
	// StateHorizon: speed, oper-status and last-clear often arrive only on
	// change; the latest sample carrying each is kept uncommitted for this
	// long (device time) so that a successor after a rebalance or crash
	// re-reads it. Give on-change subscriptions a heartbeat shorter than
	// this. 0: not kept (a successor learns them at the next change).
	// It also bounds device reachability: a device's state (device-state
	// samples, sent on change) is believed for state-horizon, at least
	// max-gap, after its newest record, which stays uncommitted meanwhile;
	// then the device's series is forgotten (see docs/kpis.md).
	StateHorizon time.Duration `yaml:"state-horizon"`
	// GroupID is the Kafka consumer group.
	GroupID string `yaml:"group-id"`
	// SessionTimeout: a member that stops heartbeating (crashed) loses its
	// partitions after this long; it bounds the takeover after a crash.
	SessionTimeout time.Duration `yaml:"session-timeout"`
	// Instance names this processor in pipeline KPIs; "" means hostname-pid.
	Instance string `yaml:"instance"`
	// DefaultSpeedBps is the port speed used when neither an override nor
	// the telemetry gives one; 0 means unknown (utilization reported as 0).
	DefaultSpeedBps uint64 `yaml:"default-speed-bps"`
	// SpeedOverrides maps "device/interface" or "device" to a port speed
	// in bits/s; it wins over the telemetry.
	SpeedOverrides map[string]uint64 `yaml:"speed-overrides"`
	// CounterBits is the counter width: 0 (auto-detect 32-bit wraps with a
	// heuristic, see docs/kpis.md), 32 or 64.
	CounterBits int `yaml:"counter-bits"`
	// CounterBitsOverrides maps a device name to its counter width.
	CounterBitsOverrides map[string]int `yaml:"counter-bits-overrides"`
	// CommitInterval is how often produced KPIs are flushed and offsets committed.
	CommitInterval time.Duration `yaml:"commit-interval"`
	// MaxPollRecords bounds one poll.
	MaxPollRecords int `yaml:"max-poll-records"`
	// StallAfter: a partition whose committed offset has not moved for
	// this long while it lags is stalled, and Ready says so (/readyz 503)
	// until its commits move again. Open windows and the on-change state
	// (state-horizon) hold commits back by design, so it must be longer
	// than both.
	StallAfter time.Duration `yaml:"stall-after"`
	// Wasm lists the WebAssembly modules of the process hook, run in order
	// on the KPIs of closed windows before Kafka (docs/wasm.md). Empty:
	// none.
	Wasm []wasm.ModuleConfig `yaml:"wasm"`
}

// DefaultConfiguration returns the defaults.
func DefaultConfiguration() Configuration {
	return Configuration{
		Window:          10 * time.Second,
		AllowedLateness: 2 * time.Second,
		MaxGap:          60 * time.Second,
		StateHorizon:    15 * time.Minute,
		GroupID:         "telemetry-process",
		SessionTimeout:  45 * time.Second,
		CommitInterval:  time.Second,
		MaxPollRecords:  10000,
		StallAfter:      20 * time.Minute,
	}
}

// Validate checks the section; errors start with the offending key.
func (c *Configuration) Validate() error {
	if c.Window <= 0 {
		return errors.New("window: must be positive")
	}
	if c.AllowedLateness < 0 {
		return errors.New("allowed-lateness: must not be negative")
	}
	if c.MaxGap < c.Window {
		return errors.New("max-gap: must be at least one window")
	}
	if c.StateHorizon < 0 {
		return errors.New("state-horizon: must not be negative")
	}
	if strings.TrimSpace(c.GroupID) == "" {
		return errors.New("group-id: must not be empty")
	}
	if c.SessionTimeout < time.Second {
		return errors.New("session-timeout: must be at least 1s")
	}
	switch c.CounterBits {
	case 0, 32, 64:
	default:
		return fmt.Errorf("counter-bits: %d is not 0 (auto), 32 or 64", c.CounterBits)
	}
	for k, v := range c.CounterBitsOverrides {
		switch v {
		case 0, 32, 64:
		default:
			return fmt.Errorf("counter-bits-overrides: %s: %d is not 0 (auto), 32 or 64", k, v)
		}
	}
	for k, v := range c.SpeedOverrides {
		if k == "" || v == 0 {
			return fmt.Errorf("speed-overrides: %q: need a device or device/interface and a positive speed", k)
		}
	}
	if c.CommitInterval <= 0 {
		return errors.New("commit-interval: must be positive")
	}
	if c.MaxPollRecords <= 0 {
		return errors.New("max-poll-records: must be positive")
	}
	if hold := max(c.Window+c.AllowedLateness, c.StateHorizon); c.StallAfter <= hold {
		return fmt.Errorf("stall-after: %s must be longer than window + allowed-lateness and than state-horizon (%s): commits wait that long by design", c.StallAfter, hold)
	}
	return wasm.Validate(wasm.HookProcess, c.Wasm)
}
