package index

// Vector search is exact below a size threshold and approximate, through
// the IVF-flat index of ivf.go, above it.
//
// Why the threshold is where it is. An exact search streams every vector of
// the set from memory, about 0.8 ns per multiply-add once the set outgrows
// the cache: it is bound by memory bandwidth, not arithmetic. Measured on
// the 2-core production machine type, top 10 of clustered data
// (BenchmarkVector; the approximate figures are with the calibrated probes,
// recall measured over 100 queries):
//
//	                      exact     approximate  (k=100)   recall@10  @100
//	  10k × 384           1.2 ms    0.08 ms      0.10 ms   1.00       0.98
//	  50k × 384          16 ms      0.24 ms      0.58 ms   0.96       0.97
//	 100k × 384          31 ms      1.7 ms       3.9 ms    0.97       0.97
//	  10k × 1536         11 ms      0.35 ms      0.51 ms   1.00       0.98
//	  50k × 1536         67 ms      0.86 ms      1.4 ms    1.00       0.97
//	 100k × 1536        119 ms      0.93 ms      5.5 ms    0.98       0.96
//
// The approximate index is much faster but loses a few percent of the true
// neighbours and costs a background build (100k × 1536: 14 s on two cores,
// 26 s on the one a build uses in production). Below about 10 ms an exact
// scan disappears in the latency of embedding the query, a network round
// trip of 100 ms or more, so there exactness is worth more than speed: a set
// gets an index only from vectorIndexMinWork = 12.5 million multiply-adds
// per query (≈ 10 ms), that is from 8,100 vectors of 1536 dimensions or
// 32,500 of 384. Reproduce with
//
//	go test ./internal/knowledge/index -run XXX -bench Vector -benchtime 20x
//
// The exact scan was already a flat slab of unit vectors; unrolling the dot
// product into four independent sums and rejecting losers before the heap
// call took 100k × 1536 from 200 ms to 130 ms and 100k × 384 from 45 ms to
// 35 ms, the rest being memory traffic.

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// vectorIndexMinWork is the size of a vector set, rows × dimension, from
// which it gets an approximate index: an exact scan then takes about 10 ms
// (see the top of this file).
const vectorIndexMinWork = 12_500_000

// vectorSet stores the vectors of one dimension as unit vectors in a single
// flat slice, row i belonging to docs[i]. Normalising once at insertion turns
// cosine similarity into a plain dot product at query time, and the flat
// layout keeps the scan sequential.
//
// Once the set is large enough for a scan to be slow, a background build
// (ivf.go) groups the rows into inverted lists. Rows appended afterwards form
// the tail, which every search scans exactly until the next build.
type vectorSet struct {
	docs []int32
	data []float32

	ivf *ivf // nil: exact search only

	// epoch changes whenever existing rows move (compaction, or a build
	// sorting them by list), so a build reading the rows between lock
	// acquisitions notices and gives up.
	epoch uint64
	// minWork is the size, rows × dimension, from which an approximate
	// index is built; tests lower it.
	minWork int
	// retryAt is the number of rows below which no build is attempted
	// again after one found that an approximate index would not pay.
	retryAt int

	building atomic.Bool    // a build is running
	builds   sync.WaitGroup // running builds, for tests to wait on

	bufs sync.Pool // *vectorBuf sized for this dimension
}

// vectorBuf holds the per-search buffers of one vector set.
type vectorBuf struct {
	q     []float32  // the normalised query
	lists []listRank // centroid scores, for the approximate index
}

func (vs *vectorSet) getBuf(dim int) *vectorBuf {
	b, _ := vs.bufs.Get().(*vectorBuf)
	if b == nil || len(b.q) != dim {
		b = &vectorBuf{q: make([]float32, dim)}
	}
	return b
}

// normalizeInto writes v scaled to unit length into out (len(out) ==
// len(v)) and reports whether v has a direction: false if it is all zeros or
// contains NaN or infinite values.
func normalizeInto(out, v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return false
	}
	inv := 1 / math.Sqrt(sum)
	out = out[:len(v)]
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return true
}

// normalize returns v scaled to unit length in a new slice, or nil if v has
// no direction.
func normalize(v []float32) []float32 {
	out := make([]float32, len(v))
	if !normalizeInto(out, v) {
		return nil
	}
	return out
}

// dot returns the dot product of a and b (len(b) >= len(a)). Go does not
// vectorise loops, so the loop is unrolled by 8 into four independent sums,
// which lets consecutive multiply-adds overlap instead of waiting on one
// another; the scan is then bound by memory bandwidth rather than by the
// latency of additions. Every search path scores through this one function,
// so the approximate index reports exactly the scores of the exact scan.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += x[0]*y[0] + x[4]*y[4]
		s1 += x[1]*y[1] + x[5]*y[5]
		s2 += x[2]*y[2] + x[6]*y[6]
		s3 += x[3]*y[3] + x[7]*y[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func (ix *Index) addVector(doc int32, v []float32) {
	u := normalize(v)
	if u == nil {
		return
	}
	vs := ix.vectors[len(u)]
	if vs == nil {
		vs = &vectorSet{minWork: vectorIndexMinWork}
		ix.vectors[len(u)] = vs
	}
	vs.docs = append(vs.docs, doc)
	vs.data = append(vs.data, u...)
}

// compact drops the rows of dead documents and renumbers the rest. Rows keep
// their order, so each inverted list stays a contiguous run: only the
// offsets between them move.
func (vs *vectorSet) compact(renum []int32, dim int) {
	vs.epoch++
	var offsets []int32 // ascending row numbers, rewritten as rows go
	if vs.ivf != nil {
		offsets = vs.ivf.offsets
	}
	next := 0 // the first offset not yet rewritten
	n := 0
	for i, d := range vs.docs {
		for next < len(offsets) && int(offsets[next]) == i {
			offsets[next] = int32(n)
			next++
		}
		nd := renum[d]
		if nd < 0 {
			continue
		}
		vs.docs[n] = nd
		copy(vs.data[n*dim:(n+1)*dim], vs.data[i*dim:(i+1)*dim])
		n++
	}
	for ; next < len(offsets); next++ {
		offsets[next] = int32(n)
	}
	vs.docs = vs.docs[:n]
	vs.data = vs.data[:n*dim]
	if cap(vs.data) > 2*len(vs.data)+1024 {
		// Most of the set died: give the memory back.
		vs.data, vs.docs = slices.Clone(vs.data), slices.Clone(vs.docs)
	}
	if vs.ivf != nil {
		vs.ivf = vs.ivf.compacted()
	}
}

// Vector returns the k chunks whose vectors are most similar to q by cosine
// similarity (k <= 0 means 10), ties ordered by ID. Only chunks whose vector
// has the same dimension as q take part; a zero query has no direction and
// returns nothing.
//
// Small sets are searched exactly. Once a set is large enough for that to be
// slow (see the top of this file) an inverted-file index is built for it in
// the background, and searches then score only the rows of the lists nearest
// the query, enough of them for about 97% of the true k nearest to be found;
// the scores reported are always the exact cosine similarities.
func (ix *Index) Vector(q []float32, k int, f Filter) []Hit {
	return ix.vector(q, k, f, false)
}

// vector is Vector, always exact when exact is set.
func (ix *Index) vector(q []float32, k int, f Filter, exact bool) []Hit {
	if k <= 0 {
		k = 10
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	vs := ix.vectors[len(q)]
	if vs == nil {
		return nil
	}
	buf := vs.getBuf(len(q))
	defer vs.bufs.Put(buf)
	u := buf.q
	if !normalizeInto(u, q) {
		return nil
	}
	s := ix.getScratch()
	defer ix.putScratch(s)
	allow, ok := ix.allowed(f, s)
	if !ok {
		return nil
	}

	h := s.heap[:0]
	if exact || vs.ivf == nil || !vs.ivf.search(ix, vs, u, k, f, allow, buf, &h) {
		h = ix.scanRows(vs, u, 0, len(vs.docs), allow, h, k)
	}
	s.heap = h
	if !exact {
		ix.maybeBuildVectorIndex(vs, len(q))
	}
	return ix.hits(h)
}

// scanRows offers rows lo to hi of vs to the top-k heap h.
func (ix *Index) scanRows(vs *vectorSet, u []float32, lo, hi int, allow bitset, h []candidate, k int) []candidate {
	dim := len(u)
	data := vs.data[lo*dim : hi*dim]
	for i, d := range vs.docs[lo:hi] {
		if allow != nil && !allow.has(d) {
			continue
		}
		score := dot(u, data[i*dim:])
		// Most rows lose to the worst of the k kept so far: reject them
		// without a call. Equal scores go on, to be ordered by ID.
		if len(h) == k && score < h[0].score {
			continue
		}
		h = ix.pushTopK(h, k, candidate{score: score, doc: d})
	}
	return h
}

// maybeBuildVectorIndex starts a background build of the approximate index
// of vs when the set is large enough and has none, or when rows added since
// the last build (the tail, scanned exactly by every search) have grown past
// a quarter of it. The caller holds the read lock.
func (ix *Index) maybeBuildVectorIndex(vs *vectorSet, dim int) {
	rows := len(vs.docs)
	if rows*dim < vs.minWork || rows < vs.retryAt {
		return
	}
	if iv := vs.ivf; iv != nil && rows-iv.rows() <= iv.rows()/4 {
		return
	}
	if !vs.building.CompareAndSwap(false, true) {
		return
	}
	vs.builds.Add(1)
	go func() {
		defer vs.builds.Done()
		defer vs.building.Store(false)
		// Leave a CPU to the searches.
		ix.buildVectorIndex(vs, dim, buildOptions{workers: max(1, runtime.GOMAXPROCS(0)-1)})
	}()
}

// rrfK is the constant of reciprocal rank fusion from Cormack et al. (2009);
// it damps the influence of the very top ranks of any single list.
const rrfK = 60

// Fuse merges ranked lists by reciprocal rank fusion: a chunk scores the sum
// of 1/(60 + rank) over the lists it appears in, with ranks starting at 1.
// Only positions matter, so lists with incomparable scores (BM25 and cosine)
// can be fused. A chunk listed twice in one list counts at its best rank. It
// returns the k best (k <= 0 means 10), each with its fused score, ties
// ordered by ID.
func Fuse(k int, lists ...[]Hit) []Hit {
	if k <= 0 {
		k = 10
	}
	pos := make(map[string]int) // ID → index in fused
	var fused []Hit
	for _, list := range lists {
		seen := make(map[string]bool, len(list))
		for rank, h := range list {
			if seen[h.ID] {
				continue
			}
			seen[h.ID] = true
			score := 1 / float64(rrfK+rank+1)
			if i, ok := pos[h.ID]; ok {
				fused[i].Score += score
				continue
			}
			pos[h.ID] = len(fused)
			fused = append(fused, Hit{ID: h.ID, Group: h.Group, Score: score})
		}
	}
	slices.SortFunc(fused, compareHits)
	if len(fused) > k {
		fused = fused[:k]
	}
	return fused
}
