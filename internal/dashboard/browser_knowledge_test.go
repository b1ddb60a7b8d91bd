package dashboard_test

// A real-browser test of the knowledge and assistant pages (helpers from
// browser_test.go): a file dropped on the upload form becomes "Ready"
// without a reload, the search tester ranks it, and the playground
// streams an answer (the built-in extractive provider) with its citation.

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
)

func TestBrowserKnowledge(t *testing.T) {
	browser := browsertest.New(t)
	srv := startServe(t)
	apiKey := srv.createTenant(t)
	srv.invite(t, apiKey, "admin@shop.test", "admin")
	shots := screenshotDir(t)
	t.Logf("screenshots: %s", shots)

	tb := newTab(t, browser, shots)
	tb.must(chromedp.Navigate(srv.base + "/app/knowledge"))
	tb.waitText("h1", "Sign in")
	tb.must(chromedp.SendKeys(chromedp.ID("email"), "admin@shop.test"))
	tb.must(chromedp.SendKeys(chromedp.ID("password"), testPassword))
	tb.must(chromedp.Submit(chromedp.ID("password")))
	tb.waitText("h1", "Knowledge")
	tb.waitText("#docs-empty", "Your knowledge base is empty")
	tb.waitText("#kb-live", "Live")
	tb.screenshot("knowledge-empty")

	t.Run("drop_upload_ready_live", func(t *testing.T) {
		tb.t = t
		// Drop a file on the form, as a person dragging it from their desktop.
		tb.eval(`(() => {
			window.notReloaded = true;
			const dt = new DataTransfer();
			dt.items.add(new File([` + jsString(faqText) + `], "shipping-faq.md", {type: "text/markdown"}));
			const zone = document.getElementById("upload");
			zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dt, bubbles: true, cancelable: true}));
			zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
			return "ok";
		})()`)
		tb.waitText("#upload-status", "shipping-faq.md: uploaded")
		tb.waitText("#docs tbody tr[data-doc] [data-f=status]", "Ready")
		if v := tb.eval(`String(window.notReloaded === true) + " " + document.querySelector("#docs tbody tr[data-doc] [data-f=link]").textContent + " " + document.getElementById("docs-wrap").hidden`); v != "true Shipping false" {
			t.Errorf("after the drop: %q, want the same page showing the document", v)
		}
		if v := tb.eval(`document.querySelector("#docs tbody tr[data-doc] [data-f=progress]").textContent`); v == "0/0" {
			t.Errorf("progress reads %q once ready", v)
		}
		tb.screenshot("knowledge-ready")
	})

	t.Run("search_tester", func(t *testing.T) {
		tb.t = t
		tb.must(chromedp.SetValue(chromedp.ID("query"), "how much does shipping to EU cost"))
		tb.must(chromedp.Submit(chromedp.ID("query")))
		tb.waitText("#results .result", "Shipping to EU countries costs 9.99")
		tb.waitText("#results .result-head", "Shipping")
		tb.screenshot("knowledge-search")
		tb.must(chromedp.Click(chromedp.CSS("#results .result-head a")))
		tb.waitText(".chunks", "You can return any item")
		tb.screenshot("knowledge-document")
	})

	t.Run("assistant_playground", func(t *testing.T) {
		tb.t = t
		tb.must(chromedp.Navigate(srv.base + "/app/assistants/new"))
		tb.waitText("h1", "New assistant")
		tb.eval(`(() => { document.getElementById("name").value = ""; return "ok"; })()`)
		tb.must(chromedp.Click(chromedp.ID("save")))
		tb.waitText("#name-error", "Give the assistant a name.")
		tb.must(chromedp.SendKeys(chromedp.ID("name"), "Shop helper"))
		tb.must(chromedp.Click(chromedp.ID("save")))
		tb.waitText(".flash", "Assistant created.")
		tb.must(chromedp.SendKeys(chromedp.ID("pg-message"), "How much does shipping to EU cost?"))
		tb.must(chromedp.Click(chromedp.ID("pg-send")))
		tb.waitText(".pg-bot .pg-text", "9.99")
		tb.waitText(".pg-bot .pg-citation", "Shipping")
		tb.screenshot("assistant-playground")
		// A follow-up stays in the same conversation.
		tb.must(chromedp.SendKeys(chromedp.ID("pg-message"), "Can I return an item?"))
		tb.must(chromedp.Click(chromedp.ID("pg-send")))
		tb.waitText(".pg-bot:nth-of-type(4) .pg-text", "30 days")
		if n := tb.eval(`String(document.querySelectorAll(".pg-bot.pg-failed").length)`); n != "0" {
			t.Errorf("%s playground answers failed", n)
		}
		tb.screenshot("assistant-playground-followup")
	})
	tb.t = t
	tb.checkConsole()
	if strings.Contains(strings.Join(tb.console.all(), "\n"), "CSP") {
		t.Error("CSP violations on the knowledge or assistant pages")
	}
}
