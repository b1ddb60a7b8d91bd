package knowledge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// concepts is a tiny embedding model: words of one meaning share a
// dimension, so a paraphrase is close to the original in vector space
// while sharing no word with it. Other words carry no meaning here.
type concepts map[string]int

var meanings = concepts{
	"parcel": 0, "parcels": 0, "package": 0, "packages": 0,
	"ship": 1, "ships": 1, "dispatch": 1, "deliver": 1,
	"refund": 2, "refunds": 2, "repay": 2, "reimburse": 2,
	"open": 3, "opening": 3, "hours": 3,
}

func (c concepts) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		v := make([]float32, 4)
		for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
			if d, ok := c[w]; ok {
				v[d]++
			}
		}
		out[i] = v
	}
	return out, nil
}

func TestAChunkFoundOnlyByMeaningIsRetrievedAboveTheSimilarityFloor(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	tenantID := storetest.NewTenant(t, st, "Meaning")
	k := newTestKB(t, st, meanings, Options{})
	shipping := k.addReady(tenantID, "Shipping", "The warehouse ships parcels every weekday.")
	k.addReady(tenantID, "Opening times", "The shop is open from nine.")
	ctx := context.Background()

	// No word in common with the shipping document, the same meaning.
	ps, err := k.s.Retrieve(ctx, tenantID, -1, "when do you dispatch packages", 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].DocumentID != shipping || ps[0].Score < 0.99 {
		t.Errorf("a paraphrase retrieved %+v, want only the shipping document with relevance 1 (its cosine similarity)", ps)
	}
	// An assistant's minimum relevance still applies.
	if ps, _ := k.s.Retrieve(ctx, tenantID, -1, "when do you dispatch packages", 5, 0.995); len(ps) != 1 {
		t.Errorf("min relevance below the similarity dropped the passage: %+v", ps)
	}

	// A query only faintly related (cosine about 0.17) is a nearest
	// neighbour, but below the floor: the search lists it with no
	// relevance, and Retrieve leaves it out.
	const faint = "refund repay reimburse refunds package"
	rs, err := k.s.search(ctx, tenantID, -1, SearchRequest{Query: faint, TopK: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 || rs[0].DocumentID != shipping || rs[0].Relevance != 0 {
		t.Errorf("search for a faint match = %+v, want the shipping document first with relevance 0", rs)
	}
	if ps, err := k.s.Retrieve(ctx, tenantID, -1, faint, 5, 0); err != nil || len(ps) != 0 {
		t.Errorf("Retrieve of a faint match = %+v, %v; want nothing", ps, err)
	}

	// Keyword matches keep their coverage when it is the higher measure.
	ps, err = k.s.Retrieve(ctx, tenantID, -1, "warehouse weekday", 5, 0)
	if err != nil || len(ps) == 0 || ps[0].DocumentID != shipping || ps[0].Score != 1 {
		t.Errorf("a keyword query retrieved %+v (%v), want the shipping document with relevance 1", ps, err)
	}
}

// clock is a settable time for the index cache.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// found reports the documents a tenant's search returns.
func (k *testKB) found(tenantID, query string) []string {
	k.t.Helper()
	ps, err := k.s.Retrieve(context.Background(), tenantID, -1, query, 10, 0)
	if err != nil {
		k.t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.DocumentID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func TestAnIndexUnusedForTheIdleTimeIsDroppedAndRebuiltOnDemand(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	a, b := storetest.NewTenant(t, st, "A"), storetest.NewTenant(t, st, "B")
	k := newTestKB(t, st, nil, Options{IndexIdle: 30 * time.Minute})
	clk := &clock{now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	k.s.indexes.now = clk.Now
	docA := k.addReady(a, "Animals", "The aardvark digs.")
	docB := k.addReady(b, "Animals", "The bandicoot sleeps.")

	k.found(a, "aardvark")
	clk.now = clk.now.Add(20 * time.Minute)
	k.found(b, "bandicoot")
	if held, _ := k.s.indexes.held(); !slices.Equal(held, sorted(a, b)) {
		t.Fatalf("after 20 minutes the indexes held are %v, want both tenants'", held)
	}
	clk.now = clk.now.Add(11 * time.Minute) // A unused for 31 minutes, B for 11
	k.found(b, "bandicoot")
	if held, chunks := k.s.indexes.held(); !slices.Equal(held, []string{b}) || chunks != 1 {
		t.Fatalf("after A was idle for 31 minutes the indexes held are %v with %d chunks, want only B's with 1", held, chunks)
	}
	if got := k.found(a, "aardvark"); !slices.Equal(got, []string{docA}) {
		t.Errorf("A's search after its index was dropped found %v, want %s", got, docA)
	}
	if got := k.found(a, "bandicoot"); len(got) != 0 {
		t.Errorf("A's search found B's document %v", got)
	}
	if got := k.found(b, "bandicoot"); !slices.Equal(got, []string{docB}) {
		t.Errorf("B's search found %v, want %s", got, docB)
	}
}

func TestTheIndexesHoldAtMostTheChunkCapDroppingTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	a, b, c := storetest.NewTenant(t, st, "A"), storetest.NewTenant(t, st, "B"), storetest.NewTenant(t, st, "C")
	k := newTestKB(t, st, nil, Options{MaxIndexedChunks: 4})
	clk := &clock{now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	k.s.indexes.now = clk.Now
	var docsA []string
	for _, animal := range []string{"aardvark", "alpaca", "antelope"} {
		docsA = append(docsA, k.addReady(a, animal, "The "+animal+" eats."))
	}
	docB1 := k.addReady(b, "bison", "The bison eats.")
	k.addReady(b, "beaver", "The beaver eats.")
	step := func() { clk.now = clk.now.Add(time.Second) }

	if got := k.found(a, "eats"); !slices.Equal(got, sorted(docsA...)) {
		t.Fatalf("A found %v, want its three documents", got)
	}
	step()
	k.found(b, "bison")
	if held, chunks := k.s.indexes.held(); !slices.Equal(held, []string{b}) || chunks != 2 {
		t.Errorf("after B's search over the cap the indexes held are %v with %d chunks, want only B's (A was used least recently)", held, chunks)
	}
	step()
	if got := k.found(a, "eats"); !slices.Equal(got, sorted(docsA...)) {
		t.Errorf("A found %v after its index was dropped, want its three documents (and nothing of B)", got)
	}
	if held, chunks := k.s.indexes.held(); !slices.Equal(held, []string{a}) || chunks != 3 {
		t.Errorf("indexes held %v with %d chunks, want only A's 3", held, chunks)
	}

	// A tenant without documents keeps no index; with one, it does, until
	// its last document goes.
	step()
	if got := k.found(c, "eats"); len(got) != 0 {
		t.Errorf("C has no documents but found %v", got)
	}
	if held, _ := k.s.indexes.held(); slices.Contains(held, c) {
		t.Errorf("an index is kept for C, which has no documents: %v", held)
	}
	step()
	if got := k.found(b, "bison"); !slices.Equal(got, []string{docB1}) {
		t.Errorf("B found %v, want %s", got, docB1)
	}
	for _, id := range docsA {
		if err := k.s.Delete(context.Background(), principal(a), id); err != nil {
			t.Fatal(err)
		}
	}
	step()
	k.found(a, "eats")
	if held, chunks := k.s.indexes.held(); !slices.Equal(held, []string{b}) || chunks != 2 {
		t.Errorf("after A's documents were deleted the indexes held are %v with %d chunks, want only B's 2", held, chunks)
	}
}

func TestATenantLargerThanTheCapIsStillSearched(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	a := storetest.NewTenant(t, st, "A")
	k := newTestKB(t, st, nil, Options{MaxIndexedChunks: 1})
	d1, d2 := k.addReady(a, "aardvark", "The aardvark eats."), k.addReady(a, "alpaca", "The alpaca eats.")
	for range 2 {
		if got := k.found(a, "eats"); !slices.Equal(got, sorted(d1, d2)) {
			t.Errorf("found %v, want both documents", got)
		}
	}
}

// Searches run in parallel with ingest and with evictions (run with -race).
func TestSearchesRunWhileDocumentsArriveAndIndexesAreDropped(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	a, b := storetest.NewTenant(t, st, "A"), storetest.NewTenant(t, st, "B")
	k := newTestKB(t, st, meanings, Options{MaxIndexedChunks: 3})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := []string{a, b}[i%2]
			for ctx.Err() == nil {
				if _, err := k.s.Retrieve(ctx, tenant, -1, "parcels ship", 5, 0); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	var want []string
	for i := range 5 {
		want = append(want, k.addReady(a, fmt.Sprintf("Parcels %d", i), "The warehouse ships parcels."))
		k.addReady(b, fmt.Sprintf("Parcels %d", i), "The courier ships parcels.")
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := k.found(a, "warehouse"); !slices.Equal(got, sorted(want...)) {
		t.Errorf("found %v, want A's five documents", got)
	}
}
