package meta

import (
	"testing"
	"time"
)

func TestStatusAdvancesNeverRegresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		current, next string
		want          bool
	}{
		{"", "sent", true},
		{"sent", "delivered", true},
		{"delivered", "read", true},
		{"read", "played", true},
		{"sent", "read", true}, // delivered may be skipped
		{"read", "delivered", false},
		{"delivered", "sent", false},
		{"played", "read", false},
		{"read", "read", false}, // duplicates are no-ops
		{"sent", "failed", true},
		{"", "failed", true},
		{"failed", "sent", false},
		{"delivered", "failed", false}, // a failure cannot undo a delivery
		{"read", "failed", false},
		{"failed", "delivered", true}, // proof of delivery wins whichever came first
		{"failed", "read", true},
		{"sent", "warning", false}, // unknown statuses never replace anything
		{"", "deleted", false},
	}
	for _, tt := range tests {
		if got := StatusAdvances(tt.current, tt.next); got != tt.want {
			t.Errorf("StatusAdvances(%q, %q) = %v, want %v", tt.current, tt.next, got, tt.want)
		}
	}
}

func TestWindowOpenIsTrueForTwentyFourHoursAfterTheLastInboundMessage(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		last time.Time
		now  time.Time
		want bool
	}{
		{"right after", last, last.Add(time.Minute), true},
		{"a second before the end", last, last.Add(24*time.Hour - time.Second), true},
		{"exactly 24 hours later", last, last.Add(24 * time.Hour), false},
		{"a day and a bit later", last, last.Add(25 * time.Hour), false},
		{"clock behind the message", last, last.Add(-time.Minute), true},
		{"no inbound message ever", time.Time{}, last, false},
	}
	for _, tt := range tests {
		if got := WindowOpen(tt.last, tt.now); got != tt.want {
			t.Errorf("%s: WindowOpen = %v, want %v", tt.name, got, tt.want)
		}
	}
}
