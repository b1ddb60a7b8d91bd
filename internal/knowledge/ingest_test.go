package knowledge

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/knowledge/chunk"
	"github.com/metachat/metachat/internal/knowledge/extract"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/llm/fake"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

func TestASmallerChunkSizeMakesMoreChunks(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	tenantID := storetest.NewTenant(t, st, "Chunks")
	text := paragraphs(40) // about 800 words
	count := func(opts Options) int {
		k := newTestKB(t, st, nil, opts)
		return k.get(tenantID, k.addReady(tenantID, "Shipping", text)).ChunkCount
	}
	def, small, noOverlap := count(Options{}), count(Options{ChunkWords: 50}), count(Options{ChunkWords: 50, OverlapWords: -1})
	if def < 2 || small <= def {
		t.Errorf("%d chunks of 50 words, %d of the default size; want more of the smaller size", small, def)
	}
	if noOverlap > small {
		t.Errorf("%d chunks without overlap, %d with; want no more without", noOverlap, small)
	}
}

// panicky is an embedder with a bug.
type panicky struct{}

func (panicky) Embed(context.Context, []string) ([][]float32, error) { panic("index out of range") }

func TestAPanicWhileChunkingOrEmbeddingFailsTheDocumentWithAReason(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	tenantID := storetest.NewTenant(t, st, "Panics")
	tests := []struct {
		name       string
		embed      Embedder
		split      func(extract.Document, chunk.Options) []chunk.Chunk
		wantReason string
	}{
		{"chunking", nil, func(extract.Document, chunk.Options) []chunk.Chunk { panic("boom") }, "could not be cut into chunks"},
		{"embedding", panicky{}, nil, "embedding model"},
	}
	for _, tt := range tests {
		k := newTestKB(t, st, tt.embed, Options{})
		if tt.split != nil {
			k.s.split = tt.split
		}
		id := k.add(tenantID, "Shipping", "The warehouse ships parcels every weekday.")
		// A worker's first attempt: a panic must not escape, nor ask for a
		// retry that would only panic again.
		if err := k.s.Ingest(context.Background(), tenantID, id, 1, false); err != nil {
			t.Errorf("%s: Ingest = %v, want nil (the document failed for good)", tt.name, err)
		}
		v := k.get(tenantID, id)
		if v.Status != "failed" || !strings.Contains(v.Error, tt.wantReason) || strings.Contains(v.Error, "boom") || strings.Contains(v.Error, "index out of range") {
			t.Errorf("%s: document is %s with reason %q, want failed with a reason about %q and no internal detail", tt.name, v.Status, v.Error, tt.wantReason)
		}
	}
}

// observed wraps an embedder, calling before ahead of every batch.
type observed struct {
	next   Embedder
	mu     sync.Mutex
	calls  int
	before func(call int, texts []string)
}

func (o *observed) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	o.mu.Lock()
	o.calls++
	call := o.calls
	o.mu.Unlock()
	if o.before != nil {
		o.before(call, texts)
	}
	return o.next.Embed(ctx, texts)
}

func newFakeEmbedder(t *testing.T, srv *fake.Server) *llm.Embedder {
	t.Helper()
	e, err := llm.NewEmbedder(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: srv.APIKey(), Model: "embed-test"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestProgressIsPublishedAndVisibleAsBatchesAreEmbedded(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		tenantID := storetest.NewTenant(t, st, "Progress")
		const batch = 2
		emb := &observed{next: newFakeEmbedder(t, fake.OpenAI(t))}
		k := newTestKB(t, st, emb, Options{ChunkWords: 50, EmbedBatch: batch})
		id := k.add(tenantID, "Shipping", paragraphs(12))
		// What the API shows while each batch is being embedded.
		var seen []progress
		emb.before = func(int, []string) {
			v := k.get(tenantID, id)
			seen = append(seen, progress{v.Status, v.ChunksDone, v.ChunkCount})
		}
		sub := k.hub.SubscribeTenant(tenantID, 100)
		defer sub.Close()
		v := k.ingest(tenantID, id)
		n := v.ChunkCount
		if v.Status != "ready" || n < 2*batch {
			t.Fatalf("document ended %s with %d chunks, want ready with more than two batches", v.Status, n)
		}

		want := []progress{{"processing", 0, 0}, {"processing", 0, n}} // started; cut into n chunks
		var wantSeen []progress
		for done := 0; done < n; done += batch {
			wantSeen = append(wantSeen, progress{"processing", done, n})
			want = append(want, progress{"processing", min(done+batch, n), n})
		}
		want = append(want, progress{"ready", n, n})
		if diff := cmp.Diff(want, documentEvents(t, sub)); diff != "" {
			t.Errorf("document events (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantSeen, seen); diff != "" {
			t.Errorf("progress through the API during embedding (-want +got):\n%s", diff)
		}
	})
}

func TestWithoutEmbeddingsTheChunkCountIsPublishedBeforeReady(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, true)
	tenantID := storetest.NewTenant(t, st, "Progress")
	k := newTestKB(t, st, nil, Options{ChunkWords: 50})
	id := k.add(tenantID, "Shipping", paragraphs(12))
	sub := k.hub.SubscribeTenant(tenantID, 100)
	defer sub.Close()
	n := k.ingest(tenantID, id).ChunkCount
	want := []progress{{"processing", 0, 0}, {"processing", 0, n}, {"ready", n, n}}
	if diff := cmp.Diff(want, documentEvents(t, sub)); diff != "" {
		t.Errorf("document events (-want +got):\n%s", diff)
	}
}

func TestEmbeddingsAreRequestedInBatchesRetriedAndStored(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		tenantID := storetest.NewTenant(t, st, "Embeddings")
		srv := fake.OpenAI(t)
		const batch = 3
		k := newTestKB(t, st, newFakeEmbedder(t, srv), Options{ChunkWords: 50, EmbedBatch: batch})
		// The first request fails with a server error; it is retried.
		srv.Enqueue(fake.Behavior{Status: 500, RetryAfter: "0"})
		id := k.addReady(tenantID, "Shipping", paragraphs(12))
		n := k.get(tenantID, id).ChunkCount

		var sizes []int
		for _, body := range srv.Requests() {
			var req struct {
				Input []string `json:"input"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(req.Input))
		}
		var want []int
		want = append(want, min(batch, n)) // the failed request
		for done := 0; done < n; done += batch {
			want = append(want, min(batch, n-done))
		}
		if diff := cmp.Diff(want, sizes); diff != "" {
			t.Errorf("embedding request sizes (-want +got):\n%s", diff)
		}

		var chunks []store.Chunk
		err := st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
			var err error
			chunks, err = tx.ChunksOf(context.Background(), []string{id}, true)
			return err
		})
		if err != nil || len(chunks) != n {
			t.Fatalf("%d chunks stored (%v), want %d", len(chunks), err, n)
		}
		for _, c := range chunks {
			want := fake.Embed(indexText("Shipping", c.Heading, c.Text))
			got := make([]float64, len(c.Embedding))
			for i, f := range c.Embedding {
				got[i] = float64(f)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("chunk %d: stored vector is not the embedding of its text (-want +got):\n%s", c.Position, diff)
			}
		}
	})
}

// embeddedDocument is a queued one-line document of a new tenant, in a
// knowledge base whose embeddings come from the returned fake server.
func embeddedDocument(t *testing.T, tenant string) (k *testKB, srv *fake.Server, tenantID, id string) {
	t.Helper()
	st := storetest.Open(t, store.SQLite, true)
	tenantID = storetest.NewTenant(t, st, tenant)
	srv = fake.OpenAI(t)
	k = newTestKB(t, st, newFakeEmbedder(t, srv), Options{})
	return k, srv, tenantID, k.add(tenantID, "Shipping", "The warehouse ships parcels every weekday.")
}

func TestAnEmbeddingServerThatKeepsFailingFailsTheDocumentOnTheLastAttempt(t *testing.T) {
	t.Parallel()
	k, srv, tenantID, id := embeddedDocument(t, "Embeddings down")
	down := fake.Behavior{Status: 503, RetryAfter: "0"}
	for range 2 * (llm.DefaultMaxRetries + 1) {
		srv.Enqueue(down)
	}
	if err := k.s.Ingest(context.Background(), tenantID, id, 1, false); err == nil {
		t.Fatal("Ingest with the embedding server down = nil, want an error so the job retries")
	}
	if v := k.get(tenantID, id); v.Status != "processing" {
		t.Errorf("after a failed attempt the document is %s, want processing (to be retried)", v.Status)
	}
	if err := k.s.Ingest(context.Background(), tenantID, id, 1, true); err != nil {
		t.Fatalf("last attempt: Ingest = %v, want nil", err)
	}
	v := k.get(tenantID, id)
	if v.Status != "failed" || !strings.Contains(v.Error, "unavailable") {
		t.Errorf("after the last attempt the document is %s (%q), want failed naming the unavailable provider", v.Status, v.Error)
	}
}

func TestAnEmbeddingModelThatRefusesTheKeyFailsTheDocumentAtOnce(t *testing.T) {
	t.Parallel()
	k, srv, tenantID, id := embeddedDocument(t, "Embeddings refused")
	srv.Enqueue(fake.Behavior{Status: 401})
	if err := k.s.Ingest(context.Background(), tenantID, id, 1, false); err != nil {
		t.Fatalf("Ingest with a refused key = %v, want nil (no retry can help)", err)
	}
	v := k.get(tenantID, id)
	if v.Status != "failed" || !strings.Contains(v.Error, "API key") {
		t.Errorf("the document is %s (%q), want failed naming the API key", v.Status, v.Error)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d embedding requests, want 1", n)
	}
}
