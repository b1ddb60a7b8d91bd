// Package knowledge holds a tenant's documents: upload and import, the
// ingest pipeline (extract → chunk → embed → store), and retrieval over an
// in-memory index per tenant that is rebuilt from the stored chunks.
package knowledge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/knowledge/chunk"
	"github.com/metachat/metachat/internal/knowledge/extract"
	"github.com/metachat/metachat/internal/knowledge/fetch"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// Enqueuer queues the ingest of one document generation in the
// transaction that creates or re-queues it.
type Enqueuer interface {
	EnqueueIngest(ctx context.Context, tx *store.Tx, documentID string, generation int) error
}

// Embedder turns texts into vectors (nil when no embedding model is set).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Fetcher gets pages for URL imports (fetch.Fetcher: SSRF-safe).
type Fetcher interface {
	Get(ctx context.Context, rawURL string) (fetch.Page, error)
	Crawl(ctx context.Context, start string, maxPages int) (fetch.CrawlResult, error)
}

// Options tune ingest.
type Options struct {
	MaxUploadBytes int64 // default 20 MiB
	ChunkWords     int   // target chunk size in words (chunk default when 0)
	OverlapWords   int   // words a chunk repeats of the previous one (chunk default when 0; negative: none)
	MaxCrawlPages  int   // default 50
	EmbedBatch     int   // default 64
	// IndexIdle drops a tenant's in-memory search index after it has not
	// been used this long (default 30 minutes); MaxIndexedChunks caps the
	// chunks the indexes of all tenants hold together, dropping the least
	// recently used first (default 500,000). A dropped index is rebuilt
	// from the database by the next search.
	IndexIdle        time.Duration
	MaxIndexedChunks int
}

// Service is the knowledge base of every tenant.
type Service struct {
	store   *store.Store
	bus     realtime.Publisher
	fetcher Fetcher
	embed   Embedder
	ingest  Enqueuer
	opts    Options
	log     *slog.Logger
	indexes *indexes
	// split cuts extracted text into chunks: chunk.Split (a test may
	// replace it).
	split func(extract.Document, chunk.Options) []chunk.Chunk
}

// NewService builds the service; embed may be nil.
func NewService(st *store.Store, bus realtime.Publisher, fetcher Fetcher, embed Embedder, opts Options, log *slog.Logger) *Service {
	if opts.MaxUploadBytes == 0 {
		opts.MaxUploadBytes = 20 << 20
	}
	if opts.MaxCrawlPages == 0 {
		opts.MaxCrawlPages = 50
	}
	if opts.EmbedBatch == 0 {
		opts.EmbedBatch = 64
	}
	s := &Service{store: st, bus: bus, fetcher: fetcher, embed: embed, opts: opts, log: log, split: chunk.Split}
	s.indexes = newIndexes(st, opts.IndexIdle, opts.MaxIndexedChunks)
	return s
}

// SetIngest connects the job queue (it is built after the service).
func (s *Service) SetIngest(e Enqueuer) { s.ingest = e }

// MaxUploadBytes is the largest document accepted.
func (s *Service) MaxUploadBytes() int64 { return s.opts.MaxUploadBytes }

// View is a document as the API shows it.
type View struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Source     string   `json:"source"`
	SourceURL  string   `json:"source_url,omitempty"`
	Filename   string   `json:"filename,omitempty"`
	Kind       string   `json:"kind,omitempty"`
	Tags       []string `json:"tags"`
	Status     string   `json:"status"`
	Error      string   `json:"error"`
	ChunkCount int      `json:"chunk_count"`
	ChunksDone int      `json:"chunks_done"`
	SizeBytes  int64    `json:"size_bytes"`
	CrawlPages int      `json:"crawl_pages,omitempty"`
	CreatedAt  string   `json:"created_at"`
	UpdatedAt  string   `json:"updated_at"`
	IndexedAt  *string  `json:"indexed_at"`
}

func view(d store.Document) View {
	v := View{ID: d.ID, Title: d.Title, Source: d.Source, SourceURL: d.SourceURL, Filename: d.Filename, Kind: d.Kind,
		Tags: d.Tags, Status: d.Status, Error: d.Error, ChunkCount: d.ChunkCount, ChunksDone: d.ChunksDone,
		SizeBytes: d.SizeBytes, CrawlPages: d.CrawlPages, CreatedAt: rfc3339(d.CreatedAt), UpdatedAt: rfc3339(d.UpdatedAt)}
	if !d.IndexedAt.IsZero() {
		at := rfc3339(d.IndexedAt)
		v.IndexedAt = &at
	}
	return v
}

// New describes a document to add: exactly one of Data (an upload), Text
// or URL.
type New struct {
	Title       string
	Tags        []string
	Filename    string
	ContentType string
	Data        []byte
	Text        string
	TextSet     bool
	URL         string
	Crawl       bool
	MaxPages    int
}

// maxTitle and the tag limits keep lists and filters bounded.
const (
	maxTitle  = 300
	maxTags   = 20
	maxTagLen = 50
)

// CheckTags validates tags: short, printable, no quotes or backslashes
// (they are matched inside a JSON array).
func CheckTags(field string, tags []string) ([]string, error) {
	if len(tags) > maxTags {
		return nil, apperr.Field(field, fmt.Sprintf("at most %d tags", maxTags))
	}
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > maxTagLen || strings.ContainsAny(t, "\"\\%_\x00") || !utf8.ValidString(t) {
			return nil, apperr.Field(field, fmt.Sprintf("tag %q must be 1–%d characters without quotes, backslashes, %% or _", t, maxTagLen))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// prepare validates a New and turns it into a document row and content.
func (s *Service) prepare(n New) (store.Document, []byte, error) {
	var fe apperr.Fields
	tags, err := CheckTags("tags", n.Tags)
	if err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	title := strings.TrimSpace(n.Title)
	if utf8.RuneCountInString(title) > maxTitle {
		fe.Add("title", fmt.Sprintf("must be at most %d characters", maxTitle))
	}
	d := store.Document{Title: title, Tags: tags}
	var content []byte
	sources := 0
	for _, set := range []bool{n.Data != nil, n.TextSet, n.URL != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		fe.Add("body", "give exactly one of: a file (multipart field \"file\"), text, or url")
	case n.Data != nil:
		d.Source, d.Filename = "upload", safeFilename(n.Filename)
		if int64(len(n.Data)) > s.opts.MaxUploadBytes {
			fe.Add("file", fmt.Sprintf("is larger than the %d MiB limit", s.opts.MaxUploadBytes>>20))
		} else if len(n.Data) == 0 {
			fe.Add("file", "is empty")
		} else if kind, err := extract.Sniff(n.Data, n.Filename, n.ContentType); err != nil {
			fe.Add("file", unsupportedReason(err))
		} else {
			d.Kind = string(kind)
		}
		if d.Title == "" {
			d.Title = titleFromFilename(d.Filename)
		}
		content = n.Data
	case n.TextSet:
		d.Source, d.Kind = "text", "md" // text is read as Markdown: plain text is valid Markdown
		text := strings.TrimSpace(n.Text)
		switch {
		case text == "":
			fe.Add("text", "is required")
		case int64(len(text)) > s.opts.MaxUploadBytes:
			fe.Add("text", fmt.Sprintf("is larger than the %d MiB limit", s.opts.MaxUploadBytes>>20))
		case !utf8.ValidString(text):
			fe.Add("text", "must be UTF-8")
		}
		if d.Title == "" {
			fe.Add("title", "is required with text")
		}
		content = []byte(text)
	default:
		d.Source = "url"
		u, err := url.Parse(strings.TrimSpace(n.URL))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			fe.Add("url", "must be an absolute http or https URL without credentials")
		} else {
			d.SourceURL = u.String()
		}
		if n.Crawl {
			d.CrawlPages = n.MaxPages
			if d.CrawlPages == 0 {
				d.CrawlPages = s.opts.MaxCrawlPages
			}
			if d.CrawlPages < 1 || d.CrawlPages > s.opts.MaxCrawlPages {
				fe.Add("max_pages", fmt.Sprintf("must be between 1 and %d", s.opts.MaxCrawlPages))
			}
		} else if n.MaxPages != 0 {
			fe.Add("max_pages", "is only for a crawl (crawl: true)")
		}
		if d.Title == "" {
			d.Title = d.SourceURL
		}
	}
	return d, content, fe.Err()
}

// Create adds a document and queues its ingest.
func (s *Service) Create(ctx context.Context, p *auth.Principal, n New) (View, error) {
	scope, err := p.Scope()
	if err != nil {
		return View{}, err
	}
	d, content, err := s.prepare(n)
	if err != nil {
		return View{}, err
	}
	var out store.Document
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		var err error
		if out, err = tx.CreateDocument(ctx, d, content); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, out.ID, out.Generation); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("document.created", "document", out.ID, auditJSON(map[string]any{"title": out.Title, "source": out.Source})))
	})
	if err != nil {
		return View{}, err
	}
	s.publish(ctx, p.TenantID, out)
	return view(out), nil
}

// Replace gives a document new content; its old chunks stay searchable
// until the new ones replace them in one transaction.
func (s *Service) Replace(ctx context.Context, p *auth.Principal, id string, n New) (View, error) {
	scope, err := p.Scope()
	if err != nil {
		return View{}, err
	}
	d, content, err := s.prepare(n)
	if err != nil {
		return View{}, err
	}
	return s.requeue(ctx, p, scope, id, &d, content, "document.replaced")
}

// Reindex runs the ingest of a document again from its stored content (a
// URL import fetches again).
func (s *Service) Reindex(ctx context.Context, p *auth.Principal, id string) (View, error) {
	scope, err := p.Scope()
	if err != nil {
		return View{}, err
	}
	return s.requeue(ctx, p, scope, id, nil, nil, "document.reindexed")
}

func (s *Service) requeue(ctx context.Context, p *auth.Principal, scope store.Scope, id string, d *store.Document, content []byte, action string) (View, error) {
	var out store.Document
	err := s.store.Write(ctx, scope, func(tx *store.Tx) error {
		gen, err := tx.RequeueDocument(ctx, id, d, content)
		if err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, id, gen); err != nil {
			return err
		}
		if out, err = tx.GetDocument(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit(action, "document", id, ""))
	})
	if err != nil {
		return View{}, err
	}
	s.publish(ctx, p.TenantID, out)
	return view(out), nil
}

func (s *Service) enqueue(ctx context.Context, tx *store.Tx, id string, gen int) error {
	if s.ingest == nil {
		return errors.New("knowledge: no ingest queue")
	}
	return s.ingest.EnqueueIngest(ctx, tx, id, gen)
}

// Get reads one document.
func (s *Service) Get(ctx context.Context, p *auth.Principal, id string) (View, error) {
	scope, err := p.Scope()
	if err != nil {
		return View{}, err
	}
	var d store.Document
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		d, err = tx.GetDocument(ctx, id)
		return err
	})
	return view(d), err
}

// List pages through documents.
func (s *Service) List(ctx context.Context, p *auth.Principal, f store.DocumentFilter, pg store.Page) ([]View, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var ds []store.Document
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		ds, err = tx.ListDocuments(ctx, f, pg)
		return err
	})
	out := make([]View, len(ds))
	for i, d := range ds {
		out[i] = view(d)
	}
	return out, err
}

// Delete removes a document, its chunks and vectors.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, id string) error {
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		if err := tx.DeleteDocument(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("document.deleted", "document", id, ""))
	})
	if err == nil {
		data, _ := json.Marshal(map[string]any{"type": "document", "document": map[string]string{"id": id, "status": "deleted"}})
		_ = s.bus.Publish(ctx, realtime.Event{TenantID: p.TenantID, Type: "document", Data: data})
	}
	return err
}

// ChunkView is a chunk as the API shows it.
type ChunkView struct {
	ID       string `json:"id"`
	Position int    `json:"position"`
	Heading  string `json:"heading"`
	Text     string `json:"text"`
}

// Chunks pages through a document's chunks (a preview for people).
func (s *Service) Chunks(ctx context.Context, p *auth.Principal, id string, after, limit int) ([]ChunkView, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var cs []store.Chunk
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		if _, err := tx.GetDocument(ctx, id); err != nil {
			return err
		}
		cs, err = tx.ChunkPage(ctx, id, after, limit)
		return err
	})
	out := make([]ChunkView, len(cs))
	for i, c := range cs {
		out[i] = ChunkView{ID: c.ID, Position: c.Position, Heading: c.Heading, Text: c.Text}
	}
	return out, err
}

// publish tells live dashboards about a document's state (tenant-wide
// event: no conversation).
func (s *Service) publish(ctx context.Context, tenantID string, d store.Document) {
	data, _ := json.Marshal(map[string]any{"type": "document", "document": view(d)})
	if err := s.bus.Publish(ctx, realtime.Event{TenantID: tenantID, Type: "document", Data: data}); err != nil {
		s.log.Warn("publish document event", "error", err, "tenant_id", tenantID, "document_id", d.ID)
	}
}

func unsupportedReason(err error) string {
	msg := err.Error()
	if errors.Is(err, extract.ErrUnsupported) {
		return "is not a supported document (txt, md, html, pdf or docx, recognised by content): " + msg
	}
	return msg
}

func safeFilename(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if utf8.RuneCountInString(name) > 200 {
		name = string([]rune(name)[:200])
	}
	return name
}

func titleFromFilename(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	name = strings.TrimSpace(strings.NewReplacer("_", " ", "-", " ").Replace(name))
	if name == "" {
		return "Untitled document"
	}
	return name
}

func auditJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
