package llm

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	defaultBackoffBase   = 500 * time.Millisecond
	defaultBackoffCap    = 20 * time.Second
	defaultMaxRetryAfter = 60 * time.Second
	maxMessageRunes      = 300
)

// failure is what a provider attempt reports when the call did not succeed:
// an HTTP error answer, an error event inside the stream, or a transport
// error. The retry loop classifies it.
type failure struct {
	status  int         // HTTP status (or the status equivalent of a stream error event); 0 for transport errors
	code    string      // provider error code/type, e.g. "insufficient_quota", "overloaded_error"
	message string      // the provider's human-readable message (unsanitised)
	header  http.Header // response headers (Retry-After), may be nil
	err     error       // underlying error for transport failures
}

func (f *failure) Error() string {
	if f.message != "" {
		return f.message
	}
	if f.err != nil {
		return f.err.Error()
	}
	return http.StatusText(f.status)
}

func (f *failure) Unwrap() error { return f.err }

// errAttemptTimeout is the cancellation cause of an attempt that waited
// longer than Config.Timeout for data.
var errAttemptTimeout = errors.New("attempt timed out")

// attemptFunc performs one request. It must call kick whenever data arrives
// (it resets the idle timeout) and emit for every text piece, in order. It
// returns the response without Text (the retry loop fills it in from the
// emitted pieces).
type attemptFunc func(ctx context.Context, kick func(), emit func(string)) (Response, error)

// caller runs attempts with timeouts, retries and error classification. It
// is shared by the OpenAI and Anthropic providers so they behave identically.
type caller struct {
	provider      string
	apiKey        string
	timeout       time.Duration
	maxRetries    int
	backoffBase   time.Duration
	backoffCap    time.Duration
	maxRetryAfter time.Duration
}

func newCaller(cfg Config) caller {
	c := caller{
		provider:      cfg.Provider,
		apiKey:        cfg.APIKey,
		timeout:       cfg.Timeout,
		maxRetries:    cfg.MaxRetries,
		backoffBase:   cfg.backoffBase,
		backoffCap:    cfg.backoffCap,
		maxRetryAfter: cfg.maxRetryAfter,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxRetries < 0 {
		c.maxRetries = 0
	}
	if c.backoffBase <= 0 {
		c.backoffBase = defaultBackoffBase
	}
	if c.backoffCap <= 0 {
		c.backoffCap = defaultBackoffCap
	}
	if c.maxRetryAfter <= 0 {
		c.maxRetryAfter = defaultMaxRetryAfter
	}
	return c
}

// run calls fn until it succeeds, fails permanently, text has been streamed,
// or the retries are used up.
func (c *caller) run(ctx context.Context, onDelta func(string), fn attemptFunc) (Response, error) {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return Response{}, c.contextError(ctx)
		}
		resp, streamed, timedOut, err := c.attempt(ctx, onDelta, fn)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			// The caller gave up: no retries, no classification.
			return Response{}, c.contextError(ctx)
		}
		e, retry, wait, hasWait := c.classify(err, timedOut, streamed)
		e.Attempts = attempt
		if streamed || !retry || attempt > c.maxRetries {
			return Response{}, e
		}
		delay := c.backoff(attempt)
		if hasWait {
			delay = wait
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return Response{}, c.contextError(ctx)
		}
	}
}

// attempt runs fn once under an idle timeout and collects the emitted text.
func (c *caller) attempt(ctx context.Context, onDelta func(string), fn attemptFunc) (resp Response, streamed, timedOut bool, err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(c.timeout, func() { cancel(errAttemptTimeout) })
	defer timer.Stop()
	kick := func() { timer.Reset(c.timeout) }

	var text strings.Builder
	emit := func(s string) {
		if s == "" {
			return
		}
		streamed = true
		text.WriteString(s)
		if onDelta != nil {
			onDelta(s)
		}
	}
	resp, err = fn(actx, kick, emit)
	timedOut = errors.Is(context.Cause(actx), errAttemptTimeout)
	resp.Text = text.String()
	return resp, streamed, timedOut, err
}

// classify turns an attempt's error into the caller-facing *Error and says
// whether it is worth retrying and how long the provider asked us to wait.
func (c *caller) classify(err error, timedOut, streamed bool) (e *Error, retry bool, wait time.Duration, hasWait bool) {
	e = &Error{Provider: c.provider, Streamed: streamed}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{err: err}
	}
	if f.header != nil {
		wait, hasWait = retryAfter(f.header, time.Now())
		if hasWait {
			wait = min(wait, c.maxRetryAfter)
			e.RetryAfter = wait
		}
	}
	e.Status = f.status
	msg := f.message
	switch {
	case timedOut:
		e.Kind, retry = ErrTimeout, true
		msg = "no data for " + c.timeout.String()
	case f.status == 0:
		e.Kind, retry = ErrUnavailable, true
		if msg == "" {
			msg = transportMessage(f.err)
		}
	case f.status == http.StatusUnauthorized:
		e.Kind = ErrBadCredentials
		msg = "" // the provider's text may echo (part of) the key
	case f.status == http.StatusForbidden:
		e.Kind = ErrBadCredentials
	case f.status == http.StatusTooManyRequests:
		e.Kind = ErrRateLimited
		// An exhausted quota or billing limit will not clear up by waiting.
		retry = f.code != "insufficient_quota" && f.code != "billing_error"
	case f.status == http.StatusRequestTimeout:
		e.Kind, retry = ErrTimeout, true
	case f.status == http.StatusConflict || f.status >= 500:
		e.Kind, retry = ErrUnavailable, true
	default: // 400, 404, 413, 422 and other 4xx
		e.Kind = ErrBadRequest
	}
	if streamed {
		// Text has reached the caller: retrying here would duplicate it.
		e.Kind, retry = ErrUnavailable, false
		if timedOut {
			msg = "the stream stalled for longer than " + c.timeout.String()
		} else if msg == "" {
			msg = "the stream broke off"
		} else {
			msg = "the stream broke off: " + msg
		}
	}
	e.Message = c.sanitize(msg)
	return e, retry, wait, hasWait
}

// contextError is what Chat returns when the caller's context ended.
func (c *caller) contextError(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return &deadlineError{provider: c.provider}
	}
	return err
}

// deadlineError is returned when the caller's deadline passed: it matches
// both ErrTimeout and context.DeadlineExceeded.
type deadlineError struct{ provider string }

func (e *deadlineError) Error() string {
	return "llm " + e.provider + ": " + ErrTimeout.Error() + ": " + context.DeadlineExceeded.Error()
}

func (e *deadlineError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// backoff is the exponential wait before retry number attempt (1-based):
// base·2^(attempt-1) capped, with "equal jitter" (half fixed, half random).
func (c *caller) backoff(attempt int) time.Duration {
	d := c.backoffBase
	for i := 1; i < attempt && d < c.backoffCap; i++ {
		d *= 2
	}
	d = min(d, c.backoffCap)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// retryAfter reads the wait a provider asked for: retry-after-ms
// (milliseconds, OpenAI/Azure), else Retry-After as seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 1e6 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// transportMessage describes a connection error without the request URL
// (which may carry credentials in its query).
func transportMessage(err error) string {
	if err == nil {
		return "connection failed"
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return err.Error()
}

// sanitize removes the API key, collapses whitespace and truncates to 300
// characters.
func (c *caller) sanitize(msg string) string {
	if c.apiKey != "" {
		msg = strings.ReplaceAll(msg, c.apiKey, "[redacted]")
	}
	return truncateRunes(strings.Join(strings.Fields(msg), " "), maxMessageRunes)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
