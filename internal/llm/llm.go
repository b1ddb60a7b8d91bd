// Package llm talks to language models: OpenAI-compatible chat completion
// servers (OpenAI, Azure-style gateways, Ollama, vLLM, LM Studio, llama.cpp),
// Anthropic's Messages API, and an extractive provider that needs no model and
// answers by quoting the retrieved knowledge passages.
//
// Every provider streams: Chat hands text pieces to onDelta in order as they
// arrive, and the returned Response.Text is exactly their concatenation.
// Transient failures (429, 5xx, connection errors, timeouts) are retried with
// backoff, but only while nothing has been streamed yet in that attempt, so a
// caller never sees a delta twice. Final errors wrap one of the sentinel
// errors below (use errors.Is) and never contain the API key.
package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Message is one turn of the conversation given to a model.
type Message struct {
	Role    string // "user" | "assistant"
	Content string
}

// Request is one chat completion request.
type Request struct {
	Model       string
	System      string // the system prompt
	Messages    []Message
	Temperature float64 // 0..2
	MaxTokens   int     // 0: provider default (use 1024)
	// Passages is retrieved knowledge, for the extractive provider (others
	// ignore it; the prompt already contains it).
	Passages []Passage
	// Question is the latest user message, for the extractive provider (when
	// empty, the last user message in Messages is used).
	Question string
	// Fallback is what the extractive provider says when nothing matches
	// (DefaultFallback when empty).
	Fallback string
}

// Passage is a retrieved knowledge chunk.
type Passage struct {
	DocumentID, ChunkID, Title, Text string
	Score                            float64
}

// Usage is token accounting for one call.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// Response is a completed answer.
type Response struct {
	Text         string
	Usage        Usage
	FinishReason string
	// Citations are the passages quoted by the extractive provider, in [n] order.
	Citations []Passage
}

// Provider answers chat requests; onDelta (may be nil) receives streamed text
// pieces in order; the returned Response.Text equals their concatenation.
type Provider interface {
	Chat(ctx context.Context, req Request, onDelta func(string)) (Response, error)
}

// Error kinds callers act on. Errors returned by providers wrap exactly one of
// them (errors.Is works) with a message naming the provider and HTTP status.
var (
	// ErrBadCredentials: 401/403, the API key is wrong or lacks permission. Not retried.
	ErrBadCredentials = errors.New("the provider refused the API key")
	// ErrRateLimited: 429 after all retries.
	ErrRateLimited = errors.New("the provider is rate limiting requests")
	// ErrUnavailable: 5xx or connection failures after all retries, or a
	// stream that broke after text was already delivered (never retried
	// here; the caller may retry the whole job).
	ErrUnavailable = errors.New("the provider is unavailable")
	// ErrTimeout: no answer within Config.Timeout after all retries, or the
	// caller's context deadline passed.
	ErrTimeout = errors.New("the provider did not answer in time")
	// ErrBadRequest: 400/404/422 and other 4xx, e.g. an unknown model. Not retried.
	ErrBadRequest = errors.New("the provider rejected the request")
)

// Error is the concrete type behind the sentinel errors; use errors.As to
// read the HTTP status or the server's requested wait.
type Error struct {
	Provider   string        // "openai" | "anthropic"
	Kind       error         // one of the sentinel errors
	Status     int           // HTTP status, 0 for connection errors and timeouts
	Message    string        // the provider's message (sanitised, at most 300 characters)
	Attempts   int           // how many requests were made
	RetryAfter time.Duration // the wait the provider asked for (Retry-After), if any
	Streamed   bool          // text had already been streamed when it failed
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("llm ")
	b.WriteString(e.Provider)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Kind }

// Provider names accepted by Config.Provider.
const (
	ProviderOpenAI     = "openai"
	ProviderAnthropic  = "anthropic"
	ProviderExtractive = "extractive"
)

// Defaults applied by New.
const (
	DefaultTimeout    = 60 * time.Second
	DefaultMaxRetries = 3
	DefaultMaxTokens  = 1024
)

// Config selects and configures a provider.
type Config struct {
	Provider string // openai|anthropic|extractive ("" means extractive)
	BaseURL  string // empty: the vendor's public endpoint
	APIKey   string
	Model    string
	// Timeout bounds each attempt's wait for data: the time to the first
	// byte and every pause between streamed chunks (an idle timeout, so a
	// long answer from a slow local model is not cut off while it is still
	// flowing). Default 60s.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried (so up to
	// MaxRetries+1 requests). 0 means the default 3; negative means none.
	MaxRetries int
	HTTPClient *http.Client

	// backoffBase and backoffCap override the retry backoff (tests).
	backoffBase, backoffCap time.Duration
	// maxRetryAfter overrides the 60s cap on a server's Retry-After (tests).
	maxRetryAfter time.Duration
}

// New returns the provider for cfg. Errors name the bad field: provider,
// model, api_key or base_url.
func New(cfg Config) (Provider, error) {
	name := strings.ToLower(strings.TrimSpace(cfg.Provider))
	switch name {
	case "", ProviderExtractive:
		return Extractive{}, nil
	case ProviderOpenAI, ProviderAnthropic:
	default:
		return nil, fmt.Errorf("llm: unknown provider %q: provider must be openai, anthropic or extractive", cfg.Provider)
	}
	cfg.Provider = name
	cfg.Model = strings.TrimSpace(cfg.Model)
	if cfg.Model == "" {
		return nil, fmt.Errorf("llm: model is required for provider %s", name)
	}
	cfg.BaseURL = strings.TrimSpace(cfg.BaseURL)
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("llm: base_url %q is not an http(s) URL", redactURL(cfg.BaseURL))
		}
	}
	cfg.APIKey = strings.TrimSpace(cfg.APIKey)
	if cfg.APIKey == "" && cfg.BaseURL == "" {
		// The vendors' public endpoints always need a key; self-hosted
		// OpenAI-compatible servers (Ollama, vLLM, …) often do not.
		return nil, fmt.Errorf("llm: api_key is required for provider %s", name)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if name == ProviderOpenAI {
		return newOpenAI(cfg), nil
	}
	return newAnthropic(cfg), nil
}

// redactURL drops user info and query from a URL for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

func maxTokens(n int) int64 {
	if n <= 0 {
		return DefaultMaxTokens
	}
	return int64(n)
}

// lastUserMessage returns the content of the last user turn.
func lastUserMessage(msgs []Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.EqualFold(msgs[i].Role, "user") {
			return msgs[i].Content
		}
	}
	return ""
}
