package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/store"
)

func healthzAnswersOK(t *testing.T, e *env) {
	r := e.anonymous().do("GET", "/healthz", nil).must(t, 200)
	if m := r.JSON(t); m["status"] != "ok" {
		t.Fatalf("healthz: %s", r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func readyzReportsItsChecks(t *testing.T, e *env) {
	m := e.anonymous().do("GET", "/readyz", nil).must(t, 200).JSON(t)
	checks, _ := m["checks"].(map[string]any)
	if m["status"] != "ready" || checks["database"] != "ok" || checks["migrations"] != "ok" {
		t.Fatalf("readyz: %v", m)
	}
}

func metricsExposeRequestsByRouteAndRuntimeAndDatabaseStats(t *testing.T, e *env) {
	tn := e.newTenant("Metered")
	e.anonymous().do("GET", "/healthz", nil).must(t, 200)
	e.as(tn.Key).do("GET", "/api/v1/api-keys/"+tn.KeyID, nil).must(t, 200)
	e.anonymous().do("GET", "/no/such/thing", nil).must(t, 404)
	r := e.anonymous().do("GET", "/metrics", nil).must(t, 200)
	body := string(r.Body)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^metachat_http_requests_total\{method="GET",route="GET /healthz",status="200"\} [1-9]`),
		// The route is the pattern, not the path: ids do not explode the label set.
		regexp.MustCompile(`(?m)^metachat_http_requests_total\{method="GET",route="GET /api/v1/api-keys/\{id\}",status="200"\} [1-9][0-9]*$`),
		regexp.MustCompile(`(?m)^metachat_http_request_duration_seconds_bucket\{method="GET",route="GET /healthz",le="`),
		regexp.MustCompile(`(?m)^go_goroutines [0-9]`),
		regexp.MustCompile(`(?m)^go_sql_max_open_connections\{db_name="metachat"\} [0-9]`),
		regexp.MustCompile(`(?m)^go_sql_open_connections\{db_name="metachat"\} [0-9]`),
	} {
		if !want.MatchString(body) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, tn.KeyID) || strings.Contains(body, "/no/such/thing") {
		t.Errorf("/metrics has a path or id in a label")
	}
}

func aRequestIDIsEchoedWhenSaneAndReplacedOtherwise(t *testing.T, e *env) {
	r := e.send("GET", "/no/such/thing", http.Header{"X-Request-Id": {"abc-123"}}, "")
	p := r.problem(t, 404, "")
	if r.Header.Get("X-Request-Id") != "abc-123" || p.RequestID != "abc-123" {
		t.Fatalf("request id: header %q, problem %q; want abc-123", r.Header.Get("X-Request-Id"), p.RequestID)
	}
	generated := regexp.MustCompile(`^[0-9a-f]{24}$`)
	seen := map[string]bool{}
	for _, bad := range []string{strings.Repeat("a", 200), strings.Repeat("b", 65), "abc 123", "<script>", "a\"b", "a;b=c", ""} {
		h := http.Header{}
		if bad != "" {
			h.Set("X-Request-Id", bad)
		}
		r := e.send("GET", "/no/such/thing", h, "")
		p := r.problem(t, 404, "")
		got := r.Header.Get("X-Request-Id")
		if got == bad || !generated.MatchString(got) || p.RequestID != got || seen[got] {
			t.Errorf("X-Request-Id %q came back as %q (problem %q)", bad, got, p.RequestID)
		}
		seen[got] = true
	}
	// The longest sane id is kept.
	long := strings.Repeat("x", 64)
	if got := e.send("GET", "/healthz", http.Header{"X-Request-Id": {long}}, "").Header.Get("X-Request-Id"); got != long {
		t.Errorf("a 64-character id came back as %q", got)
	}
}

func everyAnswerCarriesSecurityHeaders(t *testing.T, e *env) {
	tn := e.newTenant("Headers")
	for _, r := range []response{
		e.anonymous().do("GET", "/healthz", nil),
		e.anonymous().do("GET", "/metrics", nil),
		e.anonymous().do("GET", "/api/v1/openapi.json", nil),
		e.anonymous().do("GET", "/nowhere", nil),
		e.anonymous().do("GET", "/api/v1/tenant", nil),
		e.as(tn.Key).do("GET", "/api/v1/tenant", nil),
		e.as(tn.Key).do("POST", "/api/v1/api-keys", "{"),
	} {
		h := r.Header
		if h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			h.Get("X-Frame-Options") != "DENY" ||
			h.Get("Referrer-Policy") == "" {
			t.Errorf("status %d answer lacks security headers: %v", r.Status, h)
		}
	}
}

func anUnknownPathIsA404Problem(t *testing.T, e *env) {
	tn := e.newTenant("Lost")
	for _, path := range []string{"/nope", "/api/v1/nope", "/api/v2/tenant", "/api/v1/tenant/extra"} {
		e.anonymous().do("GET", path, nil).problem(t, 404, "")
		e.as(tn.Key).do("GET", path, nil).problem(t, 404, "")
	}
}

// retryAfter parses a Retry-After header in whole seconds (-1 if absent).
func retryAfter(r response) int {
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil {
		return -1
	}
	return n
}

func TestThePerIPRateLimitRefusesBurstsButNeverHealthChecks(t *testing.T) {
	t.Parallel()
	forEachDialectWith(t, envOptions{cfg: httpapi.Config{RateLimitIP: 1}}, func(t *testing.T, e *env) {
		ok, limited := 0, 0
		for range 10 {
			r := e.anonymous().do("GET", "/api/v1/openapi.json", nil)
			switch r.Status {
			case 200:
				ok++
			case 429:
				limited++
				r.problem(t, 429, "")
				if n := retryAfter(r); n < 1 {
					t.Errorf("429 with Retry-After %q, want whole seconds ≥ 1", r.Header.Get("Retry-After"))
				}
			default:
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		}
		if ok == 0 || limited == 0 {
			t.Fatalf("%d answered and %d limited out of 10 at 1 request/s; want some of each", ok, limited)
		}
		// Sign-in and other public routes share the address's budget.
		e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "a@b.example", "password": "whatever-123"}).problem(t, 429, "")
		// Health checks and metrics are never limited. Readiness may answer
		// 503 when its 2 s database check is starved by a loaded test run;
		// what matters here is that it is never refused as over the limit.
		for range 20 {
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				r := e.anonymous().do("GET", path, nil)
				if r.Status == 429 || (r.Status != 200 && path != "/readyz") {
					t.Fatalf("%s while the address is limited: %d", path, r.Status)
				}
			}
		}
	})
}

func TestThePerKeyRateLimitIsPerKey(t *testing.T) {
	t.Parallel()
	forEachDialectWith(t, envOptions{cfg: httpapi.Config{RateLimitKey: 1, RateLimitIP: 10000}}, func(t *testing.T, e *env) {
		tn := e.newTenant("Busy")
		other := e.newTenant("Quiet")
		limited := 0
		for range 10 {
			r := e.as(tn.Key).do("GET", "/api/v1/tenant", nil)
			switch r.Status {
			case 200:
			case 429:
				limited++
				r.problem(t, 429, "")
				if n := retryAfter(r); n < 1 {
					t.Errorf("429 with Retry-After %q", r.Header.Get("Retry-After"))
				}
			default:
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		}
		if limited == 0 {
			t.Fatalf("10 quick requests at 1 request/s per key were all answered")
		}
		// Another key from the same address has its own budget.
		e.as(other.Key).do("GET", "/api/v1/tenant", nil).must(t, 200)
		e.as(other.Key).do("GET", "/api/v1/tenant", nil).must(t, 200)
		// A wrong key is refused as unauthenticated, not counted against the real one.
		e.as("mc_"+strings.Repeat("A", 43)).do("GET", "/api/v1/tenant", nil).problem(t, 401, "")
	})
}

// TestOperationsEndpointsAndMiddlewareBehaveAsDocumented runs the
// operations scenarios above on one server per dialect.
func TestOperationsEndpointsAndMiddlewareBehaveAsDocumented(t *testing.T) {
	t.Parallel()
	runScenarios(t, envOptions{}, []scenario{
		{"healthz answers OK", healthzAnswersOK},
		{"readyz reports its checks", readyzReportsItsChecks},
		{"metrics expose requests by route, runtime and database stats", metricsExposeRequestsByRouteAndRuntimeAndDatabaseStats},
		{"a request id is echoed when sane and replaced otherwise", aRequestIDIsEchoedWhenSaneAndReplacedOtherwise},
		{"every answer carries security headers", everyAnswerCarriesSecurityHeaders},
		{"an unknown path is a 404 problem", anUnknownPathIsA404Problem},
	})
}

func TestDailyAnalyticsAreTheTenantsOwnAndDaysAreChecked(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		a, b := e.newTenant("A"), e.newTenant("B")
		ctx := context.Background()
		now := time.Now().UTC()
		today := now.Format(time.DateOnly)
		// B has figures for today; A has none.
		if err := e.st.Write(ctx, store.TenantScope(b.ID), func(tx *store.Tx) error {
			_, err := tx.ComputeAnalyticsDay(ctx, now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if items := listOf(t, e.as(a.Key).do("GET", "/api/v1/analytics/daily", nil).must(t, 200)).Items; len(items) != 0 {
			t.Errorf("tenant A sees %d days of figures, want none", len(items))
		}
		items := listOf(t, e.as(b.Key).do("GET", "/api/v1/analytics/daily?days=7", nil).must(t, 200)).Items
		if len(items) != 1 || items[0]["day"] != today {
			t.Errorf("tenant B's days: %v, want today's row", items)
		}
		e.as(b.Key).do("GET", "/api/v1/analytics/daily?days=0", nil).problem(t, 400, "days")
	})
}
