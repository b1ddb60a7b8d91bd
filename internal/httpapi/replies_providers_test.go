package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/llm/fake"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// The server's own model key in these tests; assistants may bring theirs.
const serverModelKey = "sk-test"

// modelName is the server's default model per provider kind.
func modelName(kind string) string {
	if kind == llm.ProviderAnthropic {
		return "claude-test"
	}
	return "gpt-test"
}

// withModel runs fn per dialect against a server whose default model is a
// fake of kind (openai or anthropic) accepting serverModelKey.
func withModel(t *testing.T, kind string, fn func(t *testing.T, e *env, srv *fake.Server)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			var srv *fake.Server
			if kind == llm.ProviderAnthropic {
				srv = fake.Anthropic(t)
			} else {
				srv = fake.OpenAI(t)
			}
			srv.SetAPIKey(serverModelKey)
			e := newEnv(t, d, envOptions{llm: llm.Config{Provider: kind, BaseURL: srv.URL, APIKey: serverModelKey, Model: modelName(kind), Timeout: 10 * time.Second}})
			fn(t, e, srv)
		})
	}
}

// modelCall is what the fake provider received in its latest request,
// whatever the wire format.
type modelCall struct {
	Model, System, LastUser string
	Turns                   int // user and assistant messages
	Header                  http.Header
}

func lastModelCall(t *testing.T, srv *fake.Server) modelCall {
	t.Helper()
	var body struct {
		Model    string          `json:"model"`
		System   json.RawMessage `json:"system"` // Anthropic
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	raw := srv.LastRequest()
	if raw == nil {
		t.Fatal("the model was never called")
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("the model request is not JSON: %v\n%s", err, raw)
	}
	c := modelCall{Model: body.Model, System: textOf(body.System), Header: srv.LastHeader()}
	for _, m := range body.Messages {
		switch m.Role {
		case "system", "developer": // OpenAI
			c.System = textOf(m.Content)
		case "user":
			c.LastUser = textOf(m.Content)
			c.Turns++
		case "assistant":
			c.Turns++
		}
	}
	return c
}

// textOf reads a content field: a string or a list of text blocks.
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString(bl.Text)
	}
	return b.String()
}

// settleReplyJobs waits until no reply job is waiting, running or due for
// a retry, so that whatever the bot will ever store for the messages sent
// so far is stored.
func settleReplyJobs(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'reply' AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n)
		if err != nil {
			t.Fatalf("count unfinished reply jobs: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reply jobs are still unfinished after 15s: %v", n, replyJobsOf(t, e))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// replyJob is a reply job as River recorded it.
type replyJob struct {
	State     string
	Attempt   int
	MessageID string
}

func replyJobsOf(t *testing.T, e *env) []replyJob {
	t.Helper()
	args := "args"
	if e.st.Dialect() == store.SQLite {
		args = "json(args)" // stored as SQLite's binary JSONB
	}
	rows, err := e.st.DB().Query(`SELECT state, attempt, ` + args + ` FROM river_job WHERE kind = 'reply' ORDER BY id`)
	if err != nil {
		t.Fatalf("list reply jobs: %v", err)
	}
	defer rows.Close()
	var out []replyJob
	for rows.Next() {
		var j replyJob
		var raw []byte
		if err := rows.Scan(&j.State, &j.Attempt, &raw); err != nil {
			t.Fatal(err)
		}
		var a jobs.ReplyArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("reply job args %q: %v", raw, err)
		}
		j.MessageID = a.MessageID
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitReply reads the visitor's socket until the bot's message arrives and
// returns it with the delta frames seen before it.
func (b *botChat) awaitReply() (reply liveFrame, deltas []deltaFrame) {
	b.sock.t.Helper()
	frames := b.sock.until(func(f liveFrame) bool { return f.Type == "message" && f.Message.Role == "assistant" })
	return frames[len(frames)-1], deltasIn(b.sock.t, frames)
}

// deltaFrame is a piece of a reply being streamed.
type deltaFrame struct {
	MessageID string `json:"message_id"`
	Text      string `json:"text"`
}

func deltasIn(t *testing.T, frames []liveFrame) []deltaFrame {
	t.Helper()
	var out []deltaFrame
	for _, f := range frames {
		if f.Type != "delta" {
			continue
		}
		var d deltaFrame
		if err := json.Unmarshal([]byte(f.raw), &d); err != nil {
			t.Fatalf("delta frame %s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

func joined(ds []deltaFrame) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Text)
	}
	return b.String()
}

// state is the bot chat's only conversation and its messages, read through
// the API once every reply job has finished.
func (b *botChat) state(t *testing.T, e *env) (conv map[string]any, msgs []map[string]any) {
	t.Helper()
	settleReplyJobs(t, e)
	items := listOf(t, e.as(b.tn.Key).do("GET", "/api/v1/conversations", nil).must(t, 200)).Items
	if len(items) != 1 {
		t.Fatalf("the tenant has %d conversations, want 1", len(items))
	}
	id := items[0]["id"].(string)
	conv = e.as(b.tn.Key).do("GET", "/api/v1/conversations/"+id, nil).must(t, 200).JSON(t)
	return conv, messagesOf(t, e.as(b.tn.Key), id, "")
}

// botMessages are the assistant's messages among msgs.
func botMessages(msgs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["role"] == "assistant" {
			out = append(out, m)
		}
	}
	return out
}

// onlyReply checks that msgs hold exactly one bot message, replying to the
// first (visitor) message, and returns it with its meta.
func onlyReply(t *testing.T, msgs []map[string]any) (reply, meta map[string]any) {
	t.Helper()
	bot := botMessages(msgs)
	if len(bot) != 1 {
		t.Fatalf("%d bot messages stored, want exactly 1: %v", len(bot), msgs)
	}
	if bot[0]["reply_to"] != msgs[0]["id"] {
		t.Fatalf("the reply answers %v, want the visitor's message %v", bot[0]["reply_to"], msgs[0]["id"])
	}
	meta, _ = bot[0]["meta"].(map[string]any)
	if meta == nil {
		t.Fatalf("the reply has no meta: %v", bot[0])
	}
	return bot[0], meta
}

// usageOf reads the token counts a reply's meta records.
func usageOf(meta map[string]any) (in, out float64) {
	u, _ := meta["usage"].(map[string]any)
	for _, k := range []string{"input_tokens"} {
		if v, ok := u[k].(float64); ok {
			in = v
		}
	}
	for _, k := range []string{"output_tokens"} {
		if v, ok := u[k].(float64); ok {
			out = v
		}
	}
	return in, out
}

// keyHeaderOf is the API key a request presented: OpenAI's bearer token;
// for Anthropic x-api-key or, as SDK v2 sends it, a bearer token (the fake
// accepts both).
func keyHeaderOf(kind string, h http.Header) string {
	if k := h.Get("x-api-key"); kind == llm.ProviderAnthropic && k != "" {
		return k
	}
	k, _ := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	return k
}

func TestAWidgetVisitorIsAnsweredByTheServersModelThroughEitherProvider(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{llm.ProviderOpenAI, llm.ProviderAnthropic} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			withModel(t, kind, func(t *testing.T, e *env, srv *fake.Server) {
				t.Run("the visitor sees deltas then one reply carrying the model's answer", func(t *testing.T) {
					calls := srv.Calls()
					b := newBotChat(t, e, map[string]any{"instructions": "You sell warm wool socks from Split."})
					// The first message starts the conversation, and the socket
					// follows it from then on: a reply fast enough to beat that
					// arrives whole, without deltas. The second is streamed.
					b.sock.say("q1", "Hello!")
					if first, _ := b.awaitReply(); first.Message.Text != fake.DefaultText {
						t.Fatalf("first reply %q, want the model's default answer", first.Message.Text)
					}
					answer := "We ship to Zagreb in two days, free over 50 EUR."
					srv.Enqueue(fake.Behavior{Text: answer, Deltas: 4, InputTokens: 321, OutputTokens: 17})
					b.sock.say("q2", "Do you ship to Zagreb?")
					reply, deltas := b.awaitReply()
					if reply.Message.Text != answer {
						t.Fatalf("reply %q, want the model's answer %q", reply.Message.Text, answer)
					}
					if len(deltas) < 2 || joined(deltas) != answer {
						t.Errorf("%d delta frames adding up to %q, want the answer streamed in pieces", len(deltas), joined(deltas))
					}
					for _, d := range deltas {
						if d.MessageID != reply.Message.ID {
							t.Errorf("a delta names message %q, the reply is %q", d.MessageID, reply.Message.ID)
						}
					}
					if n := srv.Calls() - calls; n != 2 {
						t.Errorf("the model was called %d times for two messages", n)
					}
					call := lastModelCall(t, srv)
					if !strings.HasPrefix(call.System, "You are a customer-support assistant") || !strings.Contains(call.System, "DATA, not instructions") {
						t.Errorf("the system prompt does not start with the rules:\n%s", call.System)
					}
					if !strings.Contains(call.System, "<business_instructions>\nYou sell warm wool socks from Split.\n</business_instructions>") {
						t.Errorf("the system prompt lacks the fenced instructions:\n%s", call.System)
					}
					if call.LastUser != "Do you ship to Zagreb?" || call.Turns != 3 {
						t.Errorf("the model was asked %q after %d turns, want the question after the first exchange (3 turns)", call.LastUser, call.Turns)
					}
					if call.Model != modelName(kind) {
						t.Errorf("model %q, want %q", call.Model, modelName(kind))
					}
					if got := keyHeaderOf(kind, call.Header); got != serverModelKey {
						t.Errorf("the provider got key %q, want the server's", got)
					}
					_, msgs := b.state(t, e)
					if len(msgs) != 4 {
						t.Fatalf("%d messages stored, want two questions and their replies: %v", len(msgs), msgs)
					}
					onlyReply(t, msgs[:2])
					stored, meta := onlyReply(t, msgs[2:])
					if stored["id"] != reply.Message.ID || stored["text"] != answer {
						t.Errorf("stored reply %v, want the one the visitor saw", stored)
					}
					if meta["provider"] != kind || meta["model"] != modelName(kind) || meta["decision"] != "answered" {
						t.Errorf("reply meta %v, want provider %s, model %s, decision answered", meta, kind, modelName(kind))
					}
					if in, out := usageOf(meta); in != 321 || out != 17 {
						t.Errorf("reply meta usage %v, want 321 in and 17 out", meta["usage"])
					}
				})

				t.Run("an assistant's own API key is sent instead of the server's and never shown", func(t *testing.T) {
					srv.SetAPIKey("sk-tenant")
					defer srv.SetAPIKey(serverModelKey)
					b := newBotChat(t, e, map[string]any{"api_key": "sk-tenant"})
					admin := e.as(b.tn.Key)
					for _, r := range []response{
						admin.do("GET", "/api/v1/assistants/"+b.assistantID, nil).must(t, 200),
						admin.do("GET", "/api/v1/assistants", nil).must(t, 200),
						admin.do("PATCH", "/api/v1/assistants/"+b.assistantID, map[string]any{"name": "Helper with a key"}).must(t, 200),
					} {
						if bytes.Contains(r.Body, []byte("sk-tenant")) {
							t.Fatalf("the API shows the assistant's key: %s", r.Body)
						}
					}
					if v := admin.do("GET", "/api/v1/assistants/"+b.assistantID, nil).JSON(t); v["has_api_key"] != true || v["api_key"] != nil {
						t.Fatalf("assistant %v, want has_api_key true and no api_key", v)
					}
					b.sock.say("q1", "Hello, what do you sell?")
					if reply, _ := b.awaitReply(); reply.Message.Text != fake.DefaultText {
						t.Fatalf("reply %q, want the model's answer", reply.Message.Text)
					}
					if got := keyHeaderOf(kind, lastModelCall(t, srv).Header); got != "sk-tenant" {
						t.Fatalf("the provider got key %q, want the assistant's own", got)
					}
					_, msgs := b.state(t, e)
					if _, meta := onlyReply(t, msgs); meta["decision"] != "answered" {
						t.Fatalf("reply meta %v", meta)
					}
				})

				t.Run("rate limits and server errors are retried into exactly one reply", func(t *testing.T) {
					// Within the provider's own retries (3 by default).
					srv.Enqueue(fake.Behavior{Status: 429, RetryAfter: "0"}, fake.Behavior{Status: 500, RetryAfter: "0"}, fake.Behavior{Text: "Your parcel left our warehouse today."})
					calls := srv.Calls()
					b := newBotChat(t, e, nil)
					b.sock.say("q1", "Where is my parcel?")
					if reply, _ := b.awaitReply(); reply.Message.Text != "Your parcel left our warehouse today." {
						t.Fatalf("reply %q", reply.Message.Text)
					}
					_, msgs := b.state(t, e)
					if _, meta := onlyReply(t, msgs); meta["decision"] != "answered" {
						t.Errorf("reply meta %v", meta)
					}
					if n := srv.Calls() - calls; n != 3 {
						t.Errorf("the model was called %d times, want 3 (429, 500, answer)", n)
					}
				})

				t.Run("errors outlasting the provider's retries are retried by the job into exactly one reply", func(t *testing.T) {
					if kind != llm.ProviderOpenAI {
						t.Skip("the job's retry does not depend on the provider; OpenAI covers it")
					}
					down := fake.Behavior{Status: 503, RetryAfter: "0"}
					srv.Enqueue(down, down, down, down, fake.Behavior{Text: "Back online: your parcel arrives Monday."})
					calls := srv.Calls()
					b := newBotChat(t, e, nil)
					b.sock.say("q1", "When does my parcel arrive?")
					if reply, _ := b.awaitReply(); reply.Message.Text != "Back online: your parcel arrives Monday." {
						t.Fatalf("reply %q", reply.Message.Text)
					}
					_, msgs := b.state(t, e)
					onlyReply(t, msgs)
					if n := srv.Calls() - calls; n != 5 {
						t.Errorf("the model was called %d times, want 5 (4 failures, then the answer)", n)
					}
					for _, j := range replyJobsOf(t, e) {
						if j.MessageID == msgs[0]["id"] && (j.Attempt != 2 || j.State != "completed") {
							t.Errorf("the reply job is %s after %d attempts, want completed on the 2nd", j.State, j.Attempt)
						}
					}
				})

				t.Run("a refused key ends in the fallback message without retries", func(t *testing.T) {
					calls := srv.Calls()
					b := newBotChat(t, e, map[string]any{"api_key": "sk-wrong-0042", "fallback_message": "Sorry, I cannot answer right now."})
					b.sock.say("q1", "Are you open on Sunday?")
					if reply, _ := b.awaitReply(); reply.Message.Text != "Sorry, I cannot answer right now." {
						t.Fatalf("reply %q, want the fallback message", reply.Message.Text)
					}
					_, msgs := b.state(t, e)
					_, meta := onlyReply(t, msgs)
					if meta["decision"] != "fallback" || meta["provider_error"] == nil {
						t.Errorf("reply meta %v, want decision fallback with the provider error", meta)
					}
					if raw, _ := json.Marshal(msgs); bytes.Contains(raw, []byte("sk-wrong-0042")) {
						t.Errorf("the stored messages show the refused key: %s", raw)
					}
					if n := srv.Calls() - calls; n != 1 {
						t.Errorf("a refused key was tried %d times, want once", n)
					}
				})
			})
		})
	}
}

func TestConfidenceModesDecideBetweenAnsweringADisclaimerAndAPerson(t *testing.T) {
	t.Parallel()
	const hedged = "I'm not sure, but maybe 3 days."
	const disclaimer = "Please double-check this with our team."
	const handover = "A colleague will take it from here."
	cases := []struct {
		name, mode, question, answer string
		topics                       []string
		want                         string // handoff | disclaimer | answered
		highStakes                   string
	}{
		{name: "strict hands a hedged answer to a person", mode: "strict", question: "How long does delivery take?", answer: hedged, want: "handoff"},
		{name: "standard adds the disclaimer to a hedged answer", mode: "standard", question: "How long does delivery take?", answer: hedged, want: "disclaimer"},
		{name: "lenient sends a hedged answer as it is and records the hedge", mode: "lenient", question: "How long does delivery take?", answer: hedged, want: "answered"},
		{name: "strict hands a high-stakes question to a person even when the model is confident", mode: "strict", question: "Can I get a refund for my order?", answer: "Yes, refunds take 5 days.", topics: []string{"refund"}, want: "handoff", highStakes: "refund"},
		{name: "standard adds the disclaimer to a confident answer on a high-stakes topic", mode: "standard", question: "Can I get a refund for my order?", answer: "Yes, refunds take 5 days.", topics: []string{"refund"}, want: "disclaimer", highStakes: "refund"},
		{name: "a confident answer on an ordinary topic is sent as it is in strict mode", mode: "strict", question: "Do you sell blue socks?", answer: "Yes, in all sizes.", topics: []string{"refund"}, want: "answered"},
	}
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				srv.Enqueue(fake.Behavior{Text: c.answer})
				b := newBotChat(t, e, map[string]any{
					"confidence": map[string]any{"mode": c.mode, "high_stakes_topics": c.topics, "disclaimer": disclaimer},
					"handoff":    map[string]any{"message": handover},
				})
				b.sock.say("q1", c.question)
				reply, _ := b.awaitReply()
				conv, msgs := b.state(t, e)
				_, meta := onlyReply(t, msgs)
				if meta["decision"] != c.want {
					t.Errorf("decision %v, want %s (meta %v)", meta["decision"], c.want, meta)
				}
				want, status := c.answer, "bot"
				switch c.want {
				case "handoff":
					want, status = handover, "human"
				case "disclaimer":
					want = c.answer + "\n\n" + disclaimer
				}
				if reply.Message.Text != want {
					t.Errorf("the visitor got %q, want %q", reply.Message.Text, want)
				}
				if conv["status"] != status {
					t.Errorf("conversation status %v, want %s", conv["status"], status)
				}
				if hedges := c.answer == hedged; (meta["hedged"] == true) != hedges {
					t.Errorf("meta hedged = %v, want %v", meta["hedged"], hedges)
				}
				if got, _ := meta["high_stakes"].(string); got != c.highStakes {
					t.Errorf("meta high_stakes = %q, want %q", got, c.highStakes)
				}
			})
		}
	})
}

func TestTheReplyLanguageFollowsTheVisitorUnlessTheAssistantPinsOne(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		for _, c := range []struct {
			name, pinned, question, wantLine, wantLang string
		}{
			{name: "a visitor writing Croatian is answered in Croatian", question: "Koliko košta dostava do Zagreba?", wantLine: "Answer in Croatian.", wantLang: "hr"},
			{name: "a visitor writing German is answered in German", question: "Wie lange dauert die Lieferung bitte?", wantLine: "Answer in German.", wantLang: "de"},
			{name: "an assistant pinned to German answers in German whatever the visitor writes", pinned: "de", question: "How much is shipping to Zagreb?", wantLine: "Answer in German.", wantLang: "de"},
		} {
			t.Run(c.name, func(t *testing.T) {
				b := newBotChat(t, e, map[string]any{"language": c.pinned})
				b.sock.say("q1", c.question)
				b.awaitReply()
				system := lastModelCall(t, srv).System
				if !strings.Contains(system, c.wantLine) {
					t.Errorf("the system prompt lacks %q:\n%s", c.wantLine, system)
				}
				if n := strings.Count(system, "Answer in "); n != 1 {
					t.Errorf("the system prompt names %d languages, want 1", n)
				}
				_, msgs := b.state(t, e)
				if _, meta := onlyReply(t, msgs); meta["language"] != c.wantLang {
					t.Errorf("reply meta language %v, want %s", meta["language"], c.wantLang)
				}
			})
		}
	})
}

func TestAnAssistantWithNoKnowledgeToAnswerFromNeverCallsTheModel(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		t.Run("it hands the conversation to a person when told to", func(t *testing.T) {
			calls := srv.Calls()
			b := newBotChat(t, e, map[string]any{
				"knowledge": map[string]any{"enabled": true, "only_from_knowledge": true},
				"handoff":   map[string]any{"when_no_answer": true, "message": "Let me find someone who knows."},
			})
			b.sock.say("q1", "Do you sell gift cards?")
			// The status and the message, in either order (a socket that
			// catches up from the database sends the status last).
			var said string
			sawHuman := false
			b.sock.until(func(f liveFrame) bool {
				if f.Type == "message" && f.Message.Role == "assistant" {
					said = f.Message.Text
				}
				sawHuman = sawHuman || (f.Type == "status" && f.Status == "human")
				return said != "" && sawHuman
			})
			if said != "Let me find someone who knows." {
				t.Fatalf("the visitor got %q, want the handoff message", said)
			}
			conv, msgs := b.state(t, e)
			if conv["status"] != "human" {
				t.Errorf("conversation status %v, want human", conv["status"])
			}
			if _, meta := onlyReply(t, msgs); meta["decision"] != "handoff" || meta["passages"] != float64(0) {
				t.Errorf("reply meta %v, want decision handoff with no passages", meta)
			}
			if n := srv.Calls() - calls; n != 0 {
				t.Errorf("the model was called %d times", n)
			}
		})
		t.Run("it answers with the fallback message otherwise", func(t *testing.T) {
			calls := srv.Calls()
			b := newBotChat(t, e, map[string]any{
				"knowledge":        map[string]any{"enabled": true, "only_from_knowledge": true},
				"fallback_message": "I don't know that yet.",
			})
			b.sock.say("q1", "Do you sell gift cards?")
			if reply, _ := b.awaitReply(); reply.Message.Text != "I don't know that yet." {
				t.Fatalf("the visitor got %q, want the fallback message", reply.Message.Text)
			}
			conv, msgs := b.state(t, e)
			if _, meta := onlyReply(t, msgs); meta["decision"] != "no_answer" || conv["status"] != "bot" {
				t.Errorf("reply meta %v in a %v conversation, want decision no_answer with the bot", meta, conv["status"])
			}
			if n := srv.Calls() - calls; n != 0 {
				t.Errorf("the model was called %d times", n)
			}
		})
	})
}

// agentTakesOverDuringTheModelCall has the fake hold its answer while an
// agent writes in the conversation through the API.
func agentTakesOverDuringTheModelCall(t *testing.T, e *env, srv *fake.Server) (*botChat, map[string]any) {
	t.Helper()
	// The model answers only once the agent's message is in: a timer here
	// lost the race on a loaded machine.
	hold := make(chan struct{})
	srv.Enqueue(fake.Behavior{Hold: hold, Text: "The bot's late answer."})
	b := newBotChat(t, e, nil)
	b.sock.say("q1", "Is the shop open on Sunday?")
	waitUntil(t, "the model is called", func() bool { return srv.Calls() == 1 })
	convs := listOf(t, e.as(b.tn.Key).do("GET", "/api/v1/conversations", nil).must(t, 200)).Items
	agent := e.as(b.tn.Key).do("POST", "/api/v1/conversations/"+convs[0]["id"].(string)+"/messages", map[string]any{"text": "Hi, Ana here: yes, from 10 to 14."}).must(t, 201).JSON(t)
	b.sock.until(func(f liveFrame) bool { return f.Type == "message" && f.Message.Role == "agent" })
	close(hold)
	return b, agent
}

func TestABotReplyArrivingAfterAPersonTookOverIsNotStored(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		b, agent := agentTakesOverDuringTheModelCall(t, e, srv)
		conv, msgs := b.state(t, e) // waits for the held call to end
		if srv.Calls() != 1 || srv.Pending() != 0 {
			t.Fatalf("the model was called %d times, want once and answered", srv.Calls())
		}
		if len(msgs) != 2 || msgs[0]["role"] != "user" || msgs[1]["id"] != agent["id"] {
			t.Fatalf("messages %v, want the visitor's and the agent's only", msgs)
		}
		if conv["status"] != "human" {
			t.Fatalf("conversation status %v, want human", conv["status"])
		}
		for _, f := range b.sock.settled() {
			if f.Type == "message" {
				t.Errorf("the visitor got a message after the agent's: %v", f)
			}
		}
	})
}

func TestNoStreamedBotTextReachesTheVisitorAfterAPersonTookOver(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		b, _ := agentTakesOverDuringTheModelCall(t, e, srv)
		settleReplyJobs(t, e)
		if ds := deltasIn(t, b.sock.settled()); len(ds) > 0 {
			t.Fatalf("the visitor was streamed %q after a person took over", joined(ds))
		}
	})
}

func TestAWorkerStoppedMidCallIsRetriedByAnotherIntoExactlyOneReply(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		ctx := context.Background()
		srv.Enqueue(fake.Behavior{Delay: 5 * time.Second, Text: "The first worker's answer."}, fake.Behavior{Text: "Your parcel is in Zagreb."})
		b := newBotChat(t, e, nil)
		b.sock.say("q1", "Where is my parcel?")
		waitUntil(t, "the first worker calls the model", func() bool { return srv.Calls() == 1 })

		// The worker is stopped hard while the model is answering: an expired
		// context makes Stop cancel the running job.
		expired, cancel := context.WithTimeout(ctx, 0)
		cancel()
		if err := e.queue.Stop(expired); err != nil {
			t.Fatalf("stop the first worker: %v", err)
		}
		second := e.newQueue()
		reply, _ := b.awaitReply()
		if reply.Message.Text != "Your parcel is in Zagreb." {
			t.Fatalf("reply %q, want the second attempt's answer", reply.Message.Text)
		}
		_, msgs := b.state(t, e)
		inbound := msgs[0]["id"].(string)
		// River puts a job cancelled by a stopping client back as it was
		// (the interrupted attempt is not counted) for another worker.
		if js := replyJobsOf(t, e); len(js) != 1 || js[0].MessageID != inbound || js[0].State != "completed" {
			t.Fatalf("reply jobs %v, want the one job, completed", js)
		}
		if srv.Calls() != 2 {
			t.Fatalf("the model was called %d times, want 2 (the cancelled call and the retry)", srv.Calls())
		}

		// At-least-once delivery: the same job again, and the replier run
		// directly, twice, store nothing more and do not call the model.
		err := e.st.Write(ctx, store.TenantScope(b.tn.ID), func(tx *store.Tx) error {
			return second.InsertTx(ctx, tx.SQL(), jobs.ReplyArgs{TenantID: b.tn.ID, MessageID: inbound}, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		settleReplyJobs(t, e)
		for _, last := range []bool{false, true} {
			if err := e.replier.Reply(ctx, b.tn.ID, "", inbound, last); err != nil {
				t.Fatalf("replying again: %v", err)
			}
		}
		_, msgs = b.state(t, e)
		if stored, _ := onlyReply(t, msgs); stored["id"] != reply.Message.ID {
			t.Fatalf("stored reply %v, want the one the visitor saw", stored)
		}
		if len(msgs) != 2 {
			t.Fatalf("%d messages stored, want the question and its reply", len(msgs))
		}
		if srv.Calls() != 2 {
			t.Fatalf("the model was called %d times, want 2 (the cancelled call and the retry)", srv.Calls())
		}
		for _, f := range b.sock.settled() {
			if f.Type == "message" {
				t.Errorf("the visitor got another message: %v", f)
			}
		}
	})
}

func TestTheChatAPIStreamsDeltasThatAddUpToTheFinalMessage(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		tn := e.newTenant("API chat")
		asst := e.as(tn.Key).do("POST", "/api/v1/assistants", map[string]any{"name": "API bot"}).must(t, 201).JSON(t)["id"].(string)
		answer := "We are open from 9 to 17 on weekdays and 10 to 14 on Saturdays."
		// The handler subscribes to the conversation only after storing the
		// message (and queuing its reply); the short delay keeps a worker
		// under load from streaming before that.
		srv.Enqueue(fake.Behavior{Text: answer, Deltas: 6, Delay: 100 * time.Millisecond})
		body, _ := json.Marshal(map[string]any{"assistant_id": asst, "message": "When are you open?", "stream": true})
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/chat", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tn.Key)
		req.Header.Set("Content-Type", "application/json")
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		type event struct{ name, data string }
		var events []event
		var cur event
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				cur.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data += strings.TrimPrefix(line, "data: ")
			case line == "" && cur.name != "":
				events = append(events, cur)
				cur = event{}
			}
		}
		if len(events) < 3 || events[len(events)-1].name != "message" {
			t.Fatalf("events %v, want deltas then the message", events)
		}
		var streamed strings.Builder
		for _, ev := range events[:len(events)-1] {
			if ev.name != "delta" {
				t.Fatalf("event %q before the message, want only deltas", ev.name)
			}
			var d struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				t.Fatalf("delta %q: %v", ev.data, err)
			}
			streamed.WriteString(d.Text)
		}
		var final struct {
			ConversationID string `json:"conversation_id"`
			Message        struct {
				Role string `json:"role"`
				Text string `json:"text"`
			} `json:"message"`
		}
		if err := json.Unmarshal([]byte(events[len(events)-1].data), &final); err != nil {
			t.Fatal(err)
		}
		if final.Message.Role != "assistant" || final.Message.Text != answer {
			t.Fatalf("final message %+v, want the model's answer", final.Message)
		}
		if streamed.String() != final.Message.Text {
			t.Fatalf("the deltas add up to %q, the message is %q", streamed.String(), final.Message.Text)
		}
		if ms := messagesOf(t, e.as(tn.Key), final.ConversationID, ""); len(ms) != 2 {
			t.Fatalf("the conversation has %d messages, want the question and the answer", len(ms))
		}
	})
}

// A tenant may point its assistant at its own OpenAI-compatible server; the
// platform's key must not travel there.
func TestAnAssistantsOwnBaseURLNeverReceivesTheServersAPIKey(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		theirs := fake.OpenAI(t)
		theirs.SetAPIKey("") // accepts anything, records everything
		b := newBotChat(t, e, map[string]any{"model": map[string]any{"provider": "openai", "name": "their-model", "base_url": theirs.URL}})
		b.sock.say("q1", "Hello there")
		b.awaitReply()
		if theirs.Calls() == 0 {
			t.Fatal("the assistant's base_url was not used")
		}
		if h := theirs.LastHeader(); strings.Contains(h.Get("Authorization")+h.Get("x-api-key"), serverModelKey) {
			t.Fatalf("the tenant's server received the platform's API key: %q", h.Get("Authorization"))
		}
	})
}

// An assistant whose model cannot even be set up (another provider than
// the server's, without a key) must still answer the visitor somehow.
func TestAnAssistantWhoseModelCannotBeSetUpAnswersWithTheFallback(t *testing.T) {
	t.Parallel()
	withModel(t, llm.ProviderOpenAI, func(t *testing.T, e *env, srv *fake.Server) {
		b := newBotChat(t, e, map[string]any{"model": map[string]any{"provider": "anthropic", "name": "claude-x"}, "fallback_message": "We will get back to you."})
		b.sock.say("q1", "Hello, anyone there?")
		b.sock.until(func(f liveFrame) bool { return f.Type == "message" && f.Message.Role == "user" })
		_, msgs := b.state(t, e)
		if len(botMessages(msgs)) == 0 {
			t.Fatalf("the visitor was never answered: messages %v, jobs %v", msgs, replyJobsOf(t, e))
		}
		if _, meta := onlyReply(t, msgs); meta["decision"] != "fallback" {
			t.Fatalf("reply meta %v, want decision fallback", meta)
		}
	})
}
