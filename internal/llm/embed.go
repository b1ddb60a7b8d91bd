package llm

import (
	"context"
	"fmt"
	"strings"

	"github.com/openai/openai-go/v3"
)

// Embedder turns texts into vectors through an OpenAI-compatible
// embeddings endpoint (OpenAI, Ollama, vLLM, llama.cpp server, gateways).
type Embedder struct {
	p *openAIProvider
}

// NewEmbedder builds an embedder for cfg.Model; the provider must be
// openai (Anthropic has no embeddings API). The configuration is checked
// and completed as by New, so embeddings get the same timeout and retries
// as chat calls.
func NewEmbedder(cfg Config) (*Embedder, error) {
	if p := strings.ToLower(strings.TrimSpace(cfg.Provider)); p != ProviderOpenAI {
		return nil, fmt.Errorf("llm: embeddings need an OpenAI-compatible provider, not %q", cfg.Provider)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, fmt.Errorf("llm: an embedding model is required")
	}
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	op, ok := p.(*openAIProvider)
	if !ok {
		return nil, fmt.Errorf("llm: embeddings need an OpenAI-compatible provider, not %q", cfg.Provider)
	}
	return &Embedder{p: op}, nil
}

// Embed returns one vector per text, in order, with the same retries and
// error classification as chat calls.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	var out [][]float32
	_, err := e.p.caller.run(ctx, nil, func(ctx context.Context, kick func(), _ func(string)) (Response, error) {
		resp, err := e.p.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model:          e.p.model,
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
		})
		if err != nil {
			return Response{}, openAIFailure(err)
		}
		kick()
		if len(resp.Data) != len(texts) {
			return Response{}, &failure{status: 500, message: fmt.Sprintf("%d embeddings for %d inputs", len(resp.Data), len(texts))}
		}
		out = make([][]float32, len(texts))
		for _, d := range resp.Data {
			if d.Index < 0 || int(d.Index) >= len(texts) {
				return Response{}, &failure{status: 500, message: fmt.Sprintf("embedding index %d out of range", d.Index)}
			}
			v := make([]float32, len(d.Embedding))
			for i, f := range d.Embedding {
				v[i] = float32(f)
			}
			out[d.Index] = v
		}
		return Response{}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
