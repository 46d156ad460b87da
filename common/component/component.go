// Package component is the kit every stage of the pipeline is built with,
// so that a stage has one shape whoever wrote it:
//
//   - a Configuration struct with a DefaultConfiguration() and a Validate();
//   - New(cfg, deps) that only builds: it checks the configuration, creates
//     its metrics through a Reporter, and starts nothing;
//   - Start(ctx) that starts it: ctx bounds the start-up only (dialing,
//     creating topics, migrating), never the component's life;
//   - Stop() that stops it and waits for everything it started: idempotent,
//     safe concurrently and without a Start (a Once makes it so);
//   - optionally Ready(ctx), served on /readyz.
//
// A Runner starts the components of a process in order, stops them in
// reverse, joins their Stop errors and gathers their readiness: the
// subcommands and the demo are assembled the same way.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
)

// Component is a stage, or a part of one, with a lifecycle.
type Component interface {
	// Start starts the component. ctx bounds the start-up only: the
	// component runs until Stop, whatever becomes of ctx.
	Start(ctx context.Context) error
	// Stop stops the component and waits for what it started. It is
	// idempotent, and safe without a Start.
	Stop() error
}

// Readier is a component that can say whether it serves; nil is ready.
type Readier interface {
	Ready(ctx context.Context) error
}

// Once makes a Stop idempotent and safe concurrently: every call returns
// the first call's result.
type Once struct {
	once sync.Once
	err  error
}

// Do runs stop the first time and returns its error every time.
func (o *Once) Do(stop func() error) error {
	o.once.Do(func() { o.err = stop() })
	return o.err
}

// Func adapts a pair of functions to a Component (either may be nil).
// Stop runs at most once.
type Func struct {
	StartFunc func(context.Context) error
	StopFunc  func() error
	once      Once
}

// Start runs StartFunc.
func (f *Func) Start(ctx context.Context) error {
	if f.StartFunc == nil {
		return nil
	}
	return f.StartFunc(ctx)
}

// Stop runs StopFunc once.
func (f *Func) Stop() error {
	return f.once.Do(func() error {
		if f.StopFunc == nil {
			return nil
		}
		return f.StopFunc()
	})
}

type named struct {
	name string
	c    Component
}

// Runner starts components in the order they were added and stops them in
// reverse. It is itself a Component and a Readier.
type Runner struct {
	log *slog.Logger

	mu      sync.Mutex
	all     []named
	started int
	once    Once
}

// NewRunner returns an empty runner that logs to log.
func NewRunner(log *slog.Logger) *Runner {
	return &Runner{log: log}
}

// Add appends a component under name (the stage name it reports under).
func (r *Runner) Add(name string, c Component) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, named{name, c})
}

// Start starts every component not started yet, in order. On a failure it
// stops those it started, in reverse, and returns the failure named after
// its component. Components added after a Start are started by the next.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.started < len(r.all) {
		n := r.all[r.started]
		if err := n.c.Start(ctx); err != nil {
			err = fmt.Errorf("%s: %w", n.name, err)
			if serr := r.stopLocked(); serr != nil {
				err = errors.Join(err, serr)
			}
			return err
		}
		r.started++
	}
	return nil
}

// Stop stops the started components in reverse order and returns their
// errors, each named after its component. Idempotent.
func (r *Runner) Stop() error {
	return r.once.Do(func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.stopLocked()
	})
}

func (r *Runner) stopLocked() error {
	var errs []error
	for i := r.started - 1; i >= 0; i-- {
		n := r.all[i]
		if err := n.c.Stop(); err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("stop failed", "component", n.name, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", n.name, err))
		}
	}
	r.started = 0
	return errors.Join(errs...)
}

// Ready runs the readiness of every started component that has one; the
// error names those not ready.
func (r *Runner) Ready(ctx context.Context) error {
	r.mu.Lock()
	var rs []named
	for _, n := range r.all[:r.started] {
		if _, ok := n.c.(Readier); ok {
			rs = append(rs, n)
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, n := range rs {
		if err := n.c.(Readier).Ready(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.name, err))
		}
	}
	return errors.Join(errs...)
}

// Run starts the components, waits for ctx to end, and stops them.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return r.Stop()
}

// Labeled runs c's Start under the pprof label stage=name, so the
// goroutines it starts carry the label and a CPU profile splits by stage
// (go tool pprof -tagfocus stage=collector). Ready is passed through.
func Labeled(name string, c Component) Component {
	l := labeled{name: name, c: c}
	if r, ok := c.(Readier); ok {
		return labeledReady{l, r}
	}
	return l
}

type labeled struct {
	name string
	c    Component
}

func (l labeled) Start(ctx context.Context) error {
	var err error
	pprof.Do(ctx, pprof.Labels("stage", l.name), func(ctx context.Context) { err = l.c.Start(ctx) })
	return err
}

func (l labeled) Stop() error { return l.c.Stop() }

type labeledReady struct {
	labeled
	r Readier
}

func (l labeledReady) Ready(ctx context.Context) error { return l.r.Ready(ctx) }
