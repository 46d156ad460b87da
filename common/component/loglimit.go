package component

import (
	"sync"
	"time"
)

// LogLimiter lets one log line per key through per Period: a condition
// that repeats (a target's decode error, a module's failure) is logged
// once a period, not once an occurrence, and counted by the caller's
// metrics. The zero value with Period set is ready; safe for concurrent
// use.
type LogLimiter struct {
	// Period is how long a key stays quiet after a line was let through.
	Period time.Duration

	mu   sync.Mutex
	last map[string]time.Time
}

// Allow reports whether a line for key may be logged now, and if so
// starts its quiet period.
func (l *LogLimiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.Period {
		return false
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	l.last[key] = now
	return true
}
