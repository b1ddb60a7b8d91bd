// Package telegramfake is an in-process stand-in for the Telegram Bot API
// and a source of realistic updates, for tests of code that uses package
// telegram. It does not import telegram, so the two check each other.
package telegramfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Call is one request the fake received.
type Call struct {
	Token  string
	Method string // as written in the URL; "file" for file downloads
	// Params are the decoded parameters (JSON, form or query string);
	// numbers from JSON are json.Number.
	Params map[string]any
	// Status is the HTTP status the fake answered with.
	Status int
}

// SentMessage is a sendMessage call that succeeded.
type SentMessage struct {
	Token     string
	ChatID    int64
	Text      string
	MessageID int64
}

// Webhook is a bot's webhook as last set.
type Webhook struct {
	URL                string
	SecretToken        string
	AllowedUpdates     []string
	MaxConnections     int
	DropPendingUpdates bool
}

type bot struct {
	id      int64
	webhook Webhook
	nextID  int64
}

type failure struct {
	status int
	body   string
}

type file struct {
	path string
	data []byte
}

// Server is a fake Bot API on a local httptest server: /bot<token>/<method>
// for getMe, setWebhook, deleteWebhook, getWebhookInfo, sendMessage,
// answerCallbackQuery and getFile, and /file/bot<token>/<path> for
// downloads. It validates tokens and parameters the way Telegram does,
// answers in the real {"ok":…} shapes and records every call. Safe for
// concurrent use.
type Server struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	bots     map[string]*bot
	calls    []Call
	sent     []SentMessage
	failures []failure
	blocked  map[int64]bool
	files    map[string]file
}

// NewServer starts a fake that accepts token (and any added with
// AllowToken). Point telegram.Client.BaseURL at s.URL; Close when done.
func NewServer(token string) *Server {
	s := &Server{bots: map[string]*bot{}, blocked: map[int64]bool{}, files: map[string]file{}}
	s.AllowToken(token)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// AllowToken registers another bot. The bot's id is the token's numeric
// prefix, as on Telegram.
func (s *Server) AllowToken(token string) {
	id, _, _ := strings.Cut(token, ":")
	n, _ := strconv.ParseInt(id, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bots[token] = &bot{id: n, webhook: Webhook{MaxConnections: 40}}
}

// FailNext makes the next n calls (any method, after the token check)
// fail with the Bot API error shape; retryAfter > 0 adds
// parameters.retry_after, as Telegram does for 429.
func (s *Server) FailNext(n, code int, description string, retryAfter int) {
	e := map[string]any{"ok": false, "error_code": code, "description": description}
	if retryAfter > 0 {
		e["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	b, _ := json.Marshal(e)
	s.FailNextRaw(n, code, string(b))
}

// FailNextRaw makes the next n calls answer status with an arbitrary body
// (a proxy's HTML 502, say).
func (s *Server) FailNextRaw(n, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, body})
	}
}

// BlockChat makes sends to chatID fail as when the user blocked the bot.
func (s *Server) BlockChat(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[chatID] = true
}

// AddFile makes a file id downloadable through getFile.
func (s *Server) AddFile(fileID, filePath string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[fileID] = file{filePath, append([]byte(nil), data...)}
}

// Calls returns a copy of every call received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Sent returns the messages sent successfully, in order.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// Webhook returns the webhook currently set for token's bot.
func (s *Server) Webhook(token string) Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.bots[token]; ok {
		return b.webhook
	}
	return Webhook{}
}

// Reset forgets calls, sent messages and pending failures.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.sent, s.failures = nil, nil, nil
}

var (
	tokenRE  = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)
	secretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

type reply struct {
	status      int
	body        []byte
	contentType string
}

func ok(result any, description string) reply {
	m := map[string]any{"ok": true, "result": result}
	if description != "" {
		m["description"] = description
	}
	b, _ := json.Marshal(m)
	return reply{200, b, "application/json"}
}

func fail(code int, description string) reply {
	b, _ := json.Marshal(map[string]any{"ok": false, "error_code": code, "description": description})
	return reply{code, b, "application/json"}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	call := Call{}
	var rep reply
	switch {
	case strings.HasPrefix(r.URL.Path, "/file/bot"):
		token, path, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/file/bot"), "/")
		call.Token, call.Method, call.Params = token, "file", map[string]any{"file_path": path}
		s.mu.Lock()
		rep = s.answerFile(token, path)
	case strings.HasPrefix(r.URL.Path, "/bot"):
		token, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
		call.Token, call.Method = token, method
		params, err := readParams(r)
		call.Params = params
		s.mu.Lock()
		if err != nil {
			rep = fail(400, "Bad Request: "+err.Error())
		} else {
			rep = s.answer(token, method, params)
		}
	default:
		s.mu.Lock()
		rep = fail(404, "Not Found")
	}
	call.Status = rep.status
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	w.Header().Set("Content-Type", rep.contentType)
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// readParams decodes parameters the ways the Bot API accepts them: JSON
// body, URL-encoded or multipart form, or query string.
func readParams(r *http.Request) (map[string]any, error) {
	params := map[string]any{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if len(bytes.TrimSpace(body)) == 0 {
			return params, nil
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return params, fmt.Errorf("can't parse JSON object")
		}
		for k, v := range m {
			params[k] = v
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			return params, fmt.Errorf("can't parse form")
		}
		for k, v := range r.PostForm {
			params[k] = v[0]
		}
	}
	return params, nil
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func (s *Server) auth(token string) (*bot, *reply) {
	if !tokenRE.MatchString(token) {
		r := fail(404, "Not Found")
		return nil, &r
	}
	b, known := s.bots[token]
	if !known {
		r := fail(401, "Unauthorized")
		return nil, &r
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		r := reply{f.status, []byte(f.body), "application/json"}
		if !json.Valid(r.body) {
			r.contentType = "text/html"
		}
		return nil, &r
	}
	return b, nil
}

// answer handles a method call; it runs under s.mu.
func (s *Server) answer(token, method string, p map[string]any) reply {
	b, errReply := s.auth(token)
	if errReply != nil {
		return *errReply
	}
	switch strings.ToLower(method) {
	case "getme":
		return ok(map[string]any{"id": b.id, "is_bot": true, "first_name": "MetaChat Test Bot", "username": "metachat_test_bot",
			"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false}, "")
	case "setwebhook":
		return s.setWebhook(b, p)
	case "deletewebhook":
		desc := "Webhook was deleted"
		if b.webhook.URL == "" {
			desc = "Webhook is already deleted"
		}
		b.webhook = Webhook{MaxConnections: 40}
		return ok(true, desc)
	case "getwebhookinfo":
		info := map[string]any{"url": b.webhook.URL, "has_custom_certificate": false, "pending_update_count": 0}
		if b.webhook.URL != "" {
			info["max_connections"] = b.webhook.MaxConnections
			if b.webhook.AllowedUpdates != nil {
				info["allowed_updates"] = b.webhook.AllowedUpdates
			}
		}
		return ok(info, "")
	case "sendmessage":
		return s.sendMessage(token, b, p)
	case "answercallbackquery":
		if str(p["callback_query_id"]) == "" {
			return fail(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
		}
		return ok(true, "")
	case "getfile":
		f, found := s.files[str(p["file_id"])]
		if !found {
			return fail(400, "Bad Request: invalid file_id")
		}
		return ok(map[string]any{"file_id": str(p["file_id"]), "file_unique_id": "AgAD" + str(p["file_id"]), "file_size": len(f.data), "file_path": f.path}, "")
	}
	return fail(404, "Not Found: method not found")
}

func (s *Server) setWebhook(b *bot, p map[string]any) reply {
	raw := str(p["url"])
	if raw == "" {
		desc := "Webhook was deleted"
		if b.webhook.URL == "" {
			desc = "Webhook is already deleted"
		}
		b.webhook = Webhook{MaxConnections: 40}
		return ok(true, desc)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fail(400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
	}
	if u.Scheme != "https" {
		return fail(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
	}
	switch u.Port() {
	case "", "443", "80", "88", "8443":
	default:
		return fail(400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
	}
	wh := Webhook{URL: raw, MaxConnections: 40, SecretToken: str(p["secret_token"])}
	if wh.SecretToken != "" {
		if !secretRE.MatchString(wh.SecretToken) {
			return fail(400, "Bad Request: secret token contains unallowed characters")
		}
	}
	if mc := str(p["max_connections"]); mc != "" {
		n, err := strconv.Atoi(mc)
		if err != nil || n < 1 || n > 100 {
			return fail(400, "Bad Request: bad webhook: max_connections must be between 1 and 100")
		}
		wh.MaxConnections = n
	}
	wh.DropPendingUpdates = str(p["drop_pending_updates"]) == "true"
	switch v := p["allowed_updates"].(type) {
	case []any:
		wh.AllowedUpdates = []string{}
		for _, x := range v {
			wh.AllowedUpdates = append(wh.AllowedUpdates, str(x))
		}
	case string: // form-encoded: a JSON array in a string
		if err := json.Unmarshal([]byte(v), &wh.AllowedUpdates); err != nil {
			return fail(400, "Bad Request: can't parse allowed updates JSON array")
		}
	case nil:
		wh.AllowedUpdates = b.webhook.AllowedUpdates // kept, as on Telegram
	}
	b.webhook = wh
	return ok(true, "Webhook was set")
}

func (s *Server) sendMessage(token string, b *bot, p map[string]any) reply {
	chat := str(p["chat_id"])
	if chat == "" {
		return fail(400, "Bad Request: chat_id is empty")
	}
	chatID, err := strconv.ParseInt(chat, 10, 64)
	if err != nil {
		return fail(400, "Bad Request: chat not found")
	}
	text := str(p["text"])
	if strings.TrimSpace(text) == "" {
		return fail(400, "Bad Request: message text is empty")
	}
	if len(utf16.Encode([]rune(text))) > 4096 {
		return fail(400, "Bad Request: message is too long")
	}
	if s.blocked[chatID] {
		return fail(403, "Forbidden: bot was blocked by the user")
	}
	b.nextID++
	id := 100 + b.nextID
	s.sent = append(s.sent, SentMessage{Token: token, ChatID: chatID, Text: text, MessageID: id})
	return ok(map[string]any{
		"message_id": id,
		"from":       map[string]any{"id": b.id, "is_bot": true, "first_name": "MetaChat Test Bot", "username": "metachat_test_bot"},
		"chat":       map[string]any{"id": chatID, "type": "private"},
		"date":       time.Now().Unix(),
		"text":       text,
	}, "")
}

// answerFile serves a download; it runs under s.mu.
func (s *Server) answerFile(token, path string) reply {
	if _, errReply := s.auth(token); errReply != nil {
		return *errReply
	}
	for _, f := range s.files {
		if f.path == path {
			return reply{200, f.data, "application/octet-stream"}
		}
	}
	return fail(404, "Not Found: file not found")
}
