package knowledge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/knowledge/index"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/store"
)

// indexes keeps one in-memory index per tenant. The database is the truth:
// an index is derived from the stored chunks and catches up whenever the
// tenant's knowledge version moved (in this process or another), so every
// process of a PostgreSQL deployment answers from the same data.
//
// Because an index can always be rebuilt, memory is bounded by dropping
// them: a tenant's index goes when it has not been searched for idle (swept
// whenever any tenant searches), when it holds no chunks at all, and,
// least recently used first, when the indexes together hold more than
// maxChunks chunks. The index being searched is never dropped by its own
// search, so a tenant larger than the cap still gets answers (it is
// loaded again when next searched after another tenant pushed it out).
type indexes struct {
	st        *store.Store
	now       func() time.Time
	idle      time.Duration
	maxChunks int

	mu        sync.Mutex
	m         map[string]*tenantIndex
	total     int // sum of the indexes' size
	lastSweep time.Time
}

type tenantIndex struct {
	// lastUsed and size are guarded by indexes.mu.
	lastUsed time.Time
	size     int // chunks held, as of the last catch-up

	// current is the knowledge version the index holds (-1: not loaded).
	// It is read without mu so that searches of an index already up to
	// date neither wait for each other nor for a catch-up.
	current atomic.Int64
	vectors atomic.Bool // some chunk has an embedding

	mu   sync.Mutex // serialises catching up
	ix   *index.Index
	docs map[string]store.IndexedDocument
}

// Index limits by default.
const (
	defaultIndexIdle        = 30 * time.Minute
	defaultMaxIndexedChunks = 500_000
	// sweepEvery bounds how often get looks for idle indexes.
	sweepEvery = time.Minute
)

func newIndexes(st *store.Store, idle time.Duration, maxChunks int) *indexes {
	if idle <= 0 {
		idle = defaultIndexIdle
	}
	if maxChunks <= 0 {
		maxChunks = defaultMaxIndexedChunks
	}
	return &indexes{st: st, now: time.Now, idle: idle, maxChunks: maxChunks, m: map[string]*tenantIndex{}}
}

// loadBatch bounds the documents whose chunks are read in one query.
const loadBatch = 500

// get returns the tenant's index, caught up to its knowledge version;
// version < 0 means not known yet (it is read first).
func (is *indexes) get(ctx context.Context, tenantID string, version int64) (*tenantIndex, error) {
	now := is.now()
	is.mu.Lock()
	ti, ok := is.m[tenantID]
	if !ok {
		ti = &tenantIndex{ix: index.New(index.Params{}), docs: map[string]store.IndexedDocument{}}
		ti.current.Store(-1)
		is.m[tenantID] = ti
	}
	ti.lastUsed = now
	if now.Sub(is.lastSweep) >= sweepEvery {
		is.lastSweep = now
		for id, other := range is.m {
			if now.Sub(other.lastUsed) >= is.idle {
				is.drop(id, other)
			}
		}
	}
	is.mu.Unlock()

	if err := ti.catchUp(ctx, is.st, tenantID, version); err != nil {
		return nil, fmt.Errorf("load the knowledge index: %w", err)
	}

	size := ti.ix.Len()
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.m[tenantID] != ti {
		return ti, nil // dropped meanwhile: this search still uses it
	}
	if size == 0 {
		// Nothing indexed: nothing worth keeping (a tenant without
		// documents costs one version read per search either way).
		is.drop(tenantID, ti)
		return ti, nil
	}
	is.total += size - ti.size
	ti.size = size
	for is.total > is.maxChunks {
		var lru string
		var oldest *tenantIndex
		for id, other := range is.m {
			if other != ti && (oldest == nil || other.lastUsed.Before(oldest.lastUsed)) {
				lru, oldest = id, other
			}
		}
		if oldest == nil {
			break // only this tenant's index is left
		}
		is.drop(lru, oldest)
	}
	return ti, nil
}

// drop forgets a tenant's index; is.mu is held.
func (is *indexes) drop(tenantID string, ti *tenantIndex) {
	delete(is.m, tenantID)
	is.total -= ti.size
}

// catchUp brings the index to the tenant's knowledge version v (read
// here when v < 0).
func (ti *tenantIndex) catchUp(ctx context.Context, st *store.Store, tenantID string, v int64) error {
	scope := store.TenantScope(tenantID)
	if v < 0 {
		err := st.Read(ctx, scope, func(tx *store.Tx) error {
			var err error
			v, err = tx.KnowledgeVersion(ctx)
			return err
		})
		if err != nil {
			return err
		}
	}
	if cur := ti.current.Load(); cur >= 0 && cur >= v {
		return nil // up to date: no lock taken
	}

	ti.mu.Lock()
	defer ti.mu.Unlock()
	// One read transaction: the version, the document list and the chunks
	// are one consistent snapshot.
	return st.Read(ctx, scope, func(tx *store.Tx) error {
		v, err := tx.KnowledgeVersion(ctx)
		if err != nil {
			return err
		}
		if cur := ti.current.Load(); cur >= 0 && cur >= v {
			return nil // another search caught up meanwhile
		}
		docs, err := tx.IndexedDocuments(ctx)
		if err != nil {
			return err
		}
		current := make(map[string]store.IndexedDocument, len(docs))
		var load []string
		for _, d := range docs {
			current[d.ID] = d
			if old, ok := ti.docs[d.ID]; !ok || changed(old, d) {
				load = append(load, d.ID)
			}
		}
		for id, old := range ti.docs {
			if cur, ok := current[id]; !ok || changed(old, cur) {
				ti.ix.RemoveGroup(id)
				delete(ti.docs, id)
			}
		}
		if ti.current.Load() < 0 && len(load) == len(docs) && len(docs) > 0 {
			load = nil // first load: read every chunk in one pass
			chunks, err := tx.ChunksOf(ctx, nil, true)
			if err != nil {
				return err
			}
			ti.add(chunks, current)
		}
		for start := 0; start < len(load); start += loadBatch {
			ids := load[start:min(start+loadBatch, len(load))]
			chunks, err := tx.ChunksOf(ctx, ids, true)
			if err != nil {
				return err
			}
			ti.add(chunks, current)
		}
		for _, d := range docs {
			ti.docs[d.ID] = d
		}
		ti.current.Store(v)
		return nil
	})
}

func (ti *tenantIndex) add(chunks []store.Chunk, docs map[string]store.IndexedDocument) {
	batch := make([]index.Doc, 0, len(chunks))
	for _, c := range chunks {
		d, ok := docs[c.DocumentID]
		if !ok {
			continue
		}
		if len(c.Embedding) > 0 {
			ti.vectors.Store(true)
		}
		batch = append(batch, index.Doc{ID: c.ID, Group: c.DocumentID, Tags: d.Tags, Text: indexText(d.Title, c.Heading, c.Text), Vector: c.Embedding})
	}
	ti.ix.Add(batch...)
}

// indexText is what a chunk is found by: the document's title and the
// chunk's headings give a short passage its context.
func indexText(title, heading, text string) string {
	return title + "\n" + heading + "\n" + text
}

// changed reports whether a document's indexed chunks are out of date:
// a new generation, or a title or tags (both indexed with every chunk).
func changed(old, cur store.IndexedDocument) bool {
	return old.Generation != cur.Generation || old.Title != cur.Title || !slices.Equal(old.Tags, cur.Tags)
}

// SearchRequest is a retrieval query.
type SearchRequest struct {
	Query       string   `json:"query"`
	TopK        int      `json:"top_k"`
	DocumentIDs []string `json:"document_ids"`
	Tags        []string `json:"tags"`
}

// Result is one retrieved chunk.
type Result struct {
	DocumentID string  `json:"document_id"`
	ChunkID    string  `json:"chunk_id"`
	Title      string  `json:"title"`
	Heading    string  `json:"heading"`
	Text       string  `json:"text"`
	Score      float64 `json:"score"`
	// Relevance (0–1) is the measure assistants' minimum relevance
	// compares with: the share of the query's terms the chunk contains or,
	// when higher, the chunk's cosine similarity to the query if the vector
	// ranking found it at minVectorSimilarity or above.
	Relevance float64 `json:"relevance"`
}

// minVectorSimilarity is the cosine similarity from which a chunk the
// vector ranking found counts as relevant on its own. Keyword coverage
// alone would give a chunk found only by meaning (a paraphrase sharing no
// word with the query) relevance 0 and Retrieve would drop it, which
// defeats the point of embeddings; taking the larger of coverage and
// similarity keeps such chunks, and the floor keeps the nearest
// neighbours of an unrelated query out (vector search always returns
// some). Similarity scales differ between models; an assistant's
// min_relevance raises the bar further where needed.
const minVectorSimilarity = 0.3

const (
	maxQuery = 2000
	maxTopK  = 100
	// candidates is how deep each ranking goes before fusion.
	candidates = 100
)

// Search retrieves the chunks best matching a query.
func (s *Service) Search(ctx context.Context, p *auth.Principal, req SearchRequest) ([]Result, error) {
	var fe apperr.Fields
	req.Query = strings.TrimSpace(req.Query)
	switch {
	case req.Query == "":
		fe.Add("query", "is required")
	case utf8.RuneCountInString(req.Query) > maxQuery:
		fe.Add("query", fmt.Sprintf("must be at most %d characters", maxQuery))
	}
	if req.TopK == 0 {
		req.TopK = 5
	}
	if req.TopK < 1 || req.TopK > maxTopK {
		fe.Add("top_k", fmt.Sprintf("must be between 1 and %d", maxTopK))
	}
	if len(req.DocumentIDs) > 100 {
		fe.Add("document_ids", "at most 100 ids")
	}
	for _, id := range req.DocumentIDs {
		if !store.ValidID(id) {
			fe.Add("document_ids", fmt.Sprintf("%q is not an id", id))
			break
		}
	}
	if _, err := CheckTags("tags", req.Tags); err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	if _, err := p.Scope(); err != nil {
		return nil, err
	}
	return s.search(ctx, p.TenantID, -1, req)
}

// search runs a validated query for a tenant.
func (s *Service) search(ctx context.Context, tenantID string, version int64, req SearchRequest) ([]Result, error) {
	ti, err := s.indexes.get(ctx, tenantID, version)
	if err != nil {
		return nil, err
	}
	filter := index.Filter{Groups: req.DocumentIDs, Tags: req.Tags}
	hits := ti.ix.Keyword(req.Query, max(req.TopK, candidates), filter)
	var similarity map[string]float64 // chunk id → cosine similarity to the query
	if ti.vectors.Load() && s.embed != nil {
		vecs, err := s.embed.Embed(ctx, []string{req.Query})
		if err != nil {
			// Keyword results still answer; the log says why vectors did not.
			s.log.Warn("embed the query; searching by keywords only", "error", err, "tenant_id", tenantID)
		} else if len(vecs) == 1 {
			near := ti.ix.Vector(vecs[0], candidates, filter)
			similarity = make(map[string]float64, len(near))
			for _, h := range near {
				similarity[h.ID] = h.Score
			}
			hits = index.Fuse(candidates, hits, near)
		}
	}
	if len(hits) > req.TopK {
		hits = hits[:req.TopK]
	}
	if len(hits) == 0 {
		return []Result{}, nil
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	var chunks map[string]store.Chunk
	err = s.store.Read(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		chunks, err = tx.ChunksByID(ctx, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	terms := distinct(index.Analyze(req.Query))
	out := make([]Result, 0, len(hits))
	for _, h := range hits {
		c, ok := chunks[h.ID]
		if !ok {
			continue // deleted since the index caught up
		}
		title := ti.docTitle(c.DocumentID)
		rel := coverage(terms, indexText(title, c.Heading, c.Text))
		if sim, ok := similarity[c.ID]; ok && sim >= minVectorSimilarity {
			rel = max(rel, min(sim, 1))
		}
		out = append(out, Result{DocumentID: c.DocumentID, ChunkID: c.ID, Title: title, Heading: c.Heading, Text: c.Text,
			Score: h.Score, Relevance: rel})
	}
	return out, nil
}

func (ti *tenantIndex) docTitle(id string) string {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.docs[id].Title
}

func distinct(terms []string) []string {
	seen := make(map[string]bool, len(terms))
	out := terms[:0:0]
	for _, t := range terms {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// coverage is the share of the query terms found in text.
func coverage(queryTerms []string, text string) float64 {
	if len(queryTerms) == 0 {
		return 0
	}
	have := map[string]bool{}
	for _, t := range index.Analyze(text) {
		have[t] = true
	}
	n := 0
	for _, t := range queryTerms {
		if have[t] {
			n++
		}
	}
	return float64(n) / float64(len(queryTerms))
}

// Retrieve finds passages for a reply (assistants.Retriever): the best
// topK chunks whose relevance reaches minRelevance. version is the
// tenant's knowledge version as the caller read it (-1: read it here); at
// 0 nothing was ever indexed, so there is nothing to search.
func (s *Service) Retrieve(ctx context.Context, tenantID string, version int64, query string, topK int, minRelevance float64) ([]llm.Passage, error) {
	query = strings.TrimSpace(query)
	if query == "" || version == 0 {
		return nil, nil
	}
	if utf8.RuneCountInString(query) > maxQuery {
		query = string([]rune(query)[:maxQuery])
	}
	start := time.Now()
	rs, err := s.search(ctx, tenantID, version, SearchRequest{Query: query, TopK: min(max(topK, 1), maxTopK)})
	if err != nil {
		return nil, err
	}
	var out []llm.Passage
	for _, r := range rs {
		if r.Relevance <= 0 || r.Relevance < minRelevance {
			continue
		}
		title := r.Title
		if r.Heading != "" {
			title += " › " + r.Heading
		}
		out = append(out, llm.Passage{DocumentID: r.DocumentID, ChunkID: r.ChunkID, Title: title, Text: r.Text, Score: r.Relevance})
	}
	s.log.Debug("retrieved knowledge", "tenant_id", tenantID, "passages", len(out), "candidates", len(rs), "took", time.Since(start))
	return out, nil
}
