package auth

import (
	"testing"
	"time"
)

// throttleClock is a settable clock for Throttle.now.
type throttleClock struct{ t time.Time }

func (c *throttleClock) now() time.Time          { return c.t }
func (c *throttleClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newTestThrottle(window time.Duration) (*Throttle, *throttleClock) {
	clk := &throttleClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	th := NewThrottle(window)
	th.now = clk.now
	return th, clk
}

func assertBlocked(t *testing.T, th *Throttle, key string, limit int, wantBlocked bool, wantWait time.Duration) {
	t.Helper()
	blocked, wait := th.Blocked(key, limit)
	if blocked != wantBlocked || wait != wantWait {
		t.Errorf("Blocked(%q, %d) = %v, %v; want %v, %v", key, limit, blocked, wait, wantBlocked, wantWait)
	}
}

func TestThrottleBlocksOnceLimitFailuresAreInTheWindowAndReportsTheWait(t *testing.T) {
	t.Parallel()
	th, clk := newTestThrottle(10 * time.Minute)
	const limit = 3

	assertBlocked(t, th, "acct:a", limit, false, 0)
	for i := range limit {
		th.Fail("acct:a")
		if i < limit-1 {
			assertBlocked(t, th, "acct:a", limit, false, 0)
		}
		clk.advance(time.Minute)
	}
	// Failures at 0m, 1m, 2m; now 3m: the oldest leaves the window at 10m.
	assertBlocked(t, th, "acct:a", limit, true, 7*time.Minute)
	assertBlocked(t, th, "acct:b", limit, false, 0)
	// A higher limit for the same key is not reached yet.
	assertBlocked(t, th, "acct:a", limit+1, false, 0)
}

func TestThrottleUnblocksWhenTheOldestFailureLeavesTheWindow(t *testing.T) {
	t.Parallel()
	th, clk := newTestThrottle(10 * time.Minute)
	th.Fail("ip:1")
	clk.advance(time.Minute)
	th.Fail("ip:1")

	clk.advance(9*time.Minute - time.Second) // 1s before the first failure expires
	assertBlocked(t, th, "ip:1", 2, true, time.Second)
	clk.advance(time.Second + time.Nanosecond)
	assertBlocked(t, th, "ip:1", 2, false, 0)
	// The second failure is still counted.
	assertBlocked(t, th, "ip:1", 1, true, time.Minute-time.Nanosecond)

	// A new failure blocks again, timed from the older remaining one.
	th.Fail("ip:1")
	assertBlocked(t, th, "ip:1", 2, true, time.Minute-time.Nanosecond)
	clk.advance(11 * time.Minute)
	assertBlocked(t, th, "ip:1", 1, false, 0)
}

func TestThrottleReportsAtLeastOneSecondWhileBlocked(t *testing.T) {
	t.Parallel()
	th, clk := newTestThrottle(time.Minute)
	th.Fail("k")
	clk.advance(time.Minute) // exactly at the window edge: still counted
	blocked, wait := th.Blocked("k", 1)
	if !blocked {
		t.Fatal("a failure exactly one window old no longer counts")
	}
	if wait < time.Second {
		t.Errorf("wait = %v, want at least 1s so Retry-After is never 0", wait)
	}
	if got := ceilSeconds(wait); got < 1 {
		t.Errorf("ceilSeconds(%v) = %d, want a positive Retry-After", wait, got)
	}
}

func TestThrottleResetClearsOnlyThatKey(t *testing.T) {
	t.Parallel()
	th, _ := newTestThrottle(time.Hour)
	for range 5 {
		th.Fail("acct:a")
		th.Fail("ip:1")
	}
	th.Reset("acct:a")
	assertBlocked(t, th, "acct:a", 1, false, 0)
	if blocked, _ := th.Blocked("ip:1", 5); !blocked {
		t.Error("Reset of acct:a also cleared ip:1")
	}
	th.Reset("never-seen") // must not panic
}

func TestThrottleForgetsExpiredKeys(t *testing.T) {
	t.Parallel()
	th, clk := newTestThrottle(time.Minute)
	th.Fail("a")
	th.Fail("b")
	clk.advance(2 * time.Minute)
	th.Blocked("a", 1)
	th.mu.Lock()
	_, kept := th.fails["a"]
	th.mu.Unlock()
	if kept {
		t.Error("a key whose failures all expired is still held after Blocked")
	}
}

func TestThrottleBoundsFailuresKeptPerKey(t *testing.T) {
	t.Parallel()
	th, _ := newTestThrottle(time.Hour)
	for range 5000 {
		th.Fail("flood")
	}
	th.mu.Lock()
	n := len(th.fails["flood"])
	th.mu.Unlock()
	if n > 1000 {
		t.Errorf("kept %d failures for one key, want at most 1000", n)
	}
	if blocked, _ := th.Blocked("flood", 10); !blocked {
		t.Error("a flooded key is not blocked")
	}
}

func TestCeilSecondsRoundsUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want int
	}{
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{1500 * time.Millisecond, 2},
		{7 * time.Minute, 420},
	}
	for _, tt := range tests {
		if got := ceilSeconds(tt.d); got != tt.want {
			t.Errorf("ceilSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
