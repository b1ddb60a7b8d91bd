package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
	"github.com/metachat/metachat/internal/widget"
)

// --- sessions: helpers --------------------------------------------------

// widgetSession posts to the session endpoint with exactly the headers
// given (an empty value leaves a header out).
func widgetSession(t *testing.T, e *env, hdr map[string]string, body map[string]any) response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", e.srv.URL+"/api/v1/widget/sessions", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: rb}
}

// visitorSession is a decoded session answer.
type visitorSession struct {
	VisitorToken   string  `json:"visitor_token"`
	ConversationID *string `json:"conversation_id"`
	ExpiresAt      string  `json:"expires_at"`
	Config         struct {
		Title    string            `json:"title"`
		Language string            `json:"language"`
		Strings  map[string]string `json:"strings"`
	} `json:"config"`
}

// conversation is the session's conversation id, "" for none.
func (s visitorSession) conversation() string {
	if s.ConversationID == nil {
		return ""
	}
	return *s.ConversationID
}

// newVisitorSession starts a session from the shop's site; extra adds to
// the body {"public_key": key}.
func newVisitorSession(t *testing.T, e *env, publicKey string, extra map[string]any) visitorSession {
	t.Helper()
	body := map[string]any{"public_key": publicKey}
	for k, v := range extra {
		body[k] = v
	}
	r := widgetSession(t, e, map[string]string{"Origin": shopOrigin}, body).must(t, 200)
	var s visitorSession
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatal(err)
	}
	if s.VisitorToken == "" {
		t.Fatalf("session without a visitor_token: %s", r.Body)
	}
	return s
}

// visitorOf reads the visitor a token names (its payload is base64url
// JSON before the MAC; see internal/widget/token.go).
func visitorOf(t *testing.T, token string) string {
	t.Helper()
	p, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(p)
	var v struct {
		V string `json:"v"`
	}
	if err != nil || json.Unmarshal(b, &v) != nil || v.V == "" {
		t.Fatalf("token payload %q is not the documented shape", p)
	}
	return v.V
}

// otherFirstChar changes the first character of a base64url string to
// another valid one.
func otherFirstChar(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// --- live protocol: helpers ---------------------------------------------

// liveFrame is any frame the server sends on the widget socket.
type liveFrame struct {
	Type           string  `json:"type"`
	ConversationID *string `json:"conversation_id"`
	Seq            int64   `json:"seq"`
	Message        struct {
		ID        string `json:"id"`
		Role      string `json:"role"`
		Text      string `json:"text"`
		CreatedAt string `json:"created_at"`
		ClientID  string `json:"client_id"`
	} `json:"message"`
	Status   string `json:"status"`
	Code     string `json:"code"`
	Detail   string `json:"detail"`
	ClientID string `json:"client_id"`
	Role     string `json:"role"`
	raw      string
}

func (f liveFrame) String() string { return f.raw }

// liveSocket is a test client of GET /api/v1/widget/ws.
type liveSocket struct {
	t *testing.T
	c *websocket.Conn
}

func wsURL(e *env) string {
	return strings.Replace(e.srv.URL, "http", "ws", 1) + "/api/v1/widget/ws"
}

func dialLive(t *testing.T, e *env) *liveSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(e), nil)
	if err != nil {
		t.Fatalf("dial the widget socket: %v", err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &liveSocket{t: t, c: c}
}

func (s *liveSocket) sendRaw(typ websocket.MessageType, b []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.c.Write(ctx, typ, b); err != nil {
		s.t.Fatalf("write a frame: %v", err)
	}
}

func (s *liveSocket) send(v any) {
	s.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Fatal(err)
	}
	s.sendRaw(websocket.MessageText, b)
}

func (s *liveSocket) say(clientID, text string) {
	s.t.Helper()
	s.send(map[string]string{"type": "message", "client_id": clientID, "text": text})
}

// next reads one frame, failing the test if none comes within 10s.
func (s *liveSocket) next() liveFrame {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := s.c.Read(ctx)
	if err != nil {
		s.t.Fatalf("reading a frame: %v", err)
	}
	if typ != websocket.MessageText {
		s.t.Fatalf("a binary frame from the server: %q", b)
	}
	f := liveFrame{raw: string(b)}
	if err := json.Unmarshal(b, &f); err != nil {
		s.t.Fatalf("frame %q is not JSON: %v", b, err)
	}
	return f
}

// expect reads one frame and checks its type.
func (s *liveSocket) expect(typ string) liveFrame {
	s.t.Helper()
	f := s.next()
	if f.Type != typ {
		s.t.Fatalf("frame %s, want a %s frame", f, typ)
	}
	return f
}

// expectMessage reads a message frame and checks its seq and role.
func (s *liveSocket) expectMessage(seq int64, role string) liveFrame {
	s.t.Helper()
	f := s.expect("message")
	if f.Seq != seq || f.Message.Role != role || f.Message.ID == "" || f.Message.CreatedAt == "" {
		s.t.Fatalf("frame %s, want message seq %d role %s", f, seq, role)
	}
	return f
}

func (s *liveSocket) expectStatus(status string) {
	s.t.Helper()
	if f := s.expect("status"); f.Status != status {
		s.t.Fatalf("frame %s, want status %s", f, status)
	}
}

// settled pings and returns every frame before the pong: with it a test
// knows that the server has handled everything sent before.
func (s *liveSocket) settled() []liveFrame {
	s.t.Helper()
	s.send(map[string]string{"type": "ping"})
	var before []liveFrame
	for {
		f := s.next()
		if f.Type == "pong" {
			return before
		}
		before = append(before, f)
	}
}

// quiet checks that nothing but the pong answers a ping.
func (s *liveSocket) quiet() {
	s.t.Helper()
	if extra := s.settled(); len(extra) > 0 {
		s.t.Fatalf("unexpected frames: %v", extra)
	}
}

// hello sends the first frame and returns the ready frame.
func (s *liveSocket) hello(token string, afterSeq int64) liveFrame {
	s.t.Helper()
	s.send(map[string]any{"type": "hello", "token": token, "after_seq": afterSeq})
	f := s.expect("ready")
	if f.ConversationID == nil {
		s.t.Fatalf("ready frame without conversation_id: %s", f)
	}
	return f
}

// closedWith reads until the server closes and checks the close status.
func (s *liveSocket) closedWith(want websocket.StatusCode) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := s.c.Read(ctx)
		if err == nil {
			s.t.Logf("frame before the close: %s", b)
			continue
		}
		if got := websocket.CloseStatus(err); got != want {
			s.t.Fatalf("connection ended with %v (%v), want close status %v", got, err, want)
		}
		return
	}
}

// liveChat is a visitor on a shop's web channel with an open socket.
type liveChat struct {
	tn    tenantFixture
	ch    webChannel
	token string
	sock  *liveSocket
	conv  string
}

// startLiveChat makes a tenant, a channel and a visitor session, and
// connects. With a first message it also starts the conversation and
// reads the echo (seq 1) and the status (bot).
func startLiveChat(t *testing.T, e *env, first string) *liveChat {
	t.Helper()
	lc := &liveChat{tn: e.newTenant("Live")}
	lc.ch = newWebChannelVia(t, e, lc.tn.Key, nil)
	lc.token = newVisitorSession(t, e, lc.ch.PublicKey, nil).VisitorToken
	lc.sock = dialLive(t, e)
	if ready := lc.sock.hello(lc.token, 0); *ready.ConversationID != "" {
		t.Fatalf("a new visitor is ready in conversation %q", *ready.ConversationID)
	}
	if first == "" {
		return lc
	}
	lc.sock.say("c0", first)
	lc.sock.expectMessage(1, "user")
	lc.sock.expectStatus("bot")
	lc.conv = newVisitorSession(t, e, lc.ch.PublicKey, map[string]any{"visitor_token": lc.token}).conversation()
	if lc.conv == "" {
		t.Fatal("the visitor's session names no conversation after the first message")
	}
	return lc
}

// agentSays posts an agent message (or a note) through the API.
func (lc *liveChat) agentSays(t *testing.T, e *env, text string, note bool) map[string]any {
	t.Helper()
	return e.as(lc.tn.Key).do("POST", "/api/v1/conversations/"+lc.conv+"/messages", map[string]any{"text": text, "note": note}).must(t, 201).JSON(t)
}

// --- sessions ------------------------------------------------------------

func TestAWidgetSessionChecksTheKeyAndTheOriginAndPicksTheLanguage(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Sessions")
		ch := newWebChannelVia(t, e, tn.Key, nil)

		t.Run("the origin must be one the channel allows", func(t *testing.T) {
			for _, tc := range []struct {
				name, origin, hostOrigin string
				want                     int
			}{
				{"an allowed site", shopOrigin, "", 200},
				{"another site", "https://evil.example", "", 403},
				{"another site claiming to host the frame", "https://evil.example", shopOrigin, 403},
				{"an allowed site on another port", "https://shop.example:8443", "", 403},
				{"no browser at all", "", "", 200},
				{"our frame on an allowed site", e.srv.URL, shopOrigin, 200},
				{"our frame on another site", e.srv.URL, "https://evil.example", 403},
				// Browsers that hide the host page send no host_origin;
				// frame-ancestors keeps the frame off other sites then.
				{"our frame not saying where it is", e.srv.URL, "", 200},
			} {
				t.Run(tc.name, func(t *testing.T) {
					body := map[string]any{"public_key": ch.PublicKey}
					if tc.hostOrigin != "" {
						body["host_origin"] = tc.hostOrigin
					}
					r := widgetSession(t, e, map[string]string{"Origin": tc.origin}, body)
					if r.Status != tc.want {
						t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
					}
					if tc.want == 403 {
						if !hasField(t, r, "origin") {
							t.Errorf("the refusal does not name origin: %s", r.Body)
						}
						return
					}
					m := r.JSON(t)
					cid, present := m["conversation_id"]
					cfg, _ := m["config"].(map[string]any)
					strs, _ := cfg["strings"].(map[string]any)
					if tok, _ := m["visitor_token"].(string); tok == "" || !present || cid != nil || cfg["title"] != "Chat with us" || len(strs) == 0 {
						t.Errorf("session = %s; want a token, conversation_id null and a config with title and strings", r.Body)
					}
					if exp, err := time.Parse(time.RFC3339, fmt.Sprint(m["expires_at"])); err != nil || time.Until(exp) < 29*24*time.Hour {
						t.Errorf("expires_at = %v, want about 30 days ahead", m["expires_at"])
					}
				})
			}
		})

		t.Run("the key must name a web channel", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				body  map[string]any
				want  int
				field string
			}{
				{"an unknown key", map[string]any{"public_key": "pk_unknownunknownunknown"}, 404, ""},
				{"a key of the wrong shape", map[string]any{"public_key": "not-a-key"}, 404, ""},
				{"no key", map[string]any{}, 400, "public_key"},
				{"an empty key", map[string]any{"public_key": ""}, 400, "public_key"},
				{"an unknown field", map[string]any{"public_key": ch.PublicKey, "colour": "red"}, 400, "colour"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := widgetSession(t, e, map[string]string{"Origin": shopOrigin}, tc.body)
					if r.Status != tc.want || (tc.field != "" && !hasField(t, r, tc.field)) {
						t.Errorf("status %d, want %d naming %q: %s", r.Status, tc.want, tc.field, r.Body)
					}
				})
			}
		})

		t.Run("the language follows the visitor unless the channel sets one", func(t *testing.T) {
			croatian := newWebChannelVia(t, e, tn.Key, map[string]any{"language": "hr"})
			for _, tc := range []struct {
				name, key, language, acceptLanguage, want, placeholder string
			}{
				{"German from the browser", ch.PublicKey, "de-DE", "", "de", "Nachricht eingeben…"},
				{"Croatian from the browser", ch.PublicKey, "hr", "", "hr", "Upišite poruku…"},
				{"an unsupported language", ch.PublicKey, "fr-FR", "", "en", "Type a message…"},
				{"no language at all", ch.PublicKey, "", "", "en", "Type a message…"},
				{"Accept-Language when the body says nothing", ch.PublicKey, "", "fr-CH, de;q=0.8", "de", "Nachricht eingeben…"},
				{"the channel's language over the browser's", croatian.PublicKey, "de-DE", "de", "hr", "Upišite poruku…"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					body := map[string]any{"public_key": tc.key}
					if tc.language != "" {
						body["language"] = tc.language
					}
					r := widgetSession(t, e, map[string]string{"Origin": shopOrigin, "Accept-Language": tc.acceptLanguage}, body).must(t, 200)
					var s visitorSession
					if err := json.Unmarshal(r.Body, &s); err != nil {
						t.Fatal(err)
					}
					if s.Config.Language != tc.want || s.Config.Strings["placeholder"] != tc.placeholder || len(s.Config.Strings) < 10 {
						t.Errorf("language %q with placeholder %q (%d strings), want %q with %q", s.Config.Language, s.Config.Strings["placeholder"], len(s.Config.Strings), tc.want, tc.placeholder)
					}
				})
			}
		})
	})
}

func TestAVisitorIsRecognisedByTheirTokenOrTheirVerifiedIdentity(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		t.Run("a valid token resumes the same visitor and their conversation", func(t *testing.T) {
			lc := startLiveChat(t, e, "hello")
			s := newVisitorSession(t, e, lc.ch.PublicKey, map[string]any{"visitor_token": lc.token})
			if s.conversation() != lc.conv || visitorOf(t, s.VisitorToken) != visitorOf(t, lc.token) {
				t.Errorf("resumed session: conversation %q visitor %q, want %q %q", s.conversation(), visitorOf(t, s.VisitorToken), lc.conv, visitorOf(t, lc.token))
			}
			// The renewed token works as well as the old one.
			again := newVisitorSession(t, e, lc.ch.PublicKey, map[string]any{"visitor_token": s.VisitorToken})
			if again.conversation() != lc.conv {
				t.Errorf("the renewed token resumes conversation %q, want %q", again.conversation(), lc.conv)
			}
			// And it reconnects the socket to the conversation.
			sock := dialLive(t, e)
			if ready := sock.hello(s.VisitorToken, 1); *ready.ConversationID != lc.conv {
				t.Errorf("ready in %q, want %q", *ready.ConversationID, lc.conv)
			}
			sock.expectStatus("bot")
		})

		t.Run("a foreign, tampered or expired token starts a new visitor", func(t *testing.T) {
			lc := startLiveChat(t, e, "hello")
			sameTenant := newWebChannelVia(t, e, lc.tn.Key, nil)
			otherTenant := e.newTenant("Other")
			otherChannel := newWebChannelVia(t, e, otherTenant.Key, nil)
			payload, mac, _ := strings.Cut(lc.token, ".")
			var v map[string]any
			b, _ := base64.RawURLEncoding.DecodeString(payload)
			_ = json.Unmarshal(b, &v)
			v["v"] = "v_someoneelse"
			forged, _ := json.Marshal(v)
			for _, tc := range []struct {
				name, token string
			}{
				{"another channel's token", newVisitorSession(t, e, sameTenant.PublicKey, nil).VisitorToken},
				{"another tenant's token", newVisitorSession(t, e, otherChannel.PublicKey, nil).VisitorToken},
				{"a token with a changed MAC", payload + "." + otherFirstChar(mac)},
				{"a token with a changed payload", base64.RawURLEncoding.EncodeToString(forged) + "." + mac},
				{"a token without a MAC", payload},
				{"garbage", "not a token at all"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s := newVisitorSession(t, e, lc.ch.PublicKey, map[string]any{"visitor_token": tc.token})
					if s.ConversationID != nil {
						t.Errorf("resumed conversation %q with a token that is not the channel's", *s.ConversationID)
					}
					if got := visitorOf(t, s.VisitorToken); got == visitorOf(t, lc.token) || got == "v_someoneelse" || !strings.HasPrefix(got, "v_") {
						t.Errorf("visitor %q, want a new anonymous one", got)
					}
				})
			}
		})

		t.Run("a verified user gets the same conversation on every device", func(t *testing.T) {
			tn := e.newTenant("Verified")
			ch := newWebChannelVia(t, e, tn.Key, map[string]any{"identity_verification": true})
			signed := func() map[string]any {
				now := time.Now().Unix()
				return map[string]any{"user_id": "user-42", "user_timestamp": now, "user_signature": widget.SignIdentity(ch.IdentitySecret, "user-42", now)}
			}
			laptop := newVisitorSession(t, e, ch.PublicKey, signed())
			if laptop.ConversationID != nil || visitorOf(t, laptop.VisitorToken) != "user:user-42" {
				t.Fatalf("first session: conversation %v, visitor %q", laptop.ConversationID, visitorOf(t, laptop.VisitorToken))
			}
			sock := dialLive(t, e)
			sock.hello(laptop.VisitorToken, 0)
			sock.say("l1", "hello from my laptop")
			sock.expectMessage(1, "user")
			phone := newVisitorSession(t, e, ch.PublicKey, signed())
			if phone.conversation() == "" {
				t.Fatal("the second device does not get the user's conversation")
			}
			// A verified identity wins over an anonymous token from before.
			anon := newVisitorSession(t, e, ch.PublicKey, nil)
			body := signed()
			body["visitor_token"] = anon.VisitorToken
			if tablet := newVisitorSession(t, e, ch.PublicKey, body); tablet.conversation() != phone.conversation() {
				t.Errorf("with an old anonymous token: conversation %q, want %q", tablet.conversation(), phone.conversation())
			}
			other := e.as(tn.Key).do("GET", "/api/v1/conversations/"+phone.conversation(), nil).must(t, 200).JSON(t)
			if ct, _ := other["contact"].(map[string]any); ct["external_id"] != "user:user-42" {
				t.Errorf("contact = %v, want external id user:user-42", other["contact"])
			}
			// The phone's socket sees the laptop's history.
			ps := dialLive(t, e)
			ps.hello(phone.VisitorToken, 0)
			if f := ps.expectMessage(1, "user"); f.Message.Text != "hello from my laptop" {
				t.Errorf("history = %s", f)
			}
		})

		t.Run("a bad or stale user signature is refused naming user_signature", func(t *testing.T) {
			tn := e.newTenant("Signatures")
			ch := newWebChannelVia(t, e, tn.Key, map[string]any{"identity_verification": true})
			plain := newWebChannelVia(t, e, tn.Key, nil)
			now := time.Now().Unix()
			sign := func(user string, ts int64) string { return widget.SignIdentity(ch.IdentitySecret, user, ts) }
			for _, tc := range []struct {
				name      string
				key       string
				user      string
				ts        int64
				signature string
				want      int
				field     string
			}{
				{"a fresh signature", ch.PublicKey, "user-42", now, sign("user-42", now), 200, ""},
				{"a signature in capitals", ch.PublicKey, "user-42", now, strings.ToUpper(sign("user-42", now)), 200, ""},
				{"a signature 9 minutes old", ch.PublicKey, "user-42", now - 9*60, sign("user-42", now-9*60), 200, ""},
				{"a wrong signature", ch.PublicKey, "user-42", now, strings.Repeat("ab", 32), 401, "user_signature"},
				{"another user's signature", ch.PublicKey, "user-42", now, sign("user-43", now), 401, "user_signature"},
				{"a signature for another time", ch.PublicKey, "user-42", now, sign("user-42", now-1), 401, "user_signature"},
				{"another channel's secret", ch.PublicKey, "user-42", now, widget.SignIdentity("whsec_other", "user-42", now), 401, "user_signature"},
				{"a signature 11 minutes old", ch.PublicKey, "user-42", now - 11*60, sign("user-42", now-11*60), 401, "user_signature"},
				{"a signature 11 minutes ahead", ch.PublicKey, "user-42", now + 11*60, sign("user-42", now+11*60), 401, "user_signature"},
				{"no signature", ch.PublicKey, "user-42", now, "", 401, "user_signature"},
				{"a user id on a channel without verification", plain.PublicKey, "user-42", now, sign("user-42", now), 400, "user_id"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					body := map[string]any{"public_key": tc.key, "user_id": tc.user, "user_timestamp": tc.ts, "user_signature": tc.signature}
					r := widgetSession(t, e, map[string]string{"Origin": shopOrigin}, body)
					if r.Status != tc.want {
						t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
					}
					if tc.field != "" && !hasField(t, r, tc.field) {
						t.Errorf("the refusal does not name %s: %s", tc.field, r.Body)
					}
				})
			}
		})
	})
}

func TestWidgetSessionsAreRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			// RateLimitIP sizes the harness's session limiter too: 2 per
			// second with a burst of 2 (the general per-IP limit allows 5).
			e := newEnv(t, d, envOptions{cfg: httpapi.Config{RateLimitIP: 2}})
			tn := e.newTenant("Busy site")
			ch := newWebChannelVia(t, e, tn.Key, nil)
			body := map[string]any{"public_key": ch.PublicKey}
			origin := map[string]string{"Origin": shopOrigin}
			// Four tries use at most 5 of the address's general budget, so
			// the first refusal must come from the session limit.
			var r response
			answered := 0
			for range 4 {
				if r = widgetSession(t, e, origin, body); r.Status != 200 {
					break
				}
				answered++
			}
			if r.Status != 429 || answered < 2 {
				t.Fatalf("after %d sessions: %d, want 429 after at least the burst of 2: %s", answered, r.Status, r.Body)
			}
			if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 without a useful Retry-After: %q", ra)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != 429 || !strings.Contains(p.Detail, "chat sessions") {
				t.Errorf("429 body = %s, want a problem about chat sessions", r.Body)
			}
		})
	}
}

// --- live protocol ------------------------------------------------------

func TestTheFirstLiveFrameMustBeAHelloWithAValidToken(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Hello")
		ch := newWebChannelVia(t, e, tn.Key, nil)
		token := newVisitorSession(t, e, ch.PublicKey, nil).VisitorToken
		doomed := newWebChannelVia(t, e, tn.Key, nil)
		doomedToken := newVisitorSession(t, e, doomed.PublicKey, nil).VisitorToken
		e.as(tn.Key).do("DELETE", "/api/v1/channels/"+doomed.ID, nil).must(t, 204)
		suspended := e.newTenant("Suspended")
		suspendedCh := newWebChannelVia(t, e, suspended.Key, nil)
		suspendedToken := newVisitorSession(t, e, suspendedCh.PublicKey, nil).VisitorToken
		if err := e.st.Write(context.Background(), store.SystemScope, func(tx *store.Tx) error {
			return tx.SetTenantStatus(context.Background(), suspended.ID, "suspended")
		}); err != nil {
			t.Fatal(err)
		}
		payload, mac, _ := strings.Cut(token, ".")
		tampered := payload + "." + otherFirstChar(mac)
		for _, tc := range []struct {
			name  string
			frame string
			code  string
		}{
			{"a hello with a made-up token", `{"type":"hello","token":"nope","after_seq":0}`, "unauthorized"},
			{"a hello with a tampered token", `{"type":"hello","token":"` + tampered + `"}`, "unauthorized"},
			{"a hello without a token", `{"type":"hello"}`, "unauthorized"},
			{"a hello for a deleted channel", `{"type":"hello","token":"` + doomedToken + `"}`, "unauthorized"},
			{"a hello for a suspended tenant", `{"type":"hello","token":"` + suspendedToken + `"}`, "unauthorized"},
			{"a ping first", `{"type":"ping"}`, "bad_frame"},
			{"a message first", `{"type":"message","client_id":"c1","text":"hi","token":"` + token + `"}`, "bad_frame"},
			{"invalid JSON first", `{"type":"hello",`, "bad_frame"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := dialLive(t, e)
				s.sendRaw(websocket.MessageText, []byte(tc.frame))
				if f := s.expect("error"); f.Code != tc.code || f.Detail == "" {
					t.Errorf("error frame %s, want code %s with a detail", f, tc.code)
				}
				s.closedWith(websocket.StatusPolicyViolation)
			})
		}
		t.Run("a valid hello is ready with no conversation yet", func(t *testing.T) {
			s := dialLive(t, e)
			if ready := s.hello(token, 0); *ready.ConversationID != "" || !strings.Contains(ready.raw, `"conversation_id":""`) {
				t.Errorf("ready = %s, want conversation_id \"\"", ready)
			}
			s.quiet()
		})
	})
}

func TestTheLiveProtocolCarriesTheConversationBothWays(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		t.Run("a visitor message is echoed with its seq and stored once however often it is sent", func(t *testing.T) {
			lc := startLiveChat(t, e, "")
			lc.sock.say("c1", "  hi  ")
			first := lc.sock.expectMessage(1, "user")
			if first.Message.ClientID != "c1" || first.Message.Text != "hi" {
				t.Errorf("echo = %s, want client_id c1 and the trimmed text", first)
			}
			lc.sock.expectStatus("bot")
			lc.conv = newVisitorSession(t, e, lc.ch.PublicKey, map[string]any{"visitor_token": lc.token}).conversation()
			lc.sock.say("c1", "hi")
			again := lc.sock.expectMessage(1, "user")
			if again.Message.ID != first.Message.ID || again.Message.ClientID != "c1" {
				t.Errorf("resend answered with %s, want the first message %s", again, first)
			}
			lc.sock.quiet()
			ms := messagesOf(t, e.as(lc.tn.Key), lc.conv, "")
			if len(ms) != 1 || ms[0]["id"] != first.Message.ID {
				t.Errorf("stored messages = %v, want exactly the first", ms)
			}
			lc.sock.say("c2", "second")
			if f := lc.sock.expectMessage(2, "user"); f.Message.ClientID != "c2" {
				t.Errorf("second message = %s", f)
			}
		})

		t.Run("agent replies arrive live after the status change, notes never do", func(t *testing.T) {
			lc := startLiveChat(t, e, "I need help")
			reply := lc.agentSays(t, e, "Hi, I am Ana", false)
			lc.sock.expectStatus("human")
			if f := lc.sock.expectMessage(2, "agent"); f.Message.ID != reply["id"] || f.Message.Text != "Hi, I am Ana" {
				t.Errorf("live reply = %s, want %v", f, reply)
			}
			note := lc.agentSays(t, e, "customer seems upset", true)
			lc.agentSays(t, e, "Let me check", false)
			f := lc.sock.next()
			if f.Type != "message" || f.Seq != 4 || f.Message.Role != "agent" || f.Message.Text != "Let me check" {
				t.Errorf("after a note the visitor got %s, want the next reply (seq 4)", f)
			}
			for _, g := range append(lc.sock.settled(), f) {
				if g.Message.Role == "note" || g.Message.ID == note["id"] || strings.Contains(g.raw, "upset") {
					t.Errorf("a note reached the visitor: %s", g)
				}
			}
		})

		t.Run("the visitor's own typing is not echoed back", func(t *testing.T) {
			lc := startLiveChat(t, e, "hello")
			lc.sock.send(map[string]string{"type": "typing"})
			before := lc.sock.settled() // the typing frame has been handled
			lc.agentSays(t, e, "yes?", false)
			var frames []liveFrame
			for {
				f := lc.sock.next()
				frames = append(frames, f)
				if f.Type == "message" {
					break
				}
			}
			for _, f := range append(before, frames...) {
				if f.Type == "typing" {
					t.Errorf("the visitor's typing came back: %s", f)
				}
			}
			if last := frames[len(frames)-1]; last.Seq != 2 || last.Message.Role != "agent" {
				t.Errorf("frames = %v", frames)
			}
		})

		t.Run("a reconnecting visitor gets exactly what it missed, in order", func(t *testing.T) {
			lc := startLiveChat(t, e, "hello")
			lc.agentSays(t, e, "reply 2", false)
			lc.sock.expectStatus("human")
			lc.sock.expectMessage(2, "agent")
			lc.sock.c.Close(websocket.StatusNormalClosure, "")
			// While away: two replies, with a note between them.
			missed := []map[string]any{lc.agentSays(t, e, "reply 3", false)}
			lc.agentSays(t, e, "note 4", true)
			missed = append(missed, lc.agentSays(t, e, "reply 5", false))

			s := dialLive(t, e)
			if ready := s.hello(lc.token, 2); *ready.ConversationID != lc.conv {
				t.Fatalf("ready in %q, want %q", *ready.ConversationID, lc.conv)
			}
			for i, want := range []int64{3, 5} {
				if f := s.expectMessage(want, "agent"); f.Message.ID != missed[i]["id"] {
					t.Errorf("missed message %d = %s, want %v", i, f, missed[i])
				}
			}
			s.expectStatus("human")
			s.quiet()
			// Live again: the next reply follows without a repeat.
			lc.agentSays(t, e, "reply 6", false)
			s.expectMessage(6, "agent")
			s.quiet()

			all := dialLive(t, e)
			all.hello(lc.token, 0)
			for _, want := range []struct {
				seq  int64
				role string
			}{{1, "user"}, {2, "agent"}, {3, "agent"}, {5, "agent"}, {6, "agent"}} {
				all.expectMessage(want.seq, want.role)
			}
			all.expectStatus("human")
			all.quiet()

			// Closed sockets leave nothing behind in the hub.
			s.c.Close(websocket.StatusNormalClosure, "")
			all.c.Close(websocket.StatusNormalClosure, "")
			deadline := time.Now().Add(5 * time.Second)
			for e.hub.Subscribers() > 0 || e.widget.Connections() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d subscriptions and %d connections remain after every socket closed", e.hub.Subscribers(), e.widget.Connections())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})

		t.Run("pings, bad frames and invalid messages are answered without closing", func(t *testing.T) {
			lc := startLiveChat(t, e, "")
			for _, tc := range []struct {
				name     string
				typ      websocket.MessageType
				frame    string
				want     string // frame type
				code     string
				clientID string
			}{
				{"a ping", websocket.MessageText, `{"type":"ping"}`, "pong", "", ""},
				{"invalid JSON", websocket.MessageText, `{"type":`, "error", "bad_frame", ""},
				{"not JSON at all", websocket.MessageText, `hello?`, "error", "bad_frame", ""},
				{"a JSON array", websocket.MessageText, `["ping"]`, "error", "bad_frame", ""},
				{"a field of the wrong type", websocket.MessageText, `{"type":"message","client_id":7,"text":"hi"}`, "error", "bad_frame", ""},
				{"a binary frame", websocket.MessageBinary, `{"type":"ping"}`, "error", "bad_frame", ""},
				{"an unknown type", websocket.MessageText, `{"type":"dance"}`, "error", "bad_frame", ""},
				{"a second hello", websocket.MessageText, `{"type":"hello","token":"` + lc.token + `"}`, "error", "bad_frame", ""},
				{"a message of 4001 characters", websocket.MessageText, `{"type":"message","client_id":"long","text":"` + strings.Repeat("ž", 4001) + `"}`, "error", "invalid_message", "long"},
				{"an empty message", websocket.MessageText, `{"type":"message","client_id":"empty","text":"   "}`, "error", "invalid_message", "empty"},
				{"a message without a client id", websocket.MessageText, `{"type":"message","text":"hi"}`, "error", "invalid_message", ""},
				{"a client id with a space", websocket.MessageText, `{"type":"message","client_id":"a b","text":"hi"}`, "error", "invalid_message", "a b"},
				{"a frame of exactly 16 KiB", websocket.MessageText, sized16KiB(), "error", "invalid_message", "big"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					lc.sock.sendRaw(tc.typ, []byte(tc.frame))
					f := lc.sock.next()
					if f.Type != tc.want || f.Code != tc.code || f.ClientID != tc.clientID {
						t.Errorf("answer %s, want type %s code %q client_id %q", f, tc.want, tc.code, tc.clientID)
					}
					lc.sock.quiet() // still open and usable
				})
			}
			// None of them stored anything: the first real message is seq 1.
			lc.sock.say("ok", "finally")
			lc.sock.expectMessage(1, "user")
		})

		t.Run("a frame over 16 KiB closes the connection as too big", func(t *testing.T) {
			lc := startLiveChat(t, e, "hello")
			frame := sized16KiB()
			lc.sock.sendRaw(websocket.MessageText, []byte(frame[:len(frame)-2]+`x"}`))
			lc.sock.closedWith(websocket.StatusMessageTooBig)
		})

		t.Run("a resolved conversation reopens with the bot when the visitor writes again", func(t *testing.T) {
			lc := startLiveChat(t, e, "hello")
			e.as(lc.tn.Key).do("POST", "/api/v1/conversations/"+lc.conv+"/resolve", nil).must(t, 200)
			lc.sock.expectStatus("resolved")
			lc.sock.say("c2", "one more thing")
			lc.sock.expectStatus("bot")
			lc.sock.expectMessage(2, "user")
			if got := e.as(lc.tn.Key).do("GET", "/api/v1/conversations/"+lc.conv, nil).must(t, 200).JSON(t); got["status"] != "bot" {
				t.Errorf("status = %v, want bot", got["status"])
			}
			if s := newVisitorSession(t, e, lc.ch.PublicKey, map[string]any{"visitor_token": lc.token}); s.conversation() != lc.conv {
				t.Errorf("the visitor moved to conversation %q, want the reopened %q", s.conversation(), lc.conv)
			}
		})
	})
}

// sized16KiB is a message frame of exactly 16 KiB, the largest a client
// may send (its text is too long to be a message, though).
func sized16KiB() string {
	head, tail := `{"type":"message","client_id":"big","text":"`, `"}`
	return head + strings.Repeat("a", 16<<10-len(head)-len(tail)) + tail
}

func TestAVisitorSendingTooFastIsRateLimited(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			// A slow refill (one token per 100 s, burst 2): a loaded machine
			// cannot refill the bucket between the messages.
			e := newEnv(t, d, envOptions{widgetMessageRate: 0.01})
			lc := startLiveChat(t, e, "one") // takes a token
			lc.sock.say("c1", "two")
			lc.sock.expectMessage(2, "user")
			lc.sock.say("c2", "three")
			f := lc.sock.expect("error")
			if f.Code != "rate_limited" || f.ClientID != "c2" {
				t.Fatalf("third quick message: %s, want error rate_limited for c2", f)
			}
			// The refused message was not stored.
			if ms := messagesOf(t, e.as(lc.tn.Key), lc.conv, ""); len(ms) != 2 {
				t.Fatalf("stored %d messages, want 2", len(ms))
			}
		})
	}
}

func TestShutdownClosesOpenSocketsAsGoingAway(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		withConversation := startLiveChat(t, e, "hello")
		without := startLiveChat(t, e, "")
		e.widget.Shutdown()
		withConversation.sock.closedWith(websocket.StatusGoingAway)
		without.sock.closedWith(websocket.StatusGoingAway)
	})
}

func TestASlowClientNeitherBlocksNorDelaysOtherClients(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		lc := startLiveChat(t, e, "hello")

		// The slow client: a small receive buffer, and it never reads.
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4 << 10)
			}
			return c, err
		}}
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		slow, _, err := websocket.Dial(ctx, wsURL(e), &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
		if err != nil {
			t.Fatal(err)
		}
		defer slow.CloseNow()
		hello, _ := json.Marshal(map[string]any{"type": "hello", "token": lc.token, "after_seq": 0})
		if err := slow.Write(ctx, websocket.MessageText, hello); err != nil {
			t.Fatal(err)
		}

		// The reading client follows on another goroutine.
		type got struct {
			f   liveFrame
			err error
		}
		frames := make(chan got, 1024)
		go func() {
			for {
				_, b, err := lc.sock.c.Read(context.Background())
				if err != nil {
					frames <- got{err: err}
					return
				}
				var f liveFrame
				err = json.Unmarshal(b, &f)
				f.raw = string(b)
				frames <- got{f: f, err: err}
			}
		}()

		const n = 300
		// ~16 KB each, ~4.8 MB in all: more than the kernel buffers of
		// the slow socket hold, so the server cannot write it all away.
		text := strings.Repeat("🙂", 3990)
		agent := e.as(lc.tn.Key)
		start := time.Now()
		for i := range n {
			agent.do("POST", "/api/v1/conversations/"+lc.conv+"/messages", map[string]any{"text": fmt.Sprint(i, " ", text)}).must(t, 201)
		}
		posted := time.Since(start)

		want := int64(2) // seq 1 is the visitor's hello
		deadline := time.After(10 * time.Second)
		for want <= n+1 {
			select {
			case g := <-frames:
				if g.err != nil {
					t.Fatalf("the reading client failed after seq %d: %v", want-1, g.err)
				}
				if g.f.Type != "message" {
					continue // status frames (handoff, resynchronisation) may come between
				}
				if g.f.Seq != want || g.f.Message.Role != "agent" || !strings.HasPrefix(g.f.Message.Text, fmt.Sprint(want-2, " ")) {
					t.Fatalf("got message seq %d (%.40s), want seq %d: out of order, repeated or lost", g.f.Seq, g.f.Message.Text, want)
				}
				want++
			case <-deadline:
				t.Fatalf("the reading client got %d of %d messages within 10s of the last post (posting took %v)", want-2, n, posted)
			}
		}
		if lag := time.Since(start) - posted; lag > 5*time.Second {
			t.Errorf("the reading client lagged %v behind the posts", lag)
		}
		// The API and new sockets still answer while the slow one is stuck.
		other := dialLive(t, e)
		other.hello(lc.token, n+1)
		other.expectStatus("human")
		agent.do("GET", "/api/v1/conversations/"+lc.conv, nil).must(t, 200)
	})
}
