package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
)

var setupLinkRE = regexp.MustCompile(`(/setup\?token=[A-Za-z0-9_-]+)`)

// TestBrowserFirstRun is the dashboard issue's "done when", in one
// browser: a fresh `metachat serve`; the admin made through the link it
// prints; sign in; a workspace; a document that becomes ready; an
// assistant; a web channel whose snippet goes on the business's site; a
// visitor there chats and the bot answers from the document; the admin
// takes over from the live inbox and the visitor sees the reply.
func TestBrowserFirstRun(t *testing.T) {
	br := browsertest.New(t)
	srv := startServe(t)
	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)
	// serve prints the link just after it starts listening.
	var link []string
	for deadline := time.Now().Add(20 * time.Second); link == nil; time.Sleep(20 * time.Millisecond) {
		if link = setupLinkRE.FindStringSubmatch(srv.stdout.String()); link == nil && time.Now().After(deadline) {
			t.Fatalf("serve printed no setup link within 20s:\n%s", srv.stdout.String())
		}
	}

	var mu sync.Mutex
	snippet := ""
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := snippet
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>Shop</title></head><body><h1>Our shop</h1>\n%s\n</body></html>", s)
	}))
	t.Cleanup(site.Close)

	tb := newTab(t, br, shots)
	step := func(name string, fn func()) {
		t.Helper()
		tb.t = t
		fn()
		tb.screenshot("firstrun-" + name)
	}
	step("setup", func() {
		tb.must(chromedp.Navigate(srv.base + link[1]))
		tb.must(chromedp.SendKeys(chromedp.ID("email"), "owner@shop.test"))
		tb.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
		tb.must(chromedp.Submit(chromedp.ID("password")))
		tb.waitText("body", "is ready")
	})
	step("workspace", func() {
		tb.must(chromedp.Click(chromedp.ID("sign-in")))
		tb.waitText("h1", "Sign in")
		tb.must(chromedp.SendKeys(chromedp.ID("email"), "owner@shop.test"))
		tb.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
		tb.must(chromedp.Submit(chromedp.ID("password")))
		tb.waitText("main", "No workspace selected")
		tb.must(chromedp.SendKeys(chromedp.ID("workspace-name"), "Shop"))
		tb.must(chromedp.Submit(chromedp.ID("workspace-name")))
		tb.waitText(".flash", "Workspace created.")
		tb.waitText(".tenant-name", "Shop")
	})
	step("knowledge", func() {
		tb.must(chromedp.Navigate(srv.base + "/app/knowledge"))
		tb.waitText("#kb-live", "Live")
		tb.eval(`(() => {
			const dt = new DataTransfer();
			dt.items.add(new File([` + jsString(faqText) + `], "shipping-faq.md", {type: "text/markdown"}));
			const zone = document.getElementById("upload");
			zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true, cancelable: true}));
			zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
			return "ok";
		})()`)
		tb.waitText("#docs tbody tr[data-doc] [data-f=status]", "Ready")
	})
	step("assistant", func() {
		tb.must(chromedp.Navigate(srv.base + "/app/assistants/new"))
		tb.waitText("h1", "New assistant")
		tb.eval(`(() => { document.getElementById("name").value = ""; return "ok"; })()`)
		tb.must(chromedp.SendKeys(chromedp.ID("name"), "Shop helper"))
		tb.must(chromedp.Click(chromedp.ID("save")))
		tb.waitText(".flash", "Assistant created.")
	})
	step("channel", func() {
		tb.must(chromedp.Navigate(srv.base + "/app/channels/new?type=web"))
		tb.waitText("h1", "New web widget")
		tb.must(chromedp.SendKeys(chromedp.ID("name"), "Website"))
		tb.must(chromedp.SendKeys(chromedp.ID("allowed_origins"), site.URL))
		if v := tb.eval(`(() => { const s = document.getElementById("assistant_id"); for (const o of s.options) { if (o.textContent.includes("Shop helper")) s.value = o.value; } return s.value; })()`); v == "" {
			t.Fatal("the channel form offers no assistant")
		}
		tb.must(chromedp.Click(chromedp.CSS(`#channel-form button[type="submit"]`)))
		tb.waitText(".flash", "The channel was created.")
		s := tb.eval(`document.getElementById("snippet").textContent`)
		if !strings.Contains(s, `data-key="pk_`) {
			t.Fatalf("snippet %q", s)
		}
		mu.Lock()
		snippet = s
		mu.Unlock()
	})
	tb.checkConsole()

	// A visitor on the shop's site asks; the bot answers from the document.
	visitor := newHostTab(t, br, srv.base)
	visitor.do(chromedp.Navigate(site.URL + "/"))
	visitor.do(chromedp.WaitVisible(chromedp.ID("metachat-launcher")))
	visitor.do(chromedp.Click(chromedp.ID("metachat-launcher")))
	visitor.waitFrame("the chat to connect", `window.__metachat.state() === "connected"`)
	frameString(visitor, `(() => { const i = document.getElementById("input"); i.value = "How much does shipping to the EU cost?"; document.getElementById("composer").requestSubmit(); return "ok"; })()`)
	visitor.waitFrame("the bot's answer from the document", `[...document.querySelectorAll('.msg[data-role="assistant"][data-seq]')].some(m => m.textContent.includes("9.99"))`)
	visitor.screenshot(shots, "firstrun-visitor-bot")

	// The owner takes over from the live inbox and replies.
	step("inbox", func() {
		tb.must(chromedp.Navigate(srv.base + "/app/inbox"))
		tb.waitText("#conv-list", "Visitor")
		tb.waitAttr("#inbox", "data-live")
		tb.must(chromedp.KeyEvent("j"))
		tb.waitText("#messages", "9.99")
		tb.waitAttr("#inbox", "data-live")
		tb.must(chromedp.KeyEvent("t"))
		tb.waitText(".flash", "You took over the conversation.")
		tb.eval(`(() => { const r = document.getElementById("reply-text"); r.value = ""; r.focus(); return "ok"; })()`)
		tb.must(chromedp.SendKeys(chromedp.ID("reply-text"), "Hi, this is Ana from the shop: it is 9.99 euros."))
		tb.must(chromedp.Click(chromedp.CSS(`.reply-buttons button:not(.secondary)`)))
		tb.waitText(".flash", "Reply sent.")
	})
	visitor.waitFrame("the person's reply", `[...document.querySelectorAll('.msg[data-role="agent"]')].some(m => m.textContent.includes("this is Ana from the shop"))`)
	visitor.screenshot(shots, "firstrun-visitor-agent")
	tb.t = t
	tb.checkConsole()
}
