package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/knowledge/extract"
	"github.com/metachat/metachat/internal/realtime"
)

// docxWithBody is a DOCX that passes sniffing (a zip with
// [Content_Types].xml and word/document.xml) whose document.xml is body.
func docxWithBody(t *testing.T, body string) []byte {
	t.Helper()
	valid := extract.MinimalDOCX("Broken", extract.DocxParagraph{Text: "Half a sentence"})
	zr, err := zip.NewReader(bytes.NewReader(valid), int64(len(valid)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == "word/document.xml" {
			_, err = io.WriteString(w, body)
		} else {
			var rc io.ReadCloser
			if rc, err = f.Open(); err == nil {
				_, err = io.Copy(w, rc)
				rc.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// awaitDocument waits until a document reaches status and returns it.
func (e *env) awaitDocument(key, id, status string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := e.as(key).do("GET", "/api/v1/documents/"+id, nil).must(e.t, 200).JSON(e.t)
		if d["status"] == status {
			return d
		}
		if d["status"] == "failed" || d["status"] == "ready" || time.Now().After(deadline) {
			e.t.Fatalf("document %s is %v (error %q), want %s", id, d["status"], d["error"], status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// upload sends a multipart document upload.
func (c *client) upload(method, path, filename, contentType string, data []byte, fields map[string]string) response {
	c.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, filename)}
	if contentType != "" {
		h["Content-Type"] = []string{contentType}
	}
	part, err := mw.CreatePart(h)
	if err != nil {
		c.e.t.Fatal(err)
	}
	_, _ = part.Write(data)
	_ = mw.Close()
	req, err := http.NewRequest(method, c.e.srv.URL+path, &body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

func searchResults(t *testing.T, c *client, body map[string]any) []map[string]any {
	t.Helper()
	raw := c.do("POST", "/api/v1/search", body).must(t, 200).JSON(t)["results"].([]any)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

func TestDocumentsOfEveryTypeBecomeReadyAndAreFound(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Docs")
		c := e.as(tn.Key)
		uploads := []struct {
			name, filename, contentType, kind, word string
			data                                    []byte
		}{
			{"plain text", "notes.txt", "text/plain", "txt", "aardvark", []byte("Opening hours\n\nWe feed the aardvark every morning at nine.")},
			{"markdown", "guide.md", "text/markdown", "md", "bandicoot", []byte("# Guide\n\n## Animals\n\nThe **bandicoot** sleeps all day.\n")},
			{"html", "page.html", "text/html", "html", "capybara", []byte("<!doctype html><html><head><title>Zoo</title><script>var hidden='xylophone';</script></head><body><main><h1>Zoo</h1><p>The capybara swims.</p></main></body></html>")},
			{"pdf", "brochure.pdf", "application/pdf", "pdf", "dromedary", extract.MinimalPDF("The dromedary has one hump.")},
			{"docx", "manual.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "echidna",
				extract.MinimalDOCX("Manual", extract.DocxParagraph{Style: "Heading1", Text: "Care"}, extract.DocxParagraph{Text: "The echidna lays eggs."})},
			// The name says text, the content is a PDF: content wins.
			{"a pdf named .txt", "misnamed.txt", "text/plain", "pdf", "flamingo", extract.MinimalPDF("The flamingo stands on one leg.")},
		}
		for _, u := range uploads {
			d := c.upload("POST", "/api/v1/documents", u.filename, u.contentType, u.data, map[string]string{"tags": "zoo, " + u.kind}).must(t, 202).JSON(t)
			ready := e.awaitDocument(tn.Key, d["id"].(string), "ready")
			if ready["kind"] != u.kind || ready["chunk_count"].(float64) < 1 {
				t.Errorf("%s: ready as %v with %v chunks, want kind %s", u.name, ready["kind"], ready["chunk_count"], u.kind)
			}
			rs := searchResults(t, c, map[string]any{"query": "tell me about the " + u.word})
			if len(rs) == 0 || rs[0]["document_id"] != d["id"] || !strings.Contains(rs[0]["text"].(string), u.word) {
				t.Errorf("%s: searching for %q found %v", u.name, u.word, rs)
			}
		}
		// JSON text.
		d := c.do("POST", "/api/v1/documents", map[string]any{"title": "Returns", "text": "Gnus may be returned within 30 days.", "tags": []string{"policy"}}).must(t, 202).JSON(t)
		e.awaitDocument(tn.Key, d["id"].(string), "ready")
		if rs := searchResults(t, c, map[string]any{"query": "return a gnu"}); len(rs) == 0 || rs[0]["document_id"] != d["id"] {
			t.Fatalf("the text document was not found: %v", rs)
		}
		// Script text in HTML is not indexed.
		if rs := searchResults(t, c, map[string]any{"query": "xylophone"}); len(rs) != 0 {
			t.Errorf("script content was indexed: %v", rs)
		}
		// Filters: tags and document ids.
		if rs := searchResults(t, c, map[string]any{"query": "gnu capybara", "tags": []string{"html"}}); len(rs) != 1 || !strings.Contains(rs[0]["text"].(string), "capybara") {
			t.Errorf("tag filter: %v", rs)
		}
		if rs := searchResults(t, c, map[string]any{"query": "returned capybara", "document_ids": []string{d["id"].(string)}}); len(rs) != 1 || rs[0]["document_id"] != d["id"] {
			t.Errorf("document filter: %v", rs)
		}
		list := c.do("GET", "/api/v1/documents?status=ready&tag=zoo", nil).must(t, 200).JSON(t)["items"].([]any)
		if len(list) != len(uploads) {
			t.Errorf("%d ready zoo documents listed, want %d", len(list), len(uploads))
		}
	})
}

func TestBadDocumentsAreRefusedNamingTheFieldOrFailWithAReason(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Bad docs")
		c := e.as(tn.Key)
		png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
		cases := []struct {
			name  string
			r     response
			field string
		}{
			{"an image", c.upload("POST", "/api/v1/documents", "photo.pdf", "application/pdf", png, nil), "file"},
			{"an empty file", c.upload("POST", "/api/v1/documents", "empty.txt", "text/plain", []byte{}, nil), "file"},
			{"text without a title", c.do("POST", "/api/v1/documents", map[string]any{"text": "words"}), "title"},
			{"two sources", c.do("POST", "/api/v1/documents", map[string]any{"title": "t", "text": "words", "url": "https://example.com/"}), "body"},
			{"a file: URL", c.do("POST", "/api/v1/documents", map[string]any{"url": "file:///etc/passwd"}), "url"},
			{"a bad tag", c.do("POST", "/api/v1/documents", map[string]any{"title": "t", "text": "w", "tags": []string{`a"b`}}), "tags"},
			{"a search without a query", c.do("POST", "/api/v1/search", map[string]any{"top_k": 3}), "query"},
			{"a search for too many", c.do("POST", "/api/v1/search", map[string]any{"query": "x", "top_k": 1000}), "top_k"},
		}
		for _, tc := range cases {
			if tc.r.Status != 422 && tc.r.Status != 400 {
				t.Errorf("%s: status %d, want 400/422: %s", tc.name, tc.r.Status, tc.r.Body)
				continue
			}
			if fs := tc.r.problemFields(t); len(fs) == 0 || fs[0] != tc.field {
				t.Errorf("%s: fields %v, want %s", tc.name, fs, tc.field)
			}
		}
		big := bytes.Repeat([]byte("word "), 3<<20/5)
		if r := c.upload("POST", "/api/v1/documents", "big.txt", "text/plain", big, nil); r.Status != 413 && r.Status != 422 {
			t.Errorf("a document over the limit: %d %s", r.Status, r.Body)
		}

		// A PDF or DOCX that sniffs as such but cannot be read fails with a
		// reason a person can act on, and the worker goes on to the next
		// document.
		brokenPDF := []byte("%PDF-1.4\n1 0 obj << /Filter /FlateDecode /Length 20 >> stream\nnot really zlib\nendstream endobj\n%%EOF")
		brokenDOCX := docxWithBody(t, `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Half a sentence</w:r></w:p>`)
		for _, bad := range []struct {
			filename, contentType, kind string
			data                        []byte
			reason                      []string
		}{
			{"broken.pdf", "application/pdf", "pdf", brokenPDF, nil},
			{"broken.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", brokenDOCX, []string{"word/document.xml is damaged", "save the document again"}},
		} {
			r := c.upload("POST", "/api/v1/documents", bad.filename, bad.contentType, bad.data, nil).must(t, 202).JSON(t)
			if r["kind"] != bad.kind {
				t.Errorf("%s was taken as %v, want %s (it must pass sniffing)", bad.filename, r["kind"], bad.kind)
			}
			failed := e.awaitDocument(tn.Key, r["id"].(string), "failed")
			reason, _ := failed["error"].(string)
			if reason == "" {
				t.Fatalf("%s failed without a reason: %v", bad.filename, failed)
			}
			for _, want := range bad.reason {
				if !strings.Contains(reason, want) {
					t.Errorf("%s failed with %q, want it to say %q", bad.filename, reason, want)
				}
			}
		}
		ok := c.do("POST", "/api/v1/documents", map[string]any{"title": "After", "text": "Still working."}).must(t, 202).JSON(t)
		e.awaitDocument(tn.Key, ok["id"].(string), "ready")
	})
}

func TestDeletingReplacingAndReindexingADocumentChangeWhatIsFound(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Lifecycle")
		c := e.as(tn.Key)
		d := c.do("POST", "/api/v1/documents", map[string]any{"title": "Pets", "text": "Our office cat is called Mittens."}).must(t, 202).JSON(t)
		id := d["id"].(string)
		e.awaitDocument(tn.Key, id, "ready")
		if rs := searchResults(t, c, map[string]any{"query": "Mittens"}); len(rs) != 1 {
			t.Fatalf("before: %v", rs)
		}

		c.do("PUT", "/api/v1/documents/"+id, map[string]any{"title": "Pets", "text": "Our office dog is called Rex."}).must(t, 202)
		e.awaitDocument(tn.Key, id, "ready")
		if rs := searchResults(t, c, map[string]any{"query": "Mittens"}); len(rs) != 0 {
			t.Errorf("the replaced text is still found: %v", rs)
		}
		if rs := searchResults(t, c, map[string]any{"query": "Rex"}); len(rs) != 1 || rs[0]["document_id"] != id {
			t.Errorf("the new text is not found: %v", rs)
		}

		re := c.do("POST", "/api/v1/documents/"+id+"/reindex", nil).must(t, 202).JSON(t)
		if re["status"] != "queued" {
			t.Errorf("reindex answered %v", re["status"])
		}
		e.awaitDocument(tn.Key, id, "ready")
		chunks := c.do("GET", "/api/v1/documents/"+id+"/chunks", nil).must(t, 200).JSON(t)["items"].([]any)
		if len(chunks) != 1 || !strings.Contains(chunks[0].(map[string]any)["text"].(string), "Rex") {
			t.Errorf("chunks after reindex: %v", chunks)
		}

		c.do("DELETE", "/api/v1/documents/"+id, nil).must(t, 204)
		if rs := searchResults(t, c, map[string]any{"query": "Rex"}); len(rs) != 0 {
			t.Errorf("a deleted document is still found: %v", rs)
		}
		c.do("GET", "/api/v1/documents/"+id, nil).must(t, 404)
		c.do("GET", "/api/v1/documents/"+id+"/chunks", nil).must(t, 404)
	})
}

// A second server process over the same database finds what the first
// one ingested: the in-memory index follows the database.
func TestAnotherProcessSeesNewDocumentsWithoutRestarting(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		other := knowledge.NewService(e.st, realtime.NewHub(), nil, nil, knowledge.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		tn := e.newTenant("Two processes")
		if ps, err := other.Retrieve(ctx, tn.ID, -1, "quokka", 5, 0); err != nil || len(ps) != 0 {
			t.Fatalf("before: %v %v", ps, err)
		}
		d := e.as(tn.Key).do("POST", "/api/v1/documents", map[string]any{"title": "Animals", "text": "The quokka smiles."}).must(t, 202).JSON(t)
		e.awaitDocument(tn.Key, d["id"].(string), "ready")
		ps, err := other.Retrieve(ctx, tn.ID, -1, "quokka", 5, 0)
		if err != nil || len(ps) != 1 || ps[0].DocumentID != d["id"] {
			t.Fatalf("the other process found %v (%v)", ps, err)
		}
		e.as(tn.Key).do("DELETE", "/api/v1/documents/"+d["id"].(string), nil).must(t, 204)
		if ps, _ := other.Retrieve(ctx, tn.ID, -1, "quokka", 5, 0); len(ps) != 0 {
			t.Fatalf("the other process still finds a deleted document: %v", ps)
		}
	})
}

func TestURLImportsFetchAllowedPagesAndRefuseInternalAddresses(t *testing.T) {
	t.Parallel()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sitemap.xml":
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://%s/a</loc></url><url><loc>http://%s/b</loc></url></urlset>`, r.Host, r.Host)
		case "/a":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><head><title>Page A</title></head><body><p>The axolotl regrows limbs.</p></body></html>`)
		case "/b":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><head><title>Page B</title></head><body><p>The bonobo shares food.</p></body></html>`)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)

	// Loopback is open to this server only because the test allows it.
	open := newEnv(t, "sqlite", envOptions{fetchAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	tn := open.newTenant("Importer")
	c := open.as(tn.Key)
	d := c.do("POST", "/api/v1/documents", map[string]any{"url": site.URL + "/a"}).must(t, 202).JSON(t)
	ready := open.awaitDocument(tn.Key, d["id"].(string), "ready")
	if ready["title"] != "Page A" || ready["kind"] != "html" {
		t.Errorf("imported page: %v", ready)
	}
	crawl := c.do("POST", "/api/v1/documents", map[string]any{"url": site.URL + "/sitemap.xml", "crawl": true, "max_pages": 5, "tags": []string{"site"}}).must(t, 202).JSON(t)
	waitUntil(t, "the crawl adds the sitemap's pages", func() bool {
		items := c.do("GET", "/api/v1/documents?tag=site&status=ready", nil).must(t, 200).JSON(t)["items"].([]any)
		return len(items) >= 2
	})
	_ = crawl
	if rs := searchResults(t, c, map[string]any{"query": "bonobo"}); len(rs) == 0 {
		t.Errorf("the crawled page is not found")
	}
	red := c.do("POST", "/api/v1/documents", map[string]any{"url": site.URL + "/to-metadata"}).must(t, 202).JSON(t)
	if f := open.awaitDocument(tn.Key, red["id"].(string), "failed"); !strings.Contains(f["error"].(string), "private or internal") {
		t.Errorf("a redirect to the metadata address: %v", f["error"])
	}

	// Without the allowance, the same loopback URL and other internal
	// addresses are refused.
	closed := newEnv(t, "sqlite")
	tn2 := closed.newTenant("Attacker")
	for _, u := range []string{site.URL + "/a", "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/", "http://10.0.0.1/", "http://2130706433/", "http://localhost/"} {
		d := closed.as(tn2.Key).do("POST", "/api/v1/documents", map[string]any{"url": u}).must(t, 202).JSON(t)
		f := closed.awaitDocument(tn2.Key, d["id"].(string), "failed")
		if !strings.Contains(f["error"].(string), "private or internal") && !strings.Contains(f["error"].(string), "not a URL") {
			t.Errorf("%s: failed with %q", u, f["error"])
		}
	}
}

// The extractive default answers a widget visitor from the tenant's
// documents, citing them; with "answer only from knowledge" it declines a
// question the documents do not cover; the chat API carries the same
// citations.
func TestTheBotAnswersFromTheKnowledgeBaseWithCitations(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		b := newBotChat(t, e, map[string]any{
			"knowledge":        map[string]any{"enabled": true, "top_k": 3, "only_from_knowledge": true},
			"fallback_message": "Sorry, I can only help with questions about our shop.",
		})
		c := e.as(b.tn.Key)
		doc := c.do("POST", "/api/v1/documents", map[string]any{"title": "Shop handbook",
			"text": "# Opening hours\n\nThe shop is open Monday to Friday from 9 to 17. On Sunday the shop is closed.\n\n# Delivery\n\nParcels are delivered by courier within three working days."}).must(t, 202).JSON(t)
		e.awaitDocument(b.tn.Key, doc["id"].(string), "ready")

		b.sock.say("q1", "Is the shop open on Sunday?")
		reply, _ := b.awaitReply()
		if !strings.Contains(reply.Message.Text, "Sunday") {
			t.Errorf("the answer does not quote the handbook: %q", reply.Message.Text)
		}
		if !strings.Contains(reply.raw, doc["id"].(string)) {
			t.Errorf("the widget's message carries no citation of the handbook: %s", reply.raw)
		}
		b.sock.say("q2", "Can I pay with dogecoin?")
		declined, _ := b.awaitReply()
		if declined.Message.Text != "Sorry, I can only help with questions about our shop." {
			t.Errorf("an uncovered question got %q", declined.Message.Text)
		}
		_, msgs := b.state(t, e)
		bots := botMessages(msgs)
		if len(bots) != 2 {
			t.Fatalf("bot messages %v", bots)
		}
		cites, _ := bots[0]["citations"].([]any)
		if len(cites) == 0 || cites[0].(map[string]any)["document_id"] != doc["id"] || cites[0].(map[string]any)["snippet"] == "" {
			t.Errorf("stored citations %v", bots[0]["citations"])
		}
		if cs, _ := bots[1]["citations"].([]any); len(cs) != 0 {
			t.Errorf("the declined answer cites %v", cs)
		}

		chat := c.do("POST", "/api/v1/chat", map[string]any{"assistant_id": b.assistantID, "message": "How long does delivery take?"}).must(t, 200).JSON(t)
		m := chat["message"].(map[string]any)
		if !strings.Contains(m["text"].(string), "three working days") {
			t.Errorf("chat answer %q", m["text"])
		}
		if cs, _ := m["citations"].([]any); len(cs) == 0 {
			t.Errorf("the chat answer has no citations: %v", m)
		}
	})
}
