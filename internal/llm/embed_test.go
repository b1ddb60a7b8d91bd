package llm

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/llm/fake"
)

func newTestEmbedder(t *testing.T, srv *fake.Server) *Embedder {
	t.Helper()
	e, err := NewEmbedder(Config{Provider: ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: srv.APIKey(), Model: "embed-test",
		backoffBase: time.Millisecond, backoffCap: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEmbedReturnsOneVectorPerTextInOrder(t *testing.T) {
	t.Parallel()
	srv := fake.OpenAI(t)
	texts := []string{"parcels ship daily", "opening hours", "refunds within thirty days"}
	got, err := newTestEmbedder(t, srv).Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(got), len(texts))
	}
	for i, text := range texts {
		want := fake.Embed(text)
		if len(got[i]) != len(want) {
			t.Fatalf("vector %d has %d dimensions, want %d", i, len(got[i]), len(want))
		}
		for j := range want {
			if float64(got[i][j]) != want[j] {
				t.Fatalf("vector %d is not the embedding of %q", i, text)
			}
		}
	}
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	if err := json.Unmarshal(srv.LastRequest(), &req); err != nil {
		t.Fatal(err)
	}
	if req.Model != "embed-test" || len(req.Input) != len(texts) || req.EncodingFormat != "float" {
		t.Errorf("request = %+v, want model embed-test, %d inputs, float encoding", req, len(texts))
	}
	if none, err := newTestEmbedder(t, srv).Embed(context.Background(), nil); err != nil || none != nil || srv.Calls() != 1 {
		t.Errorf("Embed(nil) = %v, %v after %d calls; want nothing and no request", none, err, srv.Calls())
	}
}

func TestEmbedRetriesAServerErrorButNotARefusedKey(t *testing.T) {
	t.Parallel()
	srv := fake.OpenAI(t)
	srv.Enqueue(fake.Behavior{Status: 500}, fake.Behavior{Status: 503})
	vecs, err := newTestEmbedder(t, srv).Embed(context.Background(), []string{"hello"})
	if err != nil || len(vecs) != 1 {
		t.Fatalf("Embed after two server errors = %v, %v; want a vector", vecs, err)
	}
	if srv.Calls() != 3 {
		t.Errorf("%d requests, want 3 (two retried failures)", srv.Calls())
	}

	bad := fake.OpenAI(t)
	e := newTestEmbedder(t, bad)
	bad.SetAPIKey("sk-other") // the server now refuses the embedder's key
	_, err = e.Embed(context.Background(), []string{"hello"})
	var le *Error
	if !errors.As(err, &le) || !errors.Is(le.Kind, ErrBadCredentials) {
		t.Fatalf("Embed with a refused key = %v, want ErrBadCredentials", err)
	}
	if bad.Calls() != 1 {
		t.Errorf("%d requests with a refused key, want 1 (no retry)", bad.Calls())
	}
}

func TestNewEmbedderNeedsAnOpenAICompatibleProviderAndAModel(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Provider: ProviderAnthropic, Model: "m", APIKey: "k"},
		{Provider: ProviderOpenAI, APIKey: "k"},
		{Provider: ProviderOpenAI, Model: "m"},
	} {
		if _, err := NewEmbedder(cfg); err == nil {
			t.Errorf("NewEmbedder(%+v) = nil error", cfg)
		}
	}
}
