package dashboard

// The knowledge pages: the tenant's documents with their ingest status
// (updated live from GET /app/knowledge/events), three ways to add
// documents (a multipart upload of one or more files, a URL import or
// crawl, pasted text), a chunk preview per document, delete and re-index,
// and a search tester that runs the API's retrieval.
//
// Every form works without scripts. With knowledge.js, files dropped on
// the upload form go straight to POST /api/v1/documents (the session and
// its CSRF header) and the list follows the server's document events.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

const (
	chunkPageSize = 50
	// maxUploadFiles bounds how many files one form upload may carry.
	maxUploadFiles = 20
)

// uploadLimit is the largest POST /app/knowledge body: a few documents of
// the largest size plus the multipart envelope.
func (h *Handler) uploadLimit() int64 {
	if h.kb == nil {
		return 0
	}
	return 4*h.kb.MaxUploadBytes() + 1<<20
}

// knowledgeData is the knowledge page's own data.
type knowledgeData struct {
	Docs      []docRow
	Template  docRow // the empty row knowledge.js clones for new documents
	Next      string // cursor of the next page, "" on the last
	Tag       string // the tag filter
	Status    string // the status filter
	Filtered  bool
	CanEdit   bool
	MaxMiB    int64
	Statuses  []string
	Search    *searchData
	UploadErr []string // one line per refused file
}

// docRow is one row of the document list (template "kb-row").
type docRow struct {
	Doc     *knowledge.View // nil in the template row
	Updated string
	CSRF    string
	CanEdit bool
}

// searchData is the search tester's query and answer.
type searchData struct {
	Query   string
	TopK    int
	Results []searchResult
}

// searchResult is a ranked passage with its relevance in percent.
type searchResult struct {
	knowledge.Result
	Percent float64
}

// shortTime shows an RFC 3339 time as the other pages do.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return formatTime(t)
}

var docStatuses = []string{"queued", "processing", "ready", "failed"}

// knowledgePage serves GET /app/knowledge: the list (?tag=, ?status=,
// ?cursor=) and, with ?query=, the search tester's results.
func (h *Handler) knowledgePage(w http.ResponseWriter, r *http.Request) error {
	pg := page{Form: url.Values{}, Errors: map[string]string{}}
	q := r.URL.Query()
	status := http.StatusOK
	if q.Has("query") {
		pg.Form.Set("query", q.Get("query"))
		pg.Form.Set("top_k", q.Get("top_k"))
		sd, errs := h.runSearch(r, q.Get("query"), q.Get("top_k"))
		if errs != nil {
			pg.Errors, status = errs, http.StatusUnprocessableEntity
		}
		return h.renderKnowledge(w, r, status, pg, sd)
	}
	return h.renderKnowledge(w, r, status, pg, nil)
}

// runSearch runs the search tester; field errors come back by field.
func (h *Handler) runSearch(r *http.Request, query, topK string) (*searchData, map[string]string) {
	lang := infoOf(r).lang
	sd := &searchData{Query: query, TopK: 5}
	if topK != "" {
		n, err := strconv.Atoi(topK)
		if err != nil {
			return nil, map[string]string{"top_k": h.cat.text(lang, "knowledge.search.top_k_invalid")}
		}
		sd.TopK = n
	}
	res, err := h.kb.Search(r.Context(), auth.FromContext(r.Context()), knowledge.SearchRequest{Query: query, TopK: sd.TopK})
	if err != nil {
		if fe, ok := fieldErrors(err); ok {
			return nil, fe
		}
		return nil, map[string]string{"query": h.cat.text(lang, "error.internal")}
	}
	for _, x := range res {
		sd.Results = append(sd.Results, searchResult{Result: x, Percent: x.Relevance * 100})
	}
	return sd, nil
}

// renderKnowledge lists the tenant's documents under the forms in pg.
func (h *Handler) renderKnowledge(w http.ResponseWriter, r *http.Request, status int, pg page, sd *searchData) error {
	p := auth.FromContext(r.Context())
	q := r.URL.Query()
	pgn, err := store.ParsePage(q.Get("cursor"), 50)
	if err != nil {
		return err
	}
	d := knowledgeData{CanEdit: p.Can(auth.ScopeAdmin), MaxMiB: h.kb.MaxUploadBytes() >> 20, Statuses: docStatuses, Search: sd}
	if d.MaxMiB == 0 {
		d.MaxMiB = 1
	}
	if pg.Errors == nil {
		pg.Errors = map[string]string{}
	}
	f := store.DocumentFilter{Tag: strings.TrimSpace(q.Get("tag")), Status: q.Get("status")}
	if f.Tag != "" {
		if _, err := knowledge.CheckTags("tag", []string{f.Tag}); err != nil {
			pg.Errors["tag"] = h.cat.text(infoOf(r).lang, "knowledge.filter.tag_invalid")
			f.Tag = ""
		}
	}
	if f.Status != "" && !slices.Contains(docStatuses, f.Status) {
		f.Status = ""
	}
	d.Tag, d.Status, d.Filtered = f.Tag, f.Status, f.Tag != "" || f.Status != ""
	docs, err := h.kb.List(r.Context(), p, f, pgn)
	if err != nil {
		return err
	}
	for i := range docs {
		d.Docs = append(d.Docs, docRow{Doc: &docs[i], Updated: shortTime(docs[i].UpdatedAt), CSRF: p.CSRFToken, CanEdit: d.CanEdit})
	}
	d.Template = docRow{CSRF: p.CSRFToken, CanEdit: true}
	if len(docs) > 0 {
		d.Next = store.NextCursor(pgn, len(docs), docs[len(docs)-1].ID)
	}
	if msg, ok := pg.Errors["upload"]; ok {
		d.UploadErr = strings.Split(msg, "\n")
		delete(pg.Errors, "upload")
	}
	pg.Title, pg.Nav, pg.Data = "knowledge.title", "knowledge", d
	return h.render(w, r, status, "knowledge", pg)
}

// splitTags reads a comma-separated tag field.
func splitTags(s string) []string {
	var out []string
	for t := range strings.SplitSeq(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// uploadDocuments serves POST /app/knowledge: a multipart form with one or
// more files (field "file") and optional tags. Each file becomes a
// document; a refused file's reason is shown next to the file field.
func (h *Handler) uploadDocuments(w http.ResponseWriter, r *http.Request) error {
	lang := infoOf(r).lang
	errs := map[string]string{}
	var files []*multipart.FileHeader
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			errs["file"] = h.cat.text(lang, "knowledge.upload.too_large", h.kb.MaxUploadBytes()>>20)
		} else {
			errs["file"] = h.cat.text(lang, "knowledge.upload.required")
		}
	} else {
		files = r.MultipartForm.File["file"]
		switch {
		case len(files) == 0:
			errs["file"] = h.cat.text(lang, "knowledge.upload.required")
		case len(files) > maxUploadFiles:
			errs["file"] = h.cat.text(lang, "knowledge.upload.too_many", maxUploadFiles)
		}
	}
	tags := splitTags(r.FormValue("tags"))
	if _, err := knowledge.CheckTags("tags", tags); err != nil {
		errs["tags"] = h.cat.text(lang, "knowledge.tags_invalid")
	}
	added := 0
	if len(errs) == 0 {
		var refused []string
		for _, fh := range files {
			data, err := readPart(fh, h.kb.MaxUploadBytes())
			if err != nil {
				return err
			}
			_, err = h.kb.Create(r.Context(), auth.FromContext(r.Context()), knowledge.New{
				Filename: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data, Tags: tags})
			if err != nil {
				fe, ok := fieldErrors(err)
				if !ok {
					return err
				}
				for _, msg := range fe {
					refused = append(refused, fh.Filename+": "+msg)
					break
				}
				continue
			}
			added++
		}
		if len(refused) == 0 {
			return h.redirect(w, r, "/app/knowledge", "knowledge.flash.uploaded")
		}
		errs["file"] = h.cat.text(lang, "knowledge.upload.refused", len(refused), len(files))
		errs["upload"] = strings.Join(refused, "\n")
	}
	form := url.Values{"tags": {r.FormValue("tags")}}
	return h.renderKnowledge(w, r, http.StatusUnprocessableEntity, page{Form: form, Errors: errs}, nil)
}

// readPart reads an uploaded file, at most limit+1 bytes (the service
// refuses anything over limit with a message).
func readPart(fh *multipart.FileHeader, limit int64) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// importURL serves POST /app/knowledge/import: one page, or a crawl from
// it up to max_pages. The fetch happens in the ingest job (SSRF-safe): an
// address the fetcher refuses fails the document with the reason.
func (h *Handler) importURL(w http.ResponseWriter, r *http.Request) error {
	lang := infoOf(r).lang
	errs := map[string]string{}
	n := knowledge.New{URL: strings.TrimSpace(r.PostFormValue("url")), Crawl: r.PostFormValue("crawl") == "on",
		Title: r.PostFormValue("title"), Tags: splitTags(r.PostFormValue("tags"))}
	if n.URL == "" {
		errs["url"] = h.cat.text(lang, "knowledge.import.url_required")
	}
	if n.Crawl {
		if v := strings.TrimSpace(r.PostFormValue("max_pages")); v != "" {
			mp, err := strconv.Atoi(v)
			if err != nil {
				errs["max_pages"] = h.cat.text(lang, "knowledge.import.max_pages_invalid")
			}
			n.MaxPages = mp
		}
	}
	if len(errs) == 0 {
		v, err := h.kb.Create(r.Context(), auth.FromContext(r.Context()), n)
		if err == nil {
			return h.redirect(w, r, "/app/knowledge/"+v.ID, "knowledge.flash.imported")
		}
		fe, ok := fieldErrors(err)
		if !ok {
			return err
		}
		errs = fe
	}
	return h.renderKnowledge(w, r, http.StatusUnprocessableEntity, page{Form: r.PostForm, Errors: errs}, nil)
}

// addText serves POST /app/knowledge/text: pasted text with a title.
func (h *Handler) addText(w http.ResponseWriter, r *http.Request) error {
	lang := infoOf(r).lang
	errs := map[string]string{}
	n := knowledge.New{Title: r.PostFormValue("text_title"), Text: r.PostFormValue("text"), TextSet: true, Tags: splitTags(r.PostFormValue("text_tags"))}
	if strings.TrimSpace(n.Title) == "" {
		errs["text_title"] = h.cat.text(lang, "knowledge.text.title_required")
	}
	if strings.TrimSpace(n.Text) == "" {
		errs["text"] = h.cat.text(lang, "knowledge.text.text_required")
	}
	if len(errs) == 0 {
		_, err := h.kb.Create(r.Context(), auth.FromContext(r.Context()), n)
		if err == nil {
			return h.redirect(w, r, "/app/knowledge", "knowledge.flash.added")
		}
		fe, ok := fieldErrors(err)
		if !ok {
			return err
		}
		for k, v := range fe {
			switch k {
			case "title":
				k = "text_title"
			case "tags":
				k = "text_tags"
			}
			errs[k] = v
		}
	}
	return h.renderKnowledge(w, r, http.StatusUnprocessableEntity, page{Form: r.PostForm, Errors: errs}, nil)
}

// documentData is a document's page: its facts and a page of chunks.
type documentData struct {
	Doc       knowledge.View
	Chunks    []knowledge.ChunkView
	NextAfter int // position to continue after; -1 on the last page
	CanEdit   bool
}

// documentPage serves GET /app/knowledge/{id} (?after= pages the chunks).
func (h *Handler) documentPage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "document not found")
	}
	p := auth.FromContext(r.Context())
	v, err := h.kb.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	after := -1
	if a := r.URL.Query().Get("after"); a != "" {
		if after, err = strconv.Atoi(a); err != nil || after < -1 {
			after = -1
		}
	}
	chunks, err := h.kb.Chunks(r.Context(), p, id, after, chunkPageSize)
	if err != nil {
		return err
	}
	d := documentData{Doc: v, Chunks: chunks, NextAfter: -1, CanEdit: p.Can(auth.ScopeAdmin)}
	if len(chunks) == chunkPageSize {
		d.NextAfter = chunks[len(chunks)-1].Position
	}
	return h.render(w, r, http.StatusOK, "knowledge_document", page{Title: "knowledge.document.title", Nav: "knowledge", Data: d})
}

// deleteDocument serves POST /app/knowledge/{id}/delete.
func (h *Handler) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "document not found")
	}
	if err := h.kb.Delete(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/knowledge", "knowledge.flash.deleted")
}

// reindexDocument serves POST /app/knowledge/{id}/reindex; it goes back
// to the document's page, or to the list when asked (next=list).
func (h *Handler) reindexDocument(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "document not found")
	}
	if _, err := h.kb.Reindex(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	to := "/app/knowledge/" + id
	if r.PostFormValue("next") == "list" {
		to = "/app/knowledge"
	}
	return h.redirect(w, r, to, "knowledge.flash.reindexing")
}

// knowledgeEvents serves GET /app/knowledge/events: the tenant's document
// events as Server-Sent Events ("document", data: the document as the API
// shows it, or {id, status: "deleted"}). The session is checked again at
// every heartbeat; a subscriber that fell behind is told to "resync" (the
// page reloads its list) and the stream closes; EventSource reconnects.
func (h *Handler) knowledgeEvents(w http.ResponseWriter, r *http.Request) error {
	return h.stream(w, r, func(e realtime.Event) (string, string, bool) {
		if e.Type != "document" {
			return "", "", false
		}
		var ev struct {
			Document json.RawMessage `json:"document"`
		}
		if json.Unmarshal(e.Data, &ev) != nil || len(ev.Document) == 0 {
			return "", "", false
		}
		return "document", string(ev.Document), true
	})
}
