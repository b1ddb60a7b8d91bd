package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/llm/fake"
	"github.com/metachat/metachat/internal/store/storetest"
)

// A widget conversation answered by a configured model, for each provider
// kind, through the real pipeline (River job, streaming, one stored reply).
func TestAWidgetVisitorIsAnsweredByTheConfiguredModel(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		for _, d := range storetest.Dialects {
			t.Run(kind+"/"+string(d), func(t *testing.T) {
				t.Parallel()
				var srv *fake.Server
				if kind == "openai" {
					srv = fake.OpenAI(t)
				} else {
					srv = fake.Anthropic(t)
				}
				// The first call is refused with 429 and Retry-After: 0, then
				// answered: the retry must not produce a second reply.
				srv.Enqueue(fake.Behavior{Status: 429, RetryAfter: "0"}, fake.Behavior{Text: "We ship to Zagreb in two days [1].", Deltas: 4})
				e := newEnv(t, d, envOptions{llm: llm.Config{Provider: kind, BaseURL: srv.URL, APIKey: srv.APIKey(), Model: "test-model", MaxRetries: 3}})
				b := newBotChat(t, e, map[string]any{"instructions": "You sell socks."})
				b.sock.say("q1", "Do you ship to Zagreb?")
				frames := b.sock.until(func(f liveFrame) bool { return f.Type == "message" && f.Message.Role == "assistant" })
				reply := frames[len(frames)-1]
				if reply.Message.Text != "We ship to Zagreb in two days [1]." {
					t.Fatalf("reply %q", reply.Message.Text)
				}
				deltas := 0
				for _, f := range frames {
					if f.Type == "delta" {
						deltas++
					}
				}
				if deltas < 2 {
					t.Errorf("saw %d delta frames, want the answer streamed", deltas)
				}
				sent := string(srv.LastRequest())
				for _, want := range []string{"You sell socks.", "Do you ship to Zagreb?", "test-model", "DATA, not instructions"} {
					if !strings.Contains(sent, want) {
						t.Errorf("the model request lacks %q: %s", want, sent)
					}
				}
				if srv.Calls() != 2 {
					t.Errorf("the model was called %d times, want 2 (429, then the answer)", srv.Calls())
				}
				time.Sleep(500 * time.Millisecond)
				convs := listOf(t, e.as(b.tn.Key).do("GET", "/api/v1/conversations", nil).must(t, 200))
				ms := messagesOf(t, e.as(b.tn.Key), convs.Items[0]["id"].(string), "")
				if len(ms) != 2 {
					t.Fatalf("stored %d messages, want the question and one reply", len(ms))
				}
				meta, _ := ms[1]["meta"].(map[string]any)
				usage, _ := meta["usage"].(map[string]any)
				if meta["provider"] != kind || usage == nil || usage["input_tokens"] == nil {
					t.Errorf("reply meta %v lacks the provider or its usage", meta)
				}
			})
		}
	}
}

// A key the provider refuses is not retried forever: the visitor gets the
// fallback message, once.
func TestARefusedModelKeyEndsInTheFallbackMessage(t *testing.T) {
	t.Parallel()
	srv := fake.OpenAI(t)
	e := newEnv(t, "sqlite", envOptions{llm: llm.Config{Provider: "openai", BaseURL: srv.URL, APIKey: "sk-wrong", Model: "m"}})
	b := newBotChat(t, e, map[string]any{"fallback_message": "Sorry, try again later."})
	b.sock.say("q1", "Hello?")
	frames := b.sock.until(func(f liveFrame) bool { return f.Type == "message" && f.Message.Role == "assistant" })
	if got := frames[len(frames)-1].Message.Text; got != "Sorry, try again later." {
		t.Fatalf("reply %q, want the fallback", got)
	}
	if srv.Calls() != 1 {
		t.Fatalf("a refused key was tried %d times", srv.Calls())
	}
}

// Kill the worker while the model is answering: the job comes back (River
// retries it, and a duplicate delivery is simulated too) and the visitor
// still gets exactly one reply.
func TestAWorkerKilledMidReplyStillYieldsExactlyOneReply(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			srv := fake.OpenAI(t)
			srv.Enqueue(fake.Behavior{Delay: 3 * time.Second, Text: "too late"}, fake.Behavior{Text: "Here is your answer."})
			e := newEnv(t, d, envOptions{llm: llm.Config{Provider: "openai", BaseURL: srv.URL, APIKey: srv.APIKey(), Model: "m", MaxRetries: 0}})
			b := newBotChat(t, e, nil)
			b.sock.say("q1", "Where is my parcel?")
			b.sock.expectMessage(1, "user")
			deadline := time.Now().Add(10 * time.Second)
			for srv.Calls() == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			// The worker dies mid-call: its jobs are cancelled, not finished.
			expired, cancel := context.WithTimeout(context.Background(), 0)
			cancel()
			_ = e.queue.Stop(expired)
			// A new worker takes over; River retries the cancelled attempt.
			e.newQueue()
			frames := b.sock.until(func(f liveFrame) bool { return f.Type == "message" && f.Message.Role == "assistant" })
			if got := frames[len(frames)-1].Message.Text; got != "Here is your answer." {
				t.Fatalf("reply %q", got)
			}
			convID := listOf(t, e.as(b.tn.Key).do("GET", "/api/v1/conversations", nil).must(t, 200)).Items[0]["id"].(string)
			inbound := messagesOf(t, e.as(b.tn.Key), convID, "")[0]["id"].(string)
			// At-least-once delivery again: the same job runs once more.
			if err := e.replier.Reply(context.Background(), b.tn.ID, "", inbound, false); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			ms := messagesOf(t, e.as(b.tn.Key), convID, "")
			replies := 0
			for _, m := range ms {
				if m["role"] == "assistant" {
					replies++
				}
			}
			if replies != 1 {
				t.Fatalf("%d replies stored for one message, want exactly 1: %v", replies, ms)
			}
		})
	}
}
