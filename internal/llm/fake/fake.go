// Package fake provides scriptable stand-ins for the OpenAI Chat Completions
// and Anthropic Messages HTTP APIs, speaking their real wire formats
// (JSON and server-sent events), for tests in any package.
//
//	srv := fake.OpenAI(t)                         // closed when the test ends
//	srv.Enqueue(fake.Behavior{Status: 429, RetryAfter: "0"}, fake.Behavior{Text: "Hi there"})
//	p, _ := llm.New(llm.Config{Provider: "openai", BaseURL: srv.URL, APIKey: srv.APIKey(), Model: "gpt-test"})
//
// Each request takes the next Behavior from the queue; with the queue empty
// the answer is "Hello from fake" in 3 deltas with usage 12 in / 5 out.
package fake

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// Defaults of a Behavior's zero value.
const (
	DefaultAPIKey       = "sk-fake-0123456789abcdef"
	DefaultText         = "Hello from fake"
	DefaultDeltas       = 3
	DefaultInputTokens  = 12
	DefaultOutputTokens = 5
)

// FailMode says how a streamed answer breaks off.
type FailMode int

const (
	// NoFail: the stream completes normally.
	NoFail FailMode = iota
	// FailAbort cuts the connection after FailAfter deltas (the client sees
	// an unexpected EOF).
	FailAbort
	// FailErrorEvent sends the provider's in-stream error event after
	// FailAfter deltas and ends the stream (OpenAI: data: {"error":{…}};
	// Anthropic: event: error, type overloaded_error unless ErrorType says
	// otherwise).
	FailErrorEvent
)

// Behavior scripts one call. The zero value answers DefaultText.
type Behavior struct {
	Text         string // the answer (DefaultText when empty)
	Deltas       int    // how many streamed pieces the answer is split into (DefaultDeltas when 0)
	InputTokens  int    // usage (DefaultInputTokens when 0)
	OutputTokens int    // usage (DefaultOutputTokens when 0)
	FinishReason string // OpenAI finish_reason / Anthropic stop_reason (stop / end_turn when empty)

	// Status, when set and not 200, answers with that HTTP status and an
	// error body in the provider's shape.
	Status       int
	Message      string // error message (a stock one per status when empty)
	ErrorType    string // OpenAI error type / Anthropic error.type (derived from the status when empty)
	Body         string // a raw error body, replacing the provider-shaped one
	RetryAfter   string // Retry-After header value, e.g. "1" or an HTTP date
	RetryAfterMS string // retry-after-ms header value

	Delay      time.Duration // wait before answering (ends early if the client goes away)
	DeltaDelay time.Duration // wait between streamed deltas
	// Hold, when set, keeps the answer back until it is closed (after
	// Delay; ends early if the client goes away): a test decides when the
	// model answers instead of racing a timer.
	Hold <-chan struct{}

	Fail      FailMode // how a stream breaks off
	FailAfter int      // deltas sent before it breaks off (0: before the first)
}

// Server is a fake provider. Its URL is the base URL to configure: OpenAI
// requests go to POST {URL}/chat/completions (or {URL}/v1/chat/completions),
// Anthropic requests to POST {URL}/v1/messages.
type Server struct {
	*httptest.Server
	kind string

	mu      sync.Mutex
	apiKey  string
	queue   []Behavior
	calls   int
	bodies  [][]byte
	headers []http.Header
}

// NewOpenAI starts a fake OpenAI Chat Completions server; Close it when done.
func NewOpenAI() *Server { return start("openai") }

// NewAnthropic starts a fake Anthropic Messages server; Close it when done.
func NewAnthropic() *Server { return start("anthropic") }

// OpenAI starts a fake OpenAI server closed when t ends.
func OpenAI(t testing.TB) *Server {
	s := NewOpenAI()
	t.Cleanup(s.Close)
	return s
}

// Anthropic starts a fake Anthropic server closed when t ends.
func Anthropic(t testing.TB) *Server {
	s := NewAnthropic()
	t.Cleanup(s.Close)
	return s
}

func start(kind string) *Server {
	s := &Server{kind: kind, apiKey: DefaultAPIKey}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// APIKey is the key the server accepts (DefaultAPIKey unless changed).
func (s *Server) APIKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiKey
}

// SetAPIKey changes the accepted key; "" accepts any request.
func (s *Server) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// Enqueue appends behaviours for the next calls, in order.
func (s *Server) Enqueue(b ...Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, b...)
}

// Pending is the number of queued behaviours not used yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Calls counts requests received (including rejected ones).
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Requests returns the bodies of all requests, in order.
func (s *Server) Requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.bodies))
	copy(out, s.bodies)
	return out
}

// LastRequest is the body of the latest request (nil before any).
func (s *Server) LastRequest() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		return nil
	}
	return s.bodies[len(s.bodies)-1]
}

// LastRequestJSON is the latest request body decoded (nil before any).
func (s *Server) LastRequestJSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(s.LastRequest(), &m)
	return m
}

// LastHeader is the header of the latest request (nil before any).
func (s *Server) LastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.headers) == 0 {
		return nil
	}
	return s.headers[len(s.headers)-1].Clone()
}

// record notes a request and, when authorised, takes its behaviour.
func (s *Server) record(r *http.Request, body []byte) (apiKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.bodies = append(s.bodies, body)
	s.headers = append(s.headers, r.Header.Clone())
	return s.apiKey
}

func (s *Server) next() Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return Behavior{}
	}
	b := s.queue[0]
	s.queue = s.queue[1:]
	return b
}

// request is the part of either API's request body the fake looks at.
type request struct {
	Model         string            `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Stream        bool              `json:"stream"`
	MaxTokens     *int              `json:"max_tokens"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	key := s.record(r, body)
	e := &errorWriter{kind: s.kind, w: w}

	var path string
	switch s.kind {
	case "openai":
		path = strings.TrimPrefix(r.URL.Path, "/v1")
		if path == "/embeddings" && r.Method == http.MethodPost {
			if !s.authorised(r, key) {
				e.write(Behavior{Status: 401, ErrorType: "invalid_request_error", Message: "Incorrect API key provided."})
				return
			}
			s.embeddings(w, body, e)
			return
		}
		if path != "/chat/completions" {
			e.write(Behavior{Status: http.StatusNotFound, Message: "Unknown request URL: " + r.Method + " " + r.URL.Path})
			return
		}
	default:
		path = r.URL.Path
		if path != "/v1/messages" {
			e.write(Behavior{Status: http.StatusNotFound, ErrorType: "not_found_error", Message: "Not found"})
			return
		}
	}
	if r.Method != http.MethodPost {
		e.write(Behavior{Status: http.StatusMethodNotAllowed, Message: "Method not allowed"})
		return
	}
	if !s.authorised(r, key) {
		// The message repeats the key presented (worse than the real
		// services, which mask it) so tests can check it never leaks.
		presented := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.kind == "openai" {
			e.write(Behavior{Status: 401, ErrorType: "invalid_request_error", Message: "Incorrect API key provided: " + presented + ". You can find your API key at https://platform.openai.com/account/api-keys."})
		} else {
			if presented == "" {
				presented = r.Header.Get("x-api-key")
			}
			e.write(Behavior{Status: 401, ErrorType: "authentication_error", Message: "invalid x-api-key " + presented})
		}
		return
	}
	if s.kind == "anthropic" && r.Header.Get("anthropic-version") == "" {
		e.write(Behavior{Status: 400, ErrorType: "invalid_request_error", Message: "anthropic-version: header is required"})
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		e.write(Behavior{Status: 400, ErrorType: "invalid_request_error", Message: "We could not parse the JSON body of your request."})
		return
	}
	switch {
	case req.Model == "":
		e.write(Behavior{Status: 400, ErrorType: "invalid_request_error", Message: "model: Field required"})
		return
	case len(req.Messages) == 0:
		e.write(Behavior{Status: 400, ErrorType: "invalid_request_error", Message: "messages: at least one message is required"})
		return
	case s.kind == "anthropic" && req.MaxTokens == nil:
		e.write(Behavior{Status: 400, ErrorType: "invalid_request_error", Message: "max_tokens: Field required"})
		return
	}

	b := s.next()
	if !sleep(r, b.Delay) {
		return
	}
	if b.Hold != nil {
		select {
		case <-b.Hold:
		case <-r.Context().Done():
			return
		}
	}
	if b.Status != 0 && b.Status != http.StatusOK {
		e.write(b)
		return
	}
	b = withDefaults(b, s.kind)
	switch {
	case s.kind == "openai" && req.Stream:
		s.openAIStream(w, r, req, b)
	case s.kind == "openai":
		s.openAIJSON(w, req, b)
	case req.Stream:
		s.anthropicStream(w, r, req, b)
	default:
		s.anthropicJSON(w, req, b)
	}
}

func (s *Server) authorised(r *http.Request, key string) bool {
	if key == "" {
		return true
	}
	bearer := r.Header.Get("Authorization") == "Bearer "+key
	if s.kind == "openai" {
		return bearer
	}
	// Anthropic: x-api-key (the classic header) or a bearer token (what
	// SDK v2's WithAPIKey sends).
	return r.Header.Get("x-api-key") == key || bearer
}

func withDefaults(b Behavior, kind string) Behavior {
	if b.Text == "" {
		b.Text = DefaultText
	}
	if b.Deltas <= 0 {
		b.Deltas = DefaultDeltas
	}
	if b.InputTokens == 0 {
		b.InputTokens = DefaultInputTokens
	}
	if b.OutputTokens == 0 {
		b.OutputTokens = DefaultOutputTokens
	}
	if b.FinishReason == "" {
		if kind == "openai" {
			b.FinishReason = "stop"
		} else {
			b.FinishReason = "end_turn"
		}
	}
	return b
}

// sleep waits d unless the client goes away first.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

const created = 1767225600 // 2026-01-01T00:00:00Z

func (s *Server) openAIJSON(w http.ResponseWriter, req request, b Behavior) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      "chatcmpl-fake",
		"object":  "chat.completion",
		"created": created,
		"model":   req.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": b.Text, "refusal": nil},
			"logprobs":      nil,
			"finish_reason": b.FinishReason,
		}},
		"usage": map[string]any{
			"prompt_tokens":     b.InputTokens,
			"completion_tokens": b.OutputTokens,
			"total_tokens":      b.InputTokens + b.OutputTokens,
		},
	})
}

func (s *Server) openAIStream(w http.ResponseWriter, r *http.Request, req request, b Behavior) {
	sse := newSSE(w)
	chunk := func(delta map[string]any, finish any) map[string]any {
		c := map[string]any{
			"id":      "chatcmpl-fake",
			"object":  "chat.completion.chunk",
			"created": created,
			"model":   req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if req.StreamOptions.IncludeUsage {
			c["usage"] = nil
		}
		return c
	}
	sse.data(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	pieces := Split(b.Text, b.Deltas)
	for i, piece := range pieces {
		if s.breakOff(sse, b, i) {
			return
		}
		if i > 0 && !sleep(r, b.DeltaDelay) {
			return
		}
		sse.data(chunk(map[string]any{"content": piece}, nil))
	}
	if s.breakOff(sse, b, len(pieces)) {
		return
	}
	sse.data(chunk(map[string]any{}, b.FinishReason))
	if req.StreamOptions.IncludeUsage {
		sse.data(map[string]any{
			"id":      "chatcmpl-fake",
			"object":  "chat.completion.chunk",
			"created": created,
			"model":   req.Model,
			"choices": []any{},
			"usage": map[string]any{
				"prompt_tokens":     b.InputTokens,
				"completion_tokens": b.OutputTokens,
				"total_tokens":      b.InputTokens + b.OutputTokens,
			},
		})
	}
	sse.raw("data: [DONE]\n\n")
}

func (s *Server) anthropicJSON(w http.ResponseWriter, req request, b Behavior) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id":            "msg_fake",
		"type":          "message",
		"role":          "assistant",
		"model":         req.Model,
		"content":       []any{map[string]any{"type": "text", "text": b.Text}},
		"stop_reason":   b.FinishReason,
		"stop_sequence": nil,
		"usage":         map[string]any{"input_tokens": b.InputTokens, "output_tokens": b.OutputTokens},
	})
}

func (s *Server) anthropicStream(w http.ResponseWriter, r *http.Request, req request, b Behavior) {
	sse := newSSE(w)
	sse.event("message_start", map[string]any{
		"type": "message_start",
		"message": map[string]any{
			"id": "msg_fake", "type": "message", "role": "assistant", "model": req.Model,
			"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": b.InputTokens, "output_tokens": 1},
		},
	})
	sse.event("content_block_start", map[string]any{
		"type": "content_block_start", "index": 0,
		"content_block": map[string]any{"type": "text", "text": ""},
	})
	sse.event("ping", map[string]any{"type": "ping"})
	pieces := Split(b.Text, b.Deltas)
	for i, piece := range pieces {
		if s.breakOff(sse, b, i) {
			return
		}
		if i > 0 && !sleep(r, b.DeltaDelay) {
			return
		}
		sse.event("content_block_delta", map[string]any{
			"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": piece},
		})
	}
	if s.breakOff(sse, b, len(pieces)) {
		return
	}
	sse.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sse.event("message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": b.FinishReason, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": b.OutputTokens},
	})
	sse.event("message_stop", map[string]any{"type": "message_stop"})
}

// breakOff ends the stream if b says it fails after sent deltas.
func (s *Server) breakOff(sse *sseWriter, b Behavior, sent int) bool {
	if b.Fail == NoFail || sent != b.FailAfter {
		return false
	}
	if b.Fail == FailAbort {
		sse.flush()
		panic(http.ErrAbortHandler) // drops the connection mid-response
	}
	msg := b.Message
	if msg == "" {
		msg = "Overloaded"
	}
	if s.kind == "openai" {
		typ := b.ErrorType
		if typ == "" {
			typ = "server_error"
		}
		sse.data(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
		return true
	}
	typ := b.ErrorType
	if typ == "" {
		typ = "overloaded_error"
	}
	sse.event("error", map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
	return true
}

// errorWriter answers with an error in the provider's shape.
type errorWriter struct {
	kind string
	w    http.ResponseWriter
}

func (e *errorWriter) write(b Behavior) {
	h := e.w.Header()
	if b.RetryAfter != "" {
		h.Set("Retry-After", b.RetryAfter)
	}
	if b.RetryAfterMS != "" {
		h.Set("retry-after-ms", b.RetryAfterMS)
	}
	if b.Body != "" {
		h.Set("Content-Type", "application/json")
		e.w.WriteHeader(b.Status)
		_, _ = io.WriteString(e.w, b.Body)
		return
	}
	msg := b.Message
	if msg == "" {
		msg = stockMessage(b.Status)
	}
	if e.kind == "openai" {
		typ, code := openAIErrorType(b.Status)
		if b.ErrorType != "" {
			typ = b.ErrorType
		}
		writeJSON(e.w, b.Status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
		return
	}
	typ := b.ErrorType
	if typ == "" {
		typ = anthropicErrorType(b.Status)
	}
	h.Set("request-id", "req_fake")
	writeJSON(e.w, b.Status, map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}, "request_id": "req_fake"})
}

func stockMessage(status int) string {
	switch status {
	case 401:
		return "Invalid authentication credentials"
	case 429:
		return "Rate limit reached for requests. Please try again later."
	case 529:
		return "Overloaded"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP %d", status)
}

func openAIErrorType(status int) (typ string, code any) {
	switch {
	case status == 401:
		return "invalid_request_error", "invalid_api_key"
	case status == 403:
		return "invalid_request_error", "unsupported_country_region_territory"
	case status == 404:
		return "invalid_request_error", "model_not_found"
	case status == 429:
		return "requests", "rate_limit_exceeded"
	case status >= 500:
		return "server_error", nil
	}
	return "invalid_request_error", nil
}

func anthropicErrorType(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 402:
		return "billing_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 413:
		return "request_too_large"
	case status == 429:
		return "rate_limit_error"
	case status == 504:
		return "timeout_error"
	case status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSE(w http.ResponseWriter) *sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) data(v any) {
	b, _ := json.Marshal(v)
	s.raw("data: " + string(b) + "\n\n")
}

func (s *sseWriter) event(name string, v any) {
	b, _ := json.Marshal(v)
	s.raw("event: " + name + "\ndata: " + string(b) + "\n\n")
}

func (s *sseWriter) raw(text string) {
	_, _ = io.WriteString(s.w, text)
	s.flush()
}

func (s *sseWriter) flush() { _ = s.rc.Flush() }

// Split cuts text into n pieces that concatenate back to it, at word
// boundaries when there are enough words (else by characters).
func Split(text string, n int) []string {
	if n <= 1 || text == "" {
		return []string{text}
	}
	// Words with their trailing spaces.
	var words []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i-1] == ' ' && text[i] != ' ' {
			words = append(words, text[start:i])
			start = i
		}
	}
	words = append(words, text[start:])
	if len(words) >= n {
		out := make([]string, 0, n)
		per, extra := len(words)/n, len(words)%n
		k := 0
		for i := 0; i < n; i++ {
			size := per
			if i < extra {
				size++
			}
			out = append(out, strings.Join(words[k:k+size], ""))
			k += size
		}
		return out
	}
	runes := []rune(text)
	if len(runes) < n {
		n = len(runes)
	}
	out := make([]string, 0, n)
	per, extra := len(runes)/n, len(runes)%n
	k := 0
	for i := 0; i < n; i++ {
		size := per
		if i < extra {
			size++
		}
		out = append(out, string(runes[k:k+size]))
		k += size
	}
	return out
}

// EmbeddingDims is the size of the fake's vectors.
const EmbeddingDims = 64

// Embed is the fake's embedding: a hashed bag of lower-cased words, so
// texts sharing words are close (deterministic, no model needed).
func Embed(text string) []float64 {
	v := make([]float64, EmbeddingDims)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		h := fnv.New32a()
		_, _ = h.Write([]byte(w))
		v[h.Sum32()%EmbeddingDims]++
	}
	return v
}

func (s *Server) embeddings(w http.ResponseWriter, body []byte, e *errorWriter) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		e.write(Behavior{Status: 400, ErrorType: "invalid_request_error", Message: "model and input are required"})
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			e.write(Behavior{Status: 400, ErrorType: "invalid_request_error", Message: "input must be a string or an array of strings"})
			return
		}
		inputs = []string{one}
	}
	b := s.next()
	if b.Status != 0 && b.Status != http.StatusOK {
		e.write(b)
		return
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Model: req.Model}
	for i, in := range inputs {
		out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: Embed(in)})
		out.Usage.PromptTokens += len(strings.Fields(in))
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
