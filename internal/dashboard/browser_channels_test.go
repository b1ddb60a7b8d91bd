package dashboard_test

// A real-browser test of the channels page: an admin creates a web channel
// with an allowed origin, watches the live preview follow the form, copies
// the snippet, and the snippet, pasted on a page of another origin, shows
// the widget, which answers a message. A viewer is refused creating a
// channel. It reuses browser_test.go's browser, tab and program helpers.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
)

func TestBrowserChannels(t *testing.T) {
	br := browsertest.New(t)
	srv := startServe(t)
	apiKey := srv.createTenant(t)
	srv.invite(t, apiKey, "admin@shop.test", "admin")
	srv.invite(t, apiKey, "viewer@shop.test", "viewer")
	var asst struct {
		ID string `json:"id"`
	}
	srv.api(t, apiKey, "POST", "/api/v1/assistants", map[string]string{"name": "Shop helper"}, http.StatusCreated, &asst)
	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)

	// The tenant's website, on another origin, shows whatever snippet it is given.
	var mu sync.Mutex
	snippet := ""
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := snippet
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>Shop</title></head><body><h1>Our shop</h1>\n%s\n</body></html>", s)
	}))
	t.Cleanup(host.Close)

	admin := newTab(t, br, shots)
	admin.must(chromedp.Navigate(srv.base + "/login?next=/app/channels"))
	admin.must(chromedp.SendKeys(chromedp.ID("email"), "admin@shop.test"))
	admin.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
	admin.must(chromedp.Submit(chromedp.ID("password")))
	admin.waitText("h1", "Channels")
	admin.screenshot("channels-empty")

	t.Run("create_web_channel_with_preview", func(t *testing.T) {
		admin.t = t
		admin.must(chromedp.Click(chromedp.CSS(`a[href="/app/channels/new?type=web"]`)))
		admin.waitText("h1", "New web widget")
		admin.must(chromedp.SendKeys(chromedp.ID("name"), "Website"))
		admin.must(chromedp.SendKeys(chromedp.ID("allowed_origins"), host.URL))
		admin.must(chromedp.SetValue(chromedp.ID("assistant_id"), asst.ID))
		if got := admin.eval(`document.getElementById("wp-title").textContent`); got != "Chat with us" {
			t.Errorf("the preview's title starts as %q", got)
		}
		// Typing a title and picking a colour change the preview at once.
		admin.eval(`(() => { const el = document.getElementById("title"); el.select(); return "ok"; })()`)
		admin.must(chromedp.SendKeys(chromedp.ID("title"), "Ask the shop"))
		admin.waitText("#wp-title", "Ask the shop")
		admin.eval(`(() => { const el = document.getElementById("accent_color"); el.value = "#ff5500"; el.dispatchEvent(new Event("input", {bubbles: true})); return "ok"; })()`)
		if bg := admin.eval(`getComputedStyle(document.querySelector(".wp-head")).backgroundColor`); bg != "rgb(255, 85, 0)" {
			t.Errorf("the preview's header is %s after choosing #ff5500", bg)
		}
		admin.must(chromedp.SendKeys(chromedp.ID("greeting"), "Hello! How can we help?"))
		admin.waitText("#wp-greeting", "How can we help?")
		admin.must(chromedp.SetValue(chromedp.ID("position"), "left"))
		admin.eval(`(() => { document.getElementById("position").dispatchEvent(new Event("change", {bubbles: true})); return "ok"; })()`)
		if pos := admin.eval(`document.getElementById("wpreview").dataset.position + " " + String(document.querySelector(".wp-launcher").getBoundingClientRect().left < document.getElementById("wpreview").getBoundingClientRect().left + 40)`); pos != "left true" {
			t.Errorf("the preview after choosing the left side: %q", pos)
		}
		admin.screenshot("channel-new-preview")
		admin.must(chromedp.Click(chromedp.CSS(`#channel-form button[type="submit"]`)))
		admin.waitText(".flash", "The channel was created.")
		admin.waitText("h1", "Website")
		if bg := admin.eval(`getComputedStyle(document.querySelector(".wp-head")).backgroundColor`); bg != "rgb(255, 85, 0)" {
			t.Errorf("the saved channel's preview header is %s", bg)
		}
	})

	t.Run("copy_snippet", func(t *testing.T) {
		admin.t = t
		c := chromedp.FromContext(admin.ctx)
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(admin.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
				Origin: srv.base, BrowserContextID: c.BrowserContextID}); err != nil {
				t.Fatalf("grant %s: %v", name, err)
			}
		}
		admin.must(chromedp.Click(chromedp.ID("copy-snippet")))
		admin.waitText("#copy-snippet", "Copied")
		copied := admin.eval(`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)
		shown := admin.eval(`document.getElementById("snippet").textContent`)
		if copied != shown || !strings.Contains(copied, `data-key="pk_`) || !strings.HasPrefix(copied, `<script src="`+srv.base+`/widget.js"`) {
			t.Fatalf("copied %q; the page shows %q", copied, shown)
		}
		admin.screenshot("channel-web-snippet")
		mu.Lock()
		snippet = copied
		mu.Unlock()
	})
	t.Run("whatsapp_team_audit", func(t *testing.T) {
		admin.t = t
		admin.must(chromedp.Navigate(srv.base + "/app/channels/new?type=whatsapp"))
		admin.waitText("h1", "Connect WhatsApp")
		admin.must(chromedp.SendKeys(chromedp.ID("name"), "Support line"))
		admin.must(chromedp.SendKeys(chromedp.ID("phone_number_id"), "1065123"))
		admin.must(chromedp.SendKeys(chromedp.ID("access_token"), "EAAGbrowserTOKEN123456"))
		admin.must(chromedp.Click(chromedp.CSS(`#channel-form button[type="submit"]`)))
		admin.waitText("#app_secret-error", "is required")
		if v := admin.eval(`document.getElementById("access_token").value + document.body.innerHTML.includes("EAAGbrowserTOKEN123456")`); v != "false" {
			t.Errorf("the refused form kept the access token: %q", v)
		}
		admin.must(chromedp.SendKeys(chromedp.ID("access_token"), "EAAGbrowserTOKEN123456"))
		admin.must(chromedp.SendKeys(chromedp.ID("app_secret"), "browserAPPsecret987"))
		admin.must(chromedp.Click(chromedp.CSS(`#channel-form button[type="submit"]`)))
		admin.waitText("#once-title", "copy this now")
		if vt := admin.eval(`document.getElementById("verify-token").textContent`); !strings.HasPrefix(vt, "vt_") {
			t.Errorf("verify token %q", vt)
		}
		admin.screenshot("channel-whatsapp-created")
		admin.must(chromedp.Navigate(srv.base + "/app/channels"))
		admin.waitText("tbody", "Support line")
		admin.screenshot("channels-list")
		admin.must(chromedp.Navigate(srv.base + "/app/team"))
		admin.waitText("h1", "Team")
		admin.must(chromedp.SendKeys(chromedp.ID("email"), "helper@shop.test"))
		admin.must(chromedp.Submit(chromedp.ID("email")))
		admin.waitText("#link-title", "helper@shop.test")
		admin.screenshot("team-invited")
		admin.must(chromedp.Navigate(srv.base + "/app/audit"))
		admin.waitText("tbody", "channel.created")
		admin.screenshot("audit")
	})
	admin.t = t
	admin.checkConsole()

	t.Run("snippet_on_another_origin", func(t *testing.T) {
		mu.Lock()
		ready := snippet != ""
		mu.Unlock()
		if !ready {
			t.Skip("no snippet copied")
		}
		ht := newHostTab(t, br, srv.base)
		ht.do(chromedp.Navigate(host.URL + "/"))
		ht.do(chromedp.WaitVisible(chromedp.ID("metachat-launcher")))
		ht.do(chromedp.Click(chromedp.ID("metachat-launcher")))
		ht.waitFrame("the chat to connect", `window.__metachat.state() === "connected"`)
		if title := frameString(ht, `document.getElementById("title").textContent`); title != "Ask the shop" {
			t.Errorf("the widget's title is %q", title)
		}
		ht.waitFrame("the greeting", `document.querySelector(".msg.greeting") && document.querySelector(".msg.greeting").textContent.includes("How can we help?")`)
		frameString(ht, `(() => { const i = document.getElementById("input"); i.value = "Do you ship abroad?"; document.getElementById("composer").requestSubmit(); return "ok"; })()`)
		ht.waitFrame("the visitor's message", `[...document.querySelectorAll('.msg[data-role="user"][data-seq]')].some(m => m.textContent.includes("Do you ship abroad?"))`)
		ht.waitFrame("the assistant's answer", `document.querySelectorAll('.msg[data-role="assistant"][data-seq]').length > 0`)
		ht.screenshot(shots, "widget-on-host-page")
	})

	t.Run("viewer_refused", func(t *testing.T) {
		tb := newTab(t, br, shots)
		tb.must(chromedp.Navigate(srv.base + "/login?next=/app/channels"))
		tb.must(chromedp.SendKeys(chromedp.ID("email"), "viewer@shop.test"))
		tb.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
		tb.must(chromedp.Submit(chromedp.ID("password")))
		tb.waitText("h1", "Channels")
		tb.waitText("tbody", "Website")
		if n := tb.eval(`String(document.querySelectorAll('a[href^="/app/channels/new"]').length)`); n != "0" {
			t.Errorf("a viewer is offered %s links to add a channel", n)
		}
		tb.screenshot("channels-viewer")
		tb.must(chromedp.Navigate(srv.base + "/app/channels/new?type=web"))
		tb.waitText("h1", "403")
		tb.screenshot("channels-viewer-403")
		status := tb.eval(`(async () => String((await fetch("/app/channels", {method: "POST", body: new URLSearchParams({csrf: window.metachat.csrfToken(), type: "web", name: "Sneaky"})})).status))()`, chromedp.EvalAwaitPromise)
		if status != "403" {
			t.Errorf("a viewer creating a channel: %s, want 403", status)
		}
		tb.checkConsole()
	})
}

// hostTab is a tab on the tenant's own site that embeds the widget: it
// tracks every frame's script context so the test can act inside the
// widget's iframe.
type hostTab struct {
	t      *testing.T
	ctx    context.Context
	widget string // the widget's origin
	frames browsertest.Frames
}

func newHostTab(t *testing.T, br context.Context, widgetOrigin string) *hostTab {
	t.Helper()
	ht := &hostTab{t: t, widget: widgetOrigin}
	ctx, cancel := chromedp.NewContext(br, chromedp.WithNewBrowserContext(), chromedp.WithListener(ht.frames.Observe))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab (no timeout)
		t.Fatalf("open a tab: %v", err)
	}
	ht.ctx = ctx
	return ht
}

func (ht *hostTab) do(a chromedp.Action[chromedp.Void]) {
	ht.t.Helper()
	ctx, cancel := context.WithTimeout(ht.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		ht.t.Fatalf("browser step on the host page: %v", err)
	}
}

func (ht *hostTab) screenshot(dir, name string) {
	(&tab{t: ht.t, ctx: ht.ctx, console: &consoleLog{}, shots: dir}).screenshot(name)
}

// frameEval evaluates expr in the widget's iframe.
func (ht *hostTab) frameEval(expr string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ht.ctx, stepTimeout)
	defer cancel()
	return ht.frames.Eval(ctx, ht.widget+"/widget/frame", expr)
}

func frameString(ht *hostTab, expr string) string {
	ht.t.Helper()
	v, err := ht.frameEval(expr)
	if err != nil {
		ht.t.Fatalf("evaluate %s in the widget frame: %v", expr, err)
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// waitFrame polls a condition inside the widget's iframe.
func (ht *hostTab) waitFrame(what, cond string) {
	ht.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	var last error
	for {
		v, err := ht.frameEval("(() => { try { return !!(" + cond + "); } catch (e) { return false; } })()")
		if err == nil && string(v) == "true" {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			state, _ := ht.frameEval(`document.getElementById("status") ? document.getElementById("status").textContent + " | " + document.getElementById("messages").textContent : ""`)
			ht.t.Fatalf("waiting for %s: %v (frame: %s)", what, last, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
