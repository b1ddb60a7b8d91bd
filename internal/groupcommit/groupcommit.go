// Package groupcommit shares one expensive write (a transaction, a
// NOTIFY) among concurrent callers: whoever arrives while a write is in
// flight waits and goes into the next one, so under load one write
// carries many items and at rest each item is written alone, at once. No
// timer and no background goroutine at rest: the first caller to find no
// write in flight does the writing.
//
// Under a steady load of a fixed number of callers, such as clients that
// each send their next request when the last is answered, callers split
// into two halves: one half's write runs while the other half queues, and
// the queued half is written the moment the write ends, before the
// answered half is back. Each write then carries half of what it could.
// Linger mends that the way PostgreSQL's commit_delay does: only when the
// last write carried several items does the next one wait, briefly and
// only until as many are queued again.
package groupcommit

import (
	"context"
	"sync"
	"time"
)

// Group batches items of type T.
type Group[T any] struct {
	// Max bounds the items of one write.
	Max int
	// Write writes a batch and returns each item's error (nil, or a
	// slice as long as items).
	Write func(items []T) []error
	// Linger is the longest a write waits for callers when fewer are
	// queued than the last write carried (0: never; a lone caller at rest
	// never waits).
	Linger time.Duration

	mu       sync.Mutex
	pending  []*entry[T]
	flushing bool
	last     int           // items of the last write
	arrived  chan struct{} // signalled when an item is queued during a linger
}

type entry[T any] struct {
	item T
	done chan error
}

// Do writes item with whatever else is waiting and returns its outcome.
// When ctx ends first, Do returns ctx's error; the item may still be
// written.
func (g *Group[T]) Do(ctx context.Context, item T) error {
	e := &entry[T]{item: item, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, e)
	lead := !g.flushing
	g.flushing = true
	if g.arrived != nil {
		select {
		case g.arrived <- struct{}{}:
		default:
		}
	}
	g.mu.Unlock()
	if lead {
		g.flush(e)
	}
	select {
	case err := <-e.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush writes batches until the one holding mine is done, then hands
// what is left to another goroutine, so a leader's own answer never waits
// for later callers.
func (g *Group[T]) flush(mine *entry[T]) {
	for {
		g.linger()
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.flushing = false
			g.mu.Unlock()
			return
		}
		n := len(g.pending)
		if g.Max > 0 {
			n = min(n, g.Max)
		}
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.last = n
		g.mu.Unlock()
		items := make([]T, len(batch))
		for i, e := range batch {
			items[i] = e.item
		}
		errs := g.Write(items)
		for i, e := range batch {
			var err error
			if errs != nil {
				err = errs[i]
			}
			e.done <- err
		}
		if mine != nil && len(mine.done) > 0 {
			go g.flush(nil)
			return
		}
	}
}

// linger waits, up to Linger, until as many items are queued as the last
// write carried, when that was more than one and fewer are queued now.
func (g *Group[T]) linger() {
	if g.Linger <= 0 {
		return
	}
	g.mu.Lock()
	want := g.last // a write never carries more than Max
	if want <= 1 || len(g.pending) == 0 || len(g.pending) >= want {
		g.mu.Unlock()
		return
	}
	if g.arrived == nil {
		g.arrived = make(chan struct{}, 1)
	}
	g.mu.Unlock()
	t := time.NewTimer(g.Linger)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-g.arrived:
		}
		g.mu.Lock()
		enough := len(g.pending) >= want
		g.mu.Unlock()
		if enough {
			return
		}
	}
}
