// Package wasm runs edge processors: users' own logic compiled to
// WebAssembly (WASI preview 1), called on batches of samples in the
// collector (hook collect, before Kafka) and on the KPIs of closed windows
// in the processor (hook process).
//
// A module is compiled once and instantiated once per worker (instances are
// not safe for concurrent use). It gets no filesystem, network, clock or
// randomness unless a capability grants it; its memory is capped; every
// call has a deadline. A module that traps, loops past its deadline, runs
// out of memory or breaks the ABI is stopped, its instance replaced, the
// failure counted by reason, and the batch passed on unchanged or dropped
// as its policy says. Modules are watched on disk and swapped once a new
// version compiles, instantiates and passes its self-check. The ABI is in
// docs/wasm.md; wasm/guest helps writing modules in Go.
package wasm

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// HookPoint is where a module is called.
type HookPoint string

const (
	// HookCollect: the collector, a batch of samples before Kafka
	// (export telemetry_collect).
	HookCollect HookPoint = "collect"
	// HookProcess: the processor, the KPIs of closed windows before Kafka
	// (export telemetry_process).
	HookProcess HookPoint = "process"
)

// export is the function a module exports for its hook.
func (h HookPoint) export() string { return "telemetry_" + string(h) }

// Policies: what becomes of a batch when a module fails on it.
const (
	// OnErrorPass passes the batch on as the module received it.
	OnErrorPass = "pass"
	// OnErrorDrop drops the batch (counted by reason).
	OnErrorDrop = "drop"
)

// Capabilities a module may be granted (capabilities: [...]).
const (
	// CapClock: the real wall clock, monotonic clock and sleep. Without
	// it the clocks are fake (they start at 0 and advance 1 ms a reading)
	// and sleep returns at once.
	CapClock = "clock"
	// CapRandom: the host's cryptographic random source. Without it
	// random_get is deterministic (a fixed seed).
	CapRandom = "random"
)

// ModuleConfig is one module of a hook: an entry of collect.wasm or
// process.wasm.
type ModuleConfig struct {
	// Path of the .wasm file. Required.
	Path string `yaml:"path"`
	// Name labels the module's metrics and logs. Default: the file name
	// without .wasm.
	Name string `yaml:"name"`
	// Hook is the hook the module serves; it must be the section's
	// (collect or process). Default: the section's.
	Hook HookPoint `yaml:"hook"`
	// OnError: pass (default: the batch goes on as the module received
	// it) or drop (the batch is dropped and counted).
	OnError string `yaml:"on-error"`
	// MemoryLimit caps the module's linear memory, in bytes (rounded down
	// to 64 KiB pages). Default 64 MiB.
	MemoryLimit int64 `yaml:"memory-limit"`
	// Timeout is the deadline of one call. Default 100ms.
	Timeout time.Duration `yaml:"timeout"`
	// Capabilities granted: clock, random. Default: none.
	Capabilities []string `yaml:"capabilities"`
	// Instances is how many instances may run at once (one per worker).
	// Default 0: the hook's own (the collector's lanes, 1 in the
	// processor).
	Instances int `yaml:"instances"`
	// WatchInterval is how often the file is checked for a new version; a
	// change is loaded once the file stayed the same for one interval.
	// Default 2s; negative: not watched.
	WatchInterval time.Duration `yaml:"watch-interval"`
}

// Defaults of ModuleConfig.
const (
	DefaultMemoryLimit   = 64 << 20
	DefaultTimeout       = 100 * time.Millisecond
	DefaultWatchInterval = 2 * time.Second
	// pageSize is a WebAssembly page.
	pageSize = 64 << 10
	// minMemoryLimit: a Go module needs about 2 MiB to start.
	minMemoryLimit = 1 << 20
)

// withDefaults fills what c leaves unset for hook h.
func (c ModuleConfig) withDefaults(h HookPoint) ModuleConfig {
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(c.Path), ".wasm")
	}
	if c.Hook == "" {
		c.Hook = h
	}
	if c.OnError == "" {
		c.OnError = OnErrorPass
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.WatchInterval == 0 {
		c.WatchInterval = DefaultWatchInterval
	}
	return c
}

// pages is the memory limit in WebAssembly pages.
func (c ModuleConfig) pages() uint32 { return uint32(c.MemoryLimit / pageSize) }

// has reports whether capability cp is granted.
func (c ModuleConfig) has(cp string) bool {
	for _, x := range c.Capabilities {
		if x == cp {
			return true
		}
	}
	return false
}

// Validate checks the modules of hook h (the section's list); errors start
// with the key ("wasm[0].on-error: ...").
func Validate(h HookPoint, mods []ModuleConfig) error {
	names := map[string]bool{}
	for i, m := range mods {
		key := fmt.Sprintf("wasm[%d].", i)
		if err := m.validate(h); err != nil {
			return fmt.Errorf("%s%w", key, err)
		}
		n := m.withDefaults(h).Name
		if names[n] {
			return fmt.Errorf("%sname: %q used twice (set name)", key, n)
		}
		names[n] = true
	}
	return nil
}

func (c ModuleConfig) validate(h HookPoint) error {
	if strings.TrimSpace(c.Path) == "" {
		return errors.New("path: must not be empty")
	}
	if c.Hook != "" && c.Hook != h {
		return fmt.Errorf("hook: %q in the %s section (a %s module goes in the %s section)", c.Hook, h, c.Hook, c.Hook)
	}
	switch c.OnError {
	case "", OnErrorPass, OnErrorDrop:
	default:
		return fmt.Errorf("on-error: %q is not pass or drop", c.OnError)
	}
	if c.MemoryLimit != 0 && (c.MemoryLimit < minMemoryLimit || c.MemoryLimit > 4<<30) {
		return fmt.Errorf("memory-limit: %d bytes is not between 1 MiB and 4 GiB", c.MemoryLimit)
	}
	if c.Timeout < 0 {
		return errors.New("timeout: must not be negative")
	}
	if c.Instances < 0 {
		return errors.New("instances: must not be negative")
	}
	for _, cp := range c.Capabilities {
		switch cp {
		case CapClock, CapRandom:
		default:
			return fmt.Errorf("capabilities: %q is not clock or random", cp)
		}
	}
	return nil
}
