package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/app"
	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/knowledge/fetch"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/messaging"
	"github.com/metachat/metachat/internal/ratelimit"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/secrets"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
	"github.com/metachat/metachat/internal/tenants"
	"github.com/metachat/metachat/internal/widget"
)

// env is a running API over a real database.
type env struct {
	t       *testing.T
	st      *store.Store
	api     *httpapi.Server
	srv     *httptest.Server
	auth    *auth.Service
	tenants *tenants.Service
	hub     *realtime.Hub
	widget  *widget.Handler
	convs   *conversations.Service
	replier *assistants.Replier
	kb      *knowledge.Service
	msg     *messaging.Service
	queue   *jobs.Client
	// newQueue starts another job queue running the reply worker over the
	// same database (a second worker process, or the first one restarted).
	newQueue func() *jobs.Client
}

// envOptions adjusts a test server.
type envOptions struct {
	cfg  httpapi.Config
	auth auth.Options
	// llm is the server's default model (default: extractive).
	llm llm.Config
	// fetchAllow opens address ranges to URL imports (test servers listen
	// on loopback, which is refused by default).
	fetchAllow []netip.Prefix
	// graphURL and telegramURL point provider channels at fakes.
	graphURL, telegramURL string
	// embed gives documents vectors (default: none).
	embed knowledge.Embedder
	// widgetMessageRate limits widget messages per second per visitor
	// (default: generous).
	widgetMessageRate float64
}

// newEnv starts the API on dialect d. Rate limits are generous unless the
// options set them, so that tests measure behaviour, not limits.
func newEnv(t *testing.T, d store.Dialect, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.cfg.RateLimitIP == 0 {
		o.cfg.RateLimitIP = 10000
	}
	if o.widgetMessageRate == 0 {
		o.widgetMessageRate = 1000
	}
	if o.cfg.RateLimitKey == 0 {
		o.cfg.RateLimitKey = 10000
	}
	st := storetest.Open(t, d, true)
	if err := jobs.Migrate(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	au := auth.NewService(st, o.auth)
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	if o.cfg.BaseURL == "" {
		o.cfg.BaseURL = srv.URL
	}
	tn := tenants.NewService(st, au, o.cfg.BaseURL)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	hub := realtime.NewHub()
	if o.graphURL == "" {
		o.graphURL = "http://127.0.0.1:9" // nothing listens: a test that sends must set a fake
	}
	if o.telegramURL == "" {
		o.telegramURL = "http://127.0.0.1:9"
	}
	sv, err := app.New(st, app.Options{BaseURL: o.cfg.BaseURL, Keys: keys, Bus: hub, Hub: hub, LLM: o.llm, Embedder: o.embed,
		Fetch: fetch.Options{Allow: o.fetchAllow, Timeout: 5 * time.Second}, MaxUploadBytes: 2 << 20,
		GraphURL: o.graphURL, TelegramURL: o.telegramURL, ProviderHTTP: &http.Client{Timeout: 10 * time.Second},
		Work: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	chans, convs, assts, kb, msg, replier := sv.Channels, sv.Conversations, sv.Assistants, sv.Knowledge, sv.Messaging, sv.Replier
	start := func(q *jobs.Client) *jobs.Client {
		if err := q.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = q.Stop(ctx)
		})
		return q
	}
	queue := start(sv.Queue)
	newQueue := func() *jobs.Client {
		q, err := sv.NewQueue(true)
		if err != nil {
			t.Fatal(err)
		}
		return start(q)
	}
	limits := widget.Limits{Sessions: ratelimit.New(o.cfg.RateLimitIP, int(o.cfg.RateLimitIP)), Messages: ratelimit.New(o.widgetMessageRate, max(int(o.widgetMessageRate)+1, 2))}
	wh, err := widget.New(st, chans, convs, hub, keys, o.cfg.BaseURL, limits, log)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(o.cfg, log, httpapi.Deps{Store: st, Auth: au, Assistants: assts, Tenants: tn, Channels: chans, Conversations: convs, Widget: wh, Knowledge: kb, Messaging: msg})
	srv.Config.Handler = api
	t.Cleanup(srv.Close)
	t.Cleanup(wh.Shutdown)
	return &env{t: t, st: st, api: api, srv: srv, auth: au, tenants: tn, hub: hub, widget: wh, convs: convs, replier: replier, kb: kb, msg: msg, queue: queue, newQueue: newQueue}
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

// tenantFixture is a tenant with its initial admin key.
type tenantFixture struct {
	ID, Name, Key, KeyID string
}

func (e *env) newTenant(name string) tenantFixture {
	e.t.Helper()
	c, err := e.tenants.Create(context.Background(), nil, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return tenantFixture{ID: c.Tenant.ID, Name: c.Tenant.Name, Key: c.Secret, KeyID: c.Key.ID}
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map (failing the test otherwise).
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// client makes requests as one principal: an API key, or a cookie session.
type client struct {
	e    *env
	key  string
	http *http.Client
	csrf string
}

func (e *env) as(key string) *client {
	return &client{e: e, key: key, http: e.srv.Client()}
}

func (e *env) anonymous() *client { return e.as("") }

// login signs in and returns a cookie-session client.
func (e *env) login(email, password string) *client {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{e: e, http: &http.Client{Jar: jar}}
	r := c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password})
	if r.Status != 200 {
		e.t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	c.csrf = r.JSON(e.t)["csrf_token"].(string)
	return c
}

// do sends body (marshalled to JSON unless it is a string or []byte).
func (c *client) do(method, path string, body any) response {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// must fails the test unless the status is want, and returns the body.
func (r response) must(t *testing.T, want int) response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r
}

// problemFields returns the field names of a problem+json answer.
func (r response) problemFields(t *testing.T) []string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.Body)
	}
	var p struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}

// addUser creates a user with a password and, when tenantID is set, makes
// them a member with role. It returns the user id.
func (e *env) addUser(tenantID, email, password, role string, platformAdmin bool) string {
	e.t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(password)
	if err != nil {
		e.t.Fatal(err)
	}
	var id string
	err = e.st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		u, err := tx.CreateUser(ctx, email, "", hash, platformAdmin)
		if err != nil {
			return err
		}
		id = u.ID
		if tenantID == "" {
			return nil
		}
		if err := tx.EnterTenant(ctx, tenantID); err != nil {
			return err
		}
		return tx.AddMember(ctx, u.ID, role)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// visitorSays stores a message from a contact on a channel, as the widget
// would, and returns the contact and conversation ids.
func (e *env) visitorSays(tenantID, channelID, externalID, text string) (contactID, conversationID string) {
	e.t.Helper()
	ctx := context.Background()
	err := e.st.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		c, err := tx.UpsertContact(ctx, channelID, externalID, "")
		contactID = c.ID
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.convs.PostInbound(ctx, conversations.Inbound{TenantID: tenantID, ChannelID: channelID, ContactID: contactID, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	return contactID, res.Conversation.ID
}
