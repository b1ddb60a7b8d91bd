package knowledge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/knowledge/chunk"
	"github.com/metachat/metachat/internal/knowledge/extract"
	"github.com/metachat/metachat/internal/knowledge/fetch"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/store"
)

// failure is an ingest error a person must act on: the document ends
// failed with Reason, and retrying would not help.
type failure struct{ Reason string }

func (f failure) Error() string { return f.Reason }

func fail(format string, args ...any) error { return failure{fmt.Sprintf(format, args...)} }

// Ingest processes one generation of a document: extract → chunk → embed
// → store. It returns nil when the generation is done (ready, failed with
// a reason, or superseded); an error asks the job to retry, and on the
// last attempt the error becomes the document's failure reason.
func (s *Service) Ingest(ctx context.Context, tenantID, documentID string, generation int, lastAttempt bool) error {
	scope := store.TenantScope(tenantID)
	log := s.log.With("tenant_id", tenantID, "document_id", documentID, "generation", generation)
	var d store.Document
	var content []byte
	err := s.store.Write(ctx, scope, func(tx *store.Tx) error {
		if err := tx.StartDocument(ctx, documentID, generation); err != nil {
			return err
		}
		var err error
		if d, err = tx.GetDocument(ctx, documentID); err != nil {
			return err
		}
		content, err = tx.DocumentContent(ctx, documentID)
		return err
	})
	if errors.Is(err, store.ErrStale) || apperr.Is(err, apperr.NotFound) {
		return nil // re-queued, replaced or deleted since: a newer job owns it
	}
	if err != nil {
		return fmt.Errorf("start ingest: %w", err)
	}
	s.publish(ctx, tenantID, d)

	started := time.Now()
	var chunks []store.Chunk
	err = guard(log, "ingest", func() error {
		var err error
		chunks, err = s.process(ctx, log, tenantID, &d, content)
		return err
	})
	if errors.Is(err, errPanic) {
		err = fail("processing the document hit an internal error (the server log has the details); re-index it to try again, or upload it in another format")
	}
	if errors.Is(err, store.ErrStale) {
		return nil // re-queued, replaced or deleted while it was processed
	}
	if err == nil {
		err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
			return tx.ReplaceChunks(ctx, documentID, generation, chunks)
		})
		if errors.Is(err, store.ErrStale) || apperr.Is(err, apperr.NotFound) {
			return nil
		}
	}
	var f failure
	switch {
	case err == nil:
		log.Info("document ready", "chunks", len(chunks), "took", time.Since(started))
	case errors.As(err, &f):
		log.Info("document failed", "reason", f.Reason)
		return s.failDocument(ctx, tenantID, documentID, generation, f.Reason)
	case lastAttempt && ctx.Err() == nil:
		log.Error("document failed after retries", "error", err)
		return s.failDocument(ctx, tenantID, documentID, generation, "processing failed after several attempts: "+err.Error())
	default:
		log.Warn("ingest attempt failed; it will be retried", "error", err)
		return err
	}
	s.publishCurrent(ctx, tenantID, documentID)
	return nil
}

func (s *Service) failDocument(ctx context.Context, tenantID, id string, gen int, reason string) error {
	err := s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		return tx.FailDocument(ctx, id, gen, reason)
	})
	if errors.Is(err, store.ErrStale) || apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.publishCurrent(ctx, tenantID, id)
	return nil
}

func (s *Service) publishCurrent(ctx context.Context, tenantID, id string) {
	var d store.Document
	err := s.store.Read(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		d, err = tx.GetDocument(ctx, id)
		return err
	})
	if err == nil {
		s.publish(ctx, tenantID, d)
	}
}

// errPanic reports that a stage of ingest panicked (guard).
var errPanic = errors.New("ingest panicked")

// guard runs fn, turning a panic into errPanic and logging it with its
// stack: a bug in chunking or an embedder must end the document failed
// with a reason, not leave it processing or take the worker down.
func guard(log *slog.Logger, stage string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("ingest panicked", "stage", stage, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = errPanic
		}
	}()
	return fn()
}

// setProgress records how many of a generation's chunks are done and
// tells live dashboards.
func (s *Service) setProgress(ctx context.Context, tenantID string, d *store.Document, done, total int) error {
	err := s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		return tx.SetDocumentProgress(ctx, d.ID, d.Generation, done, total)
	})
	if err != nil {
		return err
	}
	s.publishCurrent(ctx, tenantID, d.ID)
	return nil
}

// process turns a document's content into chunks (with embeddings when a
// model is configured). Progress is published as it goes: the chunk count
// once the text is cut, then the chunks done after every embedding batch;
// storing the chunks (Ingest) completes it.
func (s *Service) process(ctx context.Context, log *slog.Logger, tenantID string, d *store.Document, content []byte) ([]store.Chunk, error) {
	scope := store.TenantScope(tenantID)
	contentType := ""
	if d.Source == "url" && len(content) == 0 {
		page, err := s.fetchSource(ctx, tenantID, d)
		if err != nil {
			return nil, err
		}
		content, contentType = page.Body, page.ContentType
	}
	kind := extract.Kind(d.Kind)
	if d.Source != "text" || kind == "" {
		name := d.Filename
		if d.Source == "url" {
			if u, err := url.Parse(d.SourceURL); err == nil {
				name = path.Base(u.Path)
			}
		}
		k, err := extract.Sniff(content, name, contentType)
		if err != nil {
			return nil, fail("%s", unsupportedReason(err))
		}
		kind = k
	}
	doc, err := extract.Extract(kind, content)
	if err != nil {
		if errors.Is(err, extract.ErrMalformed) || errors.Is(err, extract.ErrUnsupported) {
			return nil, fail("%s", err.Error())
		}
		return nil, fail("could not read the document: %s", err.Error())
	}
	title := d.Title
	if (d.Source == "url" && title == d.SourceURL || d.Source == "upload" && title == titleFromFilename(d.Filename)) && strings.TrimSpace(doc.Title) != "" {
		title = strings.TrimSpace(doc.Title)
	}
	if string(kind) != d.Kind || title != d.Title || d.Source == "url" {
		err := s.store.Write(ctx, scope, func(tx *store.Tx) error {
			return tx.SetDocumentSource(ctx, d.ID, d.Generation, string(kind), title, content)
		})
		if err != nil {
			return nil, err
		}
		d.Kind, d.Title = string(kind), title
	}
	var pieces []chunk.Chunk
	err = guard(log, "chunk", func() error {
		pieces = s.split(doc, chunk.Options{TargetWords: s.opts.ChunkWords, OverlapWords: s.opts.OverlapWords})
		return nil
	})
	if err != nil {
		return nil, fail("the document's text could not be cut into chunks (an internal error; the server log has the details); re-index it to try again, or upload it as plain text")
	}
	if len(pieces) == 0 {
		return nil, fail("no text found in the document")
	}
	chunks := make([]store.Chunk, len(pieces))
	for i, p := range pieces {
		chunks[i] = store.Chunk{ID: store.NewID(), DocumentID: d.ID, Position: p.Position, Heading: strings.Join(p.HeadingPath, " › "), Text: p.Text}
	}
	if err := s.setProgress(ctx, tenantID, d, 0, len(chunks)); err != nil {
		return nil, err
	}
	if s.embed == nil {
		return chunks, nil
	}
	for start := 0; start < len(chunks); start += s.opts.EmbedBatch {
		batch := chunks[start:min(start+s.opts.EmbedBatch, len(chunks))]
		texts := make([]string, len(batch))
		for i, c := range batch {
			texts[i] = indexText(d.Title, c.Heading, c.Text)
		}
		var vecs [][]float32
		err := guard(log, "embed", func() error {
			var err error
			vecs, err = s.embed.Embed(ctx, texts)
			return err
		})
		if errors.Is(err, errPanic) {
			return nil, fail("the embedding model's answer could not be used (an internal error; the server log has the details); re-index the document to try again")
		}
		if errors.Is(err, llm.ErrBadCredentials) || errors.Is(err, llm.ErrBadRequest) {
			// Trying again cannot help: say so now, not after every retry.
			return nil, fail("the embedding model refused the request (%v); check METACHAT_EMBEDDING_MODEL and its API key, then re-index the document", err)
		}
		if err != nil {
			return nil, fmt.Errorf("embed chunks: %w", err)
		}
		if len(vecs) != len(batch) {
			return nil, fmt.Errorf("embed chunks: %d vectors for %d texts", len(vecs), len(batch))
		}
		for i := range batch {
			batch[i].Embedding = vecs[i]
		}
		if err := s.setProgress(ctx, tenantID, d, start+len(batch), len(chunks)); err != nil {
			return nil, err
		}
	}
	return chunks, nil
}

// fetchSource gets a URL document's page; a crawl also adds a document for
// every other page it finds (each ingested by its own job).
func (s *Service) fetchSource(ctx context.Context, tenantID string, d *store.Document) (fetch.Page, error) {
	if s.fetcher == nil {
		return fetch.Page{}, fail("URL import is not available on this server")
	}
	if d.CrawlPages <= 0 {
		page, err := s.fetcher.Get(ctx, d.SourceURL)
		return page, fetchFailure(d.SourceURL, err)
	}
	res, err := s.fetcher.Crawl(ctx, d.SourceURL, d.CrawlPages)
	if err != nil {
		return fetch.Page{}, fetchFailure(d.SourceURL, err)
	}
	if len(res.Pages) == 0 {
		if len(res.Errors) > 0 {
			return fetch.Page{}, fetchFailure(res.Errors[0].URL, res.Errors[0].Err)
		}
		return fetch.Page{}, fail("the crawl of %s found no pages", d.SourceURL)
	}
	first, rest := res.Pages[0], res.Pages[1:]
	for i, p := range res.Pages {
		if p.URL == d.SourceURL {
			first = p
			rest = append(append([]fetch.Page{}, res.Pages[:i]...), res.Pages[i+1:]...)
			break
		}
	}
	err = s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		for _, p := range rest {
			if p.URL == d.SourceURL {
				continue
			}
			child := store.Document{Title: p.URL, Source: "url", SourceURL: p.URL, Tags: d.Tags}
			var id string
			var gen int
			if old, err := tx.DocumentByURL(ctx, p.URL); err == nil {
				// Crawling again refreshes the pages found before.
				child.Title = old.Title
				id = old.ID
				if gen, err = tx.RequeueDocument(ctx, id, &child, p.Body); err != nil {
					return err
				}
			} else if !apperr.Is(err, apperr.NotFound) {
				return err
			} else {
				created, err := tx.CreateDocument(ctx, child, p.Body)
				if err != nil {
					return err
				}
				id, gen = created.ID, created.Generation
			}
			if err := s.enqueue(ctx, tx, id, gen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fetch.Page{}, fmt.Errorf("add crawled pages: %w", err)
	}
	return first, nil
}

// fetchFailure turns a fetch error into a reason a person can act on;
// network trouble stays an error, so the job retries.
func fetchFailure(u string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fetch.ErrBlocked):
		return fail("%s points to a private or internal address, which imports may not reach (%v); a server administrator can allow a range with METACHAT_FETCH_ALLOW", u, err)
	case errors.Is(err, fetch.ErrBadURL):
		return fail("%s is not a URL that can be imported: %v", u, err)
	case errors.Is(err, fetch.ErrTooManyRedirects):
		return fail("%s redirects too many times", u)
	case errors.Is(err, fetch.ErrTooLarge):
		return fail("%s is larger than the import size limit", u)
	case errors.Is(err, fetch.ErrStatus):
		if strings.Contains(err.Error(), " 5") {
			return fmt.Errorf("fetch %s: %w", u, err) // the site may recover: retry
		}
		return fail("%s could not be fetched: %v", u, err)
	}
	return fmt.Errorf("fetch %s: %w", u, err)
}
