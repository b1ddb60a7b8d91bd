package dashboard_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// seedOverview stores today's analytics fixture for the tenant plus a
// question and a cited title a spreadsheet would run as formulas, and
// computes the daily rows as the periodic job does.
func (e *env) seedOverview(tenantID string) storetest.AnalyticsFixture {
	e.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	f := storetest.SeedAnalytics(e.t, e.st, tenantID, now)
	var convID, questionID string
	err := e.st.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		tx.Now = f.Day.Add(12 * time.Hour)
		chs, err := tx.ListChannels(ctx, store.Page{Limit: 1})
		if err != nil || len(chs) == 0 {
			return errors.Join(err, errors.New("no channel"))
		}
		ct, err := tx.UpsertContact(ctx, chs[0].ID, "evil", "")
		if err != nil {
			return err
		}
		c, err := tx.CreateConversation(ctx, chs[0].ID, ct.ID)
		if err != nil {
			return err
		}
		q, err := tx.AppendMessage(ctx, store.Message{ConversationID: c.ID, Role: "user", Text: `=cmd|' /C calc'!A0, "quoted"`})
		convID, questionID = c.ID, q.ID
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	// Answered 30 s later, citing a document whose title is a formula.
	err = e.st.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		tx.Now = f.Day.Add(12*time.Hour + 30*time.Second)
		cites, _ := json.Marshal([]map[string]string{{"document_id": store.NewID(), "title": "@SUM(A1)", "chunk_id": store.NewID()}})
		_, err := tx.AppendMessage(ctx, store.Message{ConversationID: convID, Role: "assistant", Text: "?", ReplyTo: questionID,
			Meta: json.RawMessage(`{"decision":"no_answer","passages":0}`), Citations: cites})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := jobs.ComputeAnalytics(ctx, e.st, now, nil); err != nil {
		e.t.Fatal(err)
	}
	return f
}

var svgRE = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// TestOverviewShowsFigures: the overview reads the computed daily rows:
// the first-run guide until the tenant's first conversation, then the
// figures, accessible charts, cited documents and unanswered questions.
func TestOverviewShowsFigures(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn, other := e.newTenant("Acme"), e.newTenant("Other")
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		e.addUser(other.ID, "owner@other.test", "owner", false)
		b := e.login("viewer@acme.test")
		p := b.get("/app/").must(t, 200)
		p.contains(t, "Get your assistant answering", "have not been computed yet", "No conversations in this period")

		f := e.seedOverview(tn.ID)
		p = b.get("/app/").must(t, 200)
		if strings.Contains(p.Body, "Get your assistant answering") {
			t.Error("the first-run guide is still shown after the first conversation")
		}
		// 5 conversations (yesterday's c4, the fixture's 3 and the formula
		// one today), 1 resolved by the bot, 2 handed off; 3 of 5 knowledge
		// lookups found a passage (the formula one cites a document, yet
		// has no answer); first responses 2 s, 4 s, 10 s, 30 s.
		p.contains(t, "Figures computed", "The last 30 days", `<option value="30" selected>`,
			"<dd>5</dd>", "<dd>20%</dd>", "<dd>40%</dd>", "<dd>60%</dd>", "<dd>4.0 s</dd>", "<dd>30 s</dd>",
			`href="/app/knowledge/`+f.DocumentID+`">Returns policy</a>`, "Old prices", "(deleted)", "cited 2×",
			"is my parcel?</q>", "asked 2×", "/app/overview.csv?days=30&amp;table=questions")
		if n := strings.Count(p.Body, `<tr><th scope="row">`); n != 30 {
			t.Errorf("the figures table has %d days, want 30", n)
		}
		svgs := svgRE.FindAllString(p.Body, -1)
		if len(svgs) != 2 {
			t.Fatalf("%d charts, want 2", len(svgs))
		}
		for _, s := range svgs {
			checkSVG(t, s)
		}
		if !strings.Contains(svgs[0], "<title>"+f.Want.Day+": 4 started</title>") {
			t.Errorf("the conversations chart lacks today's bar:\n%s", svgs[0])
		}

		b.get("/app/?days=7").contains(t, `<option value="7" selected>`, "The last 7 days")
		b.get("/app/?days=13").contains(t, `<option value="30" selected>`)
		b.get("/app/?days=90").contains(t, `<option value="90" selected>`)

		// Another tenant sees none of it.
		o := e.login("owner@other.test").get("/app/").must(t, 200)
		if strings.Contains(o.Body, "Returns policy") || strings.Contains(o.Body, "parcel") {
			t.Error("tenant B's overview shows tenant A's figures")
		}
	})
}

// checkSVG parses a chart as XML and checks its accessible name.
func checkSVG(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	var names []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, s)
		}
		if el, ok := tok.(xml.StartElement); ok {
			names = append(names, el.Name.Local)
		}
	}
	if len(names) < 3 || names[0] != "svg" || names[1] != "title" || names[2] != "desc" {
		t.Errorf("chart starts %v, want svg, title, desc", names[:min(3, len(names))])
	}
	if !strings.Contains(s, `role="img"`) || !strings.Contains(s, "aria-labelledby=") {
		t.Errorf("chart lacks role and label:\n%s", s)
	}
}

// TestOverviewCSV: the exports hold the daily rows, cited documents and
// questions, quoted, with cells a spreadsheet would run as a formula
// defused; a user without the tenant gets none.
func TestOverviewCSV(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		e.addUser("", "lonely@acme.test", "", false)
		f := e.seedOverview(tn.ID)
		b := e.login("viewer@acme.test")

		read := func(path string) [][]string {
			t.Helper()
			p := b.get(path).must(t, 200)
			if ct := p.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Errorf("%s Content-Type %q", path, ct)
			}
			if cd := p.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") {
				t.Errorf("%s Content-Disposition %q", path, cd)
			}
			recs, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
			if err != nil {
				t.Fatalf("%s is not CSV: %v\n%s", path, err, p.Body)
			}
			return recs
		}
		daily := read("/app/overview.csv")
		if len(daily) != 3 || daily[0][0] != "day" || daily[0][1] != "conversations" {
			t.Fatalf("daily = %q, want a header, yesterday and today", daily)
		}
		today := daily[2]
		want := []string{f.Want.Day, "4", "7", "7", "1", "2", "4", "4000", "30000", "3", "2"}
		if strings.Join(today[:11], ",") != strings.Join(want, ",") {
			t.Errorf("today = %q, want %q", today[:11], want)
		}
		if daily[1][1] != "1" {
			t.Errorf("yesterday = %q, want 1 conversation", daily[1])
		}

		docs := read("/app/overview.csv?table=documents&days=7")
		if len(docs) != 4 || docs[1][1] != "Returns policy" || docs[1][2] != "2" {
			t.Errorf("documents = %q", docs)
		}
		var formula bool
		for _, r := range docs {
			formula = formula || r[1] == "'@SUM(A1)"
		}
		if !formula {
			t.Errorf("the @ title is not defused: %q", docs)
		}

		qs := read("/app/overview.csv?table=questions&days=90")
		found := false
		for _, r := range qs {
			if r[0] == `'=cmd|' /C calc'!A0, "quoted"` && r[1] == "1" {
				found = true
			}
		}
		if !found {
			t.Errorf("questions = %q, want the formula defused", qs)
		}
		raw := b.get("/app/overview.csv?table=questions").Body
		if !strings.Contains(raw, `"'=cmd|' /C calc'!A0, ""quoted"""`) {
			t.Errorf("raw CSV not quoted as expected:\n%s", raw)
		}
		b.get("/app/overview.csv?table=users").must(t, 404)

		// Without a tenant: the overview asks to pick one; no export.
		l := e.login("lonely@acme.test")
		l.get("/app/").must(t, 200).contains(t, "No workspace selected")
		l.get("/app/overview.csv").must(t, 403)
	})
}
