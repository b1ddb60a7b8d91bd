package meta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestAPIErrorActionMapsEveryDocumentedCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  APIError
		want Action
	}{
		{"190 expired token", APIError{HTTPStatus: 401, Code: 190, Subcode: 463}, ActionBadToken},
		{"190 invalid token on a 400", APIError{HTTPStatus: 400, Code: 190}, ActionBadToken},
		{"102 session invalid", APIError{HTTPStatus: 400, Code: 102}, ActionBadToken},
		{"131005 permission removed", APIError{HTTPStatus: 403, Code: 131005}, ActionBadToken},
		{"bare 401 without a body", APIError{HTTPStatus: 401}, ActionBadToken},
		{"131047 re-engagement", APIError{HTTPStatus: 400, Code: 131047, Subcode: 2494010}, ActionWindowClosed},
		{"messenger outside window", APIError{HTTPStatus: 400, Code: 10, Subcode: 2018278}, ActionWindowClosed},
		{"messenger outside window, subscription", APIError{HTTPStatus: 400, Code: 10, Subcode: 2018065}, ActionWindowClosed},
		{"instagram outside window", APIError{HTTPStatus: 400, Code: 10, Subcode: 2534022}, ActionWindowClosed},
		{"10 without a window subcode is a permission problem", APIError{HTTPStatus: 403, Code: 10}, ActionPermanent},
		{"4 app rate limit", APIError{HTTPStatus: 400, Code: 4}, ActionSlowDown},
		{"17 user rate limit", APIError{HTTPStatus: 400, Code: 17}, ActionSlowDown},
		{"32 page rate limit", APIError{HTTPStatus: 400, Code: 32}, ActionSlowDown},
		{"613 rate limit", APIError{HTTPStatus: 400, Code: 613}, ActionSlowDown},
		{"80007 WABA rate limit", APIError{HTTPStatus: 400, Code: 80007}, ActionSlowDown},
		{"130429 throughput", APIError{HTTPStatus: 400, Code: 130429}, ActionSlowDown},
		{"131048 spam rate limit", APIError{HTTPStatus: 400, Code: 131048}, ActionSlowDown},
		{"131056 pair limit", APIError{HTTPStatus: 400, Code: 131056}, ActionSlowDown},
		{"HTTP 429 with an unknown code", APIError{HTTPStatus: 429, Code: 999}, ActionSlowDown},
		{"1 unknown error", APIError{HTTPStatus: 500, Code: 1}, ActionRetry},
		{"2 service temporarily unavailable on a 400", APIError{HTTPStatus: 400, Code: 2}, ActionRetry},
		{"1200 messenger temporary failure", APIError{HTTPStatus: 400, Code: 1200}, ActionRetry},
		{"131000 something went wrong", APIError{HTTPStatus: 500, Code: 131000}, ActionRetry},
		{"131016 overloaded", APIError{HTTPStatus: 503, Code: 131016}, ActionRetry},
		{"131057 maintenance", APIError{HTTPStatus: 400, Code: 131057}, ActionRetry},
		{"133004 server unavailable", APIError{HTTPStatus: 503, Code: 133004}, ActionRetry},
		{"is_transient", APIError{HTTPStatus: 400, Code: 12345, IsTransient: true}, ActionRetry},
		{"502 from a proxy", APIError{HTTPStatus: 502}, ActionRetry},
		{"100 invalid parameter", APIError{HTTPStatus: 400, Code: 100}, ActionPermanent},
		{"131026 undeliverable", APIError{HTTPStatus: 400, Code: 131026}, ActionPermanent},
		{"131030 not on the allow-list", APIError{HTTPStatus: 400, Code: 131030}, ActionPermanent},
		{"131049 marketing hold", APIError{HTTPStatus: 400, Code: 131049}, ActionPermanent},
		{"368 policy block", APIError{HTTPStatus: 400, Code: 368}, ActionPermanent},
		{"551 person unavailable", APIError{HTTPStatus: 400, Code: 551}, ActionPermanent},
		{"thread owned by another app", APIError{HTTPStatus: 400, Code: 200, Subcode: 1545041}, ActionPermanent},
	}
	for _, tt := range tests {
		if got := tt.err.Action(); got != tt.want {
			t.Errorf("%s: Action() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAPIErrorDetailActionClassifiesFailedStatuses(t *testing.T) {
	t.Parallel()
	if got := (APIErrorDetail{Code: 131047}).Action(); got != ActionWindowClosed {
		t.Errorf("131047 in a status: %v, want window closed", got)
	}
	if got := (APIErrorDetail{Code: 131026}).Action(); got != ActionPermanent {
		t.Errorf("131026 in a status: %v, want permanent", got)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestActionOfClassifiesAnyError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want Action
	}{
		{"wrapped API error", fmt.Errorf("send: %w", &APIError{HTTPStatus: 400, Code: 131047}), ActionWindowClosed},
		{"deadline", fmt.Errorf("send: %w", context.DeadlineExceeded), ActionRetry},
		{"network timeout", fmt.Errorf("send: %w", timeoutErr{}), ActionRetry},
		{"missing token", ErrNoToken, ActionBadToken},
		{"too large", fmt.Errorf("x: %w", ErrMediaTooLarge), ActionPermanent},
		{"checksum mismatch", ErrMediaChecksum, ActionRetry},
		{"anything else", errors.New("decode response: bad"), ActionPermanent},
		{"nil", nil, ActionPermanent},
	}
	for _, tt := range tests {
		if got := ActionOf(tt.err); got != tt.want {
			t.Errorf("%s: ActionOf = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRetryAfterReadsTheHeadersMetaSends(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"business use case usage, largest estimate",
			http.Header{"X-Business-Use-Case-Usage": {`{"102290129340398":[{"type":"whatsapp","call_count":100,"estimated_time_to_regain_access":3},{"type":"whatsapp","estimated_time_to_regain_access":7}]}`}},
			7 * time.Minute},
		{"business use case usage with nothing to wait for", http.Header{"X-Business-Use-Case-Usage": {`{"1":[{"estimated_time_to_regain_access":0}]}`}}, 0},
		{"none", http.Header{}, 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now); got != tt.want {
			t.Errorf("%s: retryAfter = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseAPIErrorReadsTheGraphErrorBody(t *testing.T) {
	t.Parallel()
	body := `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_subcode":2494010,"error_data":{"messaging_product":"whatsapp","details":"more than 24 hours"},"is_transient":false,"fbtrace_id":"AbC"}}`
	got := parseAPIError(&http.Response{StatusCode: 400, Header: http.Header{}}, []byte(body))
	want := &APIError{HTTPStatus: 400, Code: 131047, Subcode: 2494010, Type: "OAuthException", Message: "(#131047) Re-engagement message", Details: "more than 24 hours", FBTraceID: "AbC"}
	if *got != *want {
		t.Errorf("parseAPIError =\n %+v\nwant\n %+v", got, want)
	}
	html := parseAPIError(&http.Response{StatusCode: 502, Header: http.Header{}}, []byte("<html>Bad Gateway</html>"))
	if html.HTTPStatus != 502 || html.Message != "<html>Bad Gateway</html>" || html.Action() != ActionRetry {
		t.Errorf("non-JSON 502 = %+v (action %v); want HTTP 502 kept with the body as message, retry", html, html.Action())
	}
}
