package meta

import "time"

// Status values that StatusRank orders.
const (
	StatusSent      = "sent"
	StatusFailed    = "failed"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusPlayed    = "played" // WhatsApp voice messages, after read
)

// StatusRank orders delivery statuses so that a stored status never
// regresses: Meta sends up to three statuses per message, in no particular
// order, and retries them for days.
//
//	"" or unknown (0) < sent (1) < failed (2) < delivered (3) < read (4) < played (5)
//
// failed outranks only sent: a failure may follow the "sent" report, but a
// delivered, read or played report proves the message arrived, so it wins
// over a failure whichever comes first. Statuses this package does not know
// (e.g. a future "warning") rank 0 and never replace anything.
func StatusRank(s string) int {
	switch s {
	case StatusSent:
		return 1
	case StatusFailed:
		return 2
	case StatusDelivered:
		return 3
	case StatusRead:
		return 4
	case StatusPlayed:
		return 5
	}
	return 0
}

// StatusAdvances reports whether next should replace current. Equal ranks
// do not advance, so a duplicate delivery is a no-op.
func StatusAdvances(current, next string) bool {
	return StatusRank(next) > StatusRank(current)
}

// CustomerServiceWindow is how long after a user's last message a business
// may send free-form messages (WhatsApp, Messenger and Instagram alike).
// Afterwards WhatsApp only accepts templates (error 131047) and Messenger /
// Instagram only tagged messages (e.g. HUMAN_AGENT, up to 7 days).
const CustomerServiceWindow = 24 * time.Hour

// WindowOpen reports whether a free-form message may be sent at now, given
// the time of the user's last inbound message (zero if there was none).
// Every new user message reopens the window, so pass the latest one.
// Longer ad-driven windows (72 h free entry point, 7 days after a
// Click-to-Messenger ad) are not modelled; Meta enforces the real window,
// and a send outside it fails with ActionWindowClosed.
func WindowOpen(lastInbound, now time.Time) bool {
	if lastInbound.IsZero() {
		return false
	}
	return now.Before(lastInbound.Add(CustomerServiceWindow))
}
