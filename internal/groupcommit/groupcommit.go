// Package groupcommit shares one expensive write (a transaction, a
// NOTIFY) among concurrent callers: whoever arrives while a write is in
// flight waits and goes into the next one, so under load one write
// carries many items and at rest each item is written alone, at once. No
// timer and no background goroutine at rest: the first caller to find no
// write in flight does the writing.
package groupcommit

import (
	"context"
	"sync"
)

// Group batches items of type T.
type Group[T any] struct {
	// Max bounds the items of one write.
	Max int
	// Write writes a batch and returns each item's error (nil, or a
	// slice as long as items).
	Write func(items []T) []error

	mu       sync.Mutex
	pending  []*entry[T]
	flushing bool
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
