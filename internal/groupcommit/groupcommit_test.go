package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentCallersShareWritesAndEachGetsItsOwnOutcome(t *testing.T) {
	var writes atomic.Int32
	var mu sync.Mutex
	seen := map[int]int{}
	g := &Group[int]{Max: 16, Write: func(items []int) []error {
		writes.Add(1)
		time.Sleep(2 * time.Millisecond) // a write takes a while: others queue up
		errs := make([]error, len(items))
		mu.Lock()
		defer mu.Unlock()
		if len(items) > 16 {
			t.Errorf("a batch of %d items, max 16", len(items))
		}
		for i, it := range items {
			seen[it]++
			if it%7 == 0 {
				errs[i] = errors.New("seven")
			}
		}
		return errs
	}}
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := g.Do(context.Background(), i)
			if (i%7 == 0) != (err != nil) {
				t.Errorf("item %d: error %v", i, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("item %d written %d times", i, seen[i])
		}
	}
	if w := writes.Load(); w >= n/2 {
		t.Errorf("%d writes for %d concurrent callers: batches were not shared", w, n)
	}
	t.Logf("%d items in %d writes", n, writes.Load())
}

func TestALoneCallerIsWrittenAtOnceAndAnAllNilWriteMeansSuccess(t *testing.T) {
	g := &Group[string]{Write: func(items []string) []error { return nil }}
	for range 3 {
		if err := g.Do(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestACallerThatGivesUpGetsItsContextError(t *testing.T) {
	release := make(chan struct{})
	g := &Group[int]{Write: func(items []int) []error { <-release; return nil }}
	go func() { _ = g.Do(context.Background(), 1) }() // holds the write
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Do(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the deadline", err)
	}
	close(release)
}
