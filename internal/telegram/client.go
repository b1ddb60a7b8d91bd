package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// DefaultBaseURL is the public Bot API server.
	DefaultBaseURL = "https://api.telegram.org"
	// MaxTextLength is the sendMessage limit: 4096 characters after entity
	// parsing. Cut longer text with meta.SplitText, which counts UTF-16
	// code units (Telegram's unit for entity offsets), never fewer than
	// characters, so its pieces fit either way.
	MaxTextLength = 4096
	// MaxDownloadBytes is the largest file the public Bot API serves.
	MaxDownloadBytes = 20 << 20
)

// DefaultAllowedUpdates are the update kinds this package understands.
// Pass them to SetWebhook: an omitted allowed_updates keeps whatever the
// bot was set to before, which may be nothing useful.
func DefaultAllowedUpdates() []string {
	return []string{KindMessage, KindEditedMessage, KindCallbackQuery, KindMyChatMember}
}

const maxResponseBytes = 1 << 20

// defaultHTTP is used when Client.HTTP is nil; http.DefaultClient has no
// timeout.
var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// Client calls the Bot API. The zero value is ready to use. The bot token
// is passed per call (one bot per tenant channel); it is part of the URL
// path, so it is validated first and redacted from every error.
type Client struct {
	BaseURL string       // default DefaultBaseURL
	HTTP    *http.Client // default: a client with a 30 s timeout
}

func (c *Client) base() string {
	if c.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(c.BaseURL, "/")
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// call POSTs params as JSON to a Bot API method and decodes "result".
func (c *Client) call(ctx context.Context, token, method string, params, result any) error {
	if !validToken(token) {
		return ErrMalformedToken
	}
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("telegram: %s: encode request: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+"/bot"+token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram: %s: build request: %w", method, redact(err, token))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("telegram: %s: %w", method, redact(err, token))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("telegram: %s: read response: %w", method, redact(err, token))
	}
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
		Parameters  struct {
			RetryAfter      int64 `json:"retry_after"`
			MigrateToChatID int64 `json:"migrate_to_chat_id"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(data, &env); err != nil || (!env.OK && env.ErrorCode == 0) {
		// Not a Bot API answer (a proxy's error page, say).
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return &APIError{Method: method, Code: resp.StatusCode, Description: snippet(data), RetryAfter: parseRetryAfterHeader(resp.Header)}
		}
		return fmt.Errorf("telegram: %s: answer is not a Bot API response: %q", method, snippet(data))
	}
	if !env.OK {
		e := &APIError{Method: method, Code: env.ErrorCode, Description: env.Description, MigrateToChatID: env.Parameters.MigrateToChatID}
		e.RetryAfter = time.Duration(env.Parameters.RetryAfter) * time.Second
		if e.RetryAfter == 0 {
			e.RetryAfter = parseRetryAfterHeader(resp.Header)
		}
		return e
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(env.Result, result); err != nil {
		return fmt.Errorf("telegram: %s: decode result: %w", method, err)
	}
	return nil
}

// redact removes the token from an error's text; transport errors quote
// the URL, which holds it. The result still unwraps to the cause, so
// timeouts stay detectable.
func redact(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), token, "<token>"), err: unwrapURL(err)}
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// GetMe returns the bot's own user, which also proves the token works.
func (c *Client) GetMe(ctx context.Context, token string) (User, error) {
	var u wireUser
	if err := c.call(ctx, token, "getMe", struct{}{}, &u); err != nil {
		return User{}, err
	}
	return u.user(), nil
}

// SetWebhook points the bot's updates at webhookURL (HTTPS; port 443, 80,
// 88 or 8443). secretToken (see NewSecretToken) will come back in
// SecretHeader on every update. allowedUpdates should be given explicitly
// (DefaultAllowedUpdates): nil keeps the bot's previous setting.
func (c *Client) SetWebhook(ctx context.Context, token, webhookURL, secretToken string, allowedUpdates []string) error {
	if secretToken != "" && !ValidSecretToken(secretToken) {
		return fmt.Errorf("telegram: setWebhook: secret token must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
	}
	params := map[string]any{"url": webhookURL}
	if secretToken != "" {
		params["secret_token"] = secretToken
	}
	if allowedUpdates != nil {
		params["allowed_updates"] = allowedUpdates
	}
	var ok bool
	return c.call(ctx, token, "setWebhook", params, &ok)
}

// DeleteWebhook removes the webhook; pending updates are kept.
func (c *Client) DeleteWebhook(ctx context.Context, token string) error {
	var ok bool
	return c.call(ctx, token, "deleteWebhook", map[string]any{"drop_pending_updates": false}, &ok)
}

// WebhookInfo is the webhook's state as Telegram sees it, for health
// checks: a growing PendingUpdateCount or a recent LastErrorDate means
// deliveries are failing.
type WebhookInfo struct {
	URL                string
	PendingUpdateCount int
	LastErrorDate      time.Time
	LastErrorMessage   string
	MaxConnections     int
	AllowedUpdates     []string
}

// GetWebhookInfo reports the webhook's state.
func (c *Client) GetWebhookInfo(ctx context.Context, token string) (WebhookInfo, error) {
	var w struct {
		URL                string   `json:"url"`
		PendingUpdateCount int      `json:"pending_update_count"`
		LastErrorDate      int64    `json:"last_error_date"`
		LastErrorMessage   string   `json:"last_error_message"`
		MaxConnections     int      `json:"max_connections"`
		AllowedUpdates     []string `json:"allowed_updates"`
	}
	if err := c.call(ctx, token, "getWebhookInfo", struct{}{}, &w); err != nil {
		return WebhookInfo{}, err
	}
	return WebhookInfo{URL: w.URL, PendingUpdateCount: w.PendingUpdateCount, LastErrorDate: unix(w.LastErrorDate),
		LastErrorMessage: w.LastErrorMessage, MaxConnections: w.MaxConnections, AllowedUpdates: w.AllowedUpdates}, nil
}

// SendMessage sends plain text (no parse_mode) and returns the new
// message's id. text must be 1–MaxTextLength; see meta.SplitText.
func (c *Client) SendMessage(ctx context.Context, token string, chatID int64, text string) (messageID int64, err error) {
	var m struct {
		MessageID int64 `json:"message_id"`
	}
	if err := c.call(ctx, token, "sendMessage", map[string]any{"chat_id": chatID, "text": text}, &m); err != nil {
		return 0, err
	}
	return m.MessageID, nil
}

// AnswerCallbackQuery stops the loading indicator on a tapped inline
// button; text, if not empty, is shown to the user as a notification.
func (c *Client) AnswerCallbackQuery(ctx context.Context, token, callbackQueryID, text string) error {
	params := map[string]any{"callback_query_id": callbackQueryID}
	if text != "" {
		params["text"] = text
	}
	var ok bool
	return c.call(ctx, token, "answerCallbackQuery", params, &ok)
}

// ErrFileTooLarge: the file is bigger than the caller's limit.
var ErrFileTooLarge = errors.New("telegram: file larger than the limit")

// DownloadFile fetches a file by id: getFile, then GET
// {BaseURL}/file/bot<token>/<file_path>. The public Bot API serves files up
// to MaxDownloadBytes; more than maxBytes fails with ErrFileTooLarge.
func (c *Client) DownloadFile(ctx context.Context, token, fileID string, maxBytes int64) ([]byte, error) {
	var f struct {
		FileSize int64  `json:"file_size"`
		FilePath string `json:"file_path"`
	}
	if err := c.call(ctx, token, "getFile", map[string]any{"file_id": fileID}, &f); err != nil {
		return nil, err
	}
	if f.FileSize > maxBytes {
		return nil, fmt.Errorf("telegram: download file: %d bytes: %w", f.FileSize, ErrFileTooLarge)
	}
	if f.FilePath == "" {
		return nil, fmt.Errorf("telegram: download file: getFile gave no file_path")
	}
	fileURL := c.base() + "/file/bot" + token + "/" + (&url.URL{Path: f.FilePath}).EscapedPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fileURL, nil)
	if err != nil {
		return nil, fmt.Errorf("telegram: download file: %w", redact(err, token))
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("telegram: download file: %w", redact(err, token))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, &APIError{Method: "file download", Code: resp.StatusCode, Description: snippet(body)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("telegram: download file: %w", redact(err, token))
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("telegram: download file: %w", ErrFileTooLarge)
	}
	return data, nil
}
