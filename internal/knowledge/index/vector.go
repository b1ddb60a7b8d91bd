package index

import (
	"math"
	"slices"
)

// vectorSet stores the vectors of one dimension as unit vectors in a single
// flat slice, row i belonging to docs[i]. Normalising once at insertion turns
// cosine similarity into a plain dot product at query time, and the flat
// layout keeps the scan sequential.
type vectorSet struct {
	docs []int32
	data []float32
}

// normalize returns v scaled to unit length in a new slice, or nil if v has
// no direction (all zeros) or contains NaN or infinite values.
func normalize(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return nil
	}
	inv := 1 / math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

func (ix *Index) addVector(doc int32, v []float32) {
	u := normalize(v)
	if u == nil {
		return
	}
	vs := ix.vectors[len(u)]
	if vs == nil {
		vs = &vectorSet{}
		ix.vectors[len(u)] = vs
	}
	vs.docs = append(vs.docs, doc)
	vs.data = append(vs.data, u...)
}

// compact drops the rows of dead documents and renumbers the rest.
func (vs *vectorSet) compact(renum []int32, dim int) {
	n := 0
	for i, d := range vs.docs {
		nd := renum[d]
		if nd < 0 {
			continue
		}
		vs.docs[n] = nd
		copy(vs.data[n*dim:(n+1)*dim], vs.data[i*dim:(i+1)*dim])
		n++
	}
	vs.docs = vs.docs[:n]
	vs.data = vs.data[:n*dim]
}

// Vector returns the k chunks whose vectors are most similar to q by cosine
// similarity (k <= 0 means 10). The search is exact. Only chunks whose vector
// has the same dimension as q take part; a zero query has no direction and
// returns nothing.
func (ix *Index) Vector(q []float32, k int, f Filter) []Hit {
	if k <= 0 {
		k = 10
	}
	u := normalize(q)
	if u == nil {
		return nil
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	vs := ix.vectors[len(u)]
	if vs == nil {
		return nil
	}
	s := ix.getScratch()
	defer ix.putScratch(s)
	allow, ok := ix.allowed(f, s)
	if !ok {
		return nil
	}

	dim := len(u)
	h := s.heap[:0]
	for i, d := range vs.docs {
		if allow != nil && !allow.has(d) {
			continue
		}
		row := vs.data[i*dim : (i+1)*dim]
		row = row[:len(u)] // lets the compiler drop bounds checks below
		var dot float32
		for j, x := range u {
			dot += x * row[j]
		}
		h = ix.pushTopK(h, k, candidate{score: dot, doc: d})
	}
	s.heap = h
	return ix.hits(h)
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
