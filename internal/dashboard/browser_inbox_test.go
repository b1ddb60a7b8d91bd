package dashboard_test

// A real-browser test of the live inbox: a widget visitor (the widget's
// WebSocket, from Go) writes while an agent has the inbox open in
// Chromium; the message appears without a reload, the agent takes over
// and replies, and the visitor receives the reply. Reuses the browser and
// program helpers of browser_test.go.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/metachat/metachat/internal/browsertest"
)

// visitorSocket is a widget visitor on the live protocol.
type visitorSocket struct {
	t *testing.T
	c *websocket.Conn
}

func newVisitor(t *testing.T, srv *served, publicKey string) *visitorSocket {
	t.Helper()
	var sess struct {
		Token string `json:"visitor_token"`
	}
	srv.api(t, "", "POST", "/api/v1/widget/sessions", map[string]string{"public_key": publicKey}, http.StatusOK, &sess)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(srv.base, "http", "ws", 1)+"/api/v1/widget/ws", nil)
	if err != nil {
		t.Fatalf("dial the widget socket: %v", err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	v := &visitorSocket{t: t, c: c}
	v.send(map[string]any{"type": "hello", "token": sess.Token, "after_seq": 0})
	v.waitFor(func(f map[string]any) bool { return f["type"] == "ready" })
	return v
}

func (v *visitorSocket) send(f any) {
	v.t.Helper()
	b, _ := json.Marshal(f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.c.Write(ctx, websocket.MessageText, b); err != nil {
		v.t.Fatalf("visitor write: %v", err)
	}
}

// waitFor reads frames until one matches; it returns every frame read.
func (v *visitorSocket) waitFor(match func(map[string]any) bool) []string {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	var seen []string
	for {
		_, b, err := v.c.Read(ctx)
		if err != nil {
			v.t.Fatalf("visitor read: %v; frames so far %q", err, seen)
		}
		seen = append(seen, string(b))
		var f map[string]any
		if json.Unmarshal(b, &f) == nil && match(f) {
			return seen
		}
	}
}

func messageFrame(role, text string) func(map[string]any) bool {
	return func(f map[string]any) bool {
		m, _ := f["message"].(map[string]any)
		return f["type"] == "message" && m["role"] == role && m["text"] == text
	}
}

func TestBrowserInbox(t *testing.T) {
	browser := browsertest.New(t)
	srv := startServe(t)
	key := srv.createTenant(t)
	srv.invite(t, key, "agent@shop.test", "agent")
	var ch struct {
		PublicKey string `json:"public_key"`
	}
	srv.api(t, key, "POST", "/api/v1/channels", map[string]any{"type": "web", "name": "Shop site", "config": map[string]any{"allowed_origins": []string{"https://shop.example"}}}, http.StatusCreated, &ch)
	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)

	visitor := newVisitor(t, srv, ch.PublicKey)
	visitor.send(map[string]string{"type": "message", "client_id": "v1", "text": "Hi, where is my order?"})
	visitor.waitFor(messageFrame("user", "Hi, where is my order?"))

	agent := newTab(t, browser, shots)
	agent.must(chromedp.Navigate(srv.base + "/login?next=/app/inbox"))
	agent.must(chromedp.SendKeys(chromedp.ID("email"), "agent@shop.test"))
	agent.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
	agent.must(chromedp.Submit(chromedp.ID("password")))
	agent.waitText("h1", "Inbox")
	agent.waitText("#conv-list", "Hi, where is my order?")
	agent.waitAttr("#inbox", "data-live")

	// A second visitor writes: the list shows them without a reload.
	marker := agent.eval(`(() => { window.__noReload = "yes"; return window.__noReload; })()`)
	second := newVisitor(t, srv, ch.PublicKey)
	second.send(map[string]string{"type": "message", "client_id": "s1", "text": "Do you ship to Zagreb?"})
	agent.waitText("#conv-list", "Do you ship to Zagreb?")
	if n := agent.eval(`String(document.querySelectorAll("#conv-list .unread").length)`); n != "2" {
		t.Errorf("%s unread badges, want 2", n)
	}
	agent.screenshot("inbox-list-live")

	// Open the newest (first) conversation: j selects it.
	agent.must(chromedp.KeyEvent("j"))
	agent.waitText("#messages", "Do you ship to Zagreb?")
	if agent.eval(`String(window.__noReload)`) == marker {
		t.Error("j did not navigate")
	}
	agent.waitAttr("#inbox", "data-live")
	marker = agent.eval(`(() => { window.__noReload = "thread"; return window.__noReload; })()`)
	second.send(map[string]string{"type": "message", "client_id": "s2", "text": "Also Split, please."})
	agent.waitText("#messages", "Also Split, please.")
	if agent.eval(`String(window.__noReload)`) != marker {
		t.Error("the thread reloaded instead of updating live")
	}

	// Help, then take over with t and reply.
	agent.must(chromedp.KeyEvent("?"))
	if open := agent.eval(`String(document.getElementById("inbox-help").open)`); open != "true" {
		t.Errorf("? did not open the shortcuts: %s", open)
	}
	agent.screenshot("inbox-help")
	agent.must(chromedp.KeyEvent("?"))
	agent.must(chromedp.KeyEvent("t"))
	agent.waitText(".flash", "You took over the conversation.")
	agent.waitText("#thread-status", "With a person")
	agent.must(chromedp.KeyEvent("r"))
	if f := agent.eval(`document.activeElement.id`); f != "reply-text" {
		t.Errorf("r focused %q", f)
	}
	// (CDP types the key's character into the now focused box, where a
	// real keyboard's would be cancelled with the keydown.)
	agent.eval(`(() => { document.getElementById("reply-text").value = ""; return "ok"; })()`)
	agent.must(chromedp.SendKeys(chromedp.ID("reply-text"), "Yes, we ship to Zagreb and Split."))
	agent.must(chromedp.Click(chromedp.CSS(`.reply-buttons button:not(.secondary)`)))
	agent.waitText(".flash", "Reply sent.")
	agent.waitText("#messages", "Yes, we ship to Zagreb and Split.")
	agent.screenshot("inbox-thread")
	second.waitFor(messageFrame("agent", "Yes, we ship to Zagreb and Split."))

	// A private note stays private.
	agent.must(chromedp.SendKeys(chromedp.ID("reply-text"), "Regular customer."))
	agent.must(chromedp.Click(chromedp.CSS(`.reply-buttons button.secondary`)))
	agent.waitText(".flash", "Note added.")
	second.send(map[string]string{"type": "ping"})
	for _, f := range second.waitFor(func(f map[string]any) bool { return f["type"] == "pong" }) {
		if strings.Contains(f, "Regular customer") {
			t.Errorf("the visitor received the note: %s", f)
		}
	}
	agent.must(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	agent.screenshot("inbox-thread-phone")
	agent.must(chromedp.EmulateViewport(1280, 900))
	agent.checkConsole()
}

// waitAttr waits for an element matching sel to carry attribute attr.
func (tb *tab) waitAttr(sel, attr string) {
	tb.t.Helper()
	expr := `(() => { const n = document.querySelector(` + jsString(sel) + `); return !!n && n.hasAttribute(` + jsString(attr) + `); })()`
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.fail("no " + sel + " with " + attr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
