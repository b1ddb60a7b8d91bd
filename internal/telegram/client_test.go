package telegram

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/meta"
	"github.com/metachat/metachat/internal/telegram/telegramfake"
)

const token = "7000000001:AAHfakeTokenForTests_abcdefghijklmno"

func newFake(t *testing.T) (*telegramfake.Server, *Client) {
	t.Helper()
	fake := telegramfake.NewServer(token)
	t.Cleanup(fake.Close)
	return fake, &Client{BaseURL: fake.URL, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

func TestGetMeReturnsTheBot(t *testing.T) {
	t.Parallel()
	_, c := newFake(t)
	me, err := c.GetMe(context.Background(), token)
	if err != nil {
		t.Fatalf("GetMe: %v", err)
	}
	if me.ID != 7000000001 || !me.IsBot || me.Username != "metachat_test_bot" {
		t.Errorf("GetMe = %+v; want bot 7000000001 @metachat_test_bot", me)
	}
}

func TestSetWebhookRegistersURLSecretAndUpdateKinds(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	secret := NewSecretToken()
	err := c.SetWebhook(context.Background(), token, "https://hooks.example.com:8443/telegram/ch_123", secret, DefaultAllowedUpdates())
	if err != nil {
		t.Fatalf("SetWebhook: %v", err)
	}
	got := fake.Webhook(token)
	want := telegramfake.Webhook{URL: "https://hooks.example.com:8443/telegram/ch_123", SecretToken: secret, AllowedUpdates: DefaultAllowedUpdates(), MaxConnections: 40}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("webhook = %+v, want %+v", got, want)
	}
	info, err := c.GetWebhookInfo(context.Background(), token)
	if err != nil || info.URL != want.URL || !reflect.DeepEqual(info.AllowedUpdates, want.AllowedUpdates) {
		t.Errorf("GetWebhookInfo = %+v, %v", info, err)
	}
	if err := c.DeleteWebhook(context.Background(), token); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if got := fake.Webhook(token); got.URL != "" {
		t.Errorf("webhook after delete = %+v", got)
	}
}

func TestSetWebhookRefusesWhatTelegramRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		url    string
		secret string
	}{
		{"plain http", "http://hooks.example.com/tg", ""},
		{"unsupported port", "https://hooks.example.com:9000/tg", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, c := newFake(t)
			err := c.SetWebhook(context.Background(), token, tt.url, tt.secret, nil)
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Code != 400 || !strings.Contains(apiErr.Description, "bad webhook") {
				t.Errorf("SetWebhook(%s) = %v; want a 400 bad webhook", tt.url, err)
			}
		})
	}
	_, c := newFake(t)
	if err := c.SetWebhook(context.Background(), token, "https://x.example", "bad secret!", nil); err == nil {
		t.Error("an invalid secret token was sent")
	}
}

func TestSendMessageSendsPlainText(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	id, err := c.SendMessage(context.Background(), token, chat, "Dobar dan! *not bold*")
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].ChatID != chat || sent[0].Text != "Dobar dan! *not bold*" || sent[0].MessageID != id {
		t.Errorf("sent %+v, id %d", sent, id)
	}
	call := fake.Calls()[0]
	if call.Method != "sendMessage" || call.Params["parse_mode"] != nil {
		t.Errorf("call %+v; want sendMessage without parse_mode", call)
	}
}

func TestSendMessageAcceptsTextSplitAtTheLimit(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	long := strings.Repeat("Emoji 😀 count double in UTF-16. ", 400)
	if _, err := c.SendMessage(context.Background(), token, chat, long); err == nil {
		t.Fatal("an over-long message was accepted")
	}
	for _, piece := range meta.SplitText(long, MaxTextLength) {
		if _, err := c.SendMessage(context.Background(), token, chat, piece); err != nil {
			t.Fatalf("piece of %d chars: %v", len([]rune(piece)), err)
		}
	}
	if n := len(fake.Sent()); n < 4 {
		t.Errorf("%d pieces sent, want at least 4", n)
	}
}

func TestErrorsCarryTheirActionAndRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		script         func(*telegramfake.Server)
		wantCode       int
		wantAction     meta.Action
		wantRetryAfter time.Duration
		wantBlocked    bool
	}{
		{"flood control", func(f *telegramfake.Server) { f.FailNext(1, 429, "Too Many Requests: retry after 7", 7) }, 429, meta.ActionSlowDown, 7 * time.Second, false},
		{"server error", func(f *telegramfake.Server) { f.FailNext(1, 500, "Internal Server Error", 0) }, 500, meta.ActionRetry, 0, false},
		{"proxy error page", func(f *telegramfake.Server) { f.FailNextRaw(1, 502, "<html>502 Bad Gateway</html>") }, 502, meta.ActionRetry, 0, false},
		{"blocked by the user", func(f *telegramfake.Server) { f.BlockChat(chat) }, 403, meta.ActionPermanent, 0, true},
		{"chat not found", func(f *telegramfake.Server) { f.FailNext(1, 400, "Bad Request: chat not found", 0) }, 400, meta.ActionPermanent, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, c := newFake(t)
			tt.script(fake)
			_, err := c.SendMessage(context.Background(), token, chat, "hi")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if apiErr.Code != tt.wantCode || apiErr.RetryAfter != tt.wantRetryAfter || apiErr.Blocked() != tt.wantBlocked || apiErr.Method != "sendMessage" {
				t.Errorf("APIError = %+v; want code %d, retry after %v, blocked %v", apiErr, tt.wantCode, tt.wantRetryAfter, tt.wantBlocked)
			}
			if got := meta.ActionOf(err); got != tt.wantAction {
				t.Errorf("ActionOf = %v, want %v", got, tt.wantAction)
			}
		})
	}
}

func TestRetryAfterHeaderIsUsedWhenParametersAreMissing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "11")
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"ok":false,"error_code":429,"description":"Too Many Requests"}`))
	}))
	defer srv.Close()
	_, err := (&Client{BaseURL: srv.URL}).SendMessage(context.Background(), token, chat, "hi")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != 11*time.Second {
		t.Errorf("err = %v; want retry after 11s from the header", err)
	}
}

func TestMigratedGroupReportsItsNewChatID(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}`))
	}))
	defer srv.Close()
	_, err := (&Client{BaseURL: srv.URL}).SendMessage(context.Background(), token, -4567, "hi")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.MigrateToChatID != -1001234567890 {
		t.Errorf("err = %v; want migrate_to_chat_id -1001234567890", err)
	}
}

func TestBadTokensAreReportedAndNeverLeaked(t *testing.T) {
	t.Parallel()
	_, c := newFake(t)
	tests := []struct {
		name  string
		token string
	}{
		{"unknown token", "7000000002:AAHsomeOtherBotToken"},
		{"malformed token", "not-a-token"},
		{"token that would change the path", "123:abc/../../sendMessage"},
		{"empty token", ""},
	}
	for _, tt := range tests {
		_, err := c.SendMessage(context.Background(), tt.token, chat, "hi")
		if meta.ActionOf(err) != meta.ActionBadToken {
			t.Errorf("%s: err %v, action %v; want bad token", tt.name, err, meta.ActionOf(err))
		}
	}
	// A transport error quotes the URL; the token must not survive in it.
	dead := &Client{BaseURL: "http://127.0.0.1:1", HTTP: &http.Client{Timeout: time.Second}}
	_, err := dead.SendMessage(context.Background(), token, chat, "hi")
	if err == nil || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "AAHfake") {
		t.Errorf("transport error leaks the token: %v", err)
	}
	if meta.ActionOf(err) != meta.ActionRetry {
		t.Errorf("transport error action %v, want retry", meta.ActionOf(err))
	}
}

func TestAnswerCallbackQueryAndDownloadFile(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	if err := c.AnswerCallbackQuery(context.Background(), token, "4382bfdwdsb323b2d9", "Saved"); err != nil {
		t.Errorf("AnswerCallbackQuery: %v", err)
	}
	fake.AddFile("AgACph", "photos/file_12.jpg", []byte("jpeg bytes"))
	data, err := c.DownloadFile(context.Background(), token, "AgACph", 1024)
	if err != nil || string(data) != "jpeg bytes" {
		t.Errorf("DownloadFile = %q, %v", data, err)
	}
	if _, err := c.DownloadFile(context.Background(), token, "AgACph", 4); !errors.Is(err, ErrFileTooLarge) {
		t.Errorf("DownloadFile over the limit: %v; want ErrFileTooLarge", err)
	}
	if _, err := c.DownloadFile(context.Background(), token, "missing", 1024); meta.ActionOf(err) != meta.ActionPermanent {
		t.Errorf("DownloadFile of an unknown id: %v; want a permanent error", err)
	}
}
