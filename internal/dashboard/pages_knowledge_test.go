package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/store"
)

// The knowledge and assistant routes with an {id} (TestCrossTenant).
func init() {
	idRoutes["GET /app/knowledge/{id}"] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		id, unchanged := e.foreignDocument(b)
		return "/app/knowledge/" + id, unchanged
	}
	idRoutes["POST /app/knowledge/{id}/delete"] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		id, unchanged := e.foreignDocument(b)
		return "/app/knowledge/" + id + "/delete", unchanged
	}
	idRoutes["POST /app/knowledge/{id}/reindex"] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		id, unchanged := e.foreignDocument(b)
		return "/app/knowledge/" + id + "/reindex", unchanged
	}
	idRoutes["GET /app/assistants/{id}"] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		id, unchanged := e.foreignAssistant(b)
		return "/app/assistants/" + id, unchanged
	}
	idRoutes["POST /app/assistants/{id}"] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		id, unchanged := e.foreignAssistant(b)
		return "/app/assistants/" + id, unchanged
	}
	idRoutes["POST /app/assistants/{id}/delete"] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		id, unchanged := e.foreignAssistant(b)
		return "/app/assistants/" + id + "/delete", unchanged
	}
}

// foreignDocument adds a text document to tenant b; unchanged reports that
// it still exists with its generation.
func (e *env) foreignDocument(b tenantFixture) (string, func() bool) {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.auth.AuthenticateKey(ctx, b.Key)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := e.kb.Create(ctx, p, knowledge.New{Title: "B's secret", Text: "Tenant B only.", TextSet: true})
	if err != nil {
		e.t.Fatal(err)
	}
	gen := e.document(b.ID, v.ID).Generation
	return v.ID, func() bool {
		var d store.Document
		err := e.st.Read(ctx, store.TenantScope(b.ID), func(tx *store.Tx) error {
			var err error
			d, err = tx.GetDocument(ctx, v.ID)
			return err
		})
		return err == nil && d.Generation == gen
	}
}

// foreignAssistant adds an assistant to tenant b; unchanged reports that
// it still exists with its name.
func (e *env) foreignAssistant(b tenantFixture) (string, func() bool) {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.auth.AuthenticateKey(ctx, b.Key)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := e.assts.Create(ctx, p, func(r *assistants.Request) error { r.Name = "B's bot"; return nil })
	if err != nil {
		e.t.Fatal(err)
	}
	return v.ID, func() bool {
		var a store.Assistant
		err := e.st.Read(ctx, store.TenantScope(b.ID), func(tx *store.Tx) error {
			var err error
			a, err = tx.GetAssistant(ctx, v.ID)
			return err
		})
		return err == nil && a.Name == "B's bot"
	}
}

// document reads a document of a tenant.
func (e *env) document(tenantID, id string) store.Document {
	e.t.Helper()
	var d store.Document
	err := e.st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		d, err = tx.GetDocument(context.Background(), id)
		return err
	})
	if err != nil {
		e.t.Fatalf("document %s: %v", id, err)
	}
	return d
}

// documents lists a tenant's documents.
func (e *env) documents(tenantID string) []store.Document {
	e.t.Helper()
	var ds []store.Document
	err := e.st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		ds, err = tx.ListDocuments(context.Background(), store.DocumentFilter{}, store.Page{Limit: 100})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// waitDocument polls until the document reaches status (20 s at most).
func (e *env) waitDocument(tenantID, id, status string) store.Document {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := e.document(tenantID, id)
		if d.Status == status {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("document %s is %s (%s), want %s", id, d.Status, d.Error, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type upload struct{ name, body string }

// upload posts files to POST /app/knowledge as the form does.
func (b *browser) upload(tags string, files ...upload) page {
	b.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", b.csrf)
	_ = mw.WriteField("tags", tags)
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+f.name+`"`)
		h.Set("Content-Type", "application/octet-stream")
		w, _ := mw.CreatePart(h)
		_, _ = w.Write([]byte(f.body))
	}
	_ = mw.Close()
	req, err := http.NewRequest("POST", b.e.srv.URL+"/app/knowledge", &buf)
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

const faqText = "# Shipping\n\nShipping to EU countries costs 9.99 euros and takes three days.\n\n# Returns\n\nYou can return any item within 30 days of delivery for a full refund.\n"

// TestKnowledgePage: upload through the form becomes ready, refused files
// and URLs show their reasons, the search tester ranks passages, the chunk
// preview, re-index and delete work, and the events stream is live.
func TestKnowledgePage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		e.addUser(tn.ID, "agent@acme.test", "agent", false)
		b := e.login("owner@acme.test")

		b.get("/app/knowledge").must(t, 200).contains(t, "Your knowledge base is empty", `enctype="multipart/form-data"`, `name="csrf"`)

		// The live stream, opened before anything is added.
		events := b.events(t, "/app/knowledge/events")

		// Upload two files through the form (no scripts).
		p := b.upload("policies, shipping", upload{"faq.md", faqText}, upload{"hours.txt", "We are open Monday to Friday, 9 to 17."}).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/app/knowledge" {
			t.Fatalf("upload redirects to %q", loc)
		}
		docs := e.documents(tn.ID)
		if len(docs) != 2 {
			t.Fatalf("%d documents after uploading two", len(docs))
		}
		var faq store.Document
		for _, d := range docs {
			if d.Filename == "faq.md" {
				faq = d
			}
		}
		faq = e.waitDocument(tn.ID, faq.ID, "ready")
		if faq.ChunkCount == 0 || strings.Join(faq.Tags, ",") != "policies,shipping" {
			t.Errorf("faq.md: %d chunks, tags %q", faq.ChunkCount, faq.Tags)
		}
		events.waitFor(t, `"id":"`+faq.ID+`"`, `"status":"ready"`)
		list := b.get("/app/knowledge").must(t, 200)
		list.contains(t, "Uploaded. The documents are being indexed.", `data-doc="`+faq.ID+`"`, ">"+faq.Title+"<", "Ready", "policies, shipping")

		// A file that is not a document: refused, the reason next to the field.
		p = b.upload("", upload{"virus.exe", "MZ\x00\x01\x02\x03\x00\x00\xff\xfe binary"}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="file-error"`, "virus.exe: is not a supported document", `aria-invalid="true"`)
		b.upload("").must(t, http.StatusUnprocessableEntity).contains(t, "Choose at least one file.")
		if n := len(e.documents(tn.ID)); n != 2 {
			t.Errorf("%d documents after refused uploads, want 2", n)
		}

		// URL import: a malformed URL is refused at once; an address on a
		// private network is refused by the fetcher, and the reason shows.
		b.post("/app/knowledge/import", url.Values{"url": {"ftp://example.com/x"}}).must(t, http.StatusUnprocessableEntity).
			contains(t, `id="url-error"`, "must be an absolute http or https URL")
		p = b.post("/app/knowledge/import", url.Values{"url": {"http://127.0.0.1:9/internal"}}).must(t, http.StatusSeeOther)
		ssrfID := strings.TrimPrefix(p.Header.Get("Location"), "/app/knowledge/")
		failed := e.waitDocument(tn.ID, ssrfID, "failed")
		if failed.Error == "" {
			t.Fatal("the refused import has no reason")
		}
		b.get("/app/knowledge/"+ssrfID).must(t, 200).contains(t, "Failed", failed.Error[:20])
		b.get("/app/knowledge?status=failed").must(t, 200).contains(t, `data-doc="`+ssrfID+`"`, failed.Error[:20])

		// Pasted text.
		b.post("/app/knowledge/text", url.Values{"text_title": {""}, "text": {""}}).must(t, http.StatusUnprocessableEntity).
			contains(t, `id="text_title-error"`, `id="text-error"`)
		b.post("/app/knowledge/text", url.Values{"text_title": {"Gift cards"}, "text": {"Gift cards never expire."}}).must(t, http.StatusSeeOther)

		// Filters.
		b.get("/app/knowledge?tag=shipping").must(t, 200).contains(t, `data-doc="`+faq.ID+`"`)
		if p := b.get("/app/knowledge?tag=nothing"); strings.Contains(p.Body, `data-doc="`+faq.ID+`"`) || !strings.Contains(p.Body, "No documents match") {
			t.Errorf("the tag filter shows other documents")
		}

		// Search tester.
		p = b.get("/app/knowledge?query="+url.QueryEscape("shipping to EU cost")+"&top_k=3").must(t, 200)
		p.contains(t, `id="results"`, "Shipping to EU countries costs 9.99", `href="/app/knowledge/`+faq.ID+`"`, "score")
		b.get("/app/knowledge?query=x&top_k=abc").must(t, http.StatusUnprocessableEntity).contains(t, `id="top_k-error"`)
		b.get("/app/knowledge?query=&top_k=3").must(t, http.StatusUnprocessableEntity).contains(t, `id="query-error"`)
		b.get("/app/knowledge?query=zebra+quantum&top_k=3").must(t, 200).contains(t, "Nothing in the knowledge base matches")

		// Chunk preview, re-index, delete.
		b.get("/app/knowledge/"+faq.ID).must(t, 200).contains(t, "Shipping to EU countries", "You can return any item", `class="chunks"`)
		p = b.post("/app/knowledge/"+faq.ID+"/reindex", nil).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/app/knowledge/"+faq.ID {
			t.Errorf("re-index redirects to %q", loc)
		}
		deadline := time.Now().Add(20 * time.Second)
		for d := e.document(tn.ID, faq.ID); d.Generation == faq.Generation || d.Status != "ready"; d = e.document(tn.ID, faq.ID) {
			if time.Now().After(deadline) {
				t.Fatalf("re-index: generation %d status %s", d.Generation, d.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
		b.post("/app/knowledge/"+faq.ID+"/delete", nil).must(t, http.StatusSeeOther)
		b.get("/app/knowledge/"+faq.ID).must(t, http.StatusNotFound)
		events.waitFor(t, `"id":"`+faq.ID+`"`, `"status":"deleted"`)

		// Roles: a viewer reads but cannot add, re-index or delete; neither can an agent.
		for _, who := range []string{"viewer", "agent"} {
			v := e.login(who + "@acme.test")
			p = v.get("/app/knowledge").must(t, 200)
			if strings.Contains(p.Body, `enctype="multipart/form-data"`) || strings.Contains(p.Body, "/reindex") {
				t.Errorf("a %s sees the upload form or actions", who)
			}
			v.upload("", upload{"x.md", "# X\n\ntext"}).must(t, http.StatusForbidden)
			v.post("/app/knowledge/"+ssrfID+"/delete", nil).must(t, http.StatusForbidden)
			v.get("/app/knowledge?query=gift+cards").must(t, 200).contains(t, "Gift cards never expire.")
		}
		if n := len(e.documents(tn.ID)); n != 3 {
			t.Errorf("%d documents, want 3", n)
		}
	})
}

// sse is an open event stream.
type sse struct {
	lines chan string
	got   []string
}

// events opens an SSE stream with the browser's session.
func (b *browser) events(t *testing.T, path string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.e.srv.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s = %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{lines: make(chan string, 1024)}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s
}

// waitFor waits for a data line holding every want.
func (s *sse) waitFor(t *testing.T, want ...string) {
	t.Helper()
	match := func(l string) bool {
		for _, w := range want {
			if !strings.Contains(l, w) {
				return false
			}
		}
		return strings.HasPrefix(l, "data: ")
	}
	for _, l := range s.got {
		if match(l) {
			return
		}
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("the stream ended before %q; got %q", want, s.got)
			}
			s.got = append(s.got, l)
			if match(l) {
				return
			}
		case <-timeout:
			t.Fatalf("no event with %q; got %q", want, s.got)
		}
	}
}
