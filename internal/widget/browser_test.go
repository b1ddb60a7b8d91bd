package widget_test

// Real-browser tests of the web-chat widget: the whole program (cli.Run
// "serve") runs in-process, a host page on another origin embeds
// /widget.js, and headless Chromium driven by chromedp plays the visitor.
// Every assertion about the chat is made inside the widget's iframe.
//
// Chromium is found on PATH (chromium, chromium-browser, google-chrome);
// without it the test is skipped, or fails when METACHAT_TEST_BROWSER=require
// (CI). PostgreSQL follows METACHAT_TEST_POSTGRES as in storetest.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
	"github.com/metachat/metachat/internal/cli"
	"github.com/metachat/metachat/internal/store/storetest"
)

// stepTimeout caps every browser action and every wait.
const stepTimeout = 20 * time.Second

// testSecretKey is a fixed METACHAT_SECRET_KEY (base64 of 32 bytes), so a
// PostgreSQL server keeps its visitor tokens valid across a restart.
var testSecretKey = base64.StdEncoding.EncodeToString([]byte("metachat-browser-test-key-32byte"))

func TestBrowserWidget(t *testing.T) {
	browser := browsertest.New(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			testWidgetScenarios(t, browser, dialect)
		})
	}
}

// testWidgetScenarios runs every scenario against one installation. The
// scenarios build on each other: they share one visitor (the browser
// profile keeps the visitor token) and so one conversation.
func testWidgetScenarios(t *testing.T, browser context.Context, dialect string) {
	in := newInstallation(t, dialect)

	t.Run("send_and_reload", func(t *testing.T) {
		tb := in.openWidget(t, browser, in.hostURL)
		tb.send("Hello there")
		tb.waitBubble("user", "Hello there", 1)
		in.want = append(in.want, "Hello there")

		if err := tb.do(chromedp.Reload()); err != nil {
			t.Fatalf("reload the host page: %v", err)
		}
		tb.open()
		tb.waitBubble("user", "Hello there", 1)
		tb.checkSeqs(len(in.want))

		convs := in.conversations(t)
		if len(convs) != 1 {
			t.Fatalf("GET /api/v1/conversations lists %d conversations after a reload, want 1 (the same one): %v", len(convs), convs)
		}
		in.conv = convs[0]
		in.checkMessages(t)

		// The network watch that the disallowed-origin scenario relies on
		// sees the frame's traffic.
		reqs, sockets := tb.network()
		if !slices.Contains(reqs, "POST "+in.srv.base+"/api/v1/widget/sessions") || !slices.Contains(sockets, wsURL(in.srv.base)) {
			t.Errorf("the tab's network log lacks the frame's session request or WebSocket:\nrequests %q\nsockets %q", reqs, sockets)
		}
	})

	t.Run("agent_reply_live", func(t *testing.T) {
		conv := in.needConversation(t)
		tb := in.openWidget(t, browser, in.hostURL)
		tb.waitHistory(len(in.want))
		// A marker that a reload would wipe.
		tb.frameEval(`window.__stillHere = "yes"`)
		in.agentSays(t, conv, "Agent here")
		tb.waitBubble("agent", "Agent here", len(in.want)+1)
		in.want = append(in.want, "Agent here")
		if got := frameValue[string](tb, `window.__stillHere || ""`); got != "yes" {
			t.Errorf("the frame reloaded to show the agent's reply (marker = %q)", got)
		}
		in.checkMessages(t)
	})

	t.Run("html_is_text", func(t *testing.T) {
		conv := in.needConversation(t)
		tb := in.openWidget(t, browser, in.hostURL)
		tb.waitHistory(len(in.want))

		script := `<script>window.__pwned=1</script><b>bold</b>`
		img := `<img src=x onerror="window.__pwned=2">`
		link := "see https://example.com/x?a=1"

		tb.send(script)
		tb.waitBubble("user", script, len(in.want)+1)
		in.want = append(in.want, script)

		in.agentSays(t, conv, img)
		tb.waitBubble("agent", img, len(in.want)+1)
		in.want = append(in.want, img)

		tb.send(link)
		tb.waitBubble("user", link, len(in.want)+1)
		in.want = append(in.want, link)

		// Give a parsed <img onerror> every chance to fire.
		time.Sleep(300 * time.Millisecond)
		if n := frameValue[int](tb, `document.querySelectorAll("#messages script, #messages b, #messages img, #messages iframe, #messages [onerror]").length`); n != 0 {
			t.Errorf("#messages holds %d element(s) parsed from message text:\n%s", n, tb.messagesHTML())
		}
		if got := frameValue[string](tb, `typeof window.__pwned`); got != "undefined" {
			t.Errorf("window.__pwned in the frame is %s, want undefined (message text ran as script)", frameValue[string](tb, `String(window.__pwned)`))
		}
		if got, err := chromedpRun(tb, chromedp.Evaluate[string](`typeof window.__pwned`)); err != nil || got != "undefined" {
			t.Errorf("window.__pwned on the host page: %q, %v; want undefined", got, err)
		}
		type anchor struct {
			Href, Rel, Target, Text string
		}
		links := frameValue[[]anchor](tb, `Array.from(document.querySelectorAll("#messages .msg a")).map(a => ({Href: a.getAttribute("href"), Rel: a.rel, Target: a.target, Text: a.textContent}))`)
		if len(links) != 1 {
			t.Fatalf("links in #messages = %+v, want exactly one (for %q)", links, link)
		}
		a := links[0]
		if a.Href != "https://example.com/x?a=1" || a.Text != "https://example.com/x?a=1" {
			t.Errorf("link = %+v, want href and text https://example.com/x?a=1", a)
		}
		if !slices.Contains(strings.Fields(a.Rel), "noopener") {
			t.Errorf("link rel = %q, want it to contain noopener", a.Rel)
		}
		in.checkMessages(t)
	})

	t.Run("server_restart", func(t *testing.T) {
		in.needConversation(t)
		tb := in.openWidget(t, browser, in.hostURL)
		tb.waitHistory(len(in.want))

		in.stopServer(t)
		t.Cleanup(func() {
			if in.down { // this scenario failed midway: bring the server back for the next
				in.startServer(t)
			}
		})
		tb.waitFrame("the widget to notice the server is gone", `window.__metachat.state() !== "connected"`, 10*time.Second)
		t.Logf("widget while the server is down: state %q, #status %q", tb.state(), tb.statusText())

		const down = "sent while down"
		tb.send(down)
		tb.waitFrame("a pending bubble for the message typed while down",
			`(() => { const m = [...document.querySelectorAll("#messages .msg.pending, #messages .msg.failed")].find(n => n.querySelector(".text")?.textContent === `+jsString(down)+`); return !!m && !m.hasAttribute("data-seq"); })()`,
			5*time.Second)
		if s := tb.state(); s == "connected" {
			t.Fatalf("the widget says connected while the server is down")
		}

		restarted := time.Now()
		in.startServer(t)
		tb.waitFrameFor("the widget to reconnect and confirm the queued message", `window.__metachat.state() === "connected"`, 15*time.Second)
		tb.waitBubble("user", down, len(in.want)+1)
		in.want = append(in.want, down)
		t.Logf("reconnected and confirmed %v after the restart", time.Since(restarted).Round(10*time.Millisecond))
		tb.checkSeqs(len(in.want))
		in.checkMessages(t)
	})

	t.Run("disallowed_origin", func(t *testing.T) {
		in.needConversation(t)
		other := httptest.NewServer(in.hostPage())
		t.Cleanup(other.Close)
		otherOrigin := other.URL // http://127.0.0.1:PORT: a third origin

		convsBefore := in.conversations(t)
		msgsBefore := in.messages(t, in.conv)
		logFrom := len(in.srv.stderr.String())

		tb := in.newTab(t, browser)
		console := tb.collectConsole()
		if err := tb.do(chromedp.Navigate(other.URL)); err != nil {
			t.Fatalf("open the page at %s: %v", other.URL, err)
		}
		if err := tb.do(chromedp.Click(chromedp.ID("metachat-launcher"))); err != nil {
			t.Fatalf("click #metachat-launcher: %v", err)
		}

		// Watch the frame for a while: it must never get to connected.
		deadline := time.Now().Add(3 * time.Second)
		states := map[string]int{}
		for time.Now().Before(deadline) {
			s, err := frameEvalE[string](tb, `typeof window.__metachat === "object" ? window.__metachat.state() : "no widget"`)
			if err != nil {
				s = "no frame context"
			}
			states[s]++
			if s == "connected" {
				t.Fatalf("the widget connected inside a page on %s, an origin the channel does not allow", otherOrigin)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("frame states seen on the disallowed page: %v", states)

		blocked := console.find(func(m string) bool { return strings.Contains(m, "frame-ancestors") }, 5*time.Second)
		if blocked == "" {
			t.Errorf("Chromium reported no frame-ancestors violation for the frame on %s; console:\n%s", otherOrigin, strings.Join(console.all(), "\n"))
		} else {
			t.Logf("Chromium: %s", blocked)
		}

		reqs, sockets := tb.network()
		if !slices.Contains(reqs, "GET "+in.srv.base+"/widget/frame?key="+in.publicKey) {
			t.Errorf("the tab never asked for the frame; requests: %q", reqs)
		}
		if len(sockets) != 0 {
			t.Errorf("the page on a disallowed origin opened WebSockets %q", sockets)
		}
		for _, r := range reqs {
			if strings.Contains(r, "/api/v1/widget/") || strings.Contains(r, "/widget/assets/frame.js") {
				t.Errorf("the blocked frame still made the request %s", r)
			}
		}

		logs := in.srv.stderr.String()[logFrom:]
		paths := requestPaths(logs)
		if !slices.Contains(paths, "/widget/frame") {
			t.Errorf("the server saw no GET /widget/frame from the disallowed page; requests: %v", paths)
		}
		// A WebSocket's access-log line is written when it closes, so an
		// earlier scenario's socket may be logged here; Chromium's own
		// record of this tab's sockets (above) is the check for those.
		for _, p := range paths {
			if p == "/api/v1/widget/sessions" {
				t.Errorf("the frame on a disallowed origin reached %s (requests: %v)", p, paths)
			}
		}
		if got := in.conversations(t); !slices.Equal(got, convsBefore) {
			t.Errorf("conversations changed: %v, before %v", got, convsBefore)
		}
		if got := in.messages(t, in.conv); len(got) != len(msgsBefore) {
			t.Errorf("messages changed: %d, before %d", len(got), len(msgsBefore))
		}

		// The session endpoint refuses the origin directly too: as the page
		// itself, and as our frame claiming to be embedded there.
		body := map[string]any{"public_key": in.publicKey, "language": "en"}
		if st, b := in.widgetSession(t, otherOrigin, body); st != http.StatusForbidden {
			t.Errorf("POST /api/v1/widget/sessions with Origin %s = %d %s, want 403", otherOrigin, st, b)
		}
		body["host_origin"] = otherOrigin
		if st, b := in.widgetSession(t, in.srv.base, body); st != http.StatusForbidden {
			t.Errorf("POST /api/v1/widget/sessions from the frame with host_origin %s = %d %s, want 403", otherOrigin, st, b)
		}
		body["host_origin"] = in.hostOrigin
		if st, b := in.widgetSession(t, in.hostOrigin, body); st != http.StatusOK {
			t.Errorf("control: POST /api/v1/widget/sessions with the allowed Origin %s = %d %s, want 200", in.hostOrigin, st, b)
		}
	})
}

// --- the browser ----------------------------------------------------------

// tab is one browser tab on a host page that embeds the widget.
type tab struct {
	t      *testing.T
	ctx    context.Context
	widget string // the widget's origin

	frames browsertest.Frames // script contexts of the tab's frames

	mu sync.Mutex
	// what the tab (its page and same-process frames) asked the network for
	requests []string // "METHOD URL"
	sockets  []string // WebSocket URLs
}

// network returns the requests and WebSockets the tab has made so far.
func (tb *tab) network() (requests, sockets []string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.requests), slices.Clone(tb.sockets)
}

func (in *installation) newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	tb := &tab{t: t, widget: in.srv.base}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(tb.onEvent))
	tb.ctx = ctx
	t.Cleanup(cancel)
	// The first Do opens the tab (without a timeout, which would close it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			tb.diagnose()
		}
	})
	return tb
}

// onEvent tracks the frames' script contexts (so scripts can run inside
// the widget's iframe) and the tab's network use. It runs in the tab's
// event loop and must return fast.
func (tb *tab) onEvent(ev any) {
	tb.frames.Observe(ev)
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request != nil {
			tb.mu.Lock()
			tb.requests = append(tb.requests, ev.Request.Method+" "+ev.Request.URL)
			tb.mu.Unlock()
		}
	case *network.EventWebSocketCreated:
		tb.mu.Lock()
		tb.sockets = append(tb.sockets, ev.URL)
		tb.mu.Unlock()
	}
}

// do runs browser actions on the tab's top page, capped by stepTimeout.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

func chromedpRun[T any](tb *tab, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// frameEvalE evaluates expr inside the widget's iframe and decodes its value.
func frameEvalE[T any](tb *tab, expr string) (T, error) {
	var v T
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	raw, err := tb.frames.Eval(ctx, tb.widget+"/widget/frame", expr)
	if err != nil || raw == nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", raw, err)
	}
	return v, nil
}

// frameValue is frameEvalE that fails the test on an error.
func frameValue[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := frameEvalE[T](tb, expr)
	if err != nil {
		tb.t.Fatalf("evaluate %s in the widget frame: %v", expr, err)
	}
	return v
}

func (tb *tab) frameEval(expr string) {
	tb.t.Helper()
	frameValue[any](tb, expr)
}

// waitFrame polls a boolean expression inside the widget frame until it
// holds; it fails the test after timeout.
func (tb *tab) waitFrame(what, expr string, timeout time.Duration) {
	tb.t.Helper()
	if err := tb.pollFrame(expr, timeout); err != nil {
		tb.t.Fatalf("waiting for %s (%s): %v\nframe state %q, #status %q\n#messages: %s", what, expr, err, tb.state(), tb.statusText(), tb.messagesHTML())
	}
}

// waitFrameFor is waitFrame with the time it took logged.
func (tb *tab) waitFrameFor(what, expr string, timeout time.Duration) {
	tb.t.Helper()
	start := time.Now()
	tb.waitFrame(what, expr, timeout)
	tb.t.Logf("%s: %v", what, time.Since(start).Round(10*time.Millisecond))
}

func (tb *tab) pollFrame(expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := frameEvalE[bool](tb, "(() => { try { return !!("+expr+"); } catch (e) { return false; } })()")
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = errors.New("still false")
			}
			return fmt.Errorf("not within %v: %w", timeout, last)
		}
		if tb.ctx.Err() != nil {
			return tb.ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// state is window.__metachat.state() in the frame, or what went wrong.
func (tb *tab) state() string {
	s, err := frameEvalE[string](tb, `typeof window.__metachat === "object" ? window.__metachat.state() : "(no window.__metachat)"`)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

func (tb *tab) statusText() string {
	s, err := frameEvalE[string](tb, `(() => { const s = document.getElementById("status"); return s ? (s.hidden ? "[hidden] " : "[" + s.className + "] ") + s.textContent : "(no #status)"; })()`)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

func (tb *tab) messagesHTML() string {
	s, err := frameEvalE[string](tb, `(() => { const m = document.getElementById("messages"); return m ? m.outerHTML : "(no #messages)"; })()`)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// open clicks the launcher and waits until the frame is connected.
func (tb *tab) open() {
	tb.t.Helper()
	if err := tb.do(chromedp.Click(chromedp.ID("metachat-launcher"))); err != nil {
		tb.t.Fatalf("click #metachat-launcher: %v", err)
	}
	tb.waitFrame("the widget to connect", `window.__metachat.state() === "connected" && document.getElementById("status").hidden`, stepTimeout)
}

// send types text into #input, as a visitor does, and presses Enter.
func (tb *tab) send(text string) {
	tb.t.Helper()
	tb.waitFrame("#input to take focus", `(() => { const i = document.getElementById("input"); i.focus(); return document.activeElement === i && !i.disabled; })()`, 5*time.Second)
	if err := tb.do(chromedp.KeyEvent(text)); err != nil {
		tb.t.Fatalf("type %q: %v", text, err)
	}
	if got := frameValue[string](tb, `document.getElementById("input").value`); got != text {
		tb.t.Fatalf("#input holds %q after typing %q", got, text)
	}
	if err := tb.do(pressEnter); err != nil {
		tb.t.Fatalf("press Enter: %v", err)
	}
	tb.waitFrame("#input to clear after sending", `document.getElementById("input").value === ""`, 5*time.Second)
}

// pressEnter presses Enter without the char event that KeyEvent("\r")
// adds: frame.js handles Enter on keydown and cancels it, but a separate
// char event would still type a newline into the emptied textarea.
var pressEnter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
		}); err != nil {
			return err
		}
	}
	return nil
})

// waitBubble waits for the confirmed bubble of role with exactly text as
// its text and seq as its data-seq.
func (tb *tab) waitBubble(role, text string, seq int) {
	tb.t.Helper()
	expr := fmt.Sprintf(`(() => {
		const n = document.querySelector('#messages .msg[data-seq="%d"]');
		return !!n && n.dataset.role === %s && n.querySelector(".text")?.textContent === %s &&
			!n.classList.contains("pending") && !n.classList.contains("failed");
	})()`, seq, jsString(role), jsString(text))
	tb.waitFrame(fmt.Sprintf("bubble %d (%s: %q)", seq, role, text), expr, stepTimeout)
}

// waitHistory opens the widget and waits until it shows n confirmed messages.
func (tb *tab) waitHistory(n int) {
	tb.t.Helper()
	tb.waitFrame(fmt.Sprintf("the history of %d messages", n), fmt.Sprintf(`window.__metachat.lastSeq() >= %d && document.querySelectorAll("#messages .msg[data-seq]").length >= %d`, n, n), stepTimeout)
	tb.checkSeqs(n)
}

// checkSeqs checks that the frame shows seqs 1..n, each once.
func (tb *tab) checkSeqs(n int) {
	tb.t.Helper()
	seqs := frameValue[[]string](tb, `Array.from(document.querySelectorAll("#messages .msg[data-seq]"), m => m.dataset.seq)`)
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	if !slices.Equal(seqs, want) {
		tb.t.Errorf("the widget shows seqs %v, want %v (each once, in order)\n%s", seqs, want, tb.messagesHTML())
	}
}

// collectConsole gathers the tab's console and browser-log messages.
func (tb *tab) collectConsole() *consoleLog {
	c := &consoleLog{}
	msgs := chromedp.Console(tb.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.lines = append(c.lines, m.String())
			c.mu.Unlock()
		}
	}()
	return c
}

type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// find waits up to timeout for a message that match accepts.
func (c *consoleLog) find(match func(string) bool, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range c.all() {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			return ""
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// diagnose logs what the tab shows: a screenshot and the frame's status.
func (tb *tab) diagnose() {
	t := tb.t
	dir := screenshotDir(t)
	if buf, err := chromedpRun(tb, chromedp.FullScreenshot(90)); err != nil {
		t.Logf("screenshot: %v", err)
	} else {
		p := filepath.Join(dir, "screenshot.png")
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Logf("screenshot: %v", err)
		} else {
			t.Logf("screenshot of the page: %s", p)
		}
	}
	t.Logf("frame state %q, #status %q", tb.state(), tb.statusText())
}

// screenshotDir is the test's artifact directory when go test runs with
// -artifacts, else a directory that outlives the test (t.TempDir would be
// removed before anyone could look at the screenshot).
func screenshotDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir, err := os.MkdirTemp("", "metachat-browser-")
	if err != nil {
		return t.TempDir()
	}
	return dir
}

// wsURL is the widget's WebSocket URL on the server at base.
func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/api/v1/widget/ws"
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// --- the installation -----------------------------------------------------

// installation is one metachat server with its data, a tenant, a web channel
// and the host page that embeds the widget.
type installation struct {
	root       *testing.T // the test that owns the installation (servers outlive subtests)
	env        map[string]string
	srv        *server
	apiKey     string
	publicKey  string
	hostURL    string // the host page
	hostOrigin string
	http       *http.Client
	transport  *http.Transport
	page       atomic.Pointer[string] // the host page's HTML
	down       bool                   // the server is stopped

	conv string   // the visitor's conversation, once there is one
	want []string // the texts of the conversation so far, in seq order
}

func newInstallation(t *testing.T, dialect string) *installation {
	t.Helper()
	in := &installation{root: t, env: map[string]string{
		"METACHAT_ADDR":                "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"METACHAT_DATA_DIR":            t.TempDir(),
		"METACHAT_LOG_FORMAT":          "json",
		"METACHAT_RATE_LIMIT_IP":       "1000",
		"METACHAT_WIDGET_SESSION_RATE": "100",
	}}
	if dialect == "postgres" {
		in.env["DATABASE_URL"] = storetest.PostgresSchemaURL(t)
		in.env["METACHAT_SECRET_KEY"] = testSecretKey
	}
	in.transport = &http.Transport{}
	t.Cleanup(in.transport.CloseIdleConnections)
	in.http = &http.Client{Transport: in.transport, Timeout: 10 * time.Second}

	in.startServer(t)
	in.apiKey = createTenant(t, in.env)

	host := httptest.NewServer(in.hostPage())
	t.Cleanup(host.Close)
	in.hostURL, in.hostOrigin = host.URL+"/", host.URL

	st, body := in.api(t, "POST", "/api/v1/channels", map[string]any{
		"type": "web", "name": "Shop",
		"config": map[string]any{"allowed_origins": []string{in.hostOrigin}, "title": "Shop chat"},
	})
	if st != http.StatusCreated {
		t.Fatalf("POST /api/v1/channels = %d %s", st, body)
	}
	var ch struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(body, &ch); err != nil || ch.PublicKey == "" {
		t.Fatalf("channel answer %s: no public_key (%v)", body, err)
	}
	in.publicKey = ch.PublicKey
	page := fmt.Sprintf(`<!doctype html><html><body><h1>Shop</h1><script src="%s/widget.js" data-key="%s" async></script></body></html>`, in.srv.base, in.publicKey)
	in.page.Store(&page)
	return in
}

// hostPage serves the tenant's site: a shop page that embeds the widget.
func (in *installation) hostPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, *in.page.Load())
	})
}

// openWidget opens a tab on url and opens the chat.
func (in *installation) openWidget(t *testing.T, browser context.Context, url string) *tab {
	t.Helper()
	tb := in.newTab(t, browser)
	if err := tb.do(chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	tb.open()
	return tb
}

func (in *installation) needConversation(t *testing.T) string {
	t.Helper()
	if in.conv == "" {
		convs := in.conversations(t)
		if len(convs) != 1 {
			t.Fatalf("this scenario continues the visitor's conversation, but there are %d conversations (an earlier scenario failed?)", len(convs))
		}
		in.conv = convs[0]
	}
	return in.conv
}

// api sends a request with the tenant's API key.
func (in *installation) api(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, in.srv.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+in.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return in.roundTrip(t, req)
}

func (in *installation) roundTrip(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	res, err := in.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", req.Method, req.URL, err)
	}
	return res.StatusCode, b
}

// widgetSession posts to the session endpoint as a browser on origin would.
func (in *installation) widgetSession(t *testing.T, origin string, body map[string]any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", in.srv.base+"/api/v1/widget/sessions", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	return in.roundTrip(t, req)
}

// conversations lists the tenant's conversation ids.
func (in *installation) conversations(t *testing.T) []string {
	t.Helper()
	st, body := in.api(t, "GET", "/api/v1/conversations", nil)
	if st != http.StatusOK {
		t.Fatalf("GET /api/v1/conversations = %d %s", st, body)
	}
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("GET /api/v1/conversations: %s: %v", body, err)
	}
	ids := make([]string, len(l.Items))
	for i, c := range l.Items {
		ids[i] = c.ID
	}
	return ids
}

type apiMessage struct {
	Seq  int64  `json:"seq"`
	Role string `json:"role"`
	Text string `json:"text"`
}

func (in *installation) messages(t *testing.T, conv string) []apiMessage {
	t.Helper()
	st, body := in.api(t, "GET", "/api/v1/conversations/"+conv+"/messages?limit=200", nil)
	if st != http.StatusOK {
		t.Fatalf("GET messages = %d %s", st, body)
	}
	var l struct {
		Items []apiMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("GET messages: %s: %v", body, err)
	}
	return l.Items
}

// checkMessages checks that the API lists exactly the messages sent so far:
// each once, with seqs 1..N in order.
func (in *installation) checkMessages(t *testing.T) {
	t.Helper()
	ms := in.messages(t, in.needConversation(t))
	var got []string
	for i, m := range ms {
		got = append(got, m.Text)
		if m.Seq != int64(i+1) {
			t.Errorf("message %d has seq %d, want %d", i, m.Seq, i+1)
		}
	}
	if !slices.Equal(got, in.want) {
		t.Errorf("the API lists messages %q, want %q (each exactly once)", got, in.want)
	}
}

func (in *installation) agentSays(t *testing.T, conv, text string) {
	t.Helper()
	st, body := in.api(t, "POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": text})
	if st != http.StatusCreated {
		t.Fatalf("POST /api/v1/conversations/%s/messages = %d %s", conv, st, body)
	}
}

// --- the program ----------------------------------------------------------

// server is a running `metachat serve`.
type server struct {
	base           string // http://127.0.0.1:PORT
	stdout, stderr *browsertest.Buffer
	cancel         context.CancelFunc
	done           chan int
	once           sync.Once
}

var listeningRE = regexp.MustCompile(`listening on http://(\S+)`)

// startServer runs serve on the installation's address and data until the
// test ends or stopServer, and returns once /healthz answers.
func (in *installation) startServer(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &browsertest.Buffer{}, stderr: &browsertest.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	env := maps.Clone(in.env)
	go func() {
		s.done <- cli.Run(ctx, []string{"serve"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			cli.IO{Stdin: strings.NewReader(""), Stdout: s.stdout, Stderr: s.stderr})
	}()
	in.root.Cleanup(func() { s.stop(in.root) })
	deadline := time.Now().Add(20 * time.Second)
	for s.base == "" {
		if m := listeningRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = "http://" + m[1]
			break
		}
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("serve exited with %d before listening\nstdout: %s\nstderr: %s", code, s.stdout, s.stderr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no address within 20s\nstdout: %s\nstderr: %s", s.stdout, s.stderr)
		}
	}
	if want := "http://" + in.env["METACHAT_ADDR"]; s.base != want {
		t.Fatalf("serve listens on %s, want %s", s.base, want)
	}
	in.srv, in.down = s, false
	for {
		req, _ := http.NewRequest("GET", s.base+"/healthz", nil)
		res, err := in.http.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz did not answer 200 within 20s (%v)\nstderr: %s", err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopServer stops serve the way a signal does and waits for Run to return.
func (in *installation) stopServer(t *testing.T) {
	t.Helper()
	in.srv.stop(t)
	in.down = true
	in.transport.CloseIdleConnections() // keep-alive connections to the old process
}

func (s *server) stop(t *testing.T) {
	s.once.Do(func() {
		s.cancel()
		select {
		case code := <-s.done:
			if code != 0 {
				t.Errorf("serve exited with %d, want 0\nstderr: %s", code, s.stderr)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not return within 20s of cancel\nstderr: %s", s.stderr)
		}
	})
}

// createTenant runs `tenant create --json` on the installation and returns
// the tenant's API key.
func createTenant(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr browsertest.Buffer
	code := cli.Run(ctx, []string{"tenant", "create", "--name", "T", "--json"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	if code != 0 {
		t.Fatalf("tenant create: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	var out struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil || out.APIKey == "" {
		t.Fatalf("tenant create --json printed %q (%v)", stdout.String(), err)
	}
	return out.APIKey
}

// requestPaths lists the paths of the requests serve logged (JSON lines).
func requestPaths(logs string) []string {
	var paths []string
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Msg  string `json:"msg"`
			Path string `json:"path"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" {
			paths = append(paths, l.Path)
		}
	}
	return paths
}

// freePort finds a TCP port that is free now; serve binds it again after a
// restart, so it is fixed rather than :0.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
