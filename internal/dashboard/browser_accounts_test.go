package dashboard_test

// A real-browser walk through account self-service: a new person accepts
// an invitation link, signs out, asks for a password reset, follows the
// link an operator printed with `metachat admin reset-link`, and signs in
// with the new password. Helpers come from browser_test.go.

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
	"github.com/metachat/metachat/internal/cli"
)

func TestBrowserInviteAndReset(t *testing.T) {
	browser := browsertest.New(t)
	srv := startServe(t)
	key := srv.createTenant(t)
	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)
	var inv struct {
		URL string `json:"invite_url"`
	}
	srv.api(t, key, "POST", "/api/v1/members", map[string]string{"email": "joiner@shop.test", "role": "agent"}, http.StatusCreated, &inv)

	tb := newTab(t, browser, shots)
	tb.must(chromedp.Navigate(inv.URL))
	tb.waitText("h1", "Join Shop")
	tb.must(chromedp.SendKeys(chromedp.ID("name"), "Joiner"))
	tb.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
	tb.must(chromedp.SendKeys(chromedp.ID("confirm_password"), testPassword))
	tb.screenshot("invite-accept")
	tb.must(chromedp.Submit(chromedp.ID("password")))
	tb.waitText(".flash", "You have joined the team.")
	tb.waitText("h1", "Overview")

	tb.must(chromedp.Click(chromedp.CSS(".user-menu summary")))
	tb.must(chromedp.Click(chromedp.CSS(`.user-menu form[action="/logout"] button`)))
	tb.waitText(".flash", "You are signed out.")
	tb.must(chromedp.Click(chromedp.CSS(`a[href^="/login/reset"]`)))
	tb.waitText("h1", "Reset your password")
	tb.must(chromedp.SendKeys(chromedp.ID("email"), "joiner@shop.test"))
	tb.must(chromedp.Submit(chromedp.ID("email")))
	tb.waitText("h1", "Check your email")
	tb.screenshot("reset-sent")

	// No mail server: the operator prints a link and hands it over.
	var stdout, stderr browsertest.Buffer
	code := cli.Run(context.Background(), []string{"admin", "reset-link", "--email", "joiner@shop.test"}, func(k string) (string, bool) { v, ok := srv.env[k]; return v, ok },
		cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	link := regexp.MustCompile(`http://\S+/login/reset/\S+`).FindString(stdout.String())
	if code != 0 || !strings.HasPrefix(link, srv.base+"/login/reset/") {
		t.Fatalf("admin reset-link: exit %d %q %q", code, stdout.String(), stderr.String())
	}
	tb.must(chromedp.Navigate(link))
	tb.waitText("h1", "Choose a new password")
	tb.must(chromedp.SendKeys(chromedp.ID("password"), "a fresh password"))
	tb.must(chromedp.SendKeys(chromedp.ID("confirm_password"), "a fresh password"))
	tb.screenshot("reset-new-password")
	tb.must(chromedp.Submit(chromedp.ID("password")))
	tb.waitText(".flash", "Your password is changed")
	if v := tb.eval(`document.getElementById("email").value`); v != "joiner@shop.test" {
		t.Errorf("the sign-in form holds %q after the reset", v)
	}
	tb.must(chromedp.SendKeys(chromedp.ID("password"), "a fresh password"))
	tb.must(chromedp.Submit(chromedp.ID("password")))
	tb.waitText("h1", "Overview")
	tb.checkConsole()
}
