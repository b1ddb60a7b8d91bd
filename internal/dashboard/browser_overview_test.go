package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
	"github.com/metachat/metachat/internal/store"
)

// TestBrowserOverview: a viewer signs in and sees the overview's figures
// and charts (no CSP violation, no script error), switches the range with
// the select alone, and screenshots are taken in light, dark and phone
// layouts. Skipped without Chromium, like TestBrowserDashboard.
func TestBrowserOverview(t *testing.T) {
	browser := browsertest.New(t)
	e := newEnv(t, store.SQLite)
	tn := e.newTenant("Shop")
	e.addUser(tn.ID, "viewer@shop.test", "viewer", false)
	e.seedOverview(tn.ID)
	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)

	tb := newTab(t, browser, shots)
	tb.must(chromedp.Navigate(e.srv.URL + "/login"))
	tb.must(chromedp.SendKeys(chromedp.ID("email"), "viewer@shop.test"))
	tb.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
	tb.must(chromedp.Submit(chromedp.ID("password")))
	tb.waitText("h1", "Overview")
	tb.waitText("#figures-title", "30 days")
	if n := tb.eval(`String(document.querySelectorAll("figure.chart svg rect").length)`); n == "0" {
		t.Error("the charts draw no bars")
	}
	if w := tb.eval(`String(Math.round(document.querySelector("figure.chart svg").getBoundingClientRect().width))`); w == "0" {
		t.Error("the chart has no width")
	}
	tb.screenshot("overview-figures-light")

	tb.eval(`(() => { const s = document.getElementById("days"); s.value = "7"; s.dispatchEvent(new Event("change", {bubbles: true})); return "ok"; })()`)
	tb.waitText("#figures-title", "7 days")
	if !strings.Contains(tb.eval(`location.search`), "days=7") {
		t.Errorf("the range select did not submit: %s", tb.eval(`location.href`))
	}

	tb.must(chromedp.Click(chromedp.CSS("nav [data-theme-toggle]")))
	tb.screenshot("overview-figures-dark")
	tb.must(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	tb.must(chromedp.Reload())
	tb.waitText("h1", "Overview")
	tb.screenshot("overview-figures-phone")
	tb.checkConsole()
}
