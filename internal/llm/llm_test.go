package llm

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsAnUnknownProviderNamingTheProviderField(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Provider: "gemini", Model: "x", APIKey: "k"})
	if err == nil || !strings.Contains(err.Error(), "provider") || !strings.Contains(err.Error(), "gemini") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRequiresAModelForOpenAIAndAnthropic(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"openai", "anthropic"} {
		_, err := New(Config{Provider: p, APIKey: "k"})
		if err == nil || !strings.Contains(err.Error(), "model") {
			t.Fatalf("%s: err = %v", p, err)
		}
	}
}

func TestNewRequiresAnAPIKeyForThePublicEndpointsOnly(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"openai", "anthropic"} {
		_, err := New(Config{Provider: p, Model: "m"})
		if err == nil || !strings.Contains(err.Error(), "api_key") {
			t.Fatalf("%s: err = %v", p, err)
		}
		// A self-hosted server (Ollama, vLLM, …) may need no key.
		if _, err := New(Config{Provider: p, Model: "m", BaseURL: "http://localhost:11434/v1"}); err != nil {
			t.Fatalf("%s with base URL: %v", p, err)
		}
	}
}

func TestNewRejectsABaseURLThatIsNotHTTP(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Provider: "openai", Model: "m", APIKey: "k", BaseURL: "localhost:11434"})
	if err == nil || !strings.Contains(err.Error(), "base_url") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewDefaultsToTheExtractiveProvider(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "extractive", " Extractive "} {
		p, err := New(Config{Provider: name})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if _, ok := p.(Extractive); !ok {
			t.Fatalf("%q: got %T", name, p)
		}
	}
}

func TestNewAppliesDefaultsForTimeoutAndRetries(t *testing.T) {
	t.Parallel()
	p, err := New(Config{Provider: "OpenAI", Model: "gpt-test", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.(*openAIProvider).caller
	if c.timeout != DefaultTimeout || c.maxRetries != DefaultMaxRetries || c.backoffBase != 500*time.Millisecond || c.backoffCap != 20*time.Second || c.maxRetryAfter != time.Minute {
		t.Fatalf("caller = %+v", c)
	}
	p, _ = New(Config{Provider: "anthropic", Model: "m", APIKey: "k", MaxRetries: -1})
	if c := p.(*anthropicProvider).caller; c.maxRetries != 0 {
		t.Fatalf("MaxRetries -1 gave %d retries", c.maxRetries)
	}
}

func TestRetryAfterIsReadAsSecondsMillisecondsOrAnHTTPDate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{map[string]string{"Retry-After": "1"}, time.Second, true},
		{map[string]string{"Retry-After": "0"}, 0, true},
		{map[string]string{"Retry-After": "2.5"}, 2500 * time.Millisecond, true},
		{map[string]string{"Retry-After": now.Add(7 * time.Second).Format(http.TimeFormat)}, 7 * time.Second, true},
		{map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{map[string]string{"retry-after-ms": "250", "Retry-After": "9"}, 250 * time.Millisecond, true},
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{map[string]string{"Retry-After": "-3"}, 0, false},
		{map[string]string{}, 0, false},
	}
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.header {
			h.Set(k, v)
		}
		got, ok := retryAfter(h, now)
		if got != c.want || ok != c.ok {
			t.Errorf("%v: got %v %v, want %v %v", c.header, got, ok, c.want, c.ok)
		}
	}
}

func TestBackoffGrowsExponentiallyWithJitterUpToTheCap(t *testing.T) {
	t.Parallel()
	c := newCaller(Config{Provider: "openai"})
	for attempt, nominal := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 7: 20 * time.Second, 30: 20 * time.Second} {
		for range 50 {
			d := c.backoff(attempt)
			if d < nominal/2 || d > nominal {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, nominal/2, nominal)
			}
		}
	}
}

func TestErrorsWrapTheSentinelsAndNameProviderAndStatus(t *testing.T) {
	t.Parallel()
	c := newCaller(Config{Provider: "anthropic", APIKey: "sk-secret"})
	cases := []struct {
		f     *failure
		kind  error
		retry bool
	}{
		{&failure{status: 401, message: "bad key sk-secret"}, ErrBadCredentials, false},
		{&failure{status: 403, message: "forbidden"}, ErrBadCredentials, false},
		{&failure{status: 429}, ErrRateLimited, true},
		{&failure{status: 408}, ErrTimeout, true},
		{&failure{status: 500}, ErrUnavailable, true},
		{&failure{status: 529, message: "Overloaded"}, ErrUnavailable, true},
		{&failure{status: 400, message: "max_tokens too large; key sk-secret"}, ErrBadRequest, false},
		{&failure{status: 404}, ErrBadRequest, false},
		{&failure{status: 422}, ErrBadRequest, false},
		{&failure{err: errors.New("connection refused")}, ErrUnavailable, true},
	}
	for _, tc := range cases {
		e, retry, _, _ := c.classify(tc.f, false, false)
		if !errors.Is(e, tc.kind) || retry != tc.retry {
			t.Errorf("%d: got %v retry=%v, want %v retry=%v", tc.f.status, e, retry, tc.kind, tc.retry)
		}
		if strings.Contains(e.Error(), "sk-secret") || !strings.HasPrefix(e.Error(), "llm anthropic: ") {
			t.Errorf("%d: error text %q", tc.f.status, e.Error())
		}
	}
	e, retry, _, _ := c.classify(&failure{status: 500}, false, true)
	if !errors.Is(e, ErrUnavailable) || retry || !e.Streamed {
		t.Errorf("after streaming: %+v retry=%v", e, retry)
	}
	e, retry, _, _ = c.classify(&failure{err: context.Canceled}, true, false)
	if !errors.Is(e, ErrTimeout) || !retry {
		t.Errorf("attempt timeout: %+v retry=%v", e, retry)
	}
}

func TestLongProviderMessagesAreTruncatedTo300Characters(t *testing.T) {
	t.Parallel()
	c := newCaller(Config{Provider: "openai"})
	e, _, _, _ := c.classify(&failure{status: 400, message: strings.Repeat("ž", 1000)}, false, false)
	if n := len([]rune(e.Message)); n != 300 {
		t.Fatalf("message has %d characters", n)
	}
}

func TestTheAnthropicRequestMergesConsecutiveTurnsAndFoldsSystemMessages(t *testing.T) {
	t.Parallel()
	p := newAnthropic(Config{Provider: "anthropic", Model: "claude-test", APIKey: "k", Timeout: time.Second})
	params, err := p.params(Request{
		System: "Be brief.",
		Messages: []Message{
			{Role: "user", Content: "Hello"},
			{Role: "user", Content: "Anyone there?"},
			{Role: "system", Content: "The user is a VIP."},
			{Role: "assistant", Content: "Yes!"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(params.Messages) != 2 || params.Messages[0].OfUser == nil || len(params.Messages[0].OfUser.Content) != 2 || params.Messages[1].OfAssistant == nil || params.System[0].Text != "Be brief.\n\nThe user is a VIP." {
		t.Fatalf("params = %+v", params)
	}
	if params.MaxTokens != DefaultMaxTokens {
		t.Fatalf("max_tokens = %d", params.MaxTokens)
	}
}

func TestOpenAIReasoningModelsGetNoTemperatureAndTheOfficialAPIGetsMaxCompletionTokens(t *testing.T) {
	t.Parallel()
	official := newOpenAI(Config{Provider: "openai", Model: "gpt-5-mini", APIKey: "k"})
	params, err := official.params(Request{Messages: []Message{{Role: "user", Content: "hi"}}, Temperature: 0.7})
	if err != nil {
		t.Fatal(err)
	}
	if params.Temperature.Valid() || !params.MaxCompletionTokens.Valid() || params.MaxTokens.Valid() {
		t.Fatalf("official gpt-5: temperature %v, max_completion_tokens %v, max_tokens %v", params.Temperature, params.MaxCompletionTokens, params.MaxTokens)
	}
	local := newOpenAI(Config{Provider: "openai", Model: "llama3.2", BaseURL: "http://localhost:11434/v1"})
	params, _ = local.params(Request{Messages: []Message{{Role: "user", Content: "hi"}}, Temperature: 0.7})
	if params.Temperature.Value != 0.7 || !params.MaxTokens.Valid() || params.MaxCompletionTokens.Valid() {
		t.Fatalf("local llama: %+v", params)
	}
}
