package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Action is what the caller should do about a failed call. The Telegram
// package returns the same values, so one retry policy serves every channel.
type Action int

const (
	// ActionPermanent: do not retry this request; it will fail the same way
	// (bad parameter, undeliverable recipient, policy block, …). The zero
	// value, so an unclassified error is never retried by accident.
	ActionPermanent Action = iota
	// ActionRetry: a transient failure; retry with backoff.
	ActionRetry
	// ActionSlowDown: a rate or throughput limit; wait (APIError.RetryAfter
	// when set, else back off — for the WhatsApp pair limit 131056 Meta
	// suggests 4^X seconds) and send slower on this account.
	ActionSlowDown
	// ActionWindowClosed: the 24-hour customer-service window is closed;
	// only a WhatsApp template or a tagged Messenger message can go out.
	ActionWindowClosed
	// ActionBadToken: the access token is invalid, expired or lacks
	// permission; stop sending on this channel until it is reconnected.
	ActionBadToken
)

func (a Action) String() string {
	switch a {
	case ActionPermanent:
		return "permanent"
	case ActionRetry:
		return "retry"
	case ActionSlowDown:
		return "slow down"
	case ActionWindowClosed:
		return "window closed"
	case ActionBadToken:
		return "bad token"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// ActionOf classifies any error returned by this package or the Telegram
// package: errors with an Action method (APIError and friends) answer for
// themselves; timeouts and network failures are ActionRetry; anything else
// is ActionPermanent.
//
// Retrying after a timeout can send a message twice: neither Meta nor
// Telegram takes an idempotency key on sends, and the request may have
// been accepted before the connection dropped.
func ActionOf(err error) Action {
	if err == nil {
		return ActionPermanent
	}
	var a interface{ Action() Action }
	if errors.As(err, &a) {
		return a.Action()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return ActionRetry
	}
	return ActionPermanent
}

// APIError is an error answer from the Graph API:
//
//	{"error":{"message","type","code","error_subcode","error_data":{"details"},"is_transient","fbtrace_id"}}
//
// Branch on Code, Subcode and Details, never on Message.
type APIError struct {
	HTTPStatus  int
	Code        int
	Subcode     int
	Type        string // e.g. OAuthException
	Message     string
	Details     string // error_data.details
	IsTransient bool
	FBTraceID   string // quote it to Meta support
	// RetryAfter comes from a Retry-After header or, failing that, the
	// X-Business-Use-Case-Usage header's estimated_time_to_regain_access;
	// zero when Meta gave no hint.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "meta: graph error %d", e.Code)
	if e.Subcode != 0 {
		fmt.Fprintf(&b, "/%d", e.Subcode)
	}
	fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Details != "" {
		b.WriteString(": " + e.Details)
	}
	if e.FBTraceID != "" {
		b.WriteString(" [fbtrace_id " + e.FBTraceID + "]")
	}
	return b.String()
}

// Codes by the action they call for (WhatsApp Cloud API and Messenger
// Platform error references; see CHANNELS.md).
var (
	badTokenCodes = map[int]bool{
		102:    true, // API session (login status or token invalid)
		190:    true, // access token expired or invalid, any subcode
		131005: true, // WhatsApp: permission not granted or removed
	}
	slowDownCodes = map[int]bool{
		4:      true, // app call-rate limit
		17:     true, // user call-rate limit
		32:     true, // Page call-rate limit
		613:    true, // calls exceeded the rate limit
		80007:  true, // WABA rate limit
		130429: true, // WhatsApp throughput (80/1000 mps) exceeded
		131048: true, // WhatsApp spam rate limit
		131056: true, // WhatsApp pair limit: 1 msg / 6 s to one user
	}
	retryCodes = map[int]bool{
		1:      true, // unknown, possibly temporary
		2:      true, // temporary service downtime
		1200:   true, // Messenger: temporary send failure
		131000: true, // WhatsApp: something went wrong
		131016: true, // WhatsApp: service overloaded
		131057: true, // WhatsApp: account in maintenance / throughput upgrade (≤1 min)
		133004: true, // WhatsApp: server temporarily unavailable
	}
	// Messenger/Instagram report the closed window as code 10 with one of
	// these subcodes; WhatsApp as 131047 (whose subcode varies).
	windowSubcodes = map[int]bool{
		2018278: true, // message sent outside of allowed window
		2018065: true, // outside window, needs a subscription permission
		2534022: true, // Instagram: outside of allowed window
	}
)

// Action maps the error to what the caller should do. The order matters:
// token problems first (nothing else works without a token), then the
// window, then limits, then transient failures; the HTTP status decides
// only for codes not listed. Everything else — 100 invalid parameter,
// 131026 undeliverable, 131049 marketing-engagement hold (Meta: retry much
// later, not now), 368 policy block, 551 person unavailable, 200/1545041
// thread owned by another app — is ActionPermanent.
func (e *APIError) Action() Action {
	switch {
	case badTokenCodes[e.Code], e.Code == 0 && e.HTTPStatus == http.StatusUnauthorized:
		return ActionBadToken
	case e.Code == 131047, windowSubcodes[e.Subcode]:
		return ActionWindowClosed
	case slowDownCodes[e.Code], e.HTTPStatus == http.StatusTooManyRequests:
		return ActionSlowDown
	case retryCodes[e.Code], e.IsTransient, e.HTTPStatus >= 500:
		return ActionRetry
	}
	return ActionPermanent
}

// parseAPIError builds an APIError from a failed response. Bodies that are
// not Graph errors (an HTML 502 from a proxy) keep their start as Message.
func parseAPIError(resp *http.Response, body []byte) *APIError {
	e := &APIError{HTTPStatus: resp.StatusCode, RetryAfter: retryAfter(resp.Header, time.Now())}
	var wire struct {
		Error *struct {
			Message     string     `json:"message"`
			Type        string     `json:"type"`
			Code        flexString `json:"code"`
			Subcode     flexString `json:"error_subcode"`
			IsTransient bool       `json:"is_transient"`
			FBTraceID   string     `json:"fbtrace_id"`
			ErrorData   struct {
				Details string `json:"details"`
			} `json:"error_data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &wire); err != nil || wire.Error == nil {
		e.Message = snippet(body)
		return e
	}
	w := wire.Error
	e.Code, e.Subcode = int(w.Code.int()), int(w.Subcode.int())
	e.Type, e.Message, e.Details = w.Type, w.Message, w.ErrorData.Details
	e.IsTransient, e.FBTraceID = w.IsTransient, w.FBTraceID
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date) and otherwise the
// largest estimated_time_to_regain_access (minutes) in
// X-Business-Use-Case-Usage, the header Graph uses to report throttling.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
			return time.Duration(secs) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	var usage map[string][]struct {
		Minutes flexString `json:"estimated_time_to_regain_access"`
	}
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" && json.Unmarshal([]byte(v), &usage) == nil {
		var most int64
		for _, list := range usage {
			for _, u := range list {
				most = max(most, u.Minutes.int())
			}
		}
		if most > 0 && most < 24*60 {
			return time.Duration(most) * time.Minute
		}
	}
	return 0
}

// snippet is the start of a body, for error messages.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// actionError is an error found before any request was made, carrying the
// action the caller should take.
type actionError struct {
	msg    string
	action Action
}

func (e *actionError) Error() string  { return e.msg }
func (e *actionError) Action() Action { return e.action }

// Errors returned without calling Meta.
var (
	// ErrNoToken: the call was given an empty access token.
	ErrNoToken error = &actionError{"meta: empty access token", ActionBadToken}
	// ErrMediaTooLarge: the media is bigger than the caller's limit.
	ErrMediaTooLarge error = &actionError{"meta: media larger than the limit", ActionPermanent}
	// ErrMediaChecksum: the download does not match Meta's sha256.
	ErrMediaChecksum error = &actionError{"meta: media does not match its sha256", ActionRetry}
)
