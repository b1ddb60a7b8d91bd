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

// closedLoop runs callers that each call Do again as soon as their last
// call returns, for rounds calls each, and returns the average batch.
func closedLoop(t *testing.T, g *Group[int], callers, rounds int) float64 {
	t.Helper()
	var writes, items atomic.Int64
	write := g.Write
	g.Write = func(batch []int) []error {
		writes.Add(1)
		items.Add(int64(len(batch)))
		return write(batch)
	}
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for r := range rounds {
				if err := g.Do(context.Background(), c*rounds+r); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return float64(items.Load()) / float64(writes.Load())
}

func TestALingeringGroupWritesWhatTheLastWriteCarriedAgainInsteadOfHalves(t *testing.T) {
	slow := func([]int) []error { time.Sleep(2 * time.Millisecond); return nil }
	const callers = 32
	// A generous linger: every caller is back long before it ends, so the
	// test shows the mechanism, not the machine's speed.
	with := closedLoop(t, &Group[int]{Write: slow, Linger: 200 * time.Millisecond}, callers, 30)
	if with < 0.9*callers {
		t.Errorf("with a linger, writes carried %.1f items on average, want about %d", with, callers)
	}
	without := closedLoop(t, &Group[int]{Write: slow}, callers, 30)
	t.Logf("average batch: %.1f with a linger, %.1f without", with, without)
}

func TestALoneCallerNeverLingers(t *testing.T) {
	g := &Group[int]{Write: func([]int) []error { return nil }, Linger: time.Hour}
	done := make(chan struct{})
	go func() {
		for i := range 5 {
			_ = g.Do(context.Background(), i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a lone caller waited for others")
	}
}
