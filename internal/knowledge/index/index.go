// Package index is an in-process retrieval index over knowledge chunks: BM25
// keyword search, cosine vector search (exact, or through an IVF index built
// in the background once an exact scan would take ~10 ms; see vector.go),
// and reciprocal rank fusion of the two.
//
// There is one Index per tenant. The database stays the source of truth for
// chunks on both SQLite and PostgreSQL deployments; the caller builds the
// index from it at start-up and keeps it in sync with Add and RemoveGroup
// (Groups lets it find documents that drifted). Nothing here is persisted.
//
// Documents are numbered densely in insertion order. Removing one only marks
// its number dead (a tombstone); the posting lists are rewritten without dead
// documents once they exceed a quarter of all numbers, so an index that lives
// for months with steady churn does not slowly fill with garbage. Collection
// statistics (document count, document frequency, average length) always
// count live documents only, so scores do not depend on when compaction last
// ran.
package index

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Params are the BM25 parameters. Zero values select the defaults K1 = 0.9
// and B = 0.4, which Anserini found to work well for short passages and
// abstracts.
type Params struct {
	K1, B float64
}

// Doc is one chunk to index.
type Doc struct {
	ID    string   // chunk id, unique within the index; empty IDs are ignored
	Group string   // id of the document the chunk belongs to
	Tags  []string // labels a search can filter on
	Text  string   // text to index: title + heading path + body
	// Vector is an optional embedding. Chunks may carry vectors of different
	// dimensions (for example while re-embedding with a new model); a vector
	// query only sees chunks whose vector has the query's dimension. An
	// all-zero vector has no direction and is ignored.
	Vector []float32
}

// Hit is one search result.
type Hit struct {
	ID, Group string
	Score     float64
}

// Filter restricts a search. An empty field does not restrict. A chunk passes
// when its group is one of Groups and it has at least one of Tags; when both
// are set it must satisfy both.
type Filter struct {
	Groups []string
	Tags   []string
}

func (f Filter) empty() bool { return len(f.Groups) == 0 && len(f.Tags) == 0 }

// postingList lists the documents containing a term, in ascending document
// order, with the term's frequency in each. Two parallel slices rather than a
// slice of structs: a {int32, uint16} struct is padded to 8 bytes, the pair
// of slices takes 6 per posting. tf is capped at 65535, far beyond where
// BM25 saturates.
type postingList struct {
	docs []int32
	tfs  []uint16
}

// Index is a BM25 and vector index over chunks. It is safe for concurrent use:
// searches run in parallel under a read lock; writes take the write lock.
type Index struct {
	k1, b float64

	mu sync.RWMutex

	// Per-document columns, indexed by document number. Dead documents keep
	// their slot until compaction.
	ids      []string
	groupOf  []int32  // group number of each document
	lengths  []uint32 // number of terms in each document
	dead     bitset
	numDead  int
	totalLen uint64 // sum of lengths of live documents

	byID map[string]int32 // live documents only

	termNum  map[string]int32
	postings []postingList // by term number; may include dead documents

	groupNum   map[string]int32
	groupNames []string
	groupDocs  [][]int32 // documents of each group; may include dead ones
	groupLive  []int32   // live documents of each group

	tagNum  map[string]int32
	tagDocs [][]int32 // documents carrying each tag; may include dead ones

	vectors map[int]*vectorSet // by dimension

	// scratch pools per-search buffers sized to this index, so that a small
	// tenant never holds buffers sized for a large one.
	scratch sync.Pool
}

// New returns an empty index.
func New(p Params) *Index {
	if p.K1 == 0 {
		p.K1 = 0.9
	}
	if p.B == 0 {
		p.B = 0.4
	}
	return &Index{
		k1:       p.K1,
		b:        p.B,
		byID:     make(map[string]int32),
		termNum:  make(map[string]int32),
		groupNum: make(map[string]int32),
		tagNum:   make(map[string]int32),
		vectors:  make(map[int]*vectorSet),
	}
}

// Add indexes docs. Adding a document whose ID is already present replaces
// the old version; within one call a later duplicate wins.
//
// Text analysis, the expensive part, runs before taking the write lock and,
// for large calls, on all CPUs. Large calls are applied in batches of
// addBatch documents, releasing the lock in between so searches are not
// stalled for seconds while a tenant is loaded; a search running meanwhile
// may see part of the call, but each document is replaced atomically.
func (ix *Index) Add(docs ...Doc) {
	for len(docs) > 0 {
		n := min(len(docs), addBatch)
		batch := prepare(docs[:n])
		ix.mu.Lock()
		ix.insert(batch)
		ix.maybeCompact()
		ix.mu.Unlock()
		docs = docs[n:]
	}
}

const (
	// addBatch bounds the documents analysed ahead of one lock
	// acquisition, which bounds both the memory of the analysed batch and
	// how long searches wait.
	addBatch = 4096
	// parallelMin is the batch size from which analysis is spread over
	// several goroutines; below it the goroutines cost more than they save.
	parallelMin = 256
)

// preparedBatch is a run of documents analysed without the index: their
// terms are numbered in a vocabulary local to the batch, so that under the
// lock each distinct word costs one dictionary lookup instead of one per
// occurrence.
type preparedBatch struct {
	docs   []Doc
	vocab  []string // local term number → term
	terms  []int32  // distinct local term numbers of all documents, concatenated
	tfs    []uint16 // frequency of each entry of terms
	ends   []int    // end of each document's entries in terms
	length []uint32 // number of terms of each document
}

// prepare analyses docs, in parallel when there are many, and returns one
// prepared batch per goroutine, in document order.
func prepare(docs []Doc) []*preparedBatch {
	workers := 1
	if len(docs) >= parallelMin {
		workers = min(runtime.GOMAXPROCS(0), len(docs)/(parallelMin/2))
	}
	if workers == 1 {
		return []*preparedBatch{prepareRange(docs)}
	}
	out := make([]*preparedBatch, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(docs)/workers, (w+1)*len(docs)/workers
		wg.Go(func() { out[w] = prepareRange(docs[lo:hi]) })
	}
	wg.Wait()
	return out
}

func prepareRange(docs []Doc) *preparedBatch {
	pb := &preparedBatch{docs: docs}
	local := make(map[string]int32)
	var a analyzer
	// seenIn[t] is 1 + the index of the last document containing local
	// term t, and slot[t] its entry in pb.terms. Together they count term
	// frequencies in one pass, without sorting or a per-document map.
	var seenIn, slot []int32
	for i := range docs {
		length := 0
		a.run(docs[i].Text, func(term []byte) {
			length++
			t, ok := local[string(term)]
			if !ok {
				t = int32(len(pb.vocab))
				pb.vocab = append(pb.vocab, string(term))
				local[pb.vocab[t]] = t
				seenIn = append(seenIn, 0)
				slot = append(slot, 0)
			}
			if seenIn[t] != int32(i+1) {
				seenIn[t] = int32(i + 1)
				slot[t] = int32(len(pb.terms))
				pb.terms = append(pb.terms, t)
				pb.tfs = append(pb.tfs, 1)
			} else if pb.tfs[slot[t]] < math.MaxUint16 {
				pb.tfs[slot[t]]++
			}
		})
		pb.ends = append(pb.ends, len(pb.terms))
		pb.length = append(pb.length, uint32(length))
	}
	return pb
}

// insert adds prepared documents. The caller holds the write lock.
func (ix *Index) insert(batches []*preparedBatch) {
	var global []int32 // local term number → index term number
	for _, pb := range batches {
		global = global[:0]
		for _, term := range pb.vocab {
			t, ok := ix.termNum[term]
			if !ok {
				t = int32(len(ix.postings))
				ix.termNum[term] = t
				ix.postings = append(ix.postings, postingList{})
			}
			global = append(global, t)
		}
		start := 0
		for i := range pb.docs {
			end := pb.ends[i]
			ix.add(&pb.docs[i], global, pb.terms[start:end], pb.tfs[start:end], pb.length[i])
			start = end
		}
	}
}

// add indexes one prepared document; terms are local term numbers that
// global translates.
func (ix *Index) add(d *Doc, global, terms []int32, tfs []uint16, length uint32) {
	if d.ID == "" {
		return
	}
	if old, ok := ix.byID[d.ID]; ok {
		ix.kill(old)
	}
	if len(ix.ids) >= math.MaxInt32 {
		panic("index: more than 2^31-1 documents")
	}
	doc := int32(len(ix.ids))

	for i, local := range terms {
		pl := &ix.postings[global[local]]
		pl.docs = append(pl.docs, doc)
		pl.tfs = append(pl.tfs, tfs[i])
	}

	g := ix.internGroup(d.Group)
	ix.ids = append(ix.ids, d.ID)
	ix.groupOf = append(ix.groupOf, g)
	ix.lengths = append(ix.lengths, length)
	ix.dead.grow(len(ix.ids))
	ix.totalLen += uint64(length)
	ix.byID[d.ID] = doc
	ix.groupDocs[g] = append(ix.groupDocs[g], doc)
	ix.groupLive[g]++

	for _, tag := range d.Tags {
		t, ok := ix.tagNum[tag]
		if !ok {
			t = int32(len(ix.tagDocs))
			ix.tagNum[tag] = t
			ix.tagDocs = append(ix.tagDocs, nil)
		}
		// Repeated tags on one document would otherwise be listed twice.
		if n := len(ix.tagDocs[t]); n == 0 || ix.tagDocs[t][n-1] != doc {
			ix.tagDocs[t] = append(ix.tagDocs[t], doc)
		}
	}

	ix.addVector(doc, d.Vector)
}

func (ix *Index) internGroup(name string) int32 {
	g, ok := ix.groupNum[name]
	if !ok {
		g = int32(len(ix.groupNames))
		ix.groupNum[name] = g
		ix.groupNames = append(ix.groupNames, name)
		ix.groupDocs = append(ix.groupDocs, nil)
		ix.groupLive = append(ix.groupLive, 0)
	}
	return g
}

// kill turns a live document into a tombstone and removes it from the
// collection statistics.
func (ix *Index) kill(doc int32) {
	ix.dead.set(doc)
	ix.numDead++
	ix.totalLen -= uint64(ix.lengths[doc])
	delete(ix.byID, ix.ids[doc])
	ix.groupLive[ix.groupOf[doc]]--
}

// RemoveGroup removes every chunk of the document group.
func (ix *Index) RemoveGroup(group string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	g, ok := ix.groupNum[group]
	if !ok {
		return
	}
	for _, doc := range ix.groupDocs[g] {
		if !ix.dead.has(doc) {
			ix.kill(doc)
		}
	}
	ix.groupDocs[g] = nil
	ix.maybeCompact()
}

// Groups returns the number of chunks of each group in the index, for the
// caller to compare against the database.
func (ix *Index) Groups() map[string]int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	m := make(map[string]int, len(ix.groupNames))
	for g, n := range ix.groupLive {
		if n > 0 {
			m[ix.groupNames[g]] = int(n)
		}
	}
	return m
}

// Len returns the number of chunks in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live()
}

func (ix *Index) live() int { return len(ix.ids) - ix.numDead }

// maybeCompact compacts once more than a quarter of the document numbers are
// tombstones. The threshold keeps compaction (a pass over all postings)
// rare while bounding the wasted memory and scoring work.
func (ix *Index) maybeCompact() {
	if ix.numDead > 0 && ix.numDead*4 > len(ix.ids) {
		ix.compact()
	}
}

// compact renumbers the live documents densely, in their current order, and
// rebuilds every structure without the dead ones. Terms, groups and tags left
// with no documents are dropped so their dictionary entries do not pile up.
func (ix *Index) compact() {
	renum := make([]int32, len(ix.ids)) // old number → new number, or -1
	n := int32(0)
	for d := range ix.ids {
		if ix.dead.has(int32(d)) {
			renum[d] = -1
			continue
		}
		renum[d] = n
		n++
	}

	// Because renumbering preserves order, filtering in place keeps every
	// list sorted by document number.
	remapList := func(docs []int32) []int32 {
		out := docs[:0]
		for _, d := range docs {
			if nd := renum[d]; nd >= 0 {
				out = append(out, nd)
			}
		}
		return out
	}

	termNum := make(map[string]int32, len(ix.termNum))
	postings := make([]postingList, 0, len(ix.postings))
	for term, t := range ix.termNum {
		pl := ix.postings[t]
		kept := 0
		for i, d := range pl.docs {
			if nd := renum[d]; nd >= 0 {
				pl.docs[kept], pl.tfs[kept] = nd, pl.tfs[i]
				kept++
			}
		}
		if kept == 0 {
			continue
		}
		pl.docs, pl.tfs = pl.docs[:kept], pl.tfs[:kept]
		if cap(pl.docs) > 2*kept {
			// Most of the list died: give the memory back.
			pl.docs, pl.tfs = slices.Clone(pl.docs), slices.Clone(pl.tfs)
		}
		termNum[term] = int32(len(postings))
		postings = append(postings, pl)
	}
	ix.termNum, ix.postings = termNum, postings

	tagNum := make(map[string]int32, len(ix.tagNum))
	tagDocs := make([][]int32, 0, len(ix.tagDocs))
	for tag, t := range ix.tagNum {
		if list := remapList(ix.tagDocs[t]); len(list) > 0 {
			tagNum[tag] = int32(len(tagDocs))
			tagDocs = append(tagDocs, list)
		}
	}
	ix.tagNum, ix.tagDocs = tagNum, tagDocs

	for dim, vs := range ix.vectors {
		vs.compact(renum, dim)
		if len(vs.docs) == 0 {
			delete(ix.vectors, dim)
		}
	}

	// Per-document columns and groups.
	ids := make([]string, 0, n)
	lengths := make([]uint32, 0, n)
	groupOf := make([]int32, 0, n)
	oldGroupOf, oldNames := ix.groupOf, ix.groupNames
	ix.groupNum = make(map[string]int32)
	ix.groupNames, ix.groupDocs, ix.groupLive = nil, nil, nil
	ix.byID = make(map[string]int32, n)
	for d, nd := range renum {
		if nd < 0 {
			continue
		}
		g := ix.internGroup(oldNames[oldGroupOf[d]])
		ix.groupDocs[g] = append(ix.groupDocs[g], nd)
		ix.groupLive[g]++
		ids = append(ids, ix.ids[d])
		lengths = append(lengths, ix.lengths[d])
		groupOf = append(groupOf, g)
		ix.byID[ix.ids[d]] = nd
	}
	ix.ids, ix.lengths, ix.groupOf = ids, lengths, groupOf
	ix.dead = newBitset(int(n))
	ix.numDead = 0
}

// Keyword returns the k best chunks for query by BM25 (k <= 0 means 10).
//
// A chunk matches if it contains any query term. Each query term contributes
// idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)) with
// idf = ln(1 + (N − df + 0.5)/(df + 0.5)), where N, df and avgdl are taken
// over the whole index, not just the chunks the filter lets through. A term
// repeated in the query counts once per occurrence, as in Lucene. Scores are
// accumulated in float32, which is ample for ranking and halves the scratch
// memory; equal scores are ordered by ID so results are deterministic.
func (ix *Index) Keyword(query string, k int, f Filter) []Hit {
	if k <= 0 {
		k = 10
	}
	// Analyse before taking the lock: it needs no index state.
	type queryTerm struct {
		text  string
		count int
	}
	var qterms []queryTerm
	for _, t := range Analyze(query) {
		i := slices.IndexFunc(qterms, func(q queryTerm) bool { return q.text == t })
		if i < 0 {
			qterms = append(qterms, queryTerm{text: t, count: 1})
		} else {
			qterms[i].count++
		}
	}
	if len(qterms) == 0 {
		return nil
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := ix.live()
	if n == 0 || ix.totalLen == 0 {
		return nil
	}

	s := ix.getScratch()
	defer ix.putScratch(s)
	allow, ok := ix.allowed(f, s)
	if !ok {
		return nil
	}

	// The denominator is computed as tf + kA + kB·dl, the constants of
	// k1·(1 − b + b·dl/avgdl) folded ahead of the loop over postings.
	avgdl := float64(ix.totalLen) / float64(n)
	kA := float32(ix.k1 * (1 - ix.b))
	kB := float32(ix.k1 * ix.b / avgdl)
	acc, touched := s.acc, s.touched[:0]
	for _, q := range qterms {
		t, ok := ix.termNum[q.text]
		if !ok {
			continue
		}
		pl := ix.postings[t]
		df := len(pl.docs)
		if ix.numDead > 0 {
			df = ix.liveCount(pl.docs)
		}
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
		w := float32(float64(q.count) * idf * (ix.k1 + 1))
		tfs := pl.tfs[:len(pl.docs)] // lets the compiler drop the bounds check
		for i, d := range pl.docs {
			if allow != nil && allow[d>>6]&(1<<(uint(d)&63)) == 0 {
				continue
			}
			tf := float32(tfs[i])
			if acc[d] == 0 {
				touched = append(touched, d)
			}
			acc[d] += w * tf / (tf + kA + kB*float32(ix.lengths[d]))
		}
	}
	s.touched = touched

	h := s.heap[:0]
	for _, d := range touched {
		h = ix.pushTopK(h, k, candidate{score: acc[d], doc: d})
	}
	s.heap = h
	return ix.hits(h)
}

// liveCount returns how many of docs are live.
func (ix *Index) liveCount(docs []int32) int {
	n := 0
	for _, d := range docs {
		if !ix.dead.has(d) {
			n++
		}
	}
	return n
}

// allowed returns the set of documents a search may return, or nil when every
// document may be returned (no filter and no tombstones). ok is false when
// the filter cannot match anything.
func (ix *Index) allowed(f Filter, s *scratch) (allow bitset, ok bool) {
	if f.empty() && ix.numDead == 0 {
		return nil, true
	}
	words := (len(ix.ids) + 63) / 64
	allow = s.allowBuf(words)
	if f.empty() {
		for i := range allow {
			allow[i] = ^ix.dead[i]
		}
		return allow, true
	}

	matched := false
	if len(f.Groups) > 0 {
		for _, name := range f.Groups {
			if g, ok := ix.groupNum[name]; ok {
				for _, d := range ix.groupDocs[g] {
					allow.set(d)
					matched = true
				}
			}
		}
	}
	if len(f.Tags) > 0 {
		// A chunk must also carry one of the tags: build the tag set
		// separately and intersect it with the group set.
		tags := s.tagBuf(words)
		anyTag := false
		for _, tag := range f.Tags {
			if t, ok := ix.tagNum[tag]; ok {
				for _, d := range ix.tagDocs[t] {
					tags.set(d)
					anyTag = true
				}
			}
		}
		if len(f.Groups) == 0 {
			copy(allow, tags)
			matched = anyTag
		} else {
			for i := range allow {
				allow[i] &= tags[i]
			}
			matched = matched && anyTag
		}
	}
	if !matched {
		return nil, false
	}
	for i := range allow {
		allow[i] &^= ix.dead[i]
	}
	return allow, true
}

// candidate is a scored document on the way into the top-k heap.
type candidate struct {
	score float32
	doc   int32
}

// worse reports whether a ranks below b: a lower score, or an equal score
// and a larger ID.
func (ix *Index) worse(a, b candidate) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return ix.ids[a.doc] > ix.ids[b.doc]
}

// pushTopK offers c to h, a min-heap (worst at the root) holding at most k
// candidates, and returns the updated heap.
func (ix *Index) pushTopK(h []candidate, k int, c candidate) []candidate {
	if len(h) < k {
		h = append(h, c)
		// Sift up.
		for i := len(h) - 1; i > 0; {
			parent := (i - 1) / 2
			if !ix.worse(h[i], h[parent]) {
				break
			}
			h[i], h[parent] = h[parent], h[i]
			i = parent
		}
		return h
	}
	if !ix.worse(h[0], c) {
		return h
	}
	h[0] = c
	// Sift down.
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && ix.worse(h[l], h[m]) {
			m = l
		}
		if r < len(h) && ix.worse(h[r], h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return h
}

// hits sorts the heap best first and converts it to results.
func (ix *Index) hits(h []candidate) []Hit {
	if len(h) == 0 {
		return nil
	}
	slices.SortFunc(h, func(a, b candidate) int {
		switch {
		case ix.worse(b, a):
			return -1
		case ix.worse(a, b):
			return 1
		}
		return 0
	})
	out := make([]Hit, len(h))
	for i, c := range h {
		out[i] = Hit{ID: ix.ids[c.doc], Group: ix.groupNames[ix.groupOf[c.doc]], Score: float64(c.score)}
	}
	return out
}

// scratch holds the buffers of one search. acc is all zeros between uses;
// only the entries listed in touched are ever non-zero.
type scratch struct {
	acc     []float32
	touched []int32
	allow   bitset
	tags    bitset
	heap    []candidate
}

func (ix *Index) getScratch() *scratch {
	s, _ := ix.scratch.Get().(*scratch)
	if s == nil {
		s = new(scratch)
	}
	// Leave headroom so a growing index does not reallocate on every
	// search, and drop buffers left oversized by a compaction.
	if len(s.acc) < len(ix.ids) || len(s.acc) > 2*len(ix.ids)+1024 {
		s.acc = make([]float32, len(ix.ids)+len(ix.ids)/8)
	}
	return s
}

func (ix *Index) putScratch(s *scratch) {
	// Resetting only the touched entries is much cheaper than clearing the
	// whole array when a query matches few documents.
	if len(s.touched) > len(s.acc)/8 {
		clear(s.acc)
	} else {
		for _, d := range s.touched {
			s.acc[d] = 0
		}
	}
	s.touched = s.touched[:0]
	ix.scratch.Put(s)
}

func (s *scratch) allowBuf(words int) bitset {
	s.allow = resetBitset(s.allow, words)
	return s.allow
}

func (s *scratch) tagBuf(words int) bitset {
	s.tags = resetBitset(s.tags, words)
	return s.tags
}

// bitset is a set of document numbers.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

// resetBitset returns an all-zero bitset of the given number of words,
// reusing b's storage when it is large enough.
func resetBitset(b bitset, words int) bitset {
	if cap(b) < words {
		return make(bitset, words)
	}
	b = b[:words]
	clear(b)
	return b
}

func (b bitset) has(d int32) bool { return b[d>>6]&(1<<(uint(d)&63)) != 0 }
func (b bitset) set(d int32)      { b[d>>6] |= 1 << (uint(d) & 63) }

// grow makes room for n documents.
func (b *bitset) grow(n int) {
	for len(*b)*64 < n {
		*b = append(*b, 0)
	}
}

// compareHits orders hits best first: higher score, then smaller ID.
func compareHits(a, b Hit) int {
	if c := cmp.Compare(b.Score, a.Score); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}
