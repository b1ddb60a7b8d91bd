package dashboard_test

// Real-browser tests of the dashboard: the whole program (cli.Run "serve")
// runs in-process and headless Chromium, driven by chromedp, signs in,
// creates an API key, signs out, and is refused as a viewer. Every page's
// console is watched: a CSP violation, a script error or an uncaught
// exception fails the test. Screenshots of the main pages (light, dark,
// phone) are saved to an artifact directory whose path is logged.
//
// Chromium is found on PATH (chromium, chromium-browser, google-chrome);
// without it the test is skipped, or fails when METACHAT_TEST_BROWSER=require.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
	"github.com/metachat/metachat/internal/cli"
)

const stepTimeout = 15 * time.Second

func TestBrowserDashboard(t *testing.T) {
	browser := browsertest.New(t)
	srv := startServe(t)
	apiKey := srv.createTenant(t)
	srv.invite(t, apiKey, "admin@shop.test", "admin")
	srv.invite(t, apiKey, "viewer@shop.test", "viewer")
	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)

	t.Run("csp_watch_works", func(t *testing.T) {
		// The watch must see a violation, or its silence below proves nothing.
		tb := newTab(t, browser, shots)
		tb.must(chromedp.Navigate(srv.base + "/login"))
		tb.eval(`(() => { const s = document.createElement("style"); s.textContent = "body { color: red }"; document.head.appendChild(s); return "ok"; })()`)
		if tb.console.wait(func(l string) bool { return strings.Contains(l, "CSP violation") }, 5*time.Second) == "" {
			t.Errorf("an inline <style> on a dashboard page raised no CSP violation that the test could see; console: %q", tb.console.all())
		}
		tb.console.reset()
	})

	admin := newTab(t, browser, shots)
	t.Run("login_wrong_password", func(t *testing.T) {
		admin.t = t
		admin.must(chromedp.Navigate(srv.base + "/app/keys"))
		admin.waitText("h1", "Sign in")
		admin.must(chromedp.SendKeys(chromedp.ID("email"), "admin@shop.test"))
		admin.must(chromedp.SendKeys(chromedp.ID("password"), "not the password"))
		admin.must(chromedp.Submit(chromedp.ID("password")))
		admin.waitText("#password-error", "Wrong email or password.")
		if v := admin.eval(`document.getElementById("email").value`); v != "admin@shop.test" {
			t.Errorf("the email field holds %q after a failed sign-in", v)
		}
		admin.screenshot("login-error")
	})
	t.Run("login_overview", func(t *testing.T) {
		admin.t = t
		admin.must(chromedp.SetValue(chromedp.ID("password"), testPassword))
		admin.must(chromedp.Submit(chromedp.ID("password")))
		admin.waitText("h1", "API keys") // next= brought us back where we were going
		admin.must(chromedp.Navigate(srv.base + "/app/"))
		admin.waitText("h1", "Overview")
		if n := admin.eval(`String(document.querySelectorAll(".steps li").length)`); n != "4" {
			t.Errorf("the overview shows %s setup steps, want 4", n)
		}
		if cur := admin.eval(`document.querySelector('nav a[aria-current="page"]').textContent`); cur != "Overview" {
			t.Errorf("aria-current marks %q", cur)
		}
		admin.screenshot("overview-light")
		admin.must(chromedp.Click(chromedp.CSS("nav [data-theme-toggle]")))
		if th := admin.eval(`document.documentElement.dataset.theme + "/" + localStorage.getItem("metachat-theme")`); th != "dark/dark" {
			t.Errorf("after the theme toggle: %q, want dark/dark", th)
		}
		admin.must(chromedp.Reload())
		admin.waitText("h1", "Overview")
		if th := admin.eval(`document.documentElement.dataset.theme`); th != "dark" {
			t.Errorf("the dark theme did not survive a reload: %q", th)
		}
		admin.screenshot("overview-dark")
	})
	t.Run("create_key_shown_once", func(t *testing.T) {
		admin.t = t
		admin.must(chromedp.Navigate(srv.base + "/app/keys"))
		admin.waitText("h1", "API keys")
		admin.must(chromedp.Click(chromedp.CSS(`button[type="submit"]:not(.danger):not(.link):not(.secondary)`)))
		admin.waitText("#name-error", "Give the key a name")
		admin.must(chromedp.SendKeys(chromedp.ID("name"), "Website backend"))
		admin.must(chromedp.Submit(chromedp.ID("name")))
		admin.waitText("#created-title", "Website backend")
		key := admin.eval(`document.getElementById("new-key").textContent`)
		if !strings.HasPrefix(key, "mc_") || len(key) < 40 {
			t.Errorf("the new key reads %q", key)
		}
		admin.screenshot("keys-created-dark")
		if code := srv.apiStatus(t, key, "GET", "/api/v1/tenant"); code != 200 {
			t.Errorf("the key shown on the page answers %d on the API", code)
		}
		admin.must(chromedp.Navigate(srv.base + "/app/keys"))
		admin.waitText("h1", "API keys")
		if has := admin.eval(`String(!!document.getElementById("new-key") || document.body.textContent.includes(` + jsString(key) + `))`); has != "false" {
			t.Error("the key is shown again after a reload")
		}
		admin.eval(`(() => { document.documentElement.dataset.theme = "light"; localStorage.setItem("metachat-theme", "light"); return "ok"; })()`)
		admin.screenshot("keys-light")
	})
	t.Run("phone", func(t *testing.T) {
		admin.t = t
		admin.must(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		defer admin.must(chromedp.EmulateViewport(1280, 900))
		admin.must(chromedp.Navigate(srv.base + "/app/"))
		admin.waitText("h1", "Overview")
		if vis := admin.eval(`getComputedStyle(document.getElementById("nav")).display`); vis != "none" {
			t.Errorf("on a phone the navigation shows before the menu opens (display %s)", vis)
		}
		if w := admin.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); w != "true" {
			t.Errorf("the overview scrolls sideways on a phone")
		}
		admin.screenshot("overview-phone")
		admin.must(chromedp.Click(chromedp.CSS(".menu-toggle")))
		if vis := admin.eval(`getComputedStyle(document.getElementById("nav")).display + " " + document.querySelector(".menu-toggle").getAttribute("aria-expanded")`); vis != "flex true" {
			t.Errorf("after Menu: %q, want the navigation shown", vis)
		}
		admin.screenshot("nav-phone")
		admin.must(chromedp.Navigate(srv.base + "/app/keys"))
		admin.waitText("h1", "API keys")
		admin.screenshot("keys-phone")
	})
	t.Run("logout", func(t *testing.T) {
		admin.t = t
		admin.must(chromedp.Navigate(srv.base + "/app/"))
		admin.waitText("h1", "Overview")
		admin.must(chromedp.Click(chromedp.CSS(".user-menu summary")))
		admin.screenshot("user-menu")
		admin.must(chromedp.Click(chromedp.CSS(`.user-menu form[action="/logout"] button`)))
		admin.waitText(".flash", "You are signed out.")
		admin.must(chromedp.Navigate(srv.base + "/app/keys"))
		admin.waitText("h1", "Sign in")
	})
	admin.t = t
	admin.checkConsole()

	t.Run("viewer_refused", func(t *testing.T) {
		tb := newTab(t, browser, shots)
		tb.must(chromedp.Navigate(srv.base + "/login"))
		tb.must(chromedp.SendKeys(chromedp.ID("email"), "viewer@shop.test"))
		tb.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
		tb.must(chromedp.Submit(chromedp.ID("password")))
		tb.waitText("h1", "Overview")
		if n := tb.eval(`String(document.querySelectorAll('nav a[href="/app/keys"]').length)`); n != "0" {
			t.Errorf("a viewer's navigation links API keys")
		}
		tb.must(chromedp.Navigate(srv.base + "/app/keys"))
		tb.waitText("h1", "403")
		tb.screenshot("viewer-403")
		// The form a viewer never sees, posted anyway with a valid CSRF token.
		status := tb.eval(`(async () => String((await fetch("/app/keys", {method: "POST", body: new URLSearchParams({csrf: window.metachat.csrfToken(), name: "x", scopes: "read"})})).status))()`, chromedp.EvalAwaitPromise)
		if status != "403" {
			t.Errorf("a viewer creating a key: %s, want 403", status)
		}
		tb.checkConsole()
	})
}

// --- the browser -----------------------------------------------------------

// tab is a tab in a browser context of its own (its own cookies and
// storage), with its console watched.
type tab struct {
	t       *testing.T
	ctx     context.Context
	console *consoleLog
	shots   string
}

// cspReporter turns every CSP violation into a console error, on every page.
const cspReporter = `document.addEventListener("securitypolicyviolation", (e) => console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));`

func newTab(t *testing.T, browser context.Context, shots string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab (no timeout)
		t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{t: t, ctx: ctx, console: &consoleLog{}, shots: shots}
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter}); err != nil {
		t.Fatalf("install the CSP reporter: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// Expected answers (401 wrong password, 403 refused, 422 invalid form) are logged
			// by Chromium as failed resource loads: not page errors.
			if m.Source == "network" && strings.Contains(m.Text, "responded with a status of 4") {
				continue
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning && m.Source == "security" {
				tb.console.add(fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
			}
		}
	}()
	return tb
}

func (tb *tab) must(a chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		tb.fail(fmt.Sprintf("browser step: %v", err))
	}
}

// eval runs a JavaScript expression that yields a string.
func (tb *tab) eval(expr string, opts ...chromedp.EvaluateOption) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, opts...))
	if err != nil {
		tb.fail(fmt.Sprintf("evaluate %s: %v", expr, err))
	}
	return v
}

// waitText waits for an element matching sel whose text contains want.
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	expr := fmt.Sprintf(`(() => { const n = document.querySelector(%s); return !!n && n.textContent.includes(%s); })()`, jsString(sel), jsString(want))
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.fail(fmt.Sprintf("no %s containing %q (last error %v)", sel, want, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tb *tab) fail(msg string) {
	tb.t.Helper()
	tb.screenshot("failure-" + strings.ReplaceAll(tb.t.Name(), "/", "_"))
	loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
	tb.t.Fatalf("%s\nat %s; console %q", msg, loc, tb.console.all())
}

func (tb *tab) screenshot(name string) {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(tb.shots, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
	}
}

// checkConsole fails on any error, exception or CSP violation so far.
func (tb *tab) checkConsole() {
	tb.t.Helper()
	time.Sleep(100 * time.Millisecond) // let the last events arrive
	if lines := tb.console.all(); len(lines) > 0 {
		tb.t.Errorf("the browser console reported problems:\n%s", strings.Join(lines, "\n"))
	}
}

type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) add(l string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, l)
}

func (c *consoleLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func (c *consoleLog) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = nil
}

func (c *consoleLog) wait(match func(string) bool, timeout time.Duration) string {
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

// screenshotDir is the test's artifact directory under go test -artifacts,
// else a directory that outlives the test, so the pictures can be looked at.
func screenshotDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir, err := os.MkdirTemp("", "metachat-dashboard-")
	if err != nil {
		return t.TempDir()
	}
	return dir
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// --- the program -------------------------------------------------------------

// served is a running `metachat serve` on SQLite in a temp dir.
type served struct {
	base   string
	env    map[string]string
	http   *http.Client
	stdout *browsertest.Buffer // what serve printed (the setup link)
}

var listeningRE = regexp.MustCompile(`listening on http://(\S+)`)

func startServe(t *testing.T) *served {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &served{env: map[string]string{
		"METACHAT_ADDR":          "127.0.0.1:" + strconv.Itoa(port),
		"METACHAT_DATA_DIR":      t.TempDir(),
		"METACHAT_RATE_LIMIT_IP": "1000",
	}, http: &http.Client{Timeout: 10 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr browsertest.Buffer
	s.stdout = &stdout
	done := make(chan int, 1)
	env := maps.Clone(s.env)
	go func() {
		done <- cli.Run(ctx, []string{"serve"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited with %d\n%s", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not stop within 20s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for s.base == "" {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			s.base = "http://" + m[1]
			break
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited with %d\n%s%s", code, stdout.String(), stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within 20s\n%s", stderr.String())
		}
	}
	return s
}

// createTenant runs `metachat tenant create --json` and returns its key.
func (s *served) createTenant(t *testing.T) string {
	t.Helper()
	var stdout, stderr browsertest.Buffer
	code := cli.Run(context.Background(), []string{"tenant", "create", "--name", "Shop", "--json"}, func(k string) (string, bool) { v, ok := s.env[k]; return v, ok },
		cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	var out struct {
		APIKey string `json:"api_key"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout.String()), &out) != nil || out.APIKey == "" {
		t.Fatalf("tenant create: exit %d %s %s", code, stdout.String(), stderr.String())
	}
	return out.APIKey
}

// invite adds a member the way people join: an invitation, accepted.
func (s *served) invite(t *testing.T, key, email, role string) {
	t.Helper()
	var inv struct {
		URL string `json:"invite_url"`
	}
	s.api(t, key, "POST", "/api/v1/members", map[string]string{"email": email, "role": role}, http.StatusCreated, &inv)
	u, err := url.Parse(inv.URL)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("invite_url %q", inv.URL)
	}
	s.api(t, "", "POST", "/api/v1/invitations/accept", map[string]string{"token": u.Query().Get("token"), "name": role, "password": testPassword}, http.StatusOK, nil)
}

func (s *served) api(t *testing.T, key, method, path string, body any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s = %d %s", method, path, res.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *served) apiStatus(t *testing.T, key, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
