package meta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Graph API hosts and the version this package is written against.
const (
	DefaultBaseURL = "https://graph.facebook.com"
	// InstagramBaseURL is the host for tokens from "Instagram API with
	// Instagram Login" (no Facebook Page); Page tokens use DefaultBaseURL.
	InstagramBaseURL = "https://graph.instagram.com"
	// DefaultVersion is supported until 2028-07-29. Pin the same version
	// for webhooks in the App Dashboard.
	DefaultVersion = "v25.0"
)

// Text limits per message. SplitText measures in UTF-16 code units, never
// fewer than characters, so its pieces fit however Meta counts.
const (
	WhatsAppMaxText  = 4096
	MessengerMaxText = 2000
	// InstagramMaxTextBytes is for SplitTextBytes: Instagram limits text to
	// 1000 bytes of UTF-8 ("less than 1000 bytes" in Meta's Instagram send
	// reference, so one byte is kept in hand).
	InstagramMaxTextBytes = 999
)

// maxResponseBytes bounds what is read from a JSON answer.
const maxResponseBytes = 1 << 20

// defaultHTTP is used when Client.HTTP is nil: http.DefaultClient has no
// timeout, and a hung Graph call would hold a worker forever.
var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// Client calls the Graph API. The zero value is ready to use. Tokens are
// passed per call because every tenant's channel has its own; they travel
// in the Authorization header, never the URL, so they stay out of logs.
type Client struct {
	BaseURL string       // default DefaultBaseURL
	Version string       // default DefaultVersion, e.g. "v25.0"
	HTTP    *http.Client // default: a client with a 30 s timeout
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// endpoint joins the base URL, version and path segments, escaping each
// segment so an id can never change the path.
func (c *Client) endpoint(segments ...string) string {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	version := c.Version
	if version == "" {
		version = DefaultVersion
	}
	u := strings.TrimRight(base, "/") + "/" + url.PathEscape(version)
	for _, s := range segments {
		u += "/" + url.PathEscape(s)
	}
	return u
}

// call sends a JSON request and decodes a JSON answer into out.
func (c *Client) call(ctx context.Context, method, endpoint, token string, in, out any) error {
	if token == "" {
		return ErrNoToken
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseAPIError(resp, data)
	}
	// Graph has been known to answer 200 with an error object.
	if bytes.Contains(data, []byte(`"error"`)) {
		if e := parseAPIError(resp, data); e.Code != 0 {
			return e
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// --- WhatsApp ---

type waSendResponse struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// whatsAppTo addresses a WhatsApp recipient. A BSUID ("US.1349…") goes in
// "recipient"; a phone number goes in "to" with a leading "+", because
// without it Meta may prepend the business number's country code — and
// webhooks give wa_id without the "+".
func whatsAppTo(msg map[string]any, to string) {
	to = strings.TrimSpace(to)
	if isBSUID(to) {
		msg["recipient"] = to
		return
	}
	if to != "" && strings.Trim(to, "0123456789") == "" {
		to = "+" + to
	}
	msg["to"] = to
}

// isBSUID reports whether s has the business-scoped user id shape
// "CC.<alphanumerics>" (parent BSUIDs share it).
func isBSUID(s string) bool {
	cc, rest, ok := strings.Cut(s, ".")
	if !ok || len(cc) != 2 || rest == "" || len(rest) > 128 {
		return false
	}
	for _, r := range cc {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	for _, r := range rest {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

func (c *Client) sendWhatsApp(ctx context.Context, what, phoneNumberID, token string, msg map[string]any) (string, error) {
	var out waSendResponse
	if err := c.call(ctx, http.MethodPost, c.endpoint(phoneNumberID, "messages"), token, msg, &out); err != nil {
		return "", fmt.Errorf("meta: send whatsapp %s: %w", what, err)
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return "", fmt.Errorf("meta: send whatsapp %s: answer has no message id", what)
	}
	return out.Messages[0].ID, nil
}

// SendWhatsAppText sends a free-form text message, allowed only inside the
// customer-service window (see WindowOpen). to is a phone number (wa_id or
// E.164) or a BSUID. text must be at most WhatsAppMaxText; use SplitText.
// The returned wamid means accepted, not delivered: delivery arrives later
// as a Status, and a closed window may be reported either here
// (ActionWindowClosed) or by a "failed" status with error 131047.
func (c *Client) SendWhatsAppText(ctx context.Context, phoneNumberID, token, to, text string) (messageID string, err error) {
	msg := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"type":              "text",
		"text":              map[string]any{"body": text},
	}
	whatsAppTo(msg, to)
	return c.sendWhatsApp(ctx, "text", phoneNumberID, token, msg)
}

// SendWhatsAppTemplate sends an approved template, the only kind of message
// allowed outside the window. language is the template's locale (e.g.
// "en_US"); params fill the body's {{1}}, {{2}}, … in order.
func (c *Client) SendWhatsAppTemplate(ctx context.Context, phoneNumberID, token, to, name, language string, params []string) (string, error) {
	tmpl := map[string]any{"name": name, "language": map[string]any{"code": language}}
	if len(params) > 0 {
		values := make([]map[string]any, len(params))
		for i, p := range params {
			values[i] = map[string]any{"type": "text", "text": p}
		}
		tmpl["components"] = []map[string]any{{"type": "body", "parameters": values}}
	}
	msg := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"type":              "template",
		"template":          tmpl,
	}
	whatsAppTo(msg, to)
	return c.sendWhatsApp(ctx, "template", phoneNumberID, token, msg)
}

// MarkWhatsAppRead marks an inbound message (and those before it) as read,
// showing the user blue ticks.
func (c *Client) MarkWhatsAppRead(ctx context.Context, phoneNumberID, token, messageID string) error {
	msg := map[string]any{"messaging_product": "whatsapp", "status": "read", "message_id": messageID}
	if err := c.call(ctx, http.MethodPost, c.endpoint(phoneNumberID, "messages"), token, msg, nil); err != nil {
		return fmt.Errorf("meta: mark whatsapp message read: %w", err)
	}
	return nil
}

// --- Messenger and Instagram ---

// SendMessengerText sends a reply (messaging_type RESPONSE) inside the
// 24-hour window, to a PSID through POST /{page-id}/messages.
//
// Instagram uses the same call: with a Page token, pageID is the Facebook
// Page linked to the Instagram account and recipientID the IGSID; with an
// Instagram Login token, use a Client whose BaseURL is InstagramBaseURL and
// pass the Instagram account id as pageID. text must fit MessengerMaxText
// (Instagram: InstagramMaxTextBytes, see SplitTextBytes).
func (c *Client) SendMessengerText(ctx context.Context, pageID, token, recipientID, text string) (messageID string, err error) {
	return c.sendMessenger(ctx, pageID, token, map[string]any{
		"recipient":      map[string]any{"id": recipientID},
		"messaging_type": "RESPONSE",
		"message":        map[string]any{"text": text},
	})
}

// SendMessengerTagged sends a message with a message tag (messaging_type
// MESSAGE_TAG), the way to write after the window closes. Only
// non-promotional tags are allowed: "HUMAN_AGENT" (a person answering, up
// to 7 days; needs the Human Agent permission), "CONFIRMED_EVENT_UPDATE"
// (not Instagram), "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE".
func (c *Client) SendMessengerTagged(ctx context.Context, pageID, token, recipientID, text, tag string) (string, error) {
	return c.sendMessenger(ctx, pageID, token, map[string]any{
		"recipient":      map[string]any{"id": recipientID},
		"messaging_type": "MESSAGE_TAG",
		"tag":            tag,
		"message":        map[string]any{"text": text},
	})
}

func (c *Client) sendMessenger(ctx context.Context, pageID, token string, msg map[string]any) (string, error) {
	var out struct {
		RecipientID string `json:"recipient_id"`
		MessageID   string `json:"message_id"`
	}
	if err := c.call(ctx, http.MethodPost, c.endpoint(pageID, "messages"), token, msg, &out); err != nil {
		return "", fmt.Errorf("meta: send messenger message: %w", err)
	}
	if out.MessageID == "" {
		return "", fmt.Errorf("meta: send messenger message: answer has no message id")
	}
	return out.MessageID, nil
}

// --- Media ---

// MediaInfo is what GET /{media-id} says about WhatsApp media.
type MediaInfo struct {
	ID       string
	URL      string // short-lived (minutes); download with the same token
	MimeType string
	SHA256   string
	FileSize int64
}

// GetMedia is the first step of a WhatsApp media download: it looks up the
// short-lived download URL of a media id from a webhook.
func (c *Client) GetMedia(ctx context.Context, token, mediaID string) (MediaInfo, error) {
	var out struct {
		ID       flexString `json:"id"`
		URL      string     `json:"url"`
		MimeType string     `json:"mime_type"`
		SHA256   string     `json:"sha256"`
		FileSize flexString `json:"file_size"`
	}
	if err := c.call(ctx, http.MethodGet, c.endpoint(mediaID), token, nil, &out); err != nil {
		return MediaInfo{}, fmt.Errorf("meta: get media %s: %w", mediaID, err)
	}
	if out.URL == "" {
		return MediaInfo{}, fmt.Errorf("meta: get media %s: answer has no url", mediaID)
	}
	return MediaInfo{ID: string(out.ID), URL: out.URL, MimeType: out.MimeType, SHA256: out.SHA256, FileSize: out.FileSize.int()}, nil
}

// DownloadMedia fetches WhatsApp media by id: GetMedia, then GET of the URL
// with the same bearer token, then a check against Meta's sha256. Media ids
// expire 7 days after the webhook, so download on receipt. More than
// maxBytes fails with ErrMediaTooLarge without reading the rest.
func (c *Client) DownloadMedia(ctx context.Context, token, mediaID string, maxBytes int64) (data []byte, mimeType string, err error) {
	info, err := c.GetMedia(ctx, token, mediaID)
	if err != nil {
		return nil, "", err
	}
	if info.FileSize > maxBytes {
		return nil, "", fmt.Errorf("meta: download media %s: %d bytes: %w", mediaID, info.FileSize, ErrMediaTooLarge)
	}
	data, mimeType, err = c.fetch(ctx, info.URL, token, maxBytes)
	if err != nil {
		return nil, "", fmt.Errorf("meta: download media %s: %w", mediaID, err)
	}
	if info.SHA256 != "" && !checksumMatches(data, info.SHA256) {
		return nil, "", fmt.Errorf("meta: download media %s: %w", mediaID, ErrMediaChecksum)
	}
	if info.MimeType != "" {
		mimeType = info.MimeType
	}
	return data, mimeType, nil
}

// checksumMatches compares data with Meta's sha256, which is documented
// only as "sha256": accept hex and base64, the two encodings seen.
func checksumMatches(data []byte, want string) bool {
	sum := sha256.Sum256(data)
	return strings.EqualFold(hex.EncodeToString(sum[:]), want) ||
		base64.StdEncoding.EncodeToString(sum[:]) == want ||
		base64.RawStdEncoding.EncodeToString(sum[:]) == want
}

// DownloadAttachment fetches a Messenger/Instagram attachment URL (Media.URL),
// which needs no token. More than maxBytes fails with ErrMediaTooLarge.
func (c *Client) DownloadAttachment(ctx context.Context, rawURL string, maxBytes int64) (data []byte, mimeType string, err error) {
	data, mimeType, err = c.fetch(ctx, rawURL, "", maxBytes)
	if err != nil {
		return nil, "", fmt.Errorf("meta: download attachment: %w", err)
	}
	return data, mimeType, nil
}

// fetch GETs a URL with an optional bearer token, reading at most maxBytes.
// The URL is left out of errors: media URLs are signed, short-lived
// credentials of their own.
func (c *Client) fetch(ctx context.Context, rawURL, token string, maxBytes int64) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, "", fmt.Errorf("not an http(s) url")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("build request: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		// *url.Error would repeat the signed URL.
		return nil, "", fmt.Errorf("get media url: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, "", parseAPIError(resp, body)
	}
	if resp.ContentLength > maxBytes {
		return nil, "", ErrMediaTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read media: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, "", ErrMediaTooLarge
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// unwrapURLError drops the URL from a transport error while keeping what
// it wraps (timeouts stay detectable with errors.Is / ActionOf).
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
