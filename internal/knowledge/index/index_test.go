package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// bm25 is the scoring formula written out independently of the index, so
// the tests check the index against the definition rather than against
// itself.
func bm25(tf, dl, avgdl, n, df, k1, b float64) float64 {
	idf := math.Log(1 + (n-df+0.5)/(df+0.5))
	return idf * tf * (k1 + 1) / (tf + k1*(1-b+b*dl/avgdl))
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func TestKeywordScoresMatchTheBM25Formula(t *testing.T) {
	// Terms after analysis: d1 = [appl appl banana] (3), d2 = [appl cherri]
	// (2), d3 = [cherri cherri cherri date] (4). N = 3, avgdl = 3.
	ix := New(Params{})
	ix.Add(
		Doc{ID: "d1", Text: "apple apples banana"},
		Doc{ID: "d2", Text: "apple cherry"},
		Doc{ID: "d3", Text: "cherry cherries cherry date"},
	)
	const k1, b, n, avgdl = 0.9, 0.4, 3.0, 3.0

	tests := []struct {
		name  string
		query string
		want  map[string]float64
	}{
		{
			name:  "a single term scores by tf, length and idf",
			query: "apple",
			want: map[string]float64{
				"d1": bm25(2, 3, avgdl, n, 2, k1, b),
				"d2": bm25(1, 2, avgdl, n, 2, k1, b),
			},
		},
		{
			name:  "several terms add up",
			query: "apple cherry",
			want: map[string]float64{
				"d1": bm25(2, 3, avgdl, n, 2, k1, b),
				"d2": bm25(1, 2, avgdl, n, 2, k1, b) + bm25(1, 2, avgdl, n, 2, k1, b),
				"d3": bm25(3, 4, avgdl, n, 2, k1, b),
			},
		},
		{
			name:  "a repeated query term counts once per occurrence",
			query: "date date banana",
			want: map[string]float64{
				"d1": bm25(1, 3, avgdl, n, 1, k1, b),
				"d3": 2 * bm25(1, 4, avgdl, n, 1, k1, b),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := ix.Keyword(tc.query, 10, Filter{})
			if len(hits) != len(tc.want) {
				t.Fatalf("got %d hits %v, want %d", len(hits), hits, len(tc.want))
			}
			for i, h := range hits {
				want := tc.want[h.ID]
				if math.Abs(h.Score-want) > 1e-5*want {
					t.Errorf("%s: score %.6f, want %.6f", h.ID, h.Score, want)
				}
				if i > 0 && hits[i-1].Score < h.Score {
					t.Errorf("hits not sorted by score: %v", hits)
				}
			}
		})
	}
}

func TestKeywordRanking(t *testing.T) {
	tests := []struct {
		name  string
		docs  []Doc
		query string
		want  []string
	}{
		{
			name: "a rare term outranks a common one",
			docs: []Doc{
				{ID: "common", Text: "protein"},
				{ID: "rare", Text: "kinase"},
				{ID: "x1", Text: "protein binding"},
				{ID: "x2", Text: "protein folding"},
			},
			query: "protein kinase",
			want:  []string{"rare", "common", "x1", "x2"},
		},
		{
			name: "a shorter document outranks a longer one with the same term frequency",
			docs: []Doc{
				{ID: "long", Text: "insulin resistance in adipose tissue of obese mice"},
				{ID: "short", Text: "insulin signalling"},
			},
			query: "insulin",
			want:  []string{"short", "long"},
		},
		{
			name: "documents matching more terms rank higher",
			docs: []Doc{
				{ID: "one", Text: "vitamin supplements"},
				{ID: "both", Text: "vitamin d deficiency"},
				{ID: "none", Text: "unrelated text"},
			},
			query: "vitamin deficiency",
			want:  []string{"both", "one"},
		},
		{
			name: "equal scores are ordered by ID",
			docs: []Doc{
				{ID: "c", Text: "same words"},
				{ID: "a", Text: "same words"},
				{ID: "b", Text: "same words"},
			},
			query: "words",
			want:  []string{"a", "b", "c"},
		},
		{
			name: "query words are stemmed like document words",
			docs: []Doc{
				{ID: "d", Text: "Mutations were analysed"},
				{ID: "e", Text: "nothing relevant"},
			},
			query: "mutation",
			want:  []string{"d"},
		},
		{
			name:  "a query of stop words finds nothing",
			docs:  []Doc{{ID: "d", Text: "the cat is on the mat"}},
			query: "the is on",
			want:  []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := New(Params{})
			ix.Add(tc.docs...)
			got := ids(ix.Keyword(tc.query, 10, Filter{}))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeywordReturnsAtMostKHits(t *testing.T) {
	ix := New(Params{})
	for i := range 25 {
		ix.Add(Doc{ID: fmt.Sprintf("d%02d", i), Text: strings.Repeat("gene ", i+1)})
	}
	tests := []struct {
		name string
		k    int
		want int
	}{
		{"k limits the hits", 3, 3},
		{"zero k means ten", 0, 10},
		{"negative k means ten", -1, 10},
		{"k beyond the matches returns every match", 100, 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(ix.Keyword("gene", tc.k, Filter{})); got != tc.want {
				t.Errorf("got %d hits, want %d", got, tc.want)
			}
		})
	}
}

func filterFixture() *Index {
	ix := New(Params{})
	ix.Add(
		Doc{ID: "a1", Group: "A", Tags: []string{"public"}, Text: "cell growth"},
		Doc{ID: "a2", Group: "A", Tags: []string{"internal"}, Text: "cell death"},
		Doc{ID: "b1", Group: "B", Tags: []string{"public", "faq"}, Text: "cell division"},
		Doc{ID: "c1", Group: "C", Text: "cell biology"},
	)
	return ix
}

func TestKeywordFilter(t *testing.T) {
	ix := filterFixture()
	tests := []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"an empty filter allows everything", Filter{}, []string{"a1", "a2", "b1", "c1"}},
		{"groups restrict to chunks of those documents", Filter{Groups: []string{"A", "C"}}, []string{"a1", "a2", "c1"}},
		{"tags restrict to chunks with any of them", Filter{Tags: []string{"faq", "internal"}}, []string{"a2", "b1"}},
		{"groups and tags must both match", Filter{Groups: []string{"A"}, Tags: []string{"public"}}, []string{"a1"}},
		{"an unknown group matches nothing", Filter{Groups: []string{"Z"}}, []string{}},
		{"an unknown tag matches nothing", Filter{Tags: []string{"secret"}}, []string{}},
		{"an unknown group among known ones is ignored", Filter{Groups: []string{"Z", "B"}}, []string{"b1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(ix.Keyword("cell", 10, tc.filter))
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilteringDoesNotChangeScores(t *testing.T) {
	ix := filterFixture()
	all := ix.Keyword("cell growth", 10, Filter{})
	filtered := ix.Keyword("cell growth", 10, Filter{Groups: []string{"A"}})
	want := map[string]float64{}
	for _, h := range all {
		want[h.ID] = h.Score
	}
	for _, h := range filtered {
		if h.Score != want[h.ID] {
			t.Errorf("%s: filtered score %v, unfiltered %v", h.ID, h.Score, want[h.ID])
		}
	}
}

func TestAddingAnExistingIDReplacesTheChunk(t *testing.T) {
	ix := New(Params{})
	ix.Add(Doc{ID: "x", Group: "g1", Tags: []string{"old"}, Text: "old wording"})
	ix.Add(Doc{ID: "x", Group: "g2", Tags: []string{"new"}, Text: "new wording"})

	if got := ix.Len(); got != 1 {
		t.Errorf("Len = %d, want 1", got)
	}
	if hits := ix.Keyword("old", 10, Filter{}); len(hits) != 0 {
		t.Errorf("old text still found: %v", hits)
	}
	hits := ix.Keyword("new", 10, Filter{})
	if len(hits) != 1 || hits[0].ID != "x" || hits[0].Group != "g2" {
		t.Errorf("got %v, want x in g2", hits)
	}
	if hits := ix.Keyword("wording", 10, Filter{Tags: []string{"old"}}); len(hits) != 0 {
		t.Errorf("old tag still matches: %v", hits)
	}
	if got, want := ix.Groups(), map[string]int{"g2": 1}; !mapsEqual(got, want) {
		t.Errorf("Groups = %v, want %v", got, want)
	}
}

func TestLaterDuplicateInOneAddWins(t *testing.T) {
	ix := New(Params{})
	ix.Add(Doc{ID: "x", Text: "first"}, Doc{ID: "x", Text: "second"})
	if hits := ix.Keyword("first second", 10, Filter{}); len(hits) != 1 || ix.Len() != 1 {
		t.Fatalf("got %v and Len %d, want one hit", hits, ix.Len())
	}
	if hits := ix.Keyword("first", 10, Filter{}); len(hits) != 0 {
		t.Errorf("first version still found: %v", hits)
	}
}

func TestEmptyIDsAreIgnored(t *testing.T) {
	ix := New(Params{})
	ix.Add(Doc{ID: "", Text: "orphan"})
	if ix.Len() != 0 {
		t.Errorf("Len = %d, want 0", ix.Len())
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRemoveGroupRemovesAllItsChunks(t *testing.T) {
	ix := New(Params{})
	ix.Add(
		Doc{ID: "a1", Group: "A", Text: "heart failure"},
		Doc{ID: "a2", Group: "A", Text: "heart rate"},
		Doc{ID: "b1", Group: "B", Text: "heart valve"},
		Doc{ID: "c1", Group: "C", Text: "kidney"},
		Doc{ID: "d1", Group: "D", Text: "liver"},
		Doc{ID: "e1", Group: "E", Text: "lung"},
		Doc{ID: "f1", Group: "F", Text: "brain"},
		Doc{ID: "g1", Group: "G", Text: "skin"},
	)
	ix.RemoveGroup("A")
	ix.RemoveGroup("unknown")

	if got := ids(ix.Keyword("heart", 10, Filter{})); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("got %v, want [b1]", got)
	}
	if got := ix.Len(); got != 6 {
		t.Errorf("Len = %d, want 6", got)
	}
	want := map[string]int{"B": 1, "C": 1, "D": 1, "E": 1, "F": 1, "G": 1}
	if got := ix.Groups(); !mapsEqual(got, want) {
		t.Errorf("Groups = %v, want %v", got, want)
	}
	if hits := ix.Keyword("heart", 10, Filter{Groups: []string{"A"}}); len(hits) != 0 {
		t.Errorf("removed group still matches a filter: %v", hits)
	}

	// Re-adding the group after removal works like a fresh add.
	ix.Add(Doc{ID: "a1", Group: "A", Text: "heart attack"})
	if got := ids(ix.Keyword("heart", 10, Filter{Groups: []string{"A"}})); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("got %v, want [a1]", got)
	}
}

func TestRemovedChunksDoNotCountInStatistics(t *testing.T) {
	// An index that had chunks removed must score exactly like one that
	// never had them, whether or not it has compacted since.
	docs := []Doc{
		{ID: "1", Group: "keep", Text: "tumour growth factor"},
		{ID: "2", Group: "keep", Text: "growth hormone deficiency in children"},
		{ID: "3", Group: "keep", Text: "tumour suppressor gene"},
		{ID: "4", Group: "keep", Text: "hormone receptor"},
	}
	fresh := New(Params{})
	fresh.Add(docs...)

	churned := New(Params{})
	churned.Add(Doc{ID: "x", Group: "drop", Text: "tumour tumour growth"})
	churned.Add(docs...)
	churned.RemoveGroup("drop")
	if churned.numDead != 1 {
		t.Fatalf("expected one tombstone before compaction, have %d", churned.numDead)
	}

	for _, q := range []string{"tumour growth", "hormone", "growth factor deficiency"} {
		want := fresh.Keyword(q, 10, Filter{})
		if got := churned.Keyword(q, 10, Filter{}); !slices.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", q, got, want)
		}
	}
}

var randomWords = []string{"alpha", "beta", "gamma", "delta", "kinase", "protein", "cell", "tumour",
	"insulin", "receptor", "signal", "pathway", "mouse", "human", "trial", "dose"}

// randomDocs returns n chunks in groups of five over a small vocabulary, so
// queries match many chunks with varied scores, and some queries.
func randomDocs(r *rand.Rand, n int) ([]Doc, []string) {
	docs := make([]Doc, n)
	for i := range docs {
		var sb strings.Builder
		for range 3 + r.IntN(20) {
			sb.WriteString(randomWords[r.IntN(len(randomWords))])
			sb.WriteByte(' ')
		}
		docs[i] = Doc{
			ID:    fmt.Sprintf("c%04d", i),
			Group: fmt.Sprintf("g%03d", i/5),
			Tags:  []string{fmt.Sprintf("t%d", i%3)},
			Text:  sb.String(),
		}
	}
	var queries []string
	for range 30 {
		queries = append(queries, randomWords[r.IntN(len(randomWords))]+" "+
			randomWords[r.IntN(len(randomWords))]+" "+randomWords[r.IntN(len(randomWords))])
	}
	return docs, queries
}

// randomIndex indexes randomDocs in one call, which analyses them in
// parallel.
func randomIndex(r *rand.Rand, n int) (*Index, []string) {
	docs, queries := randomDocs(r, n)
	ix := New(Params{})
	ix.Add(docs...)
	return ix, queries
}

func TestAddingInBulkMatchesAddingOneByOne(t *testing.T) {
	// Enough documents for several batches, analysed in parallel.
	docs, queries := randomDocs(rand.New(rand.NewPCG(7, 8)), addBatch+parallelMin+3)
	bulk, single := New(Params{}), New(Params{})
	bulk.Add(docs...)
	for _, d := range docs {
		single.Add(d)
	}
	if bulk.Len() != len(docs) || single.Len() != len(docs) {
		t.Fatalf("Len: bulk %d, one by one %d, want %d", bulk.Len(), single.Len(), len(docs))
	}
	for _, q := range queries {
		if got, want := bulk.Keyword(q, 20, Filter{}), single.Keyword(q, 20, Filter{}); !slices.Equal(got, want) {
			t.Errorf("%q: bulk %v, one by one %v", q, got, want)
		}
	}
}

func TestCompactionPreservesResults(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ix, queries := randomIndex(r, 500)
	// Remove 10% of the groups: below the automatic threshold.
	for g := 0; g < 100; g += 10 {
		ix.RemoveGroup(fmt.Sprintf("g%03d", g))
	}
	if ix.numDead == 0 {
		t.Fatal("expected tombstones before compaction")
	}
	filters := []Filter{{}, {Tags: []string{"t1"}}, {Groups: []string{"g001", "g002", "g050"}}}

	before := map[string][]Hit{}
	for _, q := range queries {
		for i, f := range filters {
			before[fmt.Sprint(q, i)] = ix.Keyword(q, 20, f)
		}
	}
	groupsBefore := ix.Groups()

	ix.mu.Lock()
	ix.compact()
	ix.mu.Unlock()

	if ix.numDead != 0 || len(ix.ids) != 450 {
		t.Fatalf("after compaction: %d dead, %d slots; want 0 and 450", ix.numDead, len(ix.ids))
	}
	for _, q := range queries {
		for i, f := range filters {
			if got, want := ix.Keyword(q, 20, f), before[fmt.Sprint(q, i)]; !slices.Equal(got, want) {
				t.Errorf("%q filter %d: got %v, want %v", q, i, got, want)
			}
		}
	}
	if got := ix.Groups(); !mapsEqual(got, groupsBefore) {
		t.Errorf("Groups changed: %v, want %v", got, groupsBefore)
	}
}

func TestIndexCompactsWhenAQuarterIsDead(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ix, _ := randomIndex(r, 100) // 20 groups of 5
	for g := range 5 {
		ix.RemoveGroup(fmt.Sprintf("g%03d", g))
	}
	if ix.numDead != 25 {
		t.Fatalf("%d tombstones after removing 25%%, want 25 (no compaction yet)", ix.numDead)
	}
	ix.RemoveGroup("g005")
	if ix.numDead != 0 || len(ix.ids) != 70 {
		t.Errorf("after removing 30%%: %d dead, %d slots; want 0 and 70", ix.numDead, len(ix.ids))
	}
	if ix.Len() != 70 {
		t.Errorf("Len = %d, want 70", ix.Len())
	}
}

func TestConcurrentSearchesAndWritesAreSafe(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ix, queries := randomIndex(r, 300)
	vec := []float32{1, 0, 0}

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				q := queries[(w+i)%len(queries)]
				hits := ix.Keyword(q, 5, Filter{})
				for j := 1; j < len(hits); j++ {
					if hits[j-1].Score < hits[j].Score {
						t.Errorf("unsorted hits %v", hits)
						return
					}
				}
				ix.Keyword(q, 5, Filter{Tags: []string{"t2"}})
				ix.Vector(vec, 5, Filter{})
				ix.Groups()
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			g := fmt.Sprintf("g%03d", i%60)
			ix.RemoveGroup(g)
			ix.Add(Doc{ID: fmt.Sprintf("n%d", i), Group: g, Text: "kinase pathway", Vector: []float32{1, float32(i), 0}})
		}
	})
	wg.Wait()
}

// The benchmark corpus: 100,000 chunks of about 150 words drawn from a
// Zipf-distributed vocabulary of 50,000 pseudo-words, and queries of 8–20
// words from the same distribution (so they contain frequent words with long
// posting lists, the expensive case).
const (
	benchDocs  = 100_000
	benchVocab = 50_000
)

var bench struct {
	once          sync.Once
	ix            *Index
	queries       []string
	bytesPerChunk float64
	buildSeconds  float64 // time spent in Add
}

func pseudoWords(r *rand.Rand, n int) []string {
	const consonants, vowels = "bcdfghjklmnprstvz", "aeiou"
	seen := make(map[string]bool, n)
	words := make([]string, 0, n)
	for len(words) < n {
		var b []byte
		for range 2 + r.IntN(3) {
			b = append(b, consonants[r.IntN(len(consonants))], vowels[r.IntN(len(vowels))])
		}
		if r.IntN(2) == 0 {
			b = append(b, consonants[r.IntN(len(consonants))])
		}
		w := string(b)
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

func buildBenchIndex() {
	r := rand.New(rand.NewPCG(42, 42))
	words := pseudoWords(r, benchVocab)
	zipf := rand.NewZipf(r, 1.07, 2, benchVocab-1)
	text := func(n int) string {
		var sb strings.Builder
		for i := range n {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[zipf.Uint64()])
		}
		return sb.String()
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var building time.Duration
	ix := New(Params{})
	const batch = 1000
	for start := 0; start < benchDocs; start += batch {
		docs := make([]Doc, batch)
		for i := range docs {
			id := start + i
			docs[i] = Doc{ID: fmt.Sprintf("chunk-%06d", id), Group: fmt.Sprintf("doc-%05d", id/10), Text: text(120 + r.IntN(61))}
		}
		start := time.Now()
		ix.Add(docs...)
		building += time.Since(start)
	}

	bench.buildSeconds = building.Seconds()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	bench.bytesPerChunk = float64(after.HeapAlloc-before.HeapAlloc) / benchDocs

	for range 1000 {
		bench.queries = append(bench.queries, text(8+r.IntN(13)))
	}
	bench.ix = ix
}

func BenchmarkKeyword100k(b *testing.B) {
	if testing.Short() {
		b.Skip("building the 100k-chunk index takes a few seconds")
	}
	bench.once.Do(buildBenchIndex)
	var latencies []time.Duration
	for b.Loop() {
		start := time.Now()
		bench.ix.Keyword(bench.queries[len(latencies)%len(bench.queries)], 10, Filter{})
		latencies = append(latencies, time.Since(start))
	}
	// Reported after the loop: b.Loop resets the timer, which drops
	// metrics reported earlier.
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)*95/100].Microseconds()), "p95-us")
	b.ReportMetric(bench.bytesPerChunk, "bytes/chunk")
	b.ReportMetric(bench.buildSeconds, "build-s")
}
