package meta

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/meta/metafake"
)

const token = "EAAG-test-token"

func newFake(t *testing.T) (*metafake.Server, *Client) {
	t.Helper()
	fake := metafake.NewServer(token)
	t.Cleanup(fake.Close)
	return fake, &Client{BaseURL: fake.URL, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// jsonEqual compares a recorded body with the expected JSON.
func jsonEqual(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("recorded body is not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

func TestSendWhatsAppTextPostsTheCloudAPIShape(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	id, err := c.SendWhatsAppText(context.Background(), phoneID, token, waUser, "Hello, Zoë!")
	if err != nil {
		t.Fatalf("SendWhatsAppText: %v", err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/"+DefaultVersion+"/"+phoneID+"/messages" || r.Token != token {
		t.Errorf("request %s %s with token %q; want POST /%s/%s/messages with the bearer token", r.Method, r.Path, r.Token, DefaultVersion, phoneID)
	}
	jsonEqual(t, r.Body, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+16505551234","type":"text","text":{"body":"Hello, Zoë!"}}`)
	if !strings.HasPrefix(id, "wamid.") || id != r.MessageID {
		t.Errorf("message id %q, want the fake's wamid %q", id, r.MessageID)
	}
}

func TestSendWhatsAppTextAddressesPhonesAndBusinessScopedIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		to      string
		wantKey string
		wantTo  string
	}{
		{"16505551234", "to", "+16505551234"},
		{"+16505551234", "to", "+16505551234"},
		{" 16505551234 ", "to", "+16505551234"},
		{"+44 7700 900123", "to", "+44 7700 900123"},
		{"US.13491208655302741918", "recipient", "US.13491208655302741918"},
		{"HR.abcDEF123", "recipient", "HR.abcDEF123"},
	}
	fake, c := newFake(t)
	for _, tt := range tests {
		fake.Reset()
		if _, err := c.SendWhatsAppText(context.Background(), phoneID, token, tt.to, "hi"); err != nil {
			t.Fatalf("send to %q: %v", tt.to, err)
		}
		var body map[string]any
		_ = json.Unmarshal(fake.Requests()[0].Body, &body)
		if body[tt.wantKey] != tt.wantTo {
			t.Errorf("to %q: body %v; want %s = %q", tt.to, body, tt.wantKey, tt.wantTo)
		}
		other := map[string]string{"to": "recipient", "recipient": "to"}[tt.wantKey]
		if _, ok := body[other]; ok {
			t.Errorf("to %q: body has both to and recipient: %v", tt.to, body)
		}
	}
}

func TestSendWhatsAppTemplateFillsTheBodyParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params []string
		want   string
	}{
		{"with parameters", []string{"Zoë", "#1042"},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+16505551234","type":"template","template":{"name":"order_update","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"Zoë"},{"type":"text","text":"#1042"}]}]}}`},
		{"without parameters", nil,
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+16505551234","type":"template","template":{"name":"order_update","language":{"code":"en_US"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, c := newFake(t)
			if _, err := c.SendWhatsAppTemplate(context.Background(), phoneID, token, waUser, "order_update", "en_US", tt.params); err != nil {
				t.Fatalf("SendWhatsAppTemplate: %v", err)
			}
			jsonEqual(t, fake.Requests()[0].Body, tt.want)
		})
	}
}

func TestSendMessengerTextPostsAResponse(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	id, err := c.SendMessengerText(context.Background(), pageID, token, psid, "Thanks!")
	if err != nil {
		t.Fatalf("SendMessengerText: %v", err)
	}
	r := fake.Requests()[0]
	if r.Path != "/"+DefaultVersion+"/"+pageID+"/messages" || r.Kind != metafake.KindMessenger {
		t.Errorf("request to %s (kind %s), want the Page's messages edge", r.Path, r.Kind)
	}
	jsonEqual(t, r.Body, `{"recipient":{"id":"`+psid+`"},"messaging_type":"RESPONSE","message":{"text":"Thanks!"}}`)
	if id == "" || id != r.MessageID {
		t.Errorf("message id %q, want %q", id, r.MessageID)
	}
}

func TestSendMessengerTaggedPostsAMessageTag(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	if _, err := c.SendMessengerTagged(context.Background(), pageID, token, psid, "An agent here", "HUMAN_AGENT"); err != nil {
		t.Fatalf("SendMessengerTagged: %v", err)
	}
	jsonEqual(t, fake.Requests()[0].Body, `{"recipient":{"id":"`+psid+`"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"An agent here"}}`)
}

func TestClientUsesTheConfiguredVersionAndEscapesIDs(t *testing.T) {
	t.Parallel()
	c := &Client{BaseURL: "https://graph.instagram.com/", Version: "v23.0"}
	if got, want := c.endpoint("178/../x", "messages"), "https://graph.instagram.com/v23.0/178%2F..%2Fx/messages"; got != want {
		t.Errorf("endpoint = %s, want %s", got, want)
	}
	if got, want := (&Client{}).endpoint("1", "messages"), DefaultBaseURL+"/"+DefaultVersion+"/1/messages"; got != want {
		t.Errorf("zero Client endpoint = %s, want %s", got, want)
	}
}

func TestSendsReportGraphErrorsWithTheirAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		status         int
		body           string
		retryAfter     string
		wantAction     Action
		wantCode       int
		wantRetryAfter time.Duration
	}{
		{"throughput with Retry-After", 400, metafake.ThroughputBody, "17", ActionSlowDown, 130429, 17 * time.Second},
		{"HTTP 429", 429, metafake.ErrorBody(4, 0, "(#4) Application request limit reached", ""), "", ActionSlowDown, 4, 0},
		{"pair limit", 400, metafake.PairLimitBody, "", ActionSlowDown, 131056, 0},
		{"window closed", 400, metafake.WindowClosedBody, "", ActionWindowClosed, 131047, 0},
		{"expired token", 401, metafake.InvalidTokenBody, "", ActionBadToken, 190, 0},
		{"undeliverable", 400, metafake.UndeliverableBody, "", ActionPermanent, 131026, 0},
		{"server error", 500, metafake.ServerErrorBody, "", ActionRetry, 2, 0},
		{"proxy error page", 502, "<html>Bad Gateway</html>", "", ActionRetry, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, c := newFake(t)
			fake.FailNext(1, tt.status, tt.body, tt.retryAfter)
			_, err := c.SendWhatsAppText(context.Background(), phoneID, token, waUser, "hi")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if apiErr.HTTPStatus != tt.status || apiErr.Code != tt.wantCode || apiErr.RetryAfter != tt.wantRetryAfter {
				t.Errorf("APIError = %+v; want HTTP %d, code %d, retry after %v", apiErr, tt.status, tt.wantCode, tt.wantRetryAfter)
			}
			if got := ActionOf(err); got != tt.wantAction {
				t.Errorf("ActionOf = %v, want %v", got, tt.wantAction)
			}
			// The failure is used up: the retry goes through.
			if _, err := c.SendWhatsAppText(context.Background(), phoneID, token, waUser, "hi"); err != nil {
				t.Errorf("retry after one scripted failure: %v", err)
			}
		})
	}
}

func TestSendsWithAWrongOrMissingTokenAreBadToken(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	_, err := c.SendMessengerText(context.Background(), pageID, "EAAG-revoked", psid, "hi")
	if ActionOf(err) != ActionBadToken {
		t.Errorf("unknown token: err %v, action %v; want bad token", err, ActionOf(err))
	}
	_, err = c.SendWhatsAppText(context.Background(), phoneID, "", waUser, "hi")
	if !errors.Is(err, ErrNoToken) || ActionOf(err) != ActionBadToken {
		t.Errorf("empty token: err %v; want ErrNoToken, bad token", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests; the empty token must not be sent", n)
	}
}

func TestAClosedWindowAllowsOnlyTemplatesAndTags(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	fake.SetWindowClosed(waUser, true)
	fake.SetWindowClosed(psid, true)
	ctx := context.Background()

	if _, err := c.SendWhatsAppText(ctx, phoneID, token, waUser, "hi"); ActionOf(err) != ActionWindowClosed {
		t.Errorf("whatsapp text: %v; want window closed", err)
	}
	if _, err := c.SendWhatsAppTemplate(ctx, phoneID, token, waUser, "reengage", "en", nil); err != nil {
		t.Errorf("whatsapp template: %v", err)
	}
	if _, err := c.SendMessengerText(ctx, pageID, token, psid, "hi"); ActionOf(err) != ActionWindowClosed {
		t.Errorf("messenger text: %v; want window closed", err)
	}
	if _, err := c.SendMessengerTagged(ctx, pageID, token, psid, "hi", "HUMAN_AGENT"); err != nil {
		t.Errorf("messenger tagged: %v", err)
	}
	if n := len(fake.Sent()); n != 2 {
		t.Errorf("%d messages went out, want 2", n)
	}
}

func TestTextSplitForTheProviderLimitIsAccepted(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	long := strings.Repeat("Žute ruže cvjetaju u vrtu. 🌹 ", 400) // ~12k characters
	if _, err := c.SendWhatsAppText(context.Background(), phoneID, token, waUser, long); ActionOf(err) != ActionPermanent {
		t.Fatalf("unsplit text: %v; want a permanent parameter error", err)
	}
	for _, tt := range []struct {
		limit int
		send  func(string) error
	}{
		{WhatsAppMaxText, func(s string) error {
			_, err := c.SendWhatsAppText(context.Background(), phoneID, token, waUser, s)
			return err
		}},
		{MessengerMaxText, func(s string) error {
			_, err := c.SendMessengerText(context.Background(), pageID, token, psid, s)
			return err
		}},
	} {
		pieces := SplitText(long, tt.limit)
		for i, p := range pieces {
			if err := tt.send(p); err != nil {
				t.Fatalf("piece %d/%d at limit %d: %v", i+1, len(pieces), tt.limit, err)
			}
		}
	}
	var total int
	for _, s := range fake.Sent() {
		total += len(s.Text)
	}
	if total < 2*len(strings.TrimSpace(long))-2*400 {
		t.Errorf("sent %d bytes in pieces, want about twice %d", total, len(long))
	}
}

func TestMarkWhatsAppReadPostsAReadStatus(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	if err := c.MarkWhatsAppRead(context.Background(), phoneID, token, "wamid.IN"); err != nil {
		t.Fatalf("MarkWhatsAppRead: %v", err)
	}
	r := fake.Requests()[0]
	if r.Kind != metafake.KindWhatsAppRead {
		t.Errorf("kind %s, want %s", r.Kind, metafake.KindWhatsAppRead)
	}
	jsonEqual(t, r.Body, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN"}`)
}

func TestDownloadMediaFetchesInTwoStepsWithTheToken(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	data := []byte("\x89PNG fake image bytes")
	fake.AddMedia("1037543291543636", "image/png", data)
	got, mime, err := c.DownloadMedia(context.Background(), token, "1037543291543636", 1<<20)
	if err != nil {
		t.Fatalf("DownloadMedia: %v", err)
	}
	if string(got) != string(data) || mime != "image/png" {
		t.Errorf("got %q (%s), want %q (image/png)", got, mime, data)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Kind != metafake.KindMediaInfo || reqs[1].Kind != metafake.KindMediaDownload || reqs[1].Token != token {
		t.Errorf("requests %+v; want media info then download, both with the token", reqs)
	}
}

func TestDownloadMediaRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	fake.AddMedia("big", "video/mp4", make([]byte, 2048))
	if _, _, err := c.DownloadMedia(context.Background(), token, "big", 1024); !errors.Is(err, ErrMediaTooLarge) {
		t.Errorf("oversized media: %v; want ErrMediaTooLarge", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests; an oversized file must not be downloaded", n)
	}
	_, _, err := c.DownloadMedia(context.Background(), token, "expired", 1024)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 100 || apiErr.Subcode != 33 || apiErr.Action() != ActionPermanent {
		t.Errorf("unknown media: %v; want Graph error 100/33, permanent", err)
	}
}

func TestDownloadMediaChecksTheChecksum(t *testing.T) {
	t.Parallel()
	data := []byte("the real bytes")
	sum := sha256.Sum256(data)
	tests := []struct {
		name    string
		sha     string
		wantErr error
	}{
		{"hex", hex.EncodeToString(sum[:]), nil},
		{"base64", base64.StdEncoding.EncodeToString(sum[:]), nil},
		{"someone else's hash", "Lz1EyCPtgXo1Ol3qCqgnkzkP0VcZjAItGl1R6ICckZg=", ErrMediaChecksum},
		{"tampered", strings.Repeat("0", 64), ErrMediaChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/file" {
					_, _ = w.Write(data)
					return
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"url": srv.URL + "/file", "mime_type": "text/plain", "sha256": tt.sha, "file_size": len(data), "id": "m"})
			}))
			defer srv.Close()
			c := &Client{BaseURL: srv.URL}
			_, _, err := c.DownloadMedia(context.Background(), token, "m", 1024)
			if !errors.Is(err, tt.wantErr) && (err != nil || tt.wantErr != nil) {
				t.Errorf("DownloadMedia: %v, want %v", err, tt.wantErr)
			}
		})
	}
	if checksumMatches(data, "sha256:"+hex.EncodeToString(sum[:])) {
		t.Error("a prefixed checksum matched")
	}
}

func TestDownloadAttachmentEnforcesTheSizeLimitWithoutContentLength(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		// Flushing forces chunked encoding, so no Content-Length warns us.
		for range 4 {
			_, _ = w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	c := &Client{}
	if _, _, err := c.DownloadAttachment(context.Background(), srv.URL+"/a.jpg", 3999); !errors.Is(err, ErrMediaTooLarge) {
		t.Errorf("limit 3999: %v; want ErrMediaTooLarge", err)
	}
	data, mime, err := c.DownloadAttachment(context.Background(), srv.URL+"/a.jpg", 4000)
	if err != nil || len(data) != 4000 || mime != "image/jpeg" {
		t.Errorf("limit 4000: %d bytes, %q, %v; want 4000 bytes of image/jpeg", len(data), mime, err)
	}
	if _, _, err := c.DownloadAttachment(context.Background(), "file:///etc/passwd", 10); err == nil {
		t.Error("a file: URL was fetched")
	}
}

func TestFakeRecordsConcurrentSendsSafely(t *testing.T) {
	t.Parallel()
	fake, c := newFake(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.SendMessengerText(context.Background(), pageID, token, psid, "hi"); err != nil {
				t.Errorf("send: %v", err)
			}
			_ = fake.Requests()
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, s := range fake.Sent() {
		seen[s.MessageID] = true
	}
	if len(seen) != 20 {
		t.Errorf("%d distinct message ids, want 20", len(seen))
	}
}
