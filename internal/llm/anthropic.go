package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// anthropicProvider speaks the Messages API through the official SDK.
type anthropicProvider struct {
	client anthropic.Client
	model  string
	caller caller
}

func newAnthropic(cfg Config) *anthropicProvider {
	opts := []option.RequestOption{
		// Nothing from ANTHROPIC_* environment variables or profiles on disk:
		// the configuration is ours.
		option.WithoutEnvironmentDefaults(),
		option.WithMaxRetries(0), // retries are ours: identical across providers, never duplicating deltas
	}
	if cfg.BaseURL != "" {
		// The SDK appends "v1/messages"; accept a base URL given with /v1 too.
		base := strings.TrimSuffix(strings.TrimRight(cfg.BaseURL, "/"), "/v1")
		opts = append(opts, option.WithBaseURL(base))
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	} else {
		opts = append(opts, option.WithHTTPClient(http.DefaultClient))
	}
	return &anthropicProvider{
		client: anthropic.NewClient(opts...),
		model:  cfg.Model,
		caller: newCaller(cfg),
	}
}

func (p *anthropicProvider) Chat(ctx context.Context, req Request, onDelta func(string)) (Response, error) {
	params, err := p.params(req)
	if err != nil {
		return Response{}, err
	}
	return p.caller.run(ctx, onDelta, func(ctx context.Context, kick func(), emit func(string)) (Response, error) {
		return p.stream(ctx, params, kick, emit)
	})
}

func (p *anthropicProvider) params(req Request) (anthropic.MessageNewParams, error) {
	model := req.Model
	if model == "" {
		model = p.model
	}
	system := strings.TrimSpace(req.System)
	type turn struct {
		role string
		text []string
	}
	var turns []turn
	for _, m := range req.Messages {
		text := strings.TrimSpace(m.Content)
		if text == "" {
			continue // the API rejects empty text blocks
		}
		role := strings.ToLower(m.Role)
		switch role {
		case "user", "assistant":
		case "system":
			system = strings.TrimSpace(system + "\n\n" + text)
			continue
		default:
			return anthropic.MessageNewParams{}, &Error{Provider: ProviderAnthropic, Kind: ErrBadRequest, Message: "unknown message role " + strconvQuote(m.Role)}
		}
		if len(turns) == 0 && role == "assistant" {
			// A conversation opening with the bot's greeting: the API wants
			// the user to speak first.
			continue
		}
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].text = append(turns[n-1].text, m.Content)
			continue
		}
		turns = append(turns, turn{role: role, text: []string{m.Content}})
	}
	if len(turns) == 0 {
		return anthropic.MessageNewParams{}, &Error{Provider: ProviderAnthropic, Kind: ErrBadRequest, Message: "no user message to send"}
	}
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: maxTokens(req.MaxTokens),
	}
	for _, t := range turns {
		blocks := make([]anthropic.ContentBlockParamUnion, 0, len(t.text))
		for _, s := range t.text {
			blocks = append(blocks, anthropic.NewTextBlock(s))
		}
		if t.role == "user" {
			params.Messages = append(params.Messages, anthropic.NewUserMessage(blocks...))
		} else {
			params.Messages = append(params.Messages, anthropic.NewAssistantMessage(blocks...))
		}
	}
	if system != "" {
		params.System = []anthropic.TextBlockParam{{Text: system}}
	}
	// Temperature is not sent: SDK v2 (API version 2026-10-21) deprecated
	// and removed the parameter.
	return params, nil
}

// stream performs one streaming request.
func (p *anthropicProvider) stream(ctx context.Context, params anthropic.MessageNewParams, kick func(), emit func(string)) (Response, error) {
	stream := p.client.Messages.NewStreaming(ctx, params)
	defer func() { _ = stream.Close() }()

	var msg anthropic.Message
	stopped := false
	for stream.Next() {
		kick()
		event := stream.Current()
		if err := msg.Accumulate(event); err != nil {
			return Response{}, &failure{status: 502, message: "malformed stream: " + err.Error()}
		}
		switch event.Type {
		case "content_block_delta":
			if event.Delta.Type == "text_delta" {
				emit(event.Delta.Text)
			}
		case "message_stop":
			stopped = true
		}
	}
	if err := stream.Err(); err != nil {
		return Response{}, anthropicFailure(err)
	}
	if !stopped {
		return Response{}, &failure{err: io.ErrUnexpectedEOF, message: "the stream ended before message_stop"}
	}
	u := msg.Usage
	return Response{
		Usage: Usage{
			InputTokens:  int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens),
			OutputTokens: int(u.OutputTokens),
		},
		FinishReason: anthropicFinishReason(msg.StopReason),
	}, nil
}

// anthropicFinishReason maps stop reasons onto the OpenAI vocabulary so
// callers see one set: stop, length, content_filter (others pass through).
func anthropicFinishReason(r anthropic.StopReason) string {
	switch r {
	case anthropic.StopReasonEndTurn, anthropic.StopReasonStopSequence:
		return "stop"
	case anthropic.StopReasonMaxTokens, anthropic.StopReasonModelContextWindowExceeded:
		return "length"
	case anthropic.StopReasonRefusal:
		return "content_filter"
	}
	return string(r)
}

// anthropicStreamStatus gives the HTTP status equivalent of an error event
// that arrives inside a 200 stream.
var anthropicStreamStatus = map[anthropic.ErrorType]int{
	anthropic.ErrorTypeInvalidRequestError: 400,
	anthropic.ErrorTypeAuthenticationError: 401,
	anthropic.ErrorTypeBillingError:        402,
	anthropic.ErrorTypePermissionError:     403,
	anthropic.ErrorTypeNotFoundError:       404,
	anthropic.ErrorTypeRateLimitError:      429,
	anthropic.ErrorTypeAPIError:            500,
	anthropic.ErrorTypeTimeoutError:        504,
	anthropic.ErrorTypeOverloadedError:     529,
}

// anthropicFailure converts SDK errors into failures the retry loop classifies.
func anthropicFailure(err error) error {
	var aerr *anthropic.Error
	if errors.As(err, &aerr) {
		f := &failure{status: aerr.StatusCode, code: string(aerr.Type()), message: aerr.Message}
		if f.status < 400 {
			// An error event inside the stream.
			f.status = anthropicStreamStatus[aerr.Type()]
			if f.status == 0 {
				f.status = 500
			}
		}
		if aerr.Response != nil {
			f.header = aerr.Response.Header
		}
		if f.message == "" {
			f.message = errorBodyMessage([]byte(aerr.RawJSON()))
		}
		return f
	}
	return &failure{err: err}
}
