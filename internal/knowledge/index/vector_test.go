package index

import (
	"math"
	"slices"
	"testing"
)

func TestVectorSearch(t *testing.T) {
	ix := New(Params{})
	ix.Add(
		Doc{ID: "east", Group: "A", Tags: []string{"x"}, Vector: []float32{1, 0}},
		Doc{ID: "north-east", Group: "A", Vector: []float32{3, 3}},
		Doc{ID: "north", Group: "B", Tags: []string{"x"}, Vector: []float32{0, 0.5}},
		Doc{ID: "west", Group: "B", Vector: []float32{-2, 0}},
		Doc{ID: "zero", Group: "C", Vector: []float32{0, 0}},
		Doc{ID: "three-d", Group: "C", Vector: []float32{1, 0, 0}},
		Doc{ID: "no-vector", Group: "C", Text: "text only"},
	)
	tests := []struct {
		name   string
		q      []float32
		k      int
		filter Filter
		want   []string
	}{
		{"ranks by cosine similarity", []float32{1, 0.1}, 10, Filter{}, []string{"east", "north-east", "north", "west"}},
		{"ignores vector length", []float32{0, 100}, 1, Filter{}, []string{"north"}},
		{"only sees vectors of the query's dimension", []float32{5, 0, 0}, 10, Filter{}, []string{"three-d"}},
		{"finds nothing for a dimension no chunk has", []float32{1, 0, 0, 0}, 10, Filter{}, []string{}},
		{"finds nothing for a zero query", []float32{0, 0}, 10, Filter{}, []string{}},
		{"applies group filters", []float32{1, 0}, 10, Filter{Groups: []string{"B"}}, []string{"north", "west"}},
		{"applies tag filters", []float32{1, 0}, 10, Filter{Tags: []string{"x"}}, []string{"east", "north"}},
		{"returns at most k hits", []float32{1, 0}, 2, Filter{}, []string{"east", "north-east"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(ix.Vector(tc.q, tc.k, tc.filter)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVectorScoresAreCosineSimilarities(t *testing.T) {
	ix := New(Params{})
	ix.Add(Doc{ID: "d", Vector: []float32{3, 4}})
	hits := ix.Vector([]float32{4, 3}, 1, Filter{})
	if len(hits) != 1 || math.Abs(hits[0].Score-24.0/25) > 1e-6 {
		t.Errorf("got %v, want one hit scoring 0.96", hits)
	}
}

func TestVectorSearchFollowsReplacementRemovalAndCompaction(t *testing.T) {
	ix := New(Params{})
	ix.Add(
		Doc{ID: "a", Group: "A", Vector: []float32{1, 0}},
		Doc{ID: "b", Group: "B", Vector: []float32{0.9, 0.1}},
		Doc{ID: "c", Group: "C", Vector: []float32{0.5, 0.5}},
		Doc{ID: "d", Group: "D", Vector: []float32{0, 1}},
		Doc{ID: "e", Group: "E", Vector: []float32{-1, 0}},
	)
	// Chunks without vectors keep the tombstones below the automatic
	// compaction threshold.
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5", "p6"} {
		ix.Add(Doc{ID: id, Group: "P", Text: "padding"})
	}
	ix.Add(Doc{ID: "a", Group: "A", Vector: []float32{-1, 0.1}}) // now points west
	ix.RemoveGroup("B")
	if ix.numDead != 2 {
		t.Fatalf("%d tombstones, want 2", ix.numDead)
	}

	want := []string{"c", "d", "a", "e"}
	if got := ids(ix.Vector([]float32{1, 0}, 10, Filter{})); !slices.Equal(got, want) {
		t.Errorf("before compaction: got %v, want %v", got, want)
	}
	ix.mu.Lock()
	ix.compact()
	ix.mu.Unlock()
	if got := ids(ix.Vector([]float32{1, 0}, 10, Filter{})); !slices.Equal(got, want) {
		t.Errorf("after compaction: got %v, want %v", got, want)
	}
}

func TestFuse(t *testing.T) {
	rrf := func(ranks ...int) float64 {
		s := 0.0
		for _, r := range ranks {
			s += 1 / float64(60+r)
		}
		return s
	}
	hits := func(ids ...string) []Hit {
		out := make([]Hit, len(ids))
		for i, id := range ids {
			out[i] = Hit{ID: id, Group: "g-" + id, Score: float64(100 - i)}
		}
		return out
	}
	tests := []struct {
		name  string
		k     int
		lists [][]Hit
		want  []Hit
	}{
		{
			name:  "sums reciprocal ranks and orders ties by ID",
			k:     10,
			lists: [][]Hit{hits("a", "b", "c"), hits("b", "a", "d")},
			want: []Hit{
				{ID: "a", Group: "g-a", Score: rrf(1, 2)},
				{ID: "b", Group: "g-b", Score: rrf(2, 1)},
				{ID: "c", Group: "g-c", Score: rrf(3)},
				{ID: "d", Group: "g-d", Score: rrf(3)},
			},
		},
		{
			name:  "a chunk in every list beats one at the top of a single list",
			k:     1,
			lists: [][]Hit{hits("solo", "x", "both"), hits("y", "both", "z")},
			want:  []Hit{{ID: "both", Group: "g-both", Score: rrf(3, 2)}},
		},
		{
			name:  "a chunk listed twice in one list counts at its best rank",
			k:     10,
			lists: [][]Hit{hits("a", "b", "a")},
			want: []Hit{
				{ID: "a", Group: "g-a", Score: rrf(1)},
				{ID: "b", Group: "g-b", Score: rrf(2)},
			},
		},
		{
			name:  "zero k means ten",
			k:     0,
			lists: [][]Hit{hits("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l")},
			want:  hitsWithScores(hits("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), rrf),
		},
		{
			name:  "no lists give no hits",
			k:     10,
			lists: nil,
			want:  nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Fuse(tc.k, tc.lists...)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].ID != tc.want[i].ID || got[i].Group != tc.want[i].Group || math.Abs(got[i].Score-tc.want[i].Score) > 1e-12 {
					t.Errorf("hit %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// hitsWithScores gives each hit the fused score of its position in a single
// list.
func hitsWithScores(hits []Hit, rrf func(...int) float64) []Hit {
	for i := range hits {
		hits[i].Score = rrf(i + 1)
	}
	return hits
}
