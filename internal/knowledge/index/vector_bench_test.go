package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// clusteredVectors returns n vectors of dim dimensions, flat, drawn from a
// mixture of Gaussians: each is a random one of the cluster centres (random
// unit directions) plus isotropic noise about as long as the centre, so a
// vector's cosine similarity is about 0.7 to its centre, 0.5 to the other
// members of its cluster and near 0 to the rest, roughly the structure of
// text embeddings of a corpus on a few hundred topics.
func clusteredVectors(r *rand.Rand, n, dim int, centres []float32) []float32 {
	clusters := len(centres) / dim
	sigma := 1 / math.Sqrt(float64(dim))
	out := make([]float32, n*dim)
	for i := range n {
		c := centres[r.IntN(clusters)*dim:]
		for j := range dim {
			out[i*dim+j] = c[j] + float32(sigma*r.NormFloat64())
		}
	}
	return out
}

// uniformVectors returns n directions drawn uniformly from the sphere (as
// unnormalised Gaussian vectors), flat: data with no structure, the worst
// case for an inverted-file index.
func uniformVectors(r *rand.Rand, n, dim int) []float32 {
	out := make([]float32, n*dim)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

// centres returns c random unit directions of dim dimensions, flat.
func centres(r *rand.Rand, c, dim int) []float32 {
	out := uniformVectors(r, c, dim)
	for i := range c {
		normalizeInto(out[i*dim:(i+1)*dim], out[i*dim:(i+1)*dim])
	}
	return out
}

// vectorIndex returns an index of the flat vectors, chunk i named
// fmt.Sprintf("v%07d", i), in group i%groups, tagged "even" or "odd". The
// approximate index is left to the caller: minWork is set out of reach.
func vectorIndex(data []float32, dim, groups int) *Index {
	n := len(data) / dim
	ix := New(Params{})
	docs := make([]Doc, 0, addBatch)
	for i := range n {
		tag := "even"
		if i%2 == 1 {
			tag = "odd"
		}
		docs = append(docs, Doc{ID: fmt.Sprintf("v%07d", i), Group: fmt.Sprintf("g%d", i%groups), Tags: []string{tag}, Vector: data[i*dim : (i+1)*dim]})
		if len(docs) == cap(docs) || i == n-1 {
			ix.Add(docs...)
			docs = docs[:0]
		}
	}
	if vs := ix.vectors[dim]; vs != nil {
		vs.minWork = math.MaxInt
	}
	return ix
}

// recall returns the share of the exact k nearest neighbours of the queries
// that the index's search returns.
func recall(ix *Index, queries []float32, dim, k int, f Filter) float64 {
	found, total := 0, 0
	for q := range len(queries) / dim {
		query := queries[q*dim : (q+1)*dim]
		got := make(map[string]bool)
		for _, h := range ix.Vector(query, k, f) {
			got[h.ID] = true
		}
		for _, h := range ix.vector(query, k, f, true) {
			total++
			if got[h.ID] {
				found++
			}
		}
	}
	if total == 0 {
		return 1
	}
	return float64(found) / float64(total)
}

// recall10And100 returns the recall at 10 and at 100 of the index's search
// on the queries, with one exact search per query.
func recall10And100(ix *Index, queries []float32, dim int) (r10, r100 float64) {
	var found10, found100, total10, total100 int
	for q := range len(queries) / dim {
		query := queries[q*dim : (q+1)*dim]
		exact := ix.vector(query, 100, Filter{}, true)
		count := func(k int, exact []Hit) (found int) {
			got := make(map[string]bool)
			for _, h := range ix.Vector(query, k, Filter{}) {
				got[h.ID] = true
			}
			for _, h := range exact {
				if got[h.ID] {
					found++
				}
			}
			return found
		}
		found10 += count(10, exact[:min(10, len(exact))])
		total10 += min(10, len(exact))
		found100 += count(100, exact)
		total100 += len(exact)
	}
	return float64(found10) / float64(total10), float64(found100) / float64(total100)
}

// BenchmarkVector measures exact and approximate search at the sizes of a
// large tenant, top 10 over clustered data (see clusteredVectors), for
// OpenAI's text-embedding-3-small (1536 dimensions) and a small local model
// (384). Each approximate case also reports the build time, the lists
// probed and the recall at 10 and 100 against the exact search over 100
// queries. Building the indexes and measuring recall take about a minute;
// run with
//
//	go test ./internal/knowledge/index -run XXX -bench Vector -benchtime 20x
func BenchmarkVector(b *testing.B) {
	if testing.Short() {
		b.Skip("building the indexes takes minutes")
	}
	for _, dim := range []int{384, 1536} {
		for _, n := range []int{10_000, 50_000, 100_000} {
			b.Run(fmt.Sprintf("dim=%d/n=%dk", dim, n/1000), func(b *testing.B) {
				r := rand.New(rand.NewPCG(uint64(dim), uint64(n)))
				cs := centres(r, n/100, dim)
				data := clusteredVectors(r, n, dim, cs)
				ix := vectorIndex(data, dim, 1000)
				data = nil
				queries := clusteredVectors(r, 100, dim, cs)
				query := func(i int) []float32 { return queries[i%100*dim : (i%100+1)*dim] }

				b.Run("exact", func(b *testing.B) {
					i := 0
					for b.Loop() {
						ix.vector(query(i), 10, Filter{}, true)
						i++
					}
				})

				b.Run("ivf", func(b *testing.B) {
					start := time.Now()
					installed := ix.buildVectorIndex(ix.vectors[dim], dim, buildOptions{workers: runtime.GOMAXPROCS(0), force: true})
					build := time.Since(start)
					iv := ix.vectors[dim].ivf
					if !installed || iv == nil {
						b.Fatal("no approximate index was built")
					}
					i := 0
					for b.Loop() {
						ix.Vector(query(i), 10, Filter{})
						i++
					}
					b.ReportMetric(build.Seconds(), "build-s")
					b.ReportMetric(float64(iv.nlist()), "lists")
					b.ReportMetric(float64(iv.probes10), "probes@10")
					b.ReportMetric(float64(iv.probes100), "probes@100")
					// search.go asks for 100 neighbours, which probes more
					// lists: time that too.
					start = time.Now()
					for i := range 100 {
						ix.Vector(query(i), 100, Filter{})
					}
					b.ReportMetric(float64(time.Since(start).Microseconds())/100, "k=100-us/op")
					r10, r100 := recall10And100(ix, queries, dim)
					b.ReportMetric(r10, "recall@10")
					b.ReportMetric(r100, "recall@100")
				})
			})
		}
	}
}
