package dashboard_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/app"
	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/dashboard"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/knowledge/fetch"
	"github.com/metachat/metachat/internal/ratelimit"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/secrets"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
	"github.com/metachat/metachat/internal/tenants"
	"github.com/metachat/metachat/internal/widget"
)

// env is the dashboard mounted in the API server (as `metachat serve`
// mounts it) over a real database, with every service, the widget, the
// realtime hub and River workers (reply with the extractive default,
// ingest, webhooks and deliveries) running.
type env struct {
	t       *testing.T
	st      *store.Store
	auth    *auth.Service
	tenants *tenants.Service
	assts   *assistants.Service
	chans   *channels.Service
	convs   *conversations.Service
	kb      *knowledge.Service
	hub     *realtime.Hub
	dash    *dashboard.Handler
	srv     *httptest.Server
}

func newEnv(t *testing.T, d store.Dialect) *env {
	t.Helper()
	st := storetest.Open(t, d, true)
	if err := jobs.Migrate(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	au := auth.NewService(st, auth.Options{})
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	tn := tenants.NewService(st, au, srv.URL)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	hub := realtime.NewHub()
	sv, err := app.New(st, app.Options{BaseURL: srv.URL, Keys: keys, Bus: hub, Hub: hub, Fetch: fetch.Options{Timeout: 5 * time.Second}, MaxUploadBytes: 2 << 20,
		GraphURL: "http://127.0.0.1:9", TelegramURL: "http://127.0.0.1:9", ProviderHTTP: &http.Client{Timeout: 5 * time.Second},
		Work: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	chans, convs, assts, kb, msg, queue := sv.Channels, sv.Conversations, sv.Assistants, sv.Knowledge, sv.Messaging, sv.Queue
	if err := queue.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = queue.Stop(ctx)
	})
	wh, err := widget.New(st, chans, convs, hub, keys, srv.URL, widget.Limits{Sessions: ratelimit.New(1000, 1000), Messages: ratelimit.New(1000, 1000)}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Shutdown)
	dash, err := dashboard.New(dashboard.Config{}, log, dashboard.Deps{Store: st, Auth: au, Tenants: tn,
		Assistants: assts, Channels: chans, Conversations: convs, Knowledge: kb, Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = httpapi.New(httpapi.Config{BaseURL: srv.URL, RateLimitIP: 10000, RateLimitKey: 10000}, log,
		httpapi.Deps{Store: st, Auth: au, Tenants: tn, Assistants: assts, Channels: chans, Conversations: convs,
			Widget: wh, Knowledge: kb, Messaging: msg, Dashboard: dash})
	return &env{t: t, st: st, auth: au, tenants: tn, assts: assts, chans: chans, convs: convs, kb: kb, hub: hub, dash: dash, srv: srv}
}

// forEachDialect runs fn against a fresh server per dialect.
func forEachDialect(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d))
		})
	}
}

// tenantFixture is a tenant with its first (admin) API key.
type tenantFixture struct{ ID, Key, KeyID string }

func (e *env) newTenant(name string) tenantFixture {
	e.t.Helper()
	c, err := e.tenants.Create(context.Background(), nil, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return tenantFixture{ID: c.Tenant.ID, Key: c.Secret, KeyID: c.Key.ID}
}

const testPassword = "correct horse battery"

// addUser creates a user (a member of tenantID with role, when set).
func (e *env) addUser(tenantID, email, role string, platformAdmin bool) {
	e.t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		u, err := tx.CreateUser(ctx, email, "", hash, platformAdmin)
		if err != nil || tenantID == "" {
			return err
		}
		if err := tx.EnterTenant(ctx, tenantID); err != nil {
			return err
		}
		return tx.AddMember(ctx, u.ID, role)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e    *env
	http *http.Client
	csrf string // the session's CSRF token, once signed in
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer.
type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	req, err := http.NewRequest("GET", b.e.srv.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form with the session's CSRF token.
func (b *browser) post(path string, form url.Values) page {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") {
		form.Set("csrf", b.csrf)
	}
	return b.postRaw(path, form)
}

// postRaw submits a form as is.
func (b *browser) postRaw(path string, form url.Values) page {
	b.e.t.Helper()
	req, err := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	metaCSRF   = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

// login signs in through the form and returns the signed-in browser.
func (e *env) login(email string) *browser {
	e.t.Helper()
	b := e.browser()
	p := b.get("/login")
	m := hiddenCSRF.FindStringSubmatch(p.Body)
	if p.Status != 200 || m == nil {
		e.t.Fatalf("GET /login = %d, no csrf field:\n%s", p.Status, p.Body)
	}
	p = b.postRaw("/login", url.Values{"csrf": {m[1]}, "email": {email}, "password": {testPassword}})
	if p.Status != http.StatusSeeOther {
		e.t.Fatalf("POST /login as %s = %d, want 303:\n%s", email, p.Status, p.Body)
	}
	p = b.get("/app/account")
	m = metaCSRF.FindStringSubmatch(p.Body)
	if p.Status != 200 || m == nil {
		e.t.Fatalf("GET /app/account after sign-in = %d, no csrf meta:\n%s", p.Status, p.Body)
	}
	b.csrf = m[1]
	return b
}

func (p page) must(t *testing.T, status int) page {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d:\n%s", p.Status, status, p.Body)
	}
	return p
}

func (p page) contains(t *testing.T, s ...string) {
	t.Helper()
	for _, x := range s {
		if !strings.Contains(p.Body, x) {
			t.Errorf("page lacks %q:\n%s", x, p.Body)
		}
	}
}
