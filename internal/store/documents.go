package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
)

// Document is a tenant's knowledge document. Content (the original bytes)
// is read separately: lists never carry it.
type Document struct {
	ID                string
	Title             string
	Source            string // upload | text | url
	SourceURL         string
	Filename          string
	Kind              string // txt | md | html | pdf | docx, once sniffed
	Tags              []string
	Status            string // queued | processing | ready | failed
	Error             string
	ChunkCount        int
	ChunksDone        int
	SizeBytes         int64
	CrawlPages        int // >0: the URL is the start of a crawl of up to this many pages
	Generation        int // bumped by every re-index or replacement
	IndexedGeneration int // the generation whose chunks are stored (0: none)
	CreatedAt         time.Time
	UpdatedAt         time.Time
	IndexedAt         time.Time
}

// Chunk is a searchable piece of a document.
type Chunk struct {
	ID         string
	DocumentID string
	Position   int
	Heading    string // the heading path, " › "-joined
	Text       string
	Embedding  []float32
}

// ErrStale reports that a document changed (re-indexed, replaced or
// deleted) after a job read it: the job's result must be dropped.
var ErrStale = errors.New("document changed since the job started")

const documentCols = `id, title, source, source_url, filename, kind, tags, status, error, chunk_count, chunks_done,
size_bytes, crawl_pages, generation, indexed_generation, created_at, updated_at, indexed_at`

func scanDocument(sc interface{ Scan(...any) error }) (Document, error) {
	var d Document
	var tags string
	var c, u, ix int64
	err := sc.Scan(&d.ID, &d.Title, &d.Source, &d.SourceURL, &d.Filename, &d.Kind, &tags, &d.Status, &d.Error,
		&d.ChunkCount, &d.ChunksDone, &d.SizeBytes, &d.CrawlPages, &d.Generation, &d.IndexedGeneration, &c, &u, &ix)
	if err != nil {
		return d, err
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(c), fromMicros(u)
	if ix > 0 {
		d.IndexedAt = fromMicros(ix)
	}
	d.Tags = []string{}
	if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
		return d, fmt.Errorf("document %s tags: %w", d.ID, err)
	}
	return d, nil
}

func tagsJSON(tags []string) string {
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// CreateDocument stores a new document, queued, with its original bytes.
func (t *Tx) CreateDocument(ctx context.Context, d Document, content []byte) (Document, error) {
	if d.ID == "" {
		d.ID = NewID()
	}
	d.Status, d.Generation, d.CreatedAt, d.UpdatedAt = "queued", 1, t.Now, t.Now
	d.SizeBytes = int64(len(content))
	if d.Tags == nil {
		d.Tags = []string{}
	}
	_, err := t.exec(ctx, `INSERT INTO documents (tenant_id, id, title, source, source_url, filename, kind, tags, status,
size_bytes, crawl_pages, generation, content, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)`,
		t.tenant(), d.ID, d.Title, d.Source, d.SourceURL, d.Filename, d.Kind, tagsJSON(d.Tags), d.Status,
		d.SizeBytes, d.CrawlPages, d.Generation, content, micros(t.Now))
	if err != nil {
		return Document{}, fmt.Errorf("create document: %w", err)
	}
	return d, nil
}

// GetDocument reads one of the scope's tenant's documents.
func (t *Tx) GetDocument(ctx context.Context, id string) (Document, error) {
	d, err := scanDocument(t.queryRow(ctx, `SELECT `+documentCols+` FROM documents WHERE tenant_id = $1 AND id = $2`, t.tenant(), id))
	return d, notFound(err, "document")
}

// DocumentContent reads a document's original bytes.
func (t *Tx) DocumentContent(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := t.queryRow(ctx, `SELECT content FROM documents WHERE tenant_id = $1 AND id = $2`, t.tenant(), id).Scan(&b)
	return b, notFound(err, "document")
}

// DocumentFilter narrows a document list.
type DocumentFilter struct {
	Status string
	Tag    string
}

// ListDocuments pages through the scope's tenant's documents.
func (t *Tx) ListDocuments(ctx context.Context, f DocumentFilter, p Page) ([]Document, error) {
	q := `SELECT ` + documentCols + ` FROM documents WHERE tenant_id = $1 AND id > $2`
	args := []any{t.tenant(), p.bound()}
	if f.Status != "" {
		args = append(args, f.Status)
		q += ` AND status = $` + strconv.Itoa(len(args))
	}
	if f.Tag != "" {
		// Tags are a JSON array of strings; the quoted form matches one
		// whole tag (tags are validated to hold no quotes or backslashes).
		args = append(args, `%"`+f.Tag+`"%`)
		q += ` AND tags LIKE $` + strconv.Itoa(len(args))
	}
	args = append(args, p.Limit)
	q += ` ORDER BY id LIMIT $` + strconv.Itoa(len(args))
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	defer rows.Close()
	out := []Document{}
	for rows.Next() {
		d, err := scanDocument(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeleteDocument removes a document with its chunks.
func (t *Tx) DeleteDocument(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `DELETE FROM documents WHERE tenant_id = $1 AND id = $2`, t.tenant(), id)
	if err := mustAffect(res, err, "document"); err != nil {
		return err
	}
	return t.bumpKnowledge(ctx)
}

// RequeueDocument starts a new generation of a document: status queued,
// optionally with new content and metadata. Its current chunks stay
// searchable until the new generation's replace them. It returns the new
// generation.
func (t *Tx) RequeueDocument(ctx context.Context, id string, replace *Document, content []byte) (int, error) {
	var gen int
	var err error
	if replace == nil {
		// A URL import is fetched again: its stored copy is dropped.
		err = t.queryRow(ctx, `UPDATE documents SET status = 'queued', error = '', chunks_done = 0, generation = generation + 1, updated_at = $1,
content = CASE WHEN source = 'url' THEN NULL ELSE content END
WHERE tenant_id = $2 AND id = $3 RETURNING generation`, micros(t.Now), t.tenant(), id).Scan(&gen)
	} else {
		d := replace
		err = t.queryRow(ctx, `UPDATE documents SET status = 'queued', error = '', chunks_done = 0, generation = generation + 1, updated_at = $1,
title = $2, source = $3, source_url = $4, filename = $5, kind = $6, tags = $7, size_bytes = $8, crawl_pages = $9, content = $10
WHERE tenant_id = $11 AND id = $12 RETURNING generation`, micros(t.Now), d.Title, d.Source, d.SourceURL, d.Filename, d.Kind,
			tagsJSON(d.Tags), int64(len(content)), d.CrawlPages, content, t.tenant(), id).Scan(&gen)
	}
	return gen, notFound(err, "document")
}

// StartDocument marks a generation processing; ErrStale when the document
// moved on or is gone.
func (t *Tx) StartDocument(ctx context.Context, id string, generation int) error {
	res, err := t.exec(ctx, `UPDATE documents SET status = 'processing', error = '', updated_at = $1 WHERE tenant_id = $2 AND id = $3 AND generation = $4`,
		micros(t.Now), t.tenant(), id, generation)
	return staleUnlessAffected(res, err)
}

// SetDocumentSource records what ingest learned about a generation: the
// sniffed kind, the content actually fetched, a better title.
func (t *Tx) SetDocumentSource(ctx context.Context, id string, generation int, kind, title string, content []byte) error {
	res, err := t.exec(ctx, `UPDATE documents SET kind = $1, title = $2, content = $3, size_bytes = $4, updated_at = $5
WHERE tenant_id = $6 AND id = $7 AND generation = $8`, kind, title, content, int64(len(content)), micros(t.Now), t.tenant(), id, generation)
	return staleUnlessAffected(res, err)
}

// SetDocumentProgress records how many chunks of a generation are done.
func (t *Tx) SetDocumentProgress(ctx context.Context, id string, generation, done, total int) error {
	res, err := t.exec(ctx, `UPDATE documents SET chunks_done = $1, chunk_count = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5 AND generation = $6`,
		done, total, micros(t.Now), t.tenant(), id, generation)
	return staleUnlessAffected(res, err)
}

// FailDocument ends a generation failed with a reason a person can act on.
func (t *Tx) FailDocument(ctx context.Context, id string, generation int, reason string) error {
	res, err := t.exec(ctx, `UPDATE documents SET status = 'failed', error = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4 AND generation = $5`,
		reason, micros(t.Now), t.tenant(), id, generation)
	return staleUnlessAffected(res, err)
}

// ReplaceChunks swaps a document's chunks for a generation's, marks it
// ready and bumps the tenant's knowledge version — one transaction, so a
// search sees either the old chunks or the new ones, never a mix.
func (t *Tx) ReplaceChunks(ctx context.Context, id string, generation int, chunks []Chunk) error {
	res, err := t.exec(ctx, `UPDATE documents SET status = 'ready', error = '', chunk_count = $1, chunks_done = $1, indexed_generation = generation,
indexed_at = $2, updated_at = $2 WHERE tenant_id = $3 AND id = $4 AND generation = $5`, len(chunks), micros(t.Now), t.tenant(), id, generation)
	if err := staleUnlessAffected(res, err); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM chunks WHERE tenant_id = $1 AND document_id = $2`, t.tenant(), id); err != nil {
		return fmt.Errorf("delete chunks: %w", err)
	}
	const perStatement = 100
	for start := 0; start < len(chunks); start += perStatement {
		batch := chunks[start:min(start+perStatement, len(chunks))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO chunks (tenant_id, id, document_id, position, heading, text, embedding) VALUES `)
		args := make([]any, 0, len(batch)*7)
		for i, c := range batch {
			if c.ID == "" {
				c.ID = NewID()
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
			args = append(args, t.tenant(), c.ID, id, c.Position, c.Heading, c.Text, EncodeVector(c.Embedding))
		}
		if _, err := t.exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("insert chunks: %w", err)
		}
	}
	return t.bumpKnowledge(ctx)
}

func staleUnlessAffected(res interface{ RowsAffected() (int64, error) }, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrStale
	}
	return nil
}

func (t *Tx) bumpKnowledge(ctx context.Context) error {
	_, err := t.exec(ctx, `INSERT INTO knowledge_state (tenant_id, version) VALUES ($1, 1)
ON CONFLICT (tenant_id) DO UPDATE SET version = knowledge_state.version + 1`, t.tenant())
	if err != nil {
		return fmt.Errorf("bump knowledge version: %w", err)
	}
	return nil
}

// KnowledgeVersion is the tenant's searchable-set version (0: nothing yet).
func (t *Tx) KnowledgeVersion(ctx context.Context) (int64, error) {
	var v int64
	err := t.queryRow(ctx, `SELECT version FROM knowledge_state WHERE tenant_id = $1`, t.tenant()).Scan(&v)
	if apperr.Is(notFound(err, "knowledge"), apperr.NotFound) {
		return 0, nil
	}
	return v, err
}

// IndexedDocument is what an in-memory index needs to know of a document.
type IndexedDocument struct {
	ID         string
	Title      string
	Tags       []string
	Generation int
}

// IndexedDocuments lists the documents that have chunks stored.
func (t *Tx) IndexedDocuments(ctx context.Context) ([]IndexedDocument, error) {
	rows, err := t.query(ctx, `SELECT id, title, tags, indexed_generation FROM documents WHERE tenant_id = $1 AND indexed_generation > 0`, t.tenant())
	if err != nil {
		return nil, fmt.Errorf("list indexed documents: %w", err)
	}
	defer rows.Close()
	var out []IndexedDocument
	for rows.Next() {
		var d IndexedDocument
		var tags string
		if err := rows.Scan(&d.ID, &d.Title, &tags, &d.Generation); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
			return nil, fmt.Errorf("document %s tags: %w", d.ID, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ChunksOf reads the chunks of the given documents (all the tenant's when
// ids is nil), in document and position order.
func (t *Tx) ChunksOf(ctx context.Context, ids []string, withEmbeddings bool) ([]Chunk, error) {
	emb := "NULL"
	if withEmbeddings {
		emb = "embedding"
	}
	q := `SELECT id, document_id, position, heading, text, ` + emb + ` FROM chunks WHERE tenant_id = $1`
	args := []any{t.tenant()}
	if ids != nil {
		if len(ids) == 0 {
			return nil, nil
		}
		var in string
		args, in = inList(args, ids)
		q += ` AND document_id IN (` + in + `)`
	}
	q += ` ORDER BY document_id, position`
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read chunks: %w", err)
	}
	defer rows.Close()
	var out []Chunk
	for rows.Next() {
		var c Chunk
		var e []byte
		if err := rows.Scan(&c.ID, &c.DocumentID, &c.Position, &c.Heading, &c.Text, &e); err != nil {
			return nil, err
		}
		c.Embedding = DecodeVector(e)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ChunkPage pages through one document's chunks by position.
func (t *Tx) ChunkPage(ctx context.Context, documentID string, afterPosition, limit int) ([]Chunk, error) {
	rows, err := t.query(ctx, `SELECT id, document_id, position, heading, text FROM chunks
WHERE tenant_id = $1 AND document_id = $2 AND position > $3 ORDER BY position LIMIT $4`, t.tenant(), documentID, afterPosition, limit)
	if err != nil {
		return nil, fmt.Errorf("read chunks: %w", err)
	}
	defer rows.Close()
	out := []Chunk{}
	for rows.Next() {
		var c Chunk
		if err := rows.Scan(&c.ID, &c.DocumentID, &c.Position, &c.Heading, &c.Text); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// EncodeVector stores an embedding as little-endian float32s (nil stays
// NULL).
func EncodeVector(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// DecodeVector reads what EncodeVector wrote.
func DecodeVector(b []byte) []float32 {
	if len(b) == 0 || len(b)%4 != 0 {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// ChunksByID reads chunks by id (without embeddings), keyed by id.
func (t *Tx) ChunksByID(ctx context.Context, ids []string) (map[string]Chunk, error) {
	out := make(map[string]Chunk, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args, in := inList([]any{t.tenant()}, ids)
	rows, err := t.query(ctx, `SELECT id, document_id, position, heading, text FROM chunks WHERE tenant_id = $1 AND id IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read chunks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Chunk
		if err := rows.Scan(&c.ID, &c.DocumentID, &c.Position, &c.Heading, &c.Text); err != nil {
			return nil, err
		}
		out[c.ID] = c
	}
	return out, rows.Err()
}

// DocumentByURL finds the tenant's document imported from a URL.
func (t *Tx) DocumentByURL(ctx context.Context, sourceURL string) (Document, error) {
	d, err := scanDocument(t.queryRow(ctx, `SELECT `+documentCols+` FROM documents WHERE tenant_id = $1 AND source = 'url' AND source_url = $2 ORDER BY id LIMIT 1`, t.tenant(), sourceURL))
	return d, notFound(err, "document")
}

// inList appends values to args as bind parameters and returns the
// placeholder list for an IN (…) clause: values never enter the SQL text.
func inList(args []any, values []string) ([]any, string) {
	ph := make([]string, len(values))
	for i, v := range values {
		args = append(args, v)
		ph[i] = "$" + strconv.Itoa(len(args))
	}
	return args, strings.Join(ph, ", ")
}
