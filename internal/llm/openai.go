package llm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

const openAIPublicBaseURL = "https://api.openai.com/v1/"

// openAIProvider speaks the Chat Completions API through the official SDK,
// so it works with OpenAI and OpenAI-compatible servers.
type openAIProvider struct {
	client openai.Client
	model  string
	// official is true for api.openai.com, which wants max_completion_tokens;
	// compatible servers (Ollama, vLLM, llama.cpp, LM Studio, gateways) all
	// understand the older max_tokens.
	official bool
	caller   caller
}

func newOpenAI(cfg Config) *openAIProvider {
	base := cfg.BaseURL
	if base == "" {
		base = openAIPublicBaseURL
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base), // explicit, so OPENAI_BASE_URL in the environment cannot redirect it
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(0), // retries are ours: identical across providers, never duplicating deltas
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	official := false
	if u, err := url.Parse(base); err == nil && strings.EqualFold(u.Hostname(), "api.openai.com") {
		official = true
	}
	return &openAIProvider{
		client:   openai.NewClient(opts...),
		model:    cfg.Model,
		official: official,
		caller:   newCaller(cfg),
	}
}

func (p *openAIProvider) Chat(ctx context.Context, req Request, onDelta func(string)) (Response, error) {
	params, err := p.params(req)
	if err != nil {
		return Response{}, err
	}
	return p.caller.run(ctx, onDelta, func(ctx context.Context, kick func(), emit func(string)) (Response, error) {
		return p.stream(ctx, params, kick, emit)
	})
}

func (p *openAIProvider) params(req Request) (openai.ChatCompletionNewParams, error) {
	model := req.Model
	if model == "" {
		model = p.model
	}
	var msgs []openai.ChatCompletionMessageParamUnion
	if strings.TrimSpace(req.System) != "" {
		// "system" rather than "developer": every compatible server knows it,
		// and OpenAI maps it to developer for reasoning models.
		msgs = append(msgs, openai.SystemMessage(req.System))
	}
	for _, m := range req.Messages {
		if strings.TrimSpace(m.Content) == "" {
			continue
		}
		switch strings.ToLower(m.Role) {
		case "user":
			msgs = append(msgs, openai.UserMessage(m.Content))
		case "assistant":
			msgs = append(msgs, openai.AssistantMessage(m.Content))
		case "system":
			msgs = append(msgs, openai.SystemMessage(m.Content))
		default:
			return openai.ChatCompletionNewParams{}, &Error{Provider: ProviderOpenAI, Kind: ErrBadRequest, Message: "unknown message role " + strconvQuote(m.Role)}
		}
	}
	if len(msgs) == 0 {
		return openai.ChatCompletionNewParams{}, &Error{Provider: ProviderOpenAI, Kind: ErrBadRequest, Message: "no messages to send"}
	}
	params := openai.ChatCompletionNewParams{
		Model:    openai.ChatModel(model),
		Messages: msgs,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{
			IncludeUsage: openai.Bool(true),
		},
	}
	if !fixedTemperature(model) {
		params.Temperature = openai.Float(req.Temperature)
	}
	if p.official {
		params.MaxCompletionTokens = openai.Int(maxTokens(req.MaxTokens))
	} else {
		params.MaxTokens = openai.Int(maxTokens(req.MaxTokens))
	}
	return params, nil
}

// stream performs one streaming request.
func (p *openAIProvider) stream(ctx context.Context, params openai.ChatCompletionNewParams, kick func(), emit func(string)) (Response, error) {
	stream := p.client.Chat.Completions.NewStreaming(ctx, params)
	defer func() { _ = stream.Close() }()

	var acc openai.ChatCompletionAccumulator
	var usage Usage
	for stream.Next() {
		kick()
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if chunk.JSON.Usage.Valid() && (chunk.Usage.PromptTokens != 0 || chunk.Usage.CompletionTokens != 0) {
			// Usage is a whole-request total; servers that repeat it on
			// every chunk must not be summed, so the last one wins.
			usage = Usage{InputTokens: int(chunk.Usage.PromptTokens), OutputTokens: int(chunk.Usage.CompletionTokens)}
		}
		for _, ch := range chunk.Choices {
			if ch.Index != 0 {
				continue
			}
			emit(ch.Delta.Content)
			emit(ch.Delta.Refusal)
		}
	}
	if err := stream.Err(); err != nil {
		return Response{}, openAIFailure(err)
	}
	resp := Response{Usage: usage}
	if len(acc.Choices) > 0 {
		resp.FinishReason = acc.Choices[0].FinishReason
	}
	return resp, nil
}

// openAIFailure converts SDK errors into failures the retry loop classifies.
func openAIFailure(err error) error {
	var aerr *openai.Error
	if errors.As(err, &aerr) {
		f := &failure{status: aerr.StatusCode, code: aerr.Code, message: aerr.Message}
		if aerr.Response != nil {
			f.header = aerr.Response.Header
			if f.message == "" && aerr.Response.Body != nil {
				// Not the usual {"error":{…}} shape (a proxy's HTML page,
				// a compatible server's own format): use what it said.
				body, _ := io.ReadAll(io.LimitReader(aerr.Response.Body, 8<<10))
				f.message = errorBodyMessage(body)
			}
		}
		if f.code == "" && aerr.Type == "insufficient_quota" {
			f.code = aerr.Type
		}
		return f
	}
	var serr *ssestream.StreamError
	if errors.As(err, &serr) {
		// {"error":{…}} inside the stream: the server failed mid-answer.
		var body struct {
			Error struct {
				Message string `json:"message"`
				Code    any    `json:"code"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		_ = json.Unmarshal(serr.Event.Data, &body)
		msg := body.Error.Message
		if msg == "" {
			msg = "error event in stream"
		}
		return &failure{status: 500, message: msg, code: body.Error.Type}
	}
	return &failure{err: err}
}

// errorBodyMessage extracts a human-readable message from an error body in
// any of the common shapes.
func errorBodyMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  any             `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var nested struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case len(v.Error) > 0 && json.Unmarshal(v.Error, &nested) == nil && nested.Message != "":
			return nested.Message
		case len(v.Error) > 0 && json.Unmarshal(v.Error, &s) == nil && s != "":
			return s
		case v.Message != "":
			return v.Message
		case v.Detail != nil:
			if d, ok := v.Detail.(string); ok {
				return d
			}
			b, _ := json.Marshal(v.Detail)
			return string(b)
		}
	}
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(text, "<") {
		return "" // an HTML error page says nothing useful
	}
	return text
}

// fixedTemperature reports OpenAI reasoning models, which reject any
// temperature but the default.
func fixedTemperature(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:] // "openai/gpt-5" on gateways
	}
	for _, prefix := range []string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
