package httpapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/llm/fake"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// bucket is the one dimension a single word occupies in the fake's hashed
// bag-of-words embedding.
func bucket(word string) int {
	v := fake.Embed(word)
	return slices.Index(v, slices.Max(v))
}

// paraphrase replaces every word of text by a made-up word the fake
// embeds identically: the result shares no word with text, yet its
// vector is the same.
func paraphrase(text string) string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		for i := 0; ; i++ {
			cand := "zq"
			for n := i; ; n /= 26 {
				cand += string(rune('a' + n%26))
				if n < 26 {
					break
				}
			}
			if bucket(cand) == bucket(w) {
				out = append(out, cand)
				break
			}
		}
	}
	return strings.Join(out, " ")
}

// With METACHAT_EMBEDDING_MODEL set, chunks are embedded in batches through
// an OpenAI-compatible endpoint (a failed request is retried), their
// vectors are stored, and a query sharing no word with a document but
// close to it in vector space finds it.
func TestDocumentsWithEmbeddingsAreFoundByMeaning(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			srv := fake.OpenAI(t)
			emb, err := llm.NewEmbedder(llm.Config{Provider: llm.ProviderOpenAI, BaseURL: srv.URL + "/v1", APIKey: srv.APIKey(), Model: "embed-test"})
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, d, envOptions{embed: emb})
			tn := e.newTenant("Meaning")
			c := e.as(tn.Key)

			srv.Enqueue(fake.Behavior{Status: 500, RetryAfter: "0"}) // the first request fails
			const title, text = "Shipping", "Parcels leave the warehouse every weekday."
			doc := c.do("POST", "/api/v1/documents", map[string]any{"title": title, "text": text}).must(t, 202).JSON(t)
			id := doc["id"].(string)
			e.awaitDocument(tn.Key, id, "ready")
			other := c.do("POST", "/api/v1/documents", map[string]any{"title": "Opening times", "text": "Monday to Friday from nine."}).must(t, 202).JSON(t)
			e.awaitDocument(tn.Key, other["id"].(string), "ready")

			reqs := srv.Requests()
			if len(reqs) != 3 {
				t.Fatalf("%d embedding requests, want 3 (a failure, its retry, the second document)", len(reqs))
			}
			for i, body := range reqs {
				var req struct {
					Model string   `json:"model"`
					Input []string `json:"input"`
				}
				if err := json.Unmarshal(body, &req); err != nil {
					t.Fatal(err)
				}
				shipping := i < 2 // the failed request and its retry carry the same chunk
				if req.Model != "embed-test" || len(req.Input) != 1 || strings.Contains(req.Input[0], "Parcels") != shipping {
					t.Errorf("request %d: model %q, inputs %q", i, req.Model, req.Input)
				}
			}
			var chunks []store.Chunk
			err = e.st.Read(context.Background(), store.TenantScope(tn.ID), func(tx *store.Tx) error {
				chunks, err = tx.ChunksOf(context.Background(), []string{id}, true)
				return err
			})
			if err != nil || len(chunks) != 1 || len(chunks[0].Embedding) != fake.EmbeddingDims {
				t.Fatalf("stored chunks %+v (%v), want one with a %d-dimension vector", chunks, err, fake.EmbeddingDims)
			}

			query := paraphrase(title + " " + text)
			for _, w := range strings.Fields(strings.ToLower(title + " " + text)) {
				if strings.Contains(" "+query+" ", " "+strings.Trim(w, ".")+" ") {
					t.Fatalf("the paraphrase %q shares %q with the document", query, w)
				}
			}
			rs := searchResults(t, c, map[string]any{"query": query})
			if len(rs) == 0 || rs[0]["document_id"] != id || rs[0]["relevance"].(float64) < 0.99 {
				t.Fatalf("searching by meaning found %v, want %s first with relevance 1", rs, id)
			}
			ps, err := e.kb.Retrieve(context.Background(), tn.ID, -1, query, 5, 0.5)
			if err != nil || len(ps) == 0 || ps[0].DocumentID != id {
				t.Errorf("Retrieve by meaning = %v (%v), want %s", ps, err, id)
			}
			for _, p := range ps {
				if p.DocumentID == other["id"] {
					t.Errorf("an unrelated document passed the relevance bar: %+v", p)
				}
			}
		})
	}
}
