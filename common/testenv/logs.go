package testenv

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logs is a goroutine-safe buffer that captures a test's log (or a
// subprocess's output).
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// JSONLogger returns a debug-level JSON logger writing to l, as a process
// logs off a terminal.
func (l *Logs) JSONLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// CheckComponentOnce fails the test unless every JSON line of logs carries
// the key component exactly once, with value stage: a line with a key
// twice is rejected or silently collapsed by log pipelines.
func CheckComponentOnce(t testing.TB, logs, stage string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no log line")
	}
	for _, l := range lines {
		if n := strings.Count(l, `"component":`); n != 1 {
			t.Errorf("component key %d times: %s", n, l)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["component"] != stage {
			t.Errorf("component %v, want %s (%v): %s", m["component"], stage, err, l)
		}
	}
}
