package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// botChat is a visitor connected to a web channel answered by an assistant.
type botChat struct {
	tn          tenantFixture
	assistantID string
	sock        *liveSocket
}

func newBotChat(t *testing.T, e *env, assistant map[string]any) *botChat {
	t.Helper()
	b := &botChat{tn: e.newTenant("Bot shop")}
	if assistant == nil {
		assistant = map[string]any{}
	}
	if assistant["name"] == nil {
		assistant["name"] = "Helper"
	}
	b.assistantID = e.as(b.tn.Key).do("POST", "/api/v1/assistants", assistant).must(t, 201).JSON(t)["id"].(string)
	m := e.as(b.tn.Key).do("POST", "/api/v1/channels", map[string]any{"type": "web", "name": "Shop", "assistant_id": b.assistantID,
		"config": map[string]any{"allowed_origins": []string{shopOrigin}}}).must(t, 201).JSON(t)
	token := newVisitorSession(t, e, m["public_key"].(string), nil).VisitorToken
	b.sock = dialLive(t, e)
	b.sock.hello(token, 0)
	return b
}

// until reads frames until one satisfies ok, failing after 15 s.
func (s *liveSocket) until(ok func(liveFrame) bool) (seen []liveFrame) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		f := s.next()
		seen = append(seen, f)
		if ok(f) {
			return seen
		}
	}
	s.t.Fatalf("no matching frame within 15s; saw %v", seen)
	return nil
}

func TestAVisitorMessageIsAnsweredOnceByTheAssistant(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		b := newBotChat(t, e, map[string]any{"fallback_message": "We will get back to you."})
		b.sock.say("q1", "What are your opening hours?")
		frames := b.sock.until(func(f liveFrame) bool { return f.Type == "message" && f.Message.Role == "assistant" })
		reply := frames[len(frames)-1]
		if reply.Seq != 2 {
			t.Fatalf("reply seq %d, want 2", reply.Seq)
		}
		var deltas strings.Builder
		for _, f := range frames {
			if f.Type == "delta" {
				var d struct{ Text string }
				_ = json.Unmarshal([]byte(f.raw), &d)
				deltas.WriteString(d.Text)
			}
		}
		if deltas.Len() > 0 && strings.TrimSpace(deltas.String()) != strings.TrimSpace(reply.Message.Text) {
			t.Errorf("deltas %q do not add up to the reply %q", deltas.String(), reply.Message.Text)
		}
		// Exactly one reply, recorded with its decision.
		time.Sleep(300 * time.Millisecond)
		convs := listOf(t, e.as(b.tn.Key).do("GET", "/api/v1/conversations", nil).must(t, 200))
		ms := messagesOf(t, e.as(b.tn.Key), convs.Items[0]["id"].(string), "")
		if len(ms) != 2 || ms[1]["role"] != "assistant" || ms[1]["reply_to"] != ms[0]["id"] {
			t.Fatalf("messages = %v, want the question and one reply to it", ms)
		}
		if meta, _ := ms[1]["meta"].(map[string]any); meta == nil || meta["decision"] == nil {
			t.Fatalf("the reply records no decision: %v", ms[1])
		}
	})
}

func TestAskingForAHumanHandsOverAndSilencesTheBot(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		b := newBotChat(t, e, map[string]any{"handoff": map[string]any{"keywords": []string{"human"}, "message": "Connecting you to a person."}})
		b.sock.say("q1", "Can I talk to a human please?")
		// The status and the handoff message may arrive in either order (a
		// fast job finishes before the socket follows the conversation).
		var human bool
		var handoff string
		b.sock.until(func(f liveFrame) bool {
			if f.Type == "status" && f.Status == "human" {
				human = true
			}
			if f.Type == "message" && f.Message.Role == "assistant" {
				handoff = f.Message.Text
			}
			return human && handoff != ""
		})
		if handoff != "Connecting you to a person." {
			t.Fatalf("handoff message %q", handoff)
		}
		// While a person has the conversation, the bot says nothing.
		b.sock.say("q2", "Hello? Anyone?")
		b.sock.expectMessage(3, "user")
		time.Sleep(1500 * time.Millisecond)
		convs := listOf(t, e.as(b.tn.Key).do("GET", "/api/v1/conversations?status=human", nil).must(t, 200))
		if len(convs.Items) != 1 {
			t.Fatalf("conversations with status human: %d", len(convs.Items))
		}
		ms := messagesOf(t, e.as(b.tn.Key), convs.Items[0]["id"].(string), "")
		if len(ms) != 3 {
			t.Fatalf("the bot spoke while a human had the conversation: %v", ms)
		}
	})
}

func TestTheAPIChatAnswersAsJSONAndAsAStream(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("API chat")
		asst := e.as(tn.Key).do("POST", "/api/v1/assistants", map[string]any{"name": "API bot", "fallback_message": "No idea yet."}).must(t, 201).JSON(t)["id"].(string)
		ans := e.as(tn.Key).do("POST", "/api/v1/chat", map[string]any{"assistant_id": asst, "message": "Hello?"}).must(t, 200).JSON(t)
		msg, _ := ans["message"].(map[string]any)
		conv, _ := ans["conversation_id"].(string)
		if msg == nil || msg["role"] != "assistant" || conv == "" {
			t.Fatalf("chat answer %v", ans)
		}
		// The same conversation continues, streamed.
		body, _ := json.Marshal(map[string]any{"assistant_id": asst, "conversation_id": conv, "message": "And now?", "stream": true})
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/chat", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tn.Key)
		req.Header.Set("Content-Type", "application/json")
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
		var events []string
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events = append(events, ev)
			}
		}
		if len(events) == 0 || events[len(events)-1] != "message" {
			t.Fatalf("stream events %v, want deltas then message", events)
		}
		ms := messagesOf(t, e.as(tn.Key), conv, "")
		if len(ms) != 4 {
			t.Fatalf("conversation has %d messages, want 4", len(ms))
		}
		// Bad input names the field.
		r := e.as(tn.Key).do("POST", "/api/v1/chat", map[string]any{"assistant_id": "nope", "message": ""})
		if fs := r.must(t, 400).problemFields(t); len(fs) != 2 {
			t.Fatalf("fields %v", fs)
		}
	})
}
