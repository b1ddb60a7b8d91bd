package knowledge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// queue records the ingest jobs a service enqueues; tests run them with
// Ingest, one by one, instead of a job worker.
type queue struct {
	mu   sync.Mutex
	jobs map[string]int // document id → generation
}

func (q *queue) EnqueueIngest(_ context.Context, _ *store.Tx, id string, gen int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs[id] = gen
	return nil
}

// testKB is a knowledge service over a real store, with a hub to watch
// its events.
type testKB struct {
	t   *testing.T
	st  *store.Store
	s   *Service
	hub *realtime.Hub
	q   *queue
}

func newTestKB(t *testing.T, st *store.Store, embed Embedder, opts Options) *testKB {
	t.Helper()
	hub := realtime.NewHub()
	s := NewService(st, hub, nil, embed, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	q := &queue{jobs: map[string]int{}}
	s.SetIngest(q)
	return &testKB{t: t, st: st, s: s, hub: hub, q: q}
}

func principal(tenantID string) *auth.Principal {
	return &auth.Principal{Kind: "api_key", TenantID: tenantID, KeyID: "test-key"}
}

// add creates a text document and returns its id without ingesting it.
func (k *testKB) add(tenantID, title, text string) string {
	k.t.Helper()
	v, err := k.s.Create(context.Background(), principal(tenantID), New{Title: title, Text: text, TextSet: true})
	if err != nil {
		k.t.Fatal(err)
	}
	return v.ID
}

// ingest runs the queued job of a document as a worker's last attempt
// would, and returns the document afterwards.
func (k *testKB) ingest(tenantID, id string) View {
	k.t.Helper()
	k.q.mu.Lock()
	gen := k.q.jobs[id]
	k.q.mu.Unlock()
	if err := k.s.Ingest(context.Background(), tenantID, id, gen, true); err != nil {
		k.t.Fatalf("Ingest(%s) = %v", id, err)
	}
	return k.get(tenantID, id)
}

// addReady creates a text document and ingests it; it must end ready.
func (k *testKB) addReady(tenantID, title, text string) string {
	k.t.Helper()
	id := k.add(tenantID, title, text)
	if v := k.ingest(tenantID, id); v.Status != "ready" {
		k.t.Fatalf("document %q ended %s (%q), want ready", title, v.Status, v.Error)
	}
	return id
}

func (k *testKB) get(tenantID, id string) View {
	k.t.Helper()
	v, err := k.s.Get(context.Background(), principal(tenantID), id)
	if err != nil {
		k.t.Fatal(err)
	}
	return v
}

// progress is one document event as live dashboards see it.
type progress struct {
	Status     string
	ChunksDone int
	ChunkCount int
}

// documentEvents decodes the document events received so far.
func documentEvents(t *testing.T, sub *realtime.Subscription) []progress {
	t.Helper()
	var out []progress
	for {
		select {
		case e := <-sub.C:
			var m struct {
				Document View `json:"document"`
			}
			if err := json.Unmarshal(e.Data, &m); err != nil {
				t.Fatalf("event %s: %v", e.Data, err)
			}
			out = append(out, progress{m.Document.Status, m.Document.ChunksDone, m.Document.ChunkCount})
		default:
			return out
		}
	}
}

// paragraphs is text of n paragraphs of about 20 words each.
func paragraphs(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("The warehouse ships parcels every weekday morning and the courier collects them before noon so customers receive orders quickly.")
	}
	return b.String()
}

// held reports which tenants have an index in memory and the chunks held
// in all.
func (is *indexes) held() (tenants []string, chunks int) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for id := range is.m {
		tenants = append(tenants, id)
	}
	slices.Sort(tenants)
	return tenants, is.total
}
