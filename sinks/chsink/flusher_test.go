package chsink

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// storeEvents lets a batch's store wait for another's: started(id) is
// closed once batch id's store began, stored(id) once it returned.
type storeEvents struct{ began, done []chan struct{} }

func (e storeEvents) started(id int) <-chan struct{} { return e.began[id] }
func (e storeEvents) stored(id int) <-chan struct{}  { return e.done[id] }

// runFlusher feeds batches 1..n (batch.records = its number) to a flusher
// with the given store and returns the batches committed, in order, and
// the most stores that ran at once.
func runFlusher(t *testing.T, n int, store func(id int, ev storeEvents) error) (committed []int, maxBusy int32) {
	t.Helper()
	s := &Sink{log: slog.New(slog.DiscardHandler), flushCh: make(chan *batch), free: make(chan *batch, n)}
	s.flushCtx = context.Background()
	var mu sync.Mutex
	var busy atomic.Int32
	ev := storeEvents{make([]chan struct{}, n+2), make([]chan struct{}, n+2)}
	for i := range ev.done {
		ev.began[i], ev.done[i] = make(chan struct{}), make(chan struct{})
	}
	s.wg.Add(1)
	go s.flusher(func(_ context.Context, b *batch) error {
		cur := busy.Add(1)
		mu.Lock()
		maxBusy = max(maxBusy, cur)
		mu.Unlock()
		close(ev.began[b.records])
		err := store(b.records, ev)
		busy.Add(-1)
		close(ev.done[b.records])
		return err
	}, func(_ context.Context, b *batch) {
		mu.Lock()
		committed = append(committed, b.records)
		mu.Unlock()
	})
	for i := 1; i <= n; i++ {
		b := newBatch("db")
		b.records = i
		s.flushCh <- b
	}
	close(s.flushCh)
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("flusher did not finish")
	}
	if len(s.free) != n {
		t.Fatalf("%d batches returned to the free list, want %d", len(s.free), n)
	}
	return committed, maxBusy
}

// TestFlusherCommitsInOrder: with two inserts in flight, a batch stored
// before its elder is committed after it, and never more than inFlight
// inserts run at once.
func TestFlusherCommitsInOrder(t *testing.T) {
	committed, maxBusy := runFlusher(t, 6, func(id int, ev storeEvents) error {
		if id%2 == 1 {
			<-ev.stored(id + 1) // odd batches finish after the next one,
		} else {
			<-ev.started(id - 1) // which starts after them: they overlap
		}
		return nil
	})
	if want := []int{1, 2, 3, 4, 5, 6}; !slices.Equal(committed, want) {
		t.Fatalf("committed %v, want %v", committed, want)
	}
	if maxBusy > inFlight {
		t.Fatalf("%d inserts at once, at most %d", maxBusy, inFlight)
	}
	if maxBusy < 2 {
		t.Fatalf("inserts never overlapped (at most %d at once)", maxBusy)
	}
}

// TestFlusherStopsCommittingAfterFailure: a batch that was not stored
// (shutdown while ClickHouse is down) blocks the commit of every later
// batch, even one that was stored: committing it would skip the failed
// batch's records for good.
func TestFlusherStopsCommittingAfterFailure(t *testing.T) {
	committed, _ := runFlusher(t, 5, func(id int, ev storeEvents) error {
		if id == 3 {
			<-ev.stored(4) // batch 4 is stored first
			return errors.New("not stored before shutdown")
		}
		return nil
	})
	if want := []int{1, 2}; !slices.Equal(committed, want) {
		t.Fatalf("committed %v, want %v", committed, want)
	}
}
