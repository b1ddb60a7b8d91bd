package widget_test

// A visitor on the tenant's site asks the widget questions that the
// tenant's knowledge base answers (the default extractive provider, no
// model configured): the bot's reply in the frame lists its sources, the
// list survives a reload (history replay), a document title is text, and
// an uncovered question gets the fallback without sources.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/metachat/metachat/internal/browsertest"
)

const (
	kbHandbook = "Shop handbook"
	kbXSSTitle = `<img src=x onerror=alert(1)>`
	kbFallback = "Sorry, I can only help with questions about our shop."
)

func TestBrowserWidgetKnowledge(t *testing.T) {
	browser := browsertest.New(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			in := newInstallation(t, dialect)
			in.knowledgeAssistant(t)

			tb := in.openWidget(t, browser, in.hostURL)
			dialogs := tb.watchDialogs()

			// Seq 1-2: answered from the handbook.
			tb.send("Is the shop open on Sunday?")
			tb.waitBubble("user", "Is the shop open on Sunday?", 1)
			sunday := tb.waitReply(2)
			if !strings.Contains(sunday.Text, "Sunday") {
				t.Errorf("the answer does not quote the handbook: %q", sunday.Text)
			}
			// Seq 3-4: answered from the document with a hostile title.
			tb.send("How long does parcel delivery take?")
			tb.waitBubble("user", "How long does parcel delivery take?", 3)
			delivery := tb.waitReply(4)
			if !strings.Contains(delivery.Text, "three working days") {
				t.Errorf("the answer does not quote the delivery document: %q", delivery.Text)
			}
			// Seq 5-6: nothing in the knowledge base.
			tb.send("Can I pay with dogecoin?")
			tb.waitBubble("user", "Can I pay with dogecoin?", 5)
			declined := tb.waitReply(6)

			check := func(when string) {
				t.Helper()
				got := map[int]shownReply{2: tb.reply(2), 4: tb.reply(4), 6: tb.reply(6)}
				t.Logf("%s: %+v", when, got)
				for seq, title := range map[int]string{2: kbHandbook, 4: kbXSSTitle} {
					r := got[seq]
					// An item names the document, with the section when it has one.
					names := slices.ContainsFunc(r.Sources, func(s string) bool { return s == title || strings.HasPrefix(s, title+" › ") })
					if !r.SourcesShown || r.Heading != "Sources" || !names {
						t.Errorf("%s: the reply %d shows sources %+v, want a visible \"Sources\" list naming %q", when, seq, r, title)
					}
				}
				if r := got[6]; r.Text != kbFallback || r.HasSources {
					t.Errorf("%s: the uncovered question's reply is %+v, want the fallback %q and no sources", when, r, kbFallback)
				}
				tb.checkSeqs(6)
				// The hostile title is text: nothing parsed from it, no dialog.
				time.Sleep(300 * time.Millisecond)
				if n := frameValue[int](tb, `document.querySelectorAll("#messages img, #messages script, #messages iframe, #messages [onerror]").length`); n != 0 {
					t.Errorf("%s: #messages holds %d element(s) parsed from a document title:\n%s", when, n, tb.messagesHTML())
				}
				if d := dialogs(); len(d) != 0 {
					t.Errorf("%s: the page opened JavaScript dialogs %q (a document title ran as script)", when, d)
				}
			}
			check("live")
			if sunday.Text == "" || declined.Text == "" {
				t.Fatalf("empty replies: %+v %+v", sunday, declined)
			}

			// History replay after a reload shows the same sources again.
			if err := tb.do(chromedp.Reload()); err != nil {
				t.Fatalf("reload the host page: %v", err)
			}
			tb.open()
			tb.waitHistory(6)
			check("after a reload")
			for seq, want := range map[int]shownReply{2: sunday, 4: delivery} {
				if got := tb.reply(seq); got.Text != want.Text || !slices.Equal(got.Sources, want.Sources) {
					t.Errorf("after a reload the reply %d is %+v, live it was %+v", seq, got, want)
				}
			}

			// Control: the dialog watch sees a dialog the frame opens. (The
			// frame's CSP also forbids inline handlers: the text rendering
			// above is what keeps the title inert, the CSP is a second wall.)
			tb.frameEval(`setTimeout(() => alert("metachat-probe"), 0)`)
			deadline := time.Now().Add(5 * time.Second)
			for !slices.Contains(dialogs(), "alert: metachat-probe") {
				if time.Now().After(deadline) {
					t.Fatalf("the dialog watch did not see the frame's probe alert (saw %q): its silence proves nothing", dialogs())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// knowledgeAssistant fills the tenant's knowledge base, creates an
// assistant that answers only from it and points the web channel at it.
func (in *installation) knowledgeAssistant(t *testing.T) {
	t.Helper()
	docs := []map[string]any{
		{"title": kbHandbook, "text": "# Opening hours\n\nThe shop is open Monday to Friday from 9 to 17. On Sunday the shop is closed."},
		{"title": kbXSSTitle, "text": "# Delivery\n\nParcels are delivered by courier within three working days."},
	}
	var ids []string
	for _, d := range docs {
		st, body := in.api(t, "POST", "/api/v1/documents", d)
		if st != http.StatusAccepted {
			t.Fatalf("POST /api/v1/documents = %d %s", st, body)
		}
		ids = append(ids, jsonField(t, body, "id"))
	}
	for _, id := range ids {
		deadline := time.Now().Add(stepTimeout)
		for {
			st, body := in.api(t, "GET", "/api/v1/documents/"+id, nil)
			status := jsonField(t, body, "status")
			if st == http.StatusOK && status == "ready" {
				break
			}
			if status == "failed" || time.Now().After(deadline) {
				t.Fatalf("document %s: %d %s, want status ready", id, st, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	st, body := in.api(t, "POST", "/api/v1/assistants", map[string]any{
		"name":             "Helper",
		"knowledge":        map[string]any{"enabled": true, "top_k": 3, "only_from_knowledge": true},
		"fallback_message": kbFallback,
	})
	if st != http.StatusCreated {
		t.Fatalf("POST /api/v1/assistants = %d %s", st, body)
	}
	assistant := jsonField(t, body, "id")

	st, body = in.api(t, "GET", "/api/v1/channels", nil)
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if st != http.StatusOK || json.Unmarshal(body, &l) != nil || len(l.Items) != 1 {
		t.Fatalf("GET /api/v1/channels = %d %s, want the one web channel", st, body)
	}
	if st, body := in.api(t, "PATCH", "/api/v1/channels/"+l.Items[0].ID, map[string]any{"assistant_id": assistant}); st != http.StatusOK {
		t.Fatalf("PATCH /api/v1/channels/%s = %d %s", l.Items[0].ID, st, body)
	}
}

func jsonField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	s, _ := m[field].(string)
	return s
}

// shownReply is an assistant bubble as the frame shows it.
type shownReply struct {
	Text         string
	HasSources   bool     // a .sources element exists
	SourcesShown bool     // and is rendered with a size, not hidden
	Heading      string   // .sources-title as rendered (innerText, after CSS)
	Sources      []string // the list items' text
}

const replyExpr = `(() => {
	const n = document.querySelector('#messages .msg[data-seq="%d"]');
	if (!n || n.dataset.role !== "assistant" || n.classList.contains("streaming")) return null;
	const s = n.querySelector(".sources");
	const r = s ? s.getBoundingClientRect() : null;
	return {
		Text: n.querySelector(".text")?.textContent ?? "",
		HasSources: !!s,
		SourcesShown: !!s && r.width > 0 && r.height > 0 && s.checkVisibility({visibilityProperty: true, opacityProperty: true}),
		Heading: s?.querySelector(".sources-title")?.textContent ?? "",
		Sources: s ? Array.from(s.querySelectorAll("li"), li => li.textContent) : [],
	};
})()`

// waitReply waits for the assistant's confirmed reply at seq.
func (tb *tab) waitReply(seq int) shownReply {
	tb.t.Helper()
	tb.waitFrame(fmt.Sprintf("the assistant's reply %d", seq), fmt.Sprintf(replyExpr, seq)+" !== null", stepTimeout)
	return tb.reply(seq)
}

func (tb *tab) reply(seq int) shownReply {
	tb.t.Helper()
	return frameValue[shownReply](tb, fmt.Sprintf(replyExpr, seq))
}

// watchDialogs dismisses every JavaScript dialog the tab opens and returns
// a function listing their messages.
func (tb *tab) watchDialogs() func() []string {
	var mu sync.Mutex
	var seen []string
	opening := chromedp.Events(tb.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range opening {
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, string(ev.Type)+": "+ev.Message)
			mu.Unlock()
			ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			cancel()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}
