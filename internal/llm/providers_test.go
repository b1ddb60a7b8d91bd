package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/llm/fake"
)

// The OpenAI and Anthropic providers must behave identically; every test
// here runs against both fakes.
type flavour struct {
	name  string
	start func(testing.TB) *fake.Server
}

var flavours = []flavour{
	{ProviderOpenAI, fake.OpenAI},
	{ProviderAnthropic, fake.Anthropic},
}

// newTestProvider builds a provider for srv with tiny backoffs.
func newTestProvider(t *testing.T, name string, srv *fake.Server, edit func(*Config)) Provider {
	t.Helper()
	cfg := Config{
		Provider:    name,
		BaseURL:     srv.URL,
		APIKey:      srv.APIKey(),
		Model:       "test-model",
		Timeout:     5 * time.Second,
		backoffBase: time.Millisecond,
		backoffCap:  5 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func simpleRequest() Request {
	return Request{
		System:      "You are the helpful assistant of Example Shop.",
		Messages:    []Message{{Role: "user", Content: "Hi!"}},
		Temperature: 0.3,
	}
}

type deltas []string

func (d *deltas) add(s string) { *d = append(*d, s) }

func forEachFlavour(t *testing.T, test func(t *testing.T, f flavour)) {
	t.Helper()
	for _, f := range flavours {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			test(t, f)
		})
	}
}

func TestStreamedDeltasArriveInOrderAndConcatenateToTheText(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Text: "Orders over €50 ship free within Croatia.", Deltas: 5})
		p := newTestProvider(t, f.name, srv, nil)
		var got deltas
		resp, err := p.Chat(context.Background(), simpleRequest(), got.add)
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		want := []string{"Orders over ", "€50 ship ", "free ", "within ", "Croatia."}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("deltas = %q, want %q", got, want)
		}
		if resp.Text != strings.Join(got, "") {
			t.Fatalf("Text = %q, want the concatenated deltas %q", resp.Text, strings.Join(got, ""))
		}
		if srv.Calls() != 1 {
			t.Fatalf("calls = %d, want 1", srv.Calls())
		}
	})
}

func TestUsageAndFinishReasonAreRecorded(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{InputTokens: 321, OutputTokens: 45})
		p := newTestProvider(t, f.name, srv, nil)
		resp, err := p.Chat(context.Background(), simpleRequest(), nil)
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if resp.Usage != (Usage{InputTokens: 321, OutputTokens: 45}) {
			t.Fatalf("usage = %+v, want 321/45", resp.Usage)
		}
		if resp.FinishReason != "stop" {
			t.Fatalf("finish reason = %q, want stop", resp.FinishReason)
		}
		if resp.Text != fake.DefaultText {
			t.Fatalf("Text = %q", resp.Text)
		}
	})
}

func TestTheDefaultFakeAnswersHelloInThreeDeltasWithUsage(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		p := newTestProvider(t, f.name, srv, nil)
		var got deltas
		resp, err := p.Chat(context.Background(), simpleRequest(), got.add)
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if len(got) != 3 || resp.Text != "Hello from fake" || resp.Usage != (Usage{12, 5}) {
			t.Fatalf("got %q / %q / %+v", got, resp.Text, resp.Usage)
		}
	})
}

func TestTheSystemPromptAndMessagesAreSentInTheOpenAIFormat(t *testing.T) {
	t.Parallel()
	srv := fake.OpenAI(t)
	p := newTestProvider(t, ProviderOpenAI, srv, nil)
	req := Request{
		Model:       "gpt-test-mini",
		System:      "Answer only from the knowledge base.",
		Temperature: 0.2,
		Messages: []Message{
			{Role: "assistant", Content: "Hi! How can I help?"},
			{Role: "user", Content: "Do you ship to Germany?"},
			{Role: "assistant", Content: "Yes, we do."},
			{Role: "user", Content: "How much does it cost?"},
		},
	}
	if _, err := p.Chat(context.Background(), req, nil); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	var body struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
		Stream        bool     `json:"stream"`
		Temperature   *float64 `json:"temperature"`
		MaxTokens     int      `json:"max_tokens"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(srv.LastRequest(), &body); err != nil {
		t.Fatalf("request body: %v\n%s", err, srv.LastRequest())
	}
	if body.Model != "gpt-test-mini" || !body.Stream || !body.StreamOptions.IncludeUsage {
		t.Fatalf("model/stream/include_usage wrong: %s", srv.LastRequest())
	}
	if body.Temperature == nil || *body.Temperature != 0.2 || body.MaxTokens != DefaultMaxTokens {
		t.Fatalf("temperature/max_tokens wrong: %s", srv.LastRequest())
	}
	want := []string{
		"system:Answer only from the knowledge base.",
		"assistant:Hi! How can I help?",
		"user:Do you ship to Germany?",
		"assistant:Yes, we do.",
		"user:How much does it cost?",
	}
	var got []string
	for _, m := range body.Messages {
		got = append(got, m.Role+":"+m.Content)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h := srv.LastHeader().Get("Authorization"); h != "Bearer "+srv.APIKey() {
		t.Fatalf("Authorization = %q", h)
	}
}

func TestTheModelFromTheConfigIsUsedWhenTheRequestNamesNone(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		p := newTestProvider(t, f.name, srv, func(c *Config) { c.Model = "configured-model" })
		if _, err := p.Chat(context.Background(), simpleRequest(), nil); err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if m := srv.LastRequestJSON()["model"]; m != "configured-model" {
			t.Fatalf("model = %v", m)
		}
	})
}

func TestTheSystemPromptAndMessagesAreSentInTheAnthropicFormat(t *testing.T) {
	t.Parallel()
	srv := fake.Anthropic(t)
	p := newTestProvider(t, ProviderAnthropic, srv, nil)
	req := Request{
		Model:  "claude-test",
		System: "Answer only from the knowledge base.",
		Messages: []Message{
			{Role: "assistant", Content: "Hi! How can I help?"}, // a greeting: dropped, the user speaks first
			{Role: "user", Content: "Do you ship to Germany?"},
			{Role: "assistant", Content: "Yes, we do."},
			{Role: "user", Content: "How much does it cost?"},
			{Role: "user", Content: ""}, // empty turns are dropped
		},
		MaxTokens: 300,
	}
	if _, err := p.Chat(context.Background(), req, nil); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	var body struct {
		Model  string `json:"model"`
		System []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"system"`
		Messages []struct {
			Role    string `json:"role"`
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		} `json:"messages"`
		MaxTokens int  `json:"max_tokens"`
		Stream    bool `json:"stream"`
	}
	if err := json.Unmarshal(srv.LastRequest(), &body); err != nil {
		t.Fatalf("request body: %v\n%s", err, srv.LastRequest())
	}
	if body.Model != "claude-test" || !body.Stream || body.MaxTokens != 300 {
		t.Fatalf("model/stream/max_tokens wrong: %s", srv.LastRequest())
	}
	if len(body.System) != 1 || body.System[0].Type != "text" || body.System[0].Text != "Answer only from the knowledge base." {
		t.Fatalf("system = %+v", body.System)
	}
	want := []string{"user:Do you ship to Germany?", "assistant:Yes, we do.", "user:How much does it cost?"}
	var got []string
	for _, m := range body.Messages {
		if len(m.Content) != 1 || m.Content[0].Type != "text" {
			t.Fatalf("content blocks = %+v", m.Content)
		}
		got = append(got, m.Role+":"+m.Content[0].Text)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	h := srv.LastHeader()
	if h.Get("anthropic-version") == "" {
		t.Fatal("anthropic-version header missing")
	}
	if h.Get("x-api-key") != srv.APIKey() && h.Get("Authorization") != "Bearer "+srv.APIKey() {
		t.Fatalf("no API key header: %v", h)
	}
}

func TestA429WithRetryAfterIsRetriedAfterTheRequestedWait(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Status: 429, RetryAfter: "1"}, fake.Behavior{Text: "Sorry for the wait."})
		// A huge backoff: finishing in about a second proves the header won.
		p := newTestProvider(t, f.name, srv, func(c *Config) { c.backoffBase, c.backoffCap = time.Minute, time.Minute })
		var got deltas
		start := time.Now()
		resp, err := p.Chat(context.Background(), simpleRequest(), got.add)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if resp.Text != "Sorry for the wait." || strings.Join(got, "") != resp.Text {
			t.Fatalf("text = %q, deltas = %q", resp.Text, got)
		}
		if srv.Calls() != 2 {
			t.Fatalf("calls = %d, want 2", srv.Calls())
		}
		if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
			t.Fatalf("took %v, want about the 1s Retry-After", elapsed)
		}
	})
}

func TestRetryAfterMsIsHonouredAndRetryAfterIsCapped(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(
			fake.Behavior{Status: 429, RetryAfterMS: "30"},
			fake.Behavior{Status: 503, RetryAfter: "3600"}, // capped (to 60s normally; 40ms here)
		)
		p := newTestProvider(t, f.name, srv, func(c *Config) {
			c.backoffBase, c.backoffCap = time.Minute, time.Minute
			c.maxRetryAfter = 40 * time.Millisecond
		})
		start := time.Now()
		if _, err := p.Chat(context.Background(), simpleRequest(), nil); err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if elapsed := time.Since(start); elapsed < 70*time.Millisecond || elapsed > 3*time.Second {
			t.Fatalf("took %v, want the 30ms + 40ms waits", elapsed)
		}
		if srv.Calls() != 3 {
			t.Fatalf("calls = %d, want 3", srv.Calls())
		}
	})
}

func TestServerErrorsTwiceThenSuccessGiveOneAnswer(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Status: 500}, fake.Behavior{Status: 502, Body: "<html>Bad Gateway</html>"}, fake.Behavior{Text: "Third time lucky."})
		p := newTestProvider(t, f.name, srv, nil)
		var got deltas
		resp, err := p.Chat(context.Background(), simpleRequest(), got.add)
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if resp.Text != "Third time lucky." || strings.Join(got, "") != resp.Text {
			t.Fatalf("text = %q, deltas = %q", resp.Text, got)
		}
		if srv.Calls() != 3 {
			t.Fatalf("calls = %d, want 3", srv.Calls())
		}
	})
}

func TestRetriesGiveUpAfterMaxRetriesWithErrUnavailable(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		for range 5 {
			srv.Enqueue(fake.Behavior{Status: 503, Message: "upstream overloaded"})
		}
		p := newTestProvider(t, f.name, srv, func(c *Config) { c.MaxRetries = 2 })
		_, err := p.Chat(context.Background(), simpleRequest(), nil)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if srv.Calls() != 3 {
			t.Fatalf("calls = %d, want 3 (1 + 2 retries)", srv.Calls())
		}
		for _, want := range []string{f.name, "503", "upstream overloaded"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not mention %q", err, want)
			}
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != 503 || e.Attempts != 3 {
			t.Fatalf("error details = %+v", e)
		}
	})
}

func TestARateLimitThatPersistsEndsInErrRateLimited(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		for range 4 {
			srv.Enqueue(fake.Behavior{Status: 429, RetryAfter: "0"})
		}
		p := newTestProvider(t, f.name, srv, nil)
		_, err := p.Chat(context.Background(), simpleRequest(), nil)
		if !errors.Is(err, ErrRateLimited) {
			t.Fatalf("err = %v, want ErrRateLimited", err)
		}
		if srv.Calls() != 1+DefaultMaxRetries {
			t.Fatalf("calls = %d, want %d", srv.Calls(), 1+DefaultMaxRetries)
		}
	})
}

func TestAnExhaustedQuotaIsNotRetried(t *testing.T) {
	t.Parallel()
	srv := fake.OpenAI(t)
	srv.Enqueue(fake.Behavior{Status: 429, Body: `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`})
	p := newTestProvider(t, ProviderOpenAI, srv, nil)
	_, err := p.Chat(context.Background(), simpleRequest(), nil)
	if !errors.Is(err, ErrRateLimited) || srv.Calls() != 1 {
		t.Fatalf("err = %v after %d calls, want ErrRateLimited after 1", err, srv.Calls())
	}
}

func TestAWrongAPIKeyIsErrBadCredentialsWithoutRetriesAndNeverShowsTheKey(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		const secret = "sk-live-THIS-IS-SECRET-0042"
		p := newTestProvider(t, f.name, srv, func(c *Config) { c.APIKey = secret })
		_, err := p.Chat(context.Background(), simpleRequest(), nil)
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
		if srv.Calls() != 1 {
			t.Fatalf("calls = %d, want 1 (no retries)", srv.Calls())
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("error leaks the key: %v", err)
		}
		for _, want := range []string{f.name, "401", "refused the API key"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not mention %q", err, want)
			}
		}
	})
}

func TestA403IsErrBadCredentials(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Status: 403, Message: "Your key may not use this model."})
		p := newTestProvider(t, f.name, srv, nil)
		_, err := p.Chat(context.Background(), simpleRequest(), nil)
		if !errors.Is(err, ErrBadCredentials) || srv.Calls() != 1 || !strings.Contains(err.Error(), "403") {
			t.Fatalf("err = %v after %d calls", err, srv.Calls())
		}
	})
}

func TestBadRequestsAreNotRetriedAndCarryTheProvidersMessage(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("very long explanation ", 40)
	forEachFlavour(t, func(t *testing.T, f flavour) {
		for _, status := range []int{400, 404, 422} {
			srv := f.start(t)
			srv.Enqueue(fake.Behavior{Status: status, Message: "The model `nope` does not exist. " + long})
			p := newTestProvider(t, f.name, srv, nil)
			_, err := p.Chat(context.Background(), simpleRequest(), nil)
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%d: err = %v, want ErrBadRequest", status, err)
			}
			if srv.Calls() != 1 {
				t.Fatalf("%d: calls = %d, want 1", status, srv.Calls())
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != status || !strings.HasPrefix(e.Message, "The model `nope` does not exist.") {
				t.Fatalf("%d: error = %+v", status, e)
			}
			if n := len([]rune(e.Message)); n > 300 {
				t.Fatalf("%d: message is %d characters, want at most 300", status, n)
			}
		}
	})
}

func TestASlowProviderTimesOutAfterRetriesWithErrTimeout(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Delay: 3 * time.Second}, fake.Behavior{Delay: 3 * time.Second})
		p := newTestProvider(t, f.name, srv, func(c *Config) {
			c.Timeout = 100 * time.Millisecond
			c.MaxRetries = 1
		})
		start := time.Now()
		_, err := p.Chat(context.Background(), simpleRequest(), nil)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if srv.Calls() != 2 {
			t.Fatalf("calls = %d, want 2", srv.Calls())
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Fatalf("took %v", elapsed)
		}
	})
}

func TestTheTimeoutIsAnIdleTimeoutSoSteadyStreamsAreNotCutOff(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		// 8 deltas 40ms apart: 280ms in all, longer than the 200ms timeout,
		// but never 200ms without data.
		srv.Enqueue(fake.Behavior{Text: "a b c d e f g h", Deltas: 8, DeltaDelay: 40 * time.Millisecond})
		p := newTestProvider(t, f.name, srv, func(c *Config) { c.Timeout = 200 * time.Millisecond })
		resp, err := p.Chat(context.Background(), simpleRequest(), nil)
		if err != nil || resp.Text != "a b c d e f g h" {
			t.Fatalf("Chat = %q, %v", resp.Text, err)
		}
	})
}

func TestAStreamThatBreaksAfterDeltasIsErrUnavailableAndNotRetried(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		for _, mode := range []fake.FailMode{fake.FailAbort, fake.FailErrorEvent} {
			srv := f.start(t)
			srv.Enqueue(fake.Behavior{Text: "one two three four", Deltas: 4, Fail: mode, FailAfter: 2})
			p := newTestProvider(t, f.name, srv, nil)
			var got deltas
			_, err := p.Chat(context.Background(), simpleRequest(), got.add)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("mode %d: err = %v, want ErrUnavailable", mode, err)
			}
			if srv.Calls() != 1 {
				t.Fatalf("mode %d: calls = %d, want 1 (no retry after deltas)", mode, srv.Calls())
			}
			if strings.Join(got, "|") != "one |two " {
				t.Fatalf("mode %d: deltas = %q, want exactly the two sent, once", mode, got)
			}
			var e *Error
			if !errors.As(err, &e) || !e.Streamed {
				t.Fatalf("mode %d: error = %+v, want Streamed", mode, e)
			}
		}
	})
}

func TestAStreamThatFailsBeforeAnyDeltaIsRetried(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(
			fake.Behavior{Fail: fake.FailErrorEvent, FailAfter: 0},
			fake.Behavior{Fail: fake.FailAbort, FailAfter: 0},
			fake.Behavior{Text: "Recovered."},
		)
		p := newTestProvider(t, f.name, srv, nil)
		var got deltas
		resp, err := p.Chat(context.Background(), simpleRequest(), got.add)
		if err != nil || resp.Text != "Recovered." || strings.Join(got, "") != "Recovered." {
			t.Fatalf("Chat = %q (%q), %v", resp.Text, got, err)
		}
		if srv.Calls() != 3 {
			t.Fatalf("calls = %d, want 3", srv.Calls())
		}
	})
}

func TestCancellingTheContextReturnsPromptly(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Delay: 10 * time.Second})
		p := newTestProvider(t, f.name, srv, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := p.Chat(ctx, simpleRequest(), nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Fatalf("took %v to notice the cancellation", elapsed)
		}
		if srv.Calls() != 1 {
			t.Fatalf("calls = %d, want 1 (no retries)", srv.Calls())
		}
	})
}

func TestCancellingDuringBackoffReturnsPromptly(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Status: 503, RetryAfter: "30"})
		p := newTestProvider(t, f.name, srv, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := p.Chat(ctx, simpleRequest(), nil)
		if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
	})
}

func TestTheCallersDeadlineIsErrTimeoutAndDeadlineExceeded(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		srv.Enqueue(fake.Behavior{Delay: 10 * time.Second})
		p := newTestProvider(t, f.name, srv, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
		defer cancel()
		_, err := p.Chat(ctx, simpleRequest(), nil)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTheBaseURLIsHonouredWithOrWithoutV1(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		for _, suffix := range []string{"", "/", "/v1"} {
			srv := f.start(t)
			p := newTestProvider(t, f.name, srv, func(c *Config) { c.BaseURL = srv.URL + suffix })
			resp, err := p.Chat(context.Background(), simpleRequest(), nil)
			if err != nil || resp.Text != fake.DefaultText {
				t.Fatalf("base %q: %q, %v", suffix, resp.Text, err)
			}
			if srv.Calls() != 1 {
				t.Fatalf("base %q: the fake saw %d calls", suffix, srv.Calls())
			}
		}
	})
}

func TestACustomHTTPClientIsUsed(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		var seen int
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			seen++
			return http.DefaultTransport.RoundTrip(r)
		})}
		p := newTestProvider(t, f.name, srv, func(c *Config) { c.HTTPClient = client })
		if _, err := p.Chat(context.Background(), simpleRequest(), nil); err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if seen != 1 {
			t.Fatalf("custom client saw %d requests", seen)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAnUnreachableServerIsErrUnavailableAfterRetries(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		p, err := New(Config{Provider: f.name, BaseURL: url, APIKey: "k", Model: "m", MaxRetries: 2,
			backoffBase: time.Millisecond, backoffCap: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Chat(context.Background(), simpleRequest(), nil)
		var e *Error
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &e) || e.Attempts != 3 {
			t.Fatalf("err = %v (%+v)", err, e)
		}
	})
}

func TestMessagesWithAnUnknownRoleAreRejectedBeforeCalling(t *testing.T) {
	t.Parallel()
	forEachFlavour(t, func(t *testing.T, f flavour) {
		srv := f.start(t)
		p := newTestProvider(t, f.name, srv, nil)
		_, err := p.Chat(context.Background(), Request{Messages: []Message{{Role: "robot", Content: "beep"}}}, nil)
		if !errors.Is(err, ErrBadRequest) || srv.Calls() != 0 {
			t.Fatalf("err = %v, calls = %d", err, srv.Calls())
		}
	})
}
