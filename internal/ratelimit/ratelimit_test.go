package ratelimit

import (
	"testing"
	"time"
)

// limiterClock is a settable clock for limiter.now.
type limiterClock struct{ t time.Time }

func (c *limiterClock) now() time.Time          { return c.t }
func (c *limiterClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(rate float64, burst int) (*Limiter, *limiterClock) {
	clk := &limiterClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := New(rate, burst)
	l.now = clk.now
	return l, clk
}

func assertAllow(t *testing.T, l *Limiter, key string, wantOK bool, wantRetry int) {
	t.Helper()
	ok, retry := l.Allow(key)
	if ok != wantOK || retry != wantRetry {
		t.Errorf("allow(%q) = %v, %d; want %v, %d", key, ok, retry, wantOK, wantRetry)
	}
}

func TestLimiterAllowsTheBurstThenRefusesWithAPositiveRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rate      float64
		burst     int
		wantRetry int
	}{
		{"one per second", 1, 3, 1},
		{"one every four seconds", 0.25, 2, 4},
		{"fast rate still waits a whole second", 50, 101, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, _ := newTestLimiter(tt.rate, tt.burst)
			for i := range tt.burst {
				if ok, retry := l.Allow("ip:1"); !ok || retry != 0 {
					t.Fatalf("request %d of a burst of %d: allow = %v, %d; want true, 0", i+1, tt.burst, ok, retry)
				}
			}
			ok, retry := l.Allow("ip:1")
			if ok {
				t.Fatalf("request %d past a burst of %d was allowed", tt.burst+1, tt.burst)
			}
			if retry != tt.wantRetry {
				t.Errorf("retry-after = %d, want %d", retry, tt.wantRetry)
			}
		})
	}
}

func TestLimiterRefillsOverTime(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(2, 4) // 2 tokens/s, burst 4
	for range 4 {
		l.Allow("k")
	}
	assertAllow(t, l, "k", false, 1)

	clk.advance(500 * time.Millisecond) // one token back
	assertAllow(t, l, "k", true, 0)
	assertAllow(t, l, "k", false, 1)

	clk.advance(250 * time.Millisecond) // half a token: not enough
	assertAllow(t, l, "k", false, 1)
	clk.advance(250 * time.Millisecond) // the half plus this half
	assertAllow(t, l, "k", true, 0)

	clk.advance(time.Hour) // refills to the burst, never beyond it
	for i := range 4 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatalf("request %d after a long idle was refused", i+1)
		}
	}
	assertAllow(t, l, "k", false, 1)
}

func TestLimiterRetryAfterCoversTheMissingFraction(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(0.1, 1) // a token every 10s
	assertAllow(t, l, "k", true, 0)
	assertAllow(t, l, "k", false, 10)
	clk.advance(7 * time.Second)
	assertAllow(t, l, "k", false, 3)
	clk.advance(2500 * time.Millisecond)
	assertAllow(t, l, "k", false, 1) // 0.5s left rounds up
	clk.advance(500 * time.Millisecond)
	assertAllow(t, l, "k", true, 0)
}

func TestLimiterKeepsSeparateKeysIndependent(t *testing.T) {
	t.Parallel()
	l, _ := newTestLimiter(1, 2)
	assertAllow(t, l, "ip:1", true, 0)
	assertAllow(t, l, "ip:1", true, 0)
	assertAllow(t, l, "ip:1", false, 1)

	assertAllow(t, l, "ip:2", true, 0)
	assertAllow(t, l, "ip:2", true, 0)
	assertAllow(t, l, "ip:2", false, 1)

	assertAllow(t, l, "key:abc", true, 0)
}

func TestLimiterSweepForgetsOnlyIdleFullBuckets(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(1, 2) // a bucket refills completely in 2s
	l.Allow("idle")
	l.Allow("idle")
	clk.advance(30 * time.Second)
	l.Allow("recent")
	l.Allow("recent")

	// Within a minute of the last sweep nothing is swept, however idle.
	if got := len(l.buckets); got != 2 {
		t.Fatalf("buckets before a sweep = %d, want 2", got)
	}

	clk.advance(31 * time.Second) // > 1 minute since the first sweep
	l.Allow("trigger")
	if _, ok := l.buckets["idle"]; ok {
		t.Error("a bucket idle for 61s (full after 2s) survived the sweep")
	}
	if _, ok := l.buckets["recent"]; ok {
		t.Error("a bucket idle for 31s (full after 2s) survived the sweep")
	}
	if _, ok := l.buckets["trigger"]; !ok {
		t.Error("the bucket of the request that triggered the sweep is missing")
	}
	// A forgotten key starts again with a full burst.
	assertAllow(t, l, "idle", true, 0)
	assertAllow(t, l, "idle", true, 0)
	assertAllow(t, l, "idle", false, 1)
}

func TestLimiterSweepKeepsBucketsStillRefilling(t *testing.T) {
	t.Parallel()
	l, clk := newTestLimiter(0.01, 5) // full after 500s
	for range 5 {
		l.Allow("slow")
	}
	clk.advance(2 * time.Minute)
	l.Allow("trigger")
	if _, ok := l.buckets["slow"]; !ok {
		t.Fatal("a bucket that has not refilled yet was swept, forgetting its debt")
	}
	// Two minutes at 0.01/s is 1.2 tokens: one request, then refusal.
	assertAllow(t, l, "slow", true, 0)
	assertAllow(t, l, "slow", false, 80)
}
