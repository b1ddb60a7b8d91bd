package auth

import (
	"math"
	"sync"
	"time"
)

// Throttle counts failed sign-ins per key (an account, an IP) in a sliding
// window and refuses further attempts once a key passes its limit. It is
// per process; with several processes behind a load balancer each keeps its
// own count, which still bounds guessing to limit × processes per window.
type Throttle struct {
	mu     sync.Mutex
	window time.Duration
	fails  map[string][]time.Time
	now    func() time.Time
}

// NewThrottle counts failures over window.
func NewThrottle(window time.Duration) *Throttle {
	return &Throttle{window: window, fails: map[string][]time.Time{}, now: time.Now}
}

// Blocked reports whether key has limit or more recent failures, and how
// long until the oldest of them leaves the window.
func (t *Throttle) Blocked(key string, limit int) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.prune(key)
	if len(recent) < limit {
		return false, 0
	}
	wait := recent[len(recent)-limit].Add(t.window).Sub(t.now())
	return true, max(wait, time.Second)
}

// Fail records a failure for key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.prune(key)
	if len(recent) < 1000 { // bound memory per key
		t.fails[key] = append(recent, t.now())
	}
	if len(t.fails) > 100_000 { // bound memory overall: forget the stale
		for k := range t.fails {
			if len(t.prune(k)) == 0 {
				delete(t.fails, k)
			}
		}
	}
}

// Reset forgets key's failures (after a successful sign-in).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

func (t *Throttle) prune(key string) []time.Time {
	cut := t.now().Add(-t.window)
	list := t.fails[key]
	i := 0
	for i < len(list) && list[i].Before(cut) {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = list
	return list
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }
