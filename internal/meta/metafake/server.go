// Package metafake is an in-process stand-in for Meta's Graph API and a
// source of realistic webhook payloads, for tests of code that uses package
// meta. It deliberately does not import meta: it reproduces the wire
// format independently, so a misunderstanding in one is caught by the other.
package metafake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Request kinds (Request.Kind).
const (
	KindWhatsApp      = "whatsapp"       // POST /{phone-number-id}/messages
	KindWhatsAppRead  = "whatsapp_read"  // the same, with "status":"read"
	KindMessenger     = "messenger"      // POST /{page-id}/messages
	KindMediaInfo     = "media_info"     // GET /{media-id}
	KindMediaDownload = "media_download" // GET of the media URL
	KindUnknown       = "unknown"
)

// Request is one call the fake received.
type Request struct {
	Method  string
	Path    string
	Version string // "v25.0"
	Node    string // phone number id, page id or media id from the path
	Token   string
	Kind    string
	// To is the WhatsApp "to" or "recipient", or the Messenger recipient.id.
	To string
	// Type is the WhatsApp message type ("text", "template") or the
	// Messenger messaging_type ("RESPONSE", "MESSAGE_TAG").
	Type     string
	Tag      string // Messenger message tag
	Text     string
	Template string // WhatsApp template name
	Body     json.RawMessage
	// Status is the HTTP status the fake answered with, and MessageID the
	// id it returned for a successful send.
	Status    int
	MessageID string
}

type failure struct {
	status     int
	body       string
	retryAfter string
}

type media struct {
	mime string
	data []byte
}

// Server is a fake Graph API on a local httptest server. It checks bearer
// tokens, validates sends the way the Graph API does (required fields,
// 4096/2000-character limits), answers with the real response shapes and
// records every request. Safe for concurrent use.
type Server struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	tokens   map[string]bool
	requests []Request
	failures []failure
	media    map[string]media
	closed   map[string]bool
	nextIDs  map[string]string
	seq      int
}

// NewServer starts a fake that accepts token (and any added by AllowToken).
// Point meta.Client.BaseURL at s.URL and call Close when done.
func NewServer(token string) *Server {
	s := &Server{tokens: map[string]bool{token: true}, media: map[string]media{}, closed: map[string]bool{}, nextIDs: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// SetNextMessageID makes the next WhatsApp message sent to recipient get
// id as its wamid (a test can then deliver that message's status first).
func (s *Server) SetNextMessageID(recipient, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextIDs[recipient] = id
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// AllowToken makes another access token valid (one per tenant, say).
func (s *Server) AllowToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
}

// FailNext makes the next n requests (of any kind, after the token check)
// answer status with body, plus a Retry-After header when retryAfter is not
// empty. Calls queue up: FailNext(1, 429, …) then FailNext(1, 500, …) fails
// the next two requests in that order. See ErrorBody for bodies.
func (s *Server) FailNext(n, status int, body, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, body, retryAfter})
	}
}

// AddMedia makes a WhatsApp media id downloadable.
func (s *Server) AddMedia(id, mimeType string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media[id] = media{mimeType, append([]byte(nil), data...)}
}

// SetWindowClosed closes (or reopens) the customer-service window for a
// recipient: free-form WhatsApp sends then fail with 131047 and untagged
// Messenger sends with 10/2018278, while templates and tagged messages go
// through. (The real WhatsApp API may instead accept the send and report
// 131047 in a "failed" status webhook; see WhatsAppFailedStatus.)
func (s *Server) SetWindowClosed(recipient string, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed[recipient] = closed
}

// Requests returns a copy of every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Sent returns the message sends that succeeded, in order.
func (s *Server) Sent() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if (r.Kind == KindWhatsApp || r.Kind == KindMessenger) && r.MessageID != "" {
			out = append(out, r)
		}
	}
	return out
}

// Reset forgets recorded requests and pending failures.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.failures = nil, nil
}

// ErrorBody is a Graph API error body. subcode 0 and empty details are left
// out, as Meta does.
func ErrorBody(code, subcode int, message, details string) string {
	e := map[string]any{"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfFakeTrace"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	if details != "" {
		e["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": details}
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return string(b)
}

// Bodies of errors tests commonly script, as Meta sends them.
var (
	InvalidTokenBody          = ErrorBody(190, 463, "Error validating access token: Session has expired on Friday, 01-Aug-25 10:00:00 PDT.", "")
	ThroughputBody            = ErrorBody(130429, 0, "(#130429) Rate limit hit", "Cloud API message throughput has been reached.")
	PairLimitBody             = ErrorBody(131056, 0, "(#131056) (Business Account, Consumer Account) pair rate limit hit", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.")
	WindowClosedBody          = ErrorBody(131047, 2494010, "(#131047) Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number.")
	UndeliverableBody         = ErrorBody(131026, 0, "(#131026) Message Undeliverable.", "Message Undeliverable.")
	MessengerWindowClosedBody = ErrorBody(10, 2018278, "(#10) This message is sent outside of allowed window.", "")
	ServerErrorBody           = ErrorBody(2, 0, "An unexpected error has occurred. Please retry your request later.", "")
)

var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, Token: bearer(r), Body: body, Kind: KindUnknown}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "whatsapp_business" && parts[1] == "attachments" && r.Method == http.MethodGet:
		req.Kind, req.Node = KindMediaDownload, r.URL.Query().Get("mid")
	case len(parts) == 3 && parts[2] == "messages" && r.Method == http.MethodPost:
		req.Version, req.Node = parts[0], parts[1]
		req.Kind = KindMessenger
		var probe struct {
			MessagingProduct string `json:"messaging_product"`
			Status           string `json:"status"`
		}
		if json.Unmarshal(body, &probe) == nil && probe.MessagingProduct == "whatsapp" {
			req.Kind = KindWhatsApp
			if probe.Status == "read" {
				req.Kind = KindWhatsAppRead
			}
		}
	case len(parts) == 2 && r.Method == http.MethodGet:
		req.Version, req.Node, req.Kind = parts[0], parts[1], KindMediaInfo
	}

	s.mu.Lock()
	status, answer, header := s.answer(&req, r)
	req.Status = status
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	for k, v := range header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// answer decides the response; it runs under s.mu.
func (s *Server) answer(req *Request, r *http.Request) (int, []byte, map[string]string) {
	if req.Kind == KindUnknown || (req.Kind != KindMediaDownload && !versionRE.MatchString(req.Version)) {
		return 400, []byte(ErrorBody(2500, 0, "Unknown path components: "+r.URL.Path, "")), nil
	}
	if req.Token == "" {
		return 400, []byte(ErrorBody(2500, 0, "An active access token must be used to query information about the current user.", "")), nil
	}
	if !s.tokens[req.Token] {
		return 401, []byte(ErrorBody(190, 0, "Invalid OAuth access token - Cannot parse access token", "")), nil
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		var h map[string]string
		if f.retryAfter != "" {
			h = map[string]string{"Retry-After": f.retryAfter}
		}
		return f.status, []byte(f.body), h
	}
	switch req.Kind {
	case KindWhatsApp:
		return s.whatsApp(req)
	case KindWhatsAppRead:
		var m struct {
			MessageID string `json:"message_id"`
		}
		if json.Unmarshal(req.Body, &m) != nil || m.MessageID == "" {
			return badParam("(#100) The parameter message_id is required.")
		}
		return 200, []byte(`{"success":true}`), nil
	case KindMessenger:
		return s.messenger(req)
	case KindMediaInfo:
		m, ok := s.media[req.Node]
		if !ok {
			return 400, []byte(ErrorBody(100, 33, "Unsupported get request. Object with ID '"+req.Node+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", "")), nil
		}
		sum := sha256.Sum256(m.data)
		b, _ := json.Marshal(map[string]any{
			"messaging_product": "whatsapp",
			"url":               s.URL + "/whatsapp_business/attachments/?mid=" + req.Node + "&ext=1749416383&hash=ARfake",
			"mime_type":         m.mime,
			"sha256":            hex.EncodeToString(sum[:]),
			"file_size":         len(m.data),
			"id":                req.Node,
		})
		return 200, b, nil
	case KindMediaDownload:
		m, ok := s.media[req.Node]
		if !ok {
			return 404, []byte("Not Found"), map[string]string{"Content-Type": "text/plain"}
		}
		return 200, m.data, map[string]string{"Content-Type": m.mime}
	}
	return 400, []byte(ErrorBody(2500, 0, "Unknown path components", "")), nil
}

func badParam(msg string) (int, []byte, map[string]string) {
	return 400, []byte(ErrorBody(100, 0, msg, "")), nil
}

func (s *Server) whatsApp(req *Request) (int, []byte, map[string]string) {
	var m struct {
		To        string `json:"to"`
		Recipient string `json:"recipient"`
		Type      string `json:"type"`
		Text      *struct {
			Body string `json:"body"`
		} `json:"text"`
		Template *struct {
			Name     string `json:"name"`
			Language struct {
				Code string `json:"code"`
			} `json:"language"`
		} `json:"template"`
	}
	if err := json.Unmarshal(req.Body, &m); err != nil {
		return badParam("(#100) Invalid parameter")
	}
	req.To, req.Type = m.To, m.Type
	if req.To == "" {
		req.To = m.Recipient
	}
	if req.Type == "" {
		req.Type = "text"
	}
	if req.To == "" {
		return badParam("(#100) The parameter to is required.")
	}
	switch req.Type {
	case "text":
		if m.Text == nil || m.Text.Body == "" {
			return badParam("(#100) The parameter text['body'] is required.")
		}
		req.Text = m.Text.Body
		if utf8.RuneCountInString(req.Text) > 4096 {
			return badParam("(#100) Param text['body'] must be at most 4096 characters long.")
		}
	case "template":
		if m.Template == nil || m.Template.Name == "" {
			return badParam("(#100) The parameter template['name'] is required.")
		}
		if m.Template.Language.Code == "" {
			return badParam("(#100) The parameter template['language']['code'] is required.")
		}
		req.Template = m.Template.Name
	}
	if req.Type != "template" && (s.closed[m.To] || s.closed[strings.TrimPrefix(m.To, "+")] || s.closed[m.Recipient]) {
		return 400, []byte(WindowClosedBody), nil
	}
	s.seq++
	req.MessageID = fmt.Sprintf("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJGQUtF%06d", s.seq)
	if id, ok := s.nextIDs[req.To]; ok {
		req.MessageID = id
		delete(s.nextIDs, req.To)
	}
	contact := map[string]any{"input": req.To}
	if m.To != "" {
		contact["wa_id"] = strings.TrimPrefix(m.To, "+")
	} else {
		contact["user_id"] = m.Recipient
	}
	b, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{contact},
		"messages":          []any{map[string]any{"id": req.MessageID}},
	})
	return 200, b, nil
}

func (s *Server) messenger(req *Request) (int, []byte, map[string]string) {
	var m struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		MessagingType string `json:"messaging_type"`
		Tag           string `json:"tag"`
		Message       *struct {
			Text       string          `json:"text"`
			Attachment json.RawMessage `json:"attachment"`
		} `json:"message"`
	}
	if err := json.Unmarshal(req.Body, &m); err != nil {
		return badParam("(#100) Invalid parameter")
	}
	req.To, req.Type, req.Tag = m.Recipient.ID, m.MessagingType, m.Tag
	if req.To == "" {
		return badParam("(#100) param recipient must be non-empty.")
	}
	switch m.MessagingType {
	case "RESPONSE", "UPDATE":
	case "MESSAGE_TAG":
		if m.Tag == "" {
			return badParam("(#100) Tag is required for MESSAGE_TAG messaging type.")
		}
	default:
		return badParam("(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
	}
	if m.Message == nil || (m.Message.Text == "" && len(m.Message.Attachment) == 0) {
		return badParam("(#100) Must send either message or sender_action")
	}
	req.Text = m.Message.Text
	if utf8.RuneCountInString(req.Text) > 2000 {
		return badParam("(#100) Length of param message[text] must be less than or equal to 2000")
	}
	if m.MessagingType != "MESSAGE_TAG" && s.closed[req.To] {
		return 400, []byte(MessengerWindowClosedBody), nil
	}
	s.seq++
	req.MessageID = "m_FAKE" + strconv.Itoa(s.seq) + "AbCdEfGhIjKlMnOpQrStUvWxYz"
	b, _ := json.Marshal(map[string]any{"recipient_id": req.To, "message_id": req.MessageID})
	return 200, b, nil
}

// bearer takes the token from the Authorization header or, as Graph also
// accepts, the access_token parameter.
func bearer(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return r.URL.Query().Get("access_token")
}
