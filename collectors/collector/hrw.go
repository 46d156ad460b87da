package collector

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// Scale-out: rendezvous (highest random weight) hashing.
//
// Every collector instance knows the same member list. For each target,
// every member gets a score hash(member, target); the member with the
// highest score collects the target. The assignment is deterministic (no
// coordination needed), balanced (each member gets about 1/N of the
// targets), and when a member leaves only its own targets move (each to the
// member with the next-highest score); when one joins, it takes about 1/N
// of the targets from the others and nothing else moves.

// hrwScore is the weight of member for target: the first 8 bytes of
// SHA-256(member NUL target). Not on a hot path (only on reconcile), and
// well spread whatever the names look like.
func hrwScore(member, target string) uint64 {
	h := sha256.New()
	_, _ = h.Write([]byte(member))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(target))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// Owner returns the member that collects target under rendezvous hashing,
// or "" when members is empty. Ties (astronomically rare) go to the
// smaller name, so every instance agrees.
func Owner(members []string, target string) string {
	var best string
	var bestScore uint64
	for _, m := range members {
		s := hrwScore(m, target)
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

// owns reports whether instance collects target: always when there is no
// member list.
func owns(instance string, members []string, target string) bool {
	if len(members) == 0 {
		return true
	}
	return Owner(members, target) == instance
}

// backoff is a jittered exponential back-off: the n-th delay is drawn
// uniformly from [max(Min, d/2), d] with d = min(Max, Min·Factor^n), so reconnecting
// targets spread out instead of hammering a device in lock-step.
type backoff struct {
	cfg  Backoff
	cur  time.Duration
	rand func() float64
}

func newBackoff(cfg Backoff) *backoff {
	return &backoff{cfg: cfg, rand: rand.Float64}
}

// next returns the delay before the next attempt.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.cfg.Min
	} else {
		b.cur = time.Duration(float64(b.cur) * b.cfg.Factor)
		if b.cur > b.cfg.Max || b.cur <= 0 {
			b.cur = b.cfg.Max
		}
	}
	half := b.cur / 2
	d := half + time.Duration(b.rand()*float64(b.cur-half))
	if d < b.cfg.Min {
		d = b.cfg.Min
	}
	return d
}

// reset starts over after a session that worked.
func (b *backoff) reset() { b.cur = 0 }
