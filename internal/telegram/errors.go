package telegram

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/meta"
)

// APIError is an error answer from the Bot API:
//
//	{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}
//
// Code is error_code, which Telegram also uses as the HTTP status.
type APIError struct {
	Method      string // the Bot API method called
	Code        int
	Description string
	// RetryAfter is parameters.retry_after (or a Retry-After header).
	RetryAfter time.Duration
	// MigrateToChatID is set when a group became a supergroup: send to
	// this chat id instead, and store it in place of the old one.
	MigrateToChatID int64
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("telegram: %s: %d %s", e.Method, e.Code, e.Description)
	if e.Blocked() {
		msg += " (the bot cannot write to this chat: blocked, kicked or the user is deactivated; do not retry)"
	}
	return msg
}

// Blocked reports a 403: the user blocked the bot, deleted their account,
// or the bot was removed from the group. Stop writing to the chat until the
// user writes again.
func (e *APIError) Blocked() bool { return e.Code == http.StatusForbidden }

// Action maps the error to what the caller should do: 429 slow down (wait
// RetryAfter); 5xx retry; 401 and 404 — Telegram's answers to a wrong or
// revoked token — bad token; everything else, including 400 (bad request,
// chat not found, group migrated) and 403 (blocked), permanent.
func (e *APIError) Action() meta.Action {
	switch {
	case e.Code == http.StatusTooManyRequests:
		return meta.ActionSlowDown
	case e.Code >= 500:
		return meta.ActionRetry
	case e.Code == http.StatusUnauthorized, e.Code == http.StatusNotFound:
		return meta.ActionBadToken
	}
	return meta.ActionPermanent
}

// parseRetryAfterHeader reads a Retry-After header in seconds; Telegram
// normally sends parameters.retry_after instead.
func parseRetryAfterHeader(h http.Header) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

// tokenError is returned for a token that cannot be a bot token; it is
// never sent, since it goes into the URL path.
type tokenError struct{}

func (tokenError) Error() string       { return "telegram: malformed bot token" }
func (tokenError) Action() meta.Action { return meta.ActionBadToken }

// ErrMalformedToken: the token is not of the form "<digits>:<[A-Za-z0-9_-]>".
var ErrMalformedToken error = tokenError{}

// validToken checks the bot token's shape ("123456:ABC-DEF…"), which also
// keeps it from altering the request path.
func validToken(token string) bool {
	id, secret, ok := strings.Cut(token, ":")
	if !ok || id == "" || secret == "" {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false
		}
	}
	for _, r := range secret {
		if !secretChar(r) {
			return false
		}
	}
	return true
}

// secretChar is the alphabet of bot tokens and webhook secret tokens.
func secretChar(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-'
}
