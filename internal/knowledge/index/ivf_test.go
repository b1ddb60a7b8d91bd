package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// waitForBuilds waits for the background builds of ix's approximate indexes.
func waitForBuilds(ix *Index) {
	ix.mu.RLock()
	var sets []*vectorSet
	for _, vs := range ix.vectors {
		sets = append(sets, vs)
	}
	ix.mu.RUnlock()
	for _, vs := range sets {
		vs.builds.Wait()
	}
}

// build builds the approximate index of ix's vectors of dimension dim on all
// CPUs, failing the test if none is installed.
func build(t testing.TB, ix *Index, dim int, force bool) *ivf {
	t.Helper()
	if !ix.buildVectorIndex(ix.vectors[dim], dim, buildOptions{workers: runtime.GOMAXPROCS(0), force: force}) {
		t.Fatal("no approximate index was installed")
	}
	return ix.vectors[dim].ivf
}

// bruteForce is cosine similarity search written out plainly, in float64,
// ties by ID.
func bruteForce(docs []Doc, q []float32, k int) []string {
	norm := func(v []float32) float64 {
		s := 0.0
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	type scored struct {
		id    string
		score float64
	}
	var all []scored
	for _, d := range docs {
		if len(d.Vector) != len(q) || norm(d.Vector) == 0 {
			continue
		}
		s := 0.0
		for i := range q {
			s += float64(q[i]) * float64(d.Vector[i])
		}
		all = append(all, scored{d.ID, s / norm(d.Vector) / norm(q)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return cmpString(a.id, b.id)
	})
	var out []string
	for _, s := range all[:min(k, len(all))] {
		out = append(out, s.id)
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sameHits fails the test unless the approximate search returns exactly
// what the exact search returns, scores included.
func sameHits(t *testing.T, ix *Index, q []float32, k int, f Filter) {
	t.Helper()
	got, want := ix.Vector(q, k, f), ix.vector(q, k, f, true)
	if len(got) != len(want) {
		t.Errorf("k=%d filter=%+v: got %d hits, want %d", k, f, len(got), len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("k=%d filter=%+v: hit %d is %v, want %v", k, f, i, got[i], want[i])
			return
		}
	}
}

const testDim = 128

// clusteredTestIndex indexes n vectors of 128 dimensions drawn from a mixture
// of 40 Gaussians, in 100 groups, and returns 100 queries from the same
// mixture.
func clusteredTestIndex(seed uint64, n int) (*Index, []float32) {
	r := rand.New(rand.NewPCG(seed, 1))
	cs := centres(r, 40, testDim)
	return vectorIndex(clusteredVectors(r, n, testDim, cs), testDim, 100), clusteredVectors(r, 100, testDim, cs)
}

// sized scales a test set down under the race detector, which slows the
// builds' arithmetic tenfold; the properties tested hold at either size.
func sized(n int) int {
	if raceEnabled {
		return n * 2 / 5
	}
	return n
}

func TestIVFRecallOnClusteredData(t *testing.T) {
	t.Parallel()
	ix, queries := clusteredTestIndex(1, sized(20_000))
	iv := build(t, ix, testDim, false)
	if iv.probes10 > iv.nlist()/4 || iv.probes100 > iv.nlist()/4 {
		t.Errorf("probes %d lists of %d for k = 10 and %d for k = 100: clustered data should need few", iv.probes10, iv.nlist(), iv.probes100)
	}
	t.Logf("%d and %d of %d lists probed for k = 10 and 100", iv.probes10, iv.probes100, iv.nlist())
	for _, k := range []int{10, 100} {
		r := recall(ix, queries, testDim, k, Filter{})
		t.Logf("recall@%d = %.3f", k, r)
		if r < 0.95 {
			t.Errorf("recall@%d = %.3f, want >= 0.95", k, r)
		}
	}
	// A filter passing half the chunks: more lists are probed to make up.
	if r := recall(ix, queries, testDim, 10, Filter{Tags: []string{"even"}}); r < 0.95 {
		t.Errorf("recall@10 with a tag filter = %.3f, want >= 0.95", r)
	}
	// A filter passing 1% of the chunks makes the exact scan cheaper.
	for q := range 10 {
		sameHits(t, ix, queries[q*testDim:(q+1)*testDim], 10, Filter{Groups: []string{"g7"}})
	}
}

func TestIVFOnUniformData(t *testing.T) {
	t.Parallel()
	t.Run("in 128 dimensions it does not pay", func(t *testing.T) {
		// Without structure in many dimensions nearly every list must be
		// probed, so the build leaves the set exact and does not try again
		// until it has doubled.
		r := rand.New(rand.NewPCG(2, 2))
		n := sized(10_000)
		ix := vectorIndex(uniformVectors(r, n, testDim), testDim, 100)
		vs := ix.vectors[testDim]
		if ix.buildVectorIndex(vs, testDim, buildOptions{workers: runtime.GOMAXPROCS(0)}) || vs.ivf != nil {
			t.Fatal("an approximate index was installed")
		}
		if vs.retryAt != 2*n {
			t.Errorf("retryAt = %d, want %d", vs.retryAt, 2*n)
		}
		// Forced, it probes (nearly) every list.
		iv := build(t, ix, testDim, true)
		t.Logf("%d of %d lists probed for k = 10", iv.probes10, iv.nlist())
		if r := recall(ix, uniformVectors(r, 100, testDim), testDim, 10, Filter{}); r < 0.95 {
			t.Errorf("recall@10 = %.3f, want >= 0.95", r)
		}
	})
	t.Run("in 16 dimensions it pays", func(t *testing.T) {
		r := rand.New(rand.NewPCG(2, 3))
		const dim = 16
		ix := vectorIndex(uniformVectors(r, 20_000, dim), dim, 100)
		iv := build(t, ix, dim, false)
		t.Logf("%d and %d of %d lists probed for k = 10 and 100", iv.probes10, iv.probes100, iv.nlist())
		queries := uniformVectors(r, 100, dim)
		for _, k := range []int{10, 100} {
			r := recall(ix, queries, dim, k, Filter{})
			t.Logf("recall@%d = %.3f", k, r)
			if r < 0.95 {
				t.Errorf("recall@%d = %.3f, want >= 0.95", k, r)
			}
		}
	})
}

func TestVectorSearchBelowTheThresholdIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const n, dim = 2000, 64
	data := uniformVectors(r, n, dim)
	docs := make([]Doc, n)
	for i := range docs {
		docs[i] = Doc{ID: fmt.Sprintf("d%04d", i), Vector: data[i*dim : (i+1)*dim]}
	}
	ix := New(Params{})
	ix.Add(docs...)
	for q := range 20 {
		query := uniformVectors(r, 1, dim)
		got := ids(ix.Vector(query, 10, Filter{}))
		if want := bruteForce(docs, query, 10); !slices.Equal(got, want) {
			t.Errorf("query %d: got %v, want %v", q, got, want)
		}
	}
	waitForBuilds(ix)
	if ix.vectors[dim].ivf != nil {
		t.Error("an approximate index was built below the threshold")
	}
}

func TestVectorIndexIsBuiltAndRebuiltInTheBackground(t *testing.T) {
	t.Parallel()
	ix, queries := clusteredTestIndex(4, 8000)
	vs := ix.vectors[testDim]
	vs.minWork = 1000 * testDim

	ix.Vector(queries[:testDim], 10, Filter{}) // exact, and starts a build
	waitForBuilds(ix)
	iv := vs.ivf
	if iv == nil || iv.rows() != 8000 {
		t.Fatal("after the first search: want an index over 8000 rows")
	}
	if r := recall(ix, queries, testDim, 10, Filter{}); r < 0.95 {
		t.Errorf("recall@10 = %.3f, want >= 0.95", r)
	}

	// New rows join the tail, searched exactly: each is found by itself.
	r := rand.New(rand.NewPCG(4, 4))
	extra := uniformVectors(r, 2100, testDim)
	for i := range 1000 {
		ix.Add(Doc{ID: fmt.Sprintf("new%04d", i), Vector: extra[i*testDim : (i+1)*testDim]})
	}
	if vs.ivf != iv {
		t.Fatal("adding rows replaced the index")
	}
	for i := range 1000 {
		if hits := ix.Vector(extra[i*testDim:(i+1)*testDim], 1, Filter{}); len(hits) != 1 || hits[0].ID != fmt.Sprintf("new%04d", i) {
			t.Fatalf("tail row %d: got %v", i, hits)
		}
	}
	waitForBuilds(ix)
	if vs.ivf != iv {
		t.Fatal("a tail of an eighth started a rebuild")
	}

	// A tail over a quarter of the lists starts a rebuild that takes it in.
	for i := 1000; i < 2100; i++ {
		ix.Add(Doc{ID: fmt.Sprintf("new%04d", i), Vector: extra[i*testDim : (i+1)*testDim]})
	}
	ix.Vector(queries[:testDim], 10, Filter{})
	waitForBuilds(ix)
	if vs.ivf == nil || vs.ivf.rows() != 10_100 {
		t.Fatal("after the tail grew: want an index over 10100 rows")
	}
	if r := recall(ix, queries, testDim, 10, Filter{}); r < 0.95 {
		t.Errorf("recall@10 after the rebuild = %.3f, want >= 0.95", r)
	}
}

func TestIVFEdgeCases(t *testing.T) {
	ix, queries := clusteredTestIndex(5, 3000)
	q := queries[:testDim]
	build(t, ix, testDim, true)

	t.Run("k above the number of vectors returns them all", func(t *testing.T) {
		if got := ix.Vector(q, 5000, Filter{}); len(got) != 3000 {
			t.Errorf("got %d hits, want 3000", len(got))
		}
		sameHits(t, ix, q, 5000, Filter{})
	})
	t.Run("a zero query finds nothing", func(t *testing.T) {
		if got := ix.Vector(make([]float32, testDim), 10, Filter{}); got != nil {
			t.Errorf("got %v", got)
		}
	})
	t.Run("zero vectors are not indexed", func(t *testing.T) {
		ix.Add(Doc{ID: "zero", Vector: make([]float32, testDim)})
		if n := len(ix.vectors[testDim].docs); n != 3000 {
			t.Errorf("%d rows, want 3000", n)
		}
	})
	t.Run("a filter matching nothing finds nothing", func(t *testing.T) {
		if got := ix.Vector(q, 10, Filter{Groups: []string{"none"}}); got != nil {
			t.Errorf("got %v", got)
		}
	})
	t.Run("removed chunks are not found, before and after compaction", func(t *testing.T) {
		for g := range 20 {
			ix.RemoveGroup(fmt.Sprintf("g%d", g))
		}
		if ix.numDead != 600 {
			t.Fatalf("%d tombstones, want 600 (no compaction yet)", ix.numDead)
		}
		for i := range 20 {
			sameHits(t, ix, queries[i*testDim:(i+1)*testDim], 2500, Filter{})
		}
		ix.mu.Lock()
		ix.compact()
		ix.mu.Unlock()
		if iv := ix.vectors[testDim].ivf; iv == nil || iv.rows() != 2400 {
			t.Fatal("after compaction: want an index over 2400 rows")
		}
		checkLists(t, ix, testDim)
		for i := range 20 {
			sameHits(t, ix, queries[i*testDim:(i+1)*testDim], 2500, Filter{})
		}
		if r := recall(ix, queries, testDim, 10, Filter{}); r < 0.95 {
			t.Errorf("recall@10 after compaction = %.3f, want >= 0.95", r)
		}
	})
	t.Run("the index is dropped once half its rows are gone", func(t *testing.T) {
		for g := 20; g < 70; g++ {
			ix.RemoveGroup(fmt.Sprintf("g%d", g))
		}
		if iv := ix.vectors[testDim].ivf; iv != nil {
			t.Errorf("index over %d of %d rows kept", iv.rows(), iv.built)
		}
	})
	t.Run("an empty index finds nothing", func(t *testing.T) {
		if got := New(Params{}).Vector(q, 10, Filter{}); got != nil {
			t.Errorf("got %v", got)
		}
	})
}

// checkLists checks that every row of the lists of ix's vectors of dimension
// dim is closest to its list's centroid, and belongs to a live chunk.
func checkLists(t *testing.T, ix *Index, dim int) {
	t.Helper()
	vs := ix.vectors[dim]
	iv := vs.ivf
	for l := range iv.nlist() {
		for row := iv.offsets[l]; row < iv.offsets[l+1]; row++ {
			v := vs.data[int(row)*dim : int(row+1)*dim]
			best := float32(math.Inf(-1))
			for c := range iv.nlist() {
				best = max(best, dot(v, iv.centroids[c*dim:(c+1)*dim]))
			}
			if got := dot(v, iv.centroids[l*dim:(l+1)*dim]); got < best-1e-5 {
				t.Fatalf("row %d in list %d scores %v against its centroid, %v against the best", row, l, got, best)
			}
			if ix.dead.has(vs.docs[row]) {
				t.Fatalf("row %d belongs to a dead chunk", row)
			}
		}
	}
}

func TestIVFBuildIsDeterministicAndKeepsEachChunksVector(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	cs := centres(r, 40, testDim)
	data := clusteredVectors(r, 5000, testDim, cs)
	a, b := vectorIndex(data, testDim, 10), vectorIndex(data, testDim, 10)
	ia, ib := build(t, a, testDim, true), build(t, b, testDim, true)
	if !slices.Equal(ia.centroids, ib.centroids) || !slices.Equal(ia.offsets, ib.offsets) || ia.probes10 != ib.probes10 || ia.probes100 != ib.probes100 {
		t.Error("two builds over the same data differ")
	}
	va, vb := a.vectors[testDim], b.vectors[testDim]
	if !slices.Equal(va.docs, vb.docs) {
		t.Error("two builds ordered the rows differently")
	}
	// The rows moved with their chunks.
	for row, doc := range va.docs {
		want := normalize(data[int(doc)*testDim : int(doc+1)*testDim])
		if !slices.Equal(va.data[row*testDim:(row+1)*testDim], want) {
			t.Fatalf("row %d does not hold the vector of chunk %d", row, doc)
		}
	}
	checkLists(t, a, testDim)
}

func TestVectorSearchDoesNotAllocateBeyondItsResult(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	ix, queries := clusteredTestIndex(7, 3000)
	q := queries[:testDim]
	ix.Vector(q, 10, Filter{}) // fills the pools
	if allocs := testing.AllocsPerRun(20, func() { ix.Vector(q, 10, Filter{}) }); allocs > 1 {
		t.Errorf("an exact search allocated %v times, want 1", allocs)
	}
	build(t, ix, testDim, true)
	ix.Vector(q, 10, Filter{})
	if allocs := testing.AllocsPerRun(20, func() { ix.Vector(q, 10, Filter{}) }); allocs > 1 {
		t.Errorf("an approximate search allocated %v times, want 1", allocs)
	}
}

func TestVectorSearchesAndWritesDuringABuildAreSafe(t *testing.T) {
	ix, queries := clusteredTestIndex(8, 4000)
	vs := ix.vectors[testDim]
	vs.minWork = 1000 * testDim
	r := rand.New(rand.NewPCG(8, 8))
	extra := uniformVectors(r, 400, testDim)

	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 100 {
				q := queries[(w+i)%100*testDim : ((w+i)%100+1)*testDim]
				hits := ix.Vector(q, 10, Filter{})
				if len(hits) != 10 {
					t.Errorf("%d hits, want 10", len(hits))
					return
				}
				ix.Vector(q, 10, Filter{Tags: []string{"odd"}})
			}
		})
	}
	wg.Go(func() {
		for i := range 400 {
			ix.Add(Doc{ID: fmt.Sprintf("new%03d", i), Group: "new", Vector: extra[i*testDim : (i+1)*testDim]})
			if i%100 == 99 {
				ix.RemoveGroup(fmt.Sprintf("g%d", i/100))
			}
		}
	})
	wg.Wait()
	waitForBuilds(ix)
	if vs.ivf == nil {
		t.Fatal("no index was built")
	}
	if r := recall(ix, queries, testDim, 10, Filter{}); r < 0.95 {
		t.Errorf("recall@10 = %.3f, want >= 0.95", r)
	}
	for _, h := range ix.Vector(queries[:testDim], 4400, Filter{}) {
		if h.Group == "g0" || h.Group == "g1" || h.Group == "g2" || h.Group == "g3" {
			t.Fatalf("removed chunk %s found", h.ID)
		}
	}
}
