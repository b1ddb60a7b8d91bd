package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/store/storetest"
)

// These tests boot the whole program in-process through Run, the way main
// does, with the environment in a map and the standard streams in buffers.

// syncBuffer is a bytes.Buffer that the server's goroutines may write
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dialects are the databases the end-to-end tests run on.
var dialects = []string{"sqlite", "postgres"}

// instance is one installation: a data dir and, for postgres, a database
// schema of its own. Every command run on it sees the same environment.
type instance struct {
	dialect string
	dataDir string
	env     map[string]string
}

func newInstance(t *testing.T, dialect string) *instance {
	t.Helper()
	// A data dir that does not exist yet: serve must create it.
	dataDir := filepath.Join(t.TempDir(), "data")
	in := &instance{dialect: dialect, dataDir: dataDir, env: map[string]string{
		"METACHAT_ADDR":       "127.0.0.1:0",
		"METACHAT_DATA_DIR":   dataDir,
		"METACHAT_LOG_FORMAT": "json",
	}}
	if dialect == "postgres" {
		in.env["DATABASE_URL"] = storetest.PostgresSchemaURL(t)
	}
	return in
}

// forEachDialect runs fn as a parallel subtest per dialect, each with an
// installation of its own.
func forEachDialect(t *testing.T, fn func(t *testing.T, in *instance)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, newInstance(t, d))
		})
	}
}

// lookup returns a config.Lookup over a copy of env (so later changes to
// the map cannot race with a running server).
func lookup(env map[string]string) func(string) (string, bool) {
	env = maps.Clone(env)
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// runWith runs one command to completion with env and stdin.
func runWith(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	code := Run(ctx, args, lookup(env), IO{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr})
	return result{code, stdout.String(), stderr.String()}
}

// run runs one command against the installation.
func (in *instance) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runWith(t, in.env, stdin, args...)
}

// mustRun runs a command that has to succeed.
func (in *instance) mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := in.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("metachat %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// server is a running `metachat serve`.
type server struct {
	base           string // http://127.0.0.1:PORT
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int
	stopOnce       sync.Once
	code           int
}

var listeningRE = regexp.MustCompile(`listening on http://(\S+)`)

// start runs serve until the test ends (or stop is called) and returns once
// it answers HTTP requests.
func (in *instance) start(t *testing.T) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	env := lookup(in.env)
	go func() {
		s.done <- Run(ctx, []string{"serve"}, env, IO{Stdin: strings.NewReader(""), Stdout: s.stdout, Stderr: s.stderr})
	}()
	t.Cleanup(func() { s.stop(t) })

	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = "http://" + m[1]
			break
		}
		select {
		case code := <-s.done:
			s.done <- code // let stop see it too
			t.Fatalf("serve exited with %d before listening\nstdout: %s\nstderr: %s", code, s.stdout, s.stderr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no address within 15s\nstdout: %s\nstderr: %s", s.stdout, s.stderr)
		}
	}
	// The listener is bound before the setup link is printed, but requests
	// are served only afterwards: once /healthz answers, stdout is complete.
	c := newClient(t, false)
	if st, body := c.do(t, "GET", s.base+"/healthz", "", nil, nil); st != http.StatusOK {
		t.Fatalf("GET /healthz = %d %s", st, body)
	}
	return s
}

// stop cancels serve and checks that it shut down cleanly, logging JSON.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not return within 20s of cancel\nstderr: %s", s.stderr)
			return
		}
		if s.code != 0 {
			t.Errorf("serve exited with %d, want 0\nstdout: %s\nstderr: %s", s.code, s.stdout, s.stderr)
		}
		logs := s.stderr.String()
		if !strings.Contains(logs, `"msg":"shutting down"`) {
			t.Errorf("serve logged no shutdown:\n%s", logs)
		}
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			if line != "" && !json.Valid([]byte(line)) {
				t.Errorf("METACHAT_LOG_FORMAT=json but serve logged a line that is not JSON: %s", line)
			}
		}
	})
}

var setupLinkRE = regexp.MustCompile(`(\S+)/setup\?token=([A-Za-z0-9_-]+)`)

// setupToken returns the one-time token of the setup link serve printed,
// or "" when it printed none.
func (s *server) setupToken() string {
	if m := setupLinkRE.FindStringSubmatch(s.stdout.String()); m != nil {
		return m[2]
	}
	return ""
}

// client is an HTTP client with an optional cookie jar.
type client struct {
	hc *http.Client
}

func newClient(t *testing.T, withJar bool) *client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if withJar {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		hc.Jar = jar
	}
	return &client{hc: hc}
}

// do sends a request and returns the status and body. bearer, when set, is
// sent as the API key; body is sent with contentType.
func (c *client) do(t *testing.T, method, u, bearer string, header http.Header, body io.Reader) (int, []byte) {
	t.Helper()
	resp := c.send(t, method, u, bearer, header, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	return resp.StatusCode, b
}

func (c *client) send(t *testing.T, method, u, bearer string, header http.Header, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// getJSON GETs u with the API key and decodes a 200 answer into v.
func (c *client) getJSON(t *testing.T, u, bearer string, v any) {
	t.Helper()
	st, body := c.do(t, "GET", u, bearer, nil, nil)
	if st != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200: %s", u, st, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", u, body, err)
	}
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// createdTenant is what `tenant create --json` prints.
type createdTenant struct {
	Tenant struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"tenant"`
	APIKey string `json:"api_key"`
}

// createTenant runs `tenant create --name name --json` and checks that it
// prints exactly one JSON object of the documented shape.
func (in *instance) createTenant(t *testing.T, name string) createdTenant {
	t.Helper()
	r := in.mustRun(t, "", "tenant", "create", "--name", name, "--json")
	if strings.Count(r.stdout, "\n") != 1 || !strings.HasSuffix(r.stdout, "\n") {
		t.Errorf("tenant create --json printed more than one line:\n%s", r.stdout)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &shape); err != nil {
		t.Fatalf("tenant create --json printed %q: %v", r.stdout, err)
	}
	if got := slices.Sorted(maps.Keys(shape)); !slices.Equal(got, []string{"api_key", "tenant"}) {
		t.Errorf("tenant create --json keys = %v, want [api_key tenant]", got)
	}
	var tenantShape map[string]json.RawMessage
	if err := json.Unmarshal(shape["tenant"], &tenantShape); err != nil {
		t.Fatalf("tenant is not an object: %s", shape["tenant"])
	}
	if got := slices.Sorted(maps.Keys(tenantShape)); !slices.Equal(got, []string{"id", "name"}) {
		t.Errorf("tenant create --json tenant keys = %v, want [id name]", got)
	}
	var c createdTenant
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("tenant create --json printed %q: %v", r.stdout, err)
	}
	if c.Tenant.ID == "" || c.Tenant.Name != name || c.APIKey == "" {
		t.Fatalf("tenant create --json = %+v, want an id, name %q and a key", c, name)
	}
	return c
}

// login signs in through the API and returns the answer, with the session
// cookie kept in c's jar.
func (c *client) login(t *testing.T, base, email, password string) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp := c.send(t, "POST", base+"/api/v1/auth/login", "", jsonHeader, bytes.NewReader(b))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s = %d, want 200: %s", email, resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("login answer %s: %v", body, err)
	}
	return resp, out
}

func TestServeOnAFreshDataDirCreatesKeyMigratesAndPrintsSetupLink(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, in *instance) {
		srv := in.start(t)
		c := newClient(t, false)

		if in.dialect == "sqlite" {
			fi, err := os.Stat(in.dataDir)
			if err != nil || !fi.IsDir() {
				t.Fatalf("data dir %s not created: %v", in.dataDir, err)
			}
			if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("data dir mode = %v, want no group or other access", perm)
			}
			ki, err := os.Stat(filepath.Join(in.dataDir, "secret.key"))
			if err != nil {
				t.Fatalf("secret.key not created: %v", err)
			}
			if perm := ki.Mode().Perm(); perm != 0o600 {
				t.Errorf("secret.key mode = %v, want 0600", perm)
			}
			if _, err := os.Stat(filepath.Join(in.dataDir, "metachat.db")); err != nil {
				t.Errorf("metachat.db not created: %v", err)
			}
			if !strings.Contains(srv.stdout.String(), "embedded SQLite") {
				t.Errorf("serve does not say it uses embedded SQLite:\n%s", srv.stdout)
			}
		} else if !strings.Contains(srv.stdout.String(), "PostgreSQL") {
			t.Errorf("serve does not say it uses PostgreSQL:\n%s", srv.stdout)
		}

		token := srv.setupToken()
		if token == "" {
			t.Fatalf("serve printed no setup link on a fresh install:\n%s", srv.stdout)
		}

		if st, body := c.do(t, "GET", srv.base+"/healthz", "", nil, nil); st != http.StatusOK {
			t.Errorf("GET /healthz = %d %s", st, body)
		}
		var ready struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		c.getJSON(t, srv.base+"/readyz", "", &ready)
		if ready.Status != "ready" || ready.Checks["migrations"] != "ok" || ready.Checks["database"] != "ok" {
			t.Errorf("GET /readyz = %+v, want ready with migrations and database ok", ready)
		}

		// The setup page is HTML with the token in its form.
		resp := c.send(t, "GET", srv.base+"/setup?token="+url.QueryEscape(token), "", nil, nil)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET setup link = %d: %s", resp.StatusCode, page)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("setup page Content-Type = %q, want text/html", ct)
		}
		if !strings.Contains(string(page), `<form method="post" action="/setup">`) || !strings.Contains(string(page), `value="`+token+`"`) {
			t.Errorf("setup page has no form carrying the token:\n%s", page)
		}
		if st, page := c.do(t, "GET", srv.base+"/setup?token=wrong", "", nil, nil); st != http.StatusOK || !strings.Contains(string(page), "no longer valid") {
			t.Errorf("GET /setup with a wrong token = %d, want the invalid-link page:\n%s", st, page)
		}

		// Submitting the form creates the admin.
		form := url.Values{"token": {token}, "email": {"owner@example.com"}, "password": {"a long enough password"}}
		formHeader := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		st, done := c.do(t, "POST", srv.base+"/setup", "", formHeader, strings.NewReader(form.Encode()))
		if st != http.StatusOK || !strings.Contains(string(done), "is ready") {
			t.Fatalf("POST /setup = %d, want 200 and the admin ready:\n%s", st, done)
		}
		// The link works once.
		st, again := c.do(t, "POST", srv.base+"/setup", "", formHeader, strings.NewReader(form.Encode()))
		if st != http.StatusOK || !strings.Contains(string(again), "no longer valid") {
			t.Errorf("second POST /setup = %d, want the invalid-link page:\n%s", st, again)
		}
		newClient(t, true).login(t, srv.base, "owner@example.com", "a long enough password")
		srv.stop(t)

		// With an admin in place a restart prints no setup link.
		srv2 := in.start(t)
		if strings.Contains(srv2.stdout.String(), "/setup?token=") {
			t.Errorf("second start printed a setup link although an admin exists:\n%s", srv2.stdout)
		}
		srv2.stop(t)
	})
}

func TestTenantCreatePrintsJSONWhoseKeyWorks(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, in *instance) {
		srv := in.start(t)
		c := newClient(t, false)

		acme := in.createTenant(t, "Acme")
		var tn struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Status string `json:"status"`
		}
		c.getJSON(t, srv.base+"/api/v1/tenant", acme.APIKey, &tn)
		if tn.ID != acme.Tenant.ID || tn.Name != "Acme" || tn.Status != "active" {
			t.Errorf("GET /api/v1/tenant with Acme's key = %+v, want Acme (%s), active", tn, acme.Tenant.ID)
		}

		var keys struct {
			Items []struct {
				ID     string   `json:"id"`
				Scopes []string `json:"scopes"`
			} `json:"items"`
		}
		c.getJSON(t, srv.base+"/api/v1/api-keys", acme.APIKey, &keys)
		if len(keys.Items) != 1 {
			t.Fatalf("Acme has %d keys, want its initial one: %+v", len(keys.Items), keys)
		}
		acmeKeyID := keys.Items[0].ID
		if !slices.Equal(slices.Sorted(slices.Values(keys.Items[0].Scopes)), []string{"admin", "read", "write"}) {
			t.Errorf("initial key scopes = %v, want admin read write", keys.Items[0].Scopes)
		}
		if st, body := c.do(t, "GET", srv.base+"/api/v1/api-keys/"+acmeKeyID, acme.APIKey, nil, nil); st != http.StatusOK {
			t.Errorf("Acme reading its own key = %d, want 200: %s", st, body)
		}

		globex := in.createTenant(t, "Globex")
		if globex.Tenant.ID == acme.Tenant.ID || globex.APIKey == acme.APIKey {
			t.Fatalf("two tenants share an id or key: %+v %+v", acme, globex)
		}
		c.getJSON(t, srv.base+"/api/v1/tenant", globex.APIKey, &tn)
		if tn.ID != globex.Tenant.ID || tn.Name != "Globex" {
			t.Errorf("GET /api/v1/tenant with Globex's key = %+v, want Globex", tn)
		}
		st, body := c.do(t, "GET", srv.base+"/api/v1/api-keys/"+acmeKeyID, globex.APIKey, nil, nil)
		if st != http.StatusNotFound {
			t.Errorf("Globex reading Acme's key = %d, want 404: %s", st, body)
		}
		if strings.Contains(string(body), acmeKeyID) && strings.Contains(string(body), "initial key") {
			t.Errorf("the 404 leaks Acme's key: %s", body)
		}

		// A key that is not one, and no key at all, are refused.
		if st, _ := c.do(t, "GET", srv.base+"/api/v1/tenant", acme.APIKey+"x", nil, nil); st != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/tenant with a wrong key = %d, want 401", st)
		}
		if st, _ := c.do(t, "GET", srv.base+"/api/v1/tenant", "", nil, nil); st != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/tenant without a key = %d, want 401", st)
		}

		// The plain (non-JSON) output shows the key once, too.
		r := in.mustRun(t, "", "tenant", "create", "--name", "Initech")
		if !strings.Contains(r.stdout, `tenant "Initech" created`) || !strings.Contains(r.stdout, "API key (shown once): ") {
			t.Errorf("tenant create printed:\n%s", r.stdout)
		}
		// A tenant needs a name.
		r = in.run(t, "", "tenant", "create", "--name", "  ", "--json")
		if r.code != 1 || !strings.Contains(r.stderr, "name") || r.stdout != "" {
			t.Errorf("tenant create without a name: exit %d, stdout %q, stderr %q; want 1 naming name", r.code, r.stdout, r.stderr)
		}
	})
}

func TestDataSurvivesARestart(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, in *instance) {
		srv := in.start(t)
		acme := in.createTenant(t, "Acme")
		in.mustRun(t, "an admin password\n", "admin", "create", "--email", "ops@example.com")
		keyFile := filepath.Join(in.dataDir, "secret.key")
		key1, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		srv.stop(t)

		srv = in.start(t)
		if key2, err := os.ReadFile(keyFile); err != nil || !bytes.Equal(key1, key2) {
			t.Errorf("secret.key changed across a restart (err %v)", err)
		}
		if strings.Contains(srv.stdout.String(), "/setup?token=") {
			t.Errorf("restart printed a setup link although an admin exists:\n%s", srv.stdout)
		}
		c := newClient(t, true)
		var tn struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		c.getJSON(t, srv.base+"/api/v1/tenant", acme.APIKey, &tn)
		if tn.ID != acme.Tenant.ID || tn.Name != "Acme" {
			t.Errorf("after restart the key reads %+v, want Acme", tn)
		}

		c.login(t, srv.base, "ops@example.com", "an admin password")
		var list struct {
			Items []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"items"`
		}
		c.getJSON(t, srv.base+"/api/v1/admin/tenants", "", &list)
		if len(list.Items) != 1 || list.Items[0].ID != acme.Tenant.ID || list.Items[0].Name != "Acme" {
			t.Errorf("after restart the admin lists %+v, want only Acme (%s)", list.Items, acme.Tenant.ID)
		}
	})
}

func TestBadConfigurationStopsWithOneLineNamingTheVariable(t *testing.T) {
	t.Parallel()
	// An address another process holds: valid configuration, but serve
	// cannot listen there.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })

	secretFile := filepath.Join(t.TempDir(), "missing-key-file")
	cases := []struct {
		name    string
		cmd     []string
		env     map[string]string
		wantVar string
		// sideEffects: the failure comes after the data dir is prepared.
		sideEffects bool
	}{
		{name: "addr", env: map[string]string{"METACHAT_ADDR": "nonsense"}, wantVar: "METACHAT_ADDR"},
		{name: "database url", env: map[string]string{"DATABASE_URL": "mysql://x"}, wantVar: "DATABASE_URL"},
		{name: "llm provider", env: map[string]string{"METACHAT_LLM_PROVIDER": "bogus"}, wantVar: "METACHAT_LLM_PROVIDER"},
		{name: "llm model", env: map[string]string{"METACHAT_LLM_PROVIDER": "openai"}, wantVar: "METACHAT_LLM_MODEL"},
		{name: "base url", env: map[string]string{"METACHAT_BASE_URL": "ftp://chat.example.com"}, wantVar: "METACHAT_BASE_URL"},
		{name: "log format", env: map[string]string{"METACHAT_LOG_FORMAT": "xml"}, wantVar: "METACHAT_LOG_FORMAT"},
		{name: "log level", env: map[string]string{"METACHAT_LOG_LEVEL": "loud"}, wantVar: "METACHAT_LOG_LEVEL"},
		{name: "secret key", env: map[string]string{"METACHAT_SECRET_KEY": "too-short"}, wantVar: "METACHAT_SECRET_KEY"},
		{name: "secret key file", env: map[string]string{"METACHAT_SECRET_KEY_FILE": secretFile}, wantVar: "METACHAT_SECRET_KEY_FILE"},
		{name: "session idle", env: map[string]string{"METACHAT_SESSION_IDLE": "forever"}, wantVar: "METACHAT_SESSION_IDLE"},
		{name: "max body", env: map[string]string{"METACHAT_MAX_BODY_BYTES": "12"}, wantVar: "METACHAT_MAX_BODY_BYTES"},
		{name: "trusted proxies", env: map[string]string{"METACHAT_TRUSTED_PROXIES": "10.0.0.0/8, not-a-cidr"}, wantVar: "METACHAT_TRUSTED_PROXIES"},
		{name: "addr in use", env: map[string]string{"METACHAT_ADDR": busy.Addr().String()}, wantVar: "METACHAT_ADDR", sideEffects: true},
		{name: "flag overrides env", cmd: []string{"serve", "--database-url", "mysql://x"}, wantVar: "DATABASE_URL"},
		{name: "migrate", cmd: []string{"migrate", "status"}, env: map[string]string{"DATABASE_URL": "mysql://x"}, wantVar: "DATABASE_URL"},
		{name: "tenant create", cmd: []string{"tenant", "create", "--name", "Acme"}, env: map[string]string{"METACHAT_LOG_LEVEL": "loud"}, wantVar: "METACHAT_LOG_LEVEL"},
		{name: "worker", cmd: []string{"worker"}, env: map[string]string{"METACHAT_ADDR": "nonsense"}, wantVar: "METACHAT_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			env := map[string]string{"METACHAT_ADDR": "127.0.0.1:0", "METACHAT_DATA_DIR": dataDir, "METACHAT_LOG_FORMAT": "json"}
			for k, v := range tc.env {
				env[k] = v
			}
			cmd := tc.cmd
			if cmd == nil {
				cmd = []string{"serve"}
			}
			r := runWith(t, env, "", cmd...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.HasSuffix(r.stderr, "\n") {
				t.Fatalf("stderr does not end in a newline: %q", r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			msg := lines[len(lines)-1]
			if len(lines) != 1 {
				if !tc.sideEffects {
					t.Errorf("stderr is not one line:\n%s", r.stderr)
				}
				// Work done before the failure may have been logged, as JSON.
				for _, l := range lines[:len(lines)-1] {
					if !json.Valid([]byte(l)) {
						t.Errorf("stderr has a line that is neither a JSON log nor the error: %s", l)
					}
				}
			}
			if !strings.Contains(msg, tc.wantVar) {
				t.Errorf("error line %q does not name %s", msg, tc.wantVar)
			}
			if !strings.HasPrefix(msg, "metachat "+cmd[0]+": ") {
				t.Errorf("error line %q does not start with the command", msg)
			}
			if !tc.sideEffects {
				if r.stdout != "" {
					t.Errorf("stdout = %q, want nothing", r.stdout)
				}
				if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
					t.Errorf("bad configuration still created the data dir (stat: %v)", err)
				}
			}
		})
	}
}

func TestAdminCreateReadsPasswordFromStdin(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, in *instance) {
		r := in.mustRun(t, "correct horse battery\n", "admin", "create", "--email", "a@example.com")
		if !strings.Contains(r.stdout, "platform admin a@example.com created") {
			t.Errorf("admin create printed %q", r.stdout)
		}

		// Rejected attempts: each exits with one line naming what is wrong.
		for _, bad := range []struct {
			name, stdin string
			args        []string
			code        int
			want        string
		}{
			{"short password", "short\n", []string{"--email", "b@example.com"}, 1, "password"},
			{"empty password", "", []string{"--email", "b@example.com"}, 2, "password"},
			{"no email", "correct horse battery\n", nil, 2, "--email"},
			{"bad email", "correct horse battery\n", []string{"--email", "not-an-email"}, 1, "email"},
			{"same email", "another good password\n", []string{"--email", "A@example.com"}, 1, "email"},
		} {
			r := in.run(t, bad.stdin, append([]string{"admin", "create"}, bad.args...)...)
			if r.code != bad.code || !strings.Contains(r.stderr, bad.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%s: exit %d, stderr %q; want exit %d and one line naming %s", bad.name, r.code, r.stderr, bad.code, bad.want)
			}
		}

		srv := in.start(t)
		if srv.setupToken() != "" {
			t.Errorf("serve printed a setup link although admin create made an admin:\n%s", srv.stdout)
		}
		c := newClient(t, true)

		// A wrong password is refused without a cookie.
		b, _ := json.Marshal(map[string]string{"email": "a@example.com", "password": "wrong horse battery"})
		resp := c.send(t, "POST", srv.base+"/api/v1/auth/login", "", jsonHeader, bytes.NewReader(b))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("login with a wrong password = %d with cookies %v, want 401 and none", resp.StatusCode, resp.Cookies())
		}

		// The password read from stdin signs in (the email in any case).
		resp, answer := c.login(t, srv.base, "A@Example.com", "correct horse battery")
		var session *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "metachat_session" {
				session = ck
			}
		}
		if session == nil {
			t.Fatalf("login set no metachat_session cookie: %v", resp.Cookies())
		}
		if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Value == "" {
			t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", session)
		}
		if session.Secure {
			t.Errorf("session cookie is Secure on a plain-http base URL, so browsers would drop it")
		}
		csrf, _ := answer["csrf_token"].(string)
		if csrf == "" {
			t.Fatalf("login answer has no csrf_token: %v", answer)
		}
		if user, _ := answer["user"].(map[string]any); user["email"] != "a@example.com" || user["platform_admin"] != true {
			t.Errorf("login answer user = %v, want the platform admin a@example.com", answer["user"])
		}

		var me struct {
			Kind          string `json:"kind"`
			Email         string `json:"email"`
			PlatformAdmin bool   `json:"platform_admin"`
		}
		c.getJSON(t, srv.base+"/api/v1/auth/me", "", &me)
		if me.Kind != "session" || me.Email != "a@example.com" || !me.PlatformAdmin {
			t.Errorf("GET /api/v1/auth/me = %+v", me)
		}

		// Writes with the cookie need the CSRF token.
		if st, body := c.do(t, "POST", srv.base+"/api/v1/auth/logout", "", nil, nil); st != http.StatusForbidden {
			t.Errorf("logout without the CSRF token = %d, want 403: %s", st, body)
		}
		if st, body := c.do(t, "POST", srv.base+"/api/v1/auth/logout", "", http.Header{"X-Csrf-Token": {csrf}}, nil); st != http.StatusNoContent {
			t.Errorf("logout with the CSRF token = %d, want 204: %s", st, body)
		}
		if st, _ := c.do(t, "GET", srv.base+"/api/v1/auth/me", "", nil, nil); st != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/auth/me after logout = %d, want 401", st)
		}
	})
}

var statusLineRE = regexp.MustCompile(`^(\d{4})_(\S+)\s+(applied \S+|pending)$`)

type migrationState struct {
	version string // 0001_accounts
	applied bool
}

// migrateStatus parses `migrate status`.
func (in *instance) migrateStatus(t *testing.T) []migrationState {
	t.Helper()
	r := in.mustRun(t, "", "migrate", "status")
	var out []migrationState
	for _, line := range strings.Split(strings.TrimRight(r.stdout, "\n"), "\n") {
		m := statusLineRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("migrate status line %q is not NNNN_name applied TIME|pending", line)
		}
		if m[3] != "pending" {
			if _, err := time.Parse(time.RFC3339, strings.TrimPrefix(m[3], "applied ")); err != nil {
				t.Errorf("migrate status line %q: applied time: %v", line, err)
			}
		}
		out = append(out, migrationState{m[1] + "_" + m[2], m[3] != "pending"})
	}
	for i, m := range out {
		if want := fmt.Sprintf("%04d_", i+1); !strings.HasPrefix(m.version, want) {
			t.Fatalf("migrate status lists %s at position %d", m.version, i+1)
		}
	}
	if len(out) < 2 {
		t.Fatalf("migrate status lists %d migrations, want at least 2:\n%s", len(out), r.stdout)
	}
	return out
}

func appliedStates(ms []migrationState) []bool {
	out := make([]bool, len(ms))
	for i, m := range ms {
		out[i] = m.applied
	}
	return out
}

func TestMigrateStatusDownUp(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, in *instance) {
		all := in.migrateStatus(t)
		n := len(all)
		if got := appliedStates(all); slices.Contains(got, true) {
			t.Fatalf("fresh database: applied = %v, want all pending", got)
		}

		r := in.mustRun(t, "", "migrate", "up")
		var want string
		for _, m := range all {
			want += "applied " + m.version + "\n"
		}
		if r.stdout != want {
			t.Errorf("migrate up printed:\n%s\nwant:\n%s", r.stdout, want)
		}
		if got := appliedStates(in.migrateStatus(t)); slices.Contains(got, false) {
			t.Fatalf("after up: applied = %v, want all", got)
		}
		if r := in.mustRun(t, "", "migrate", "up"); r.stdout != "schema is up to date\n" {
			t.Errorf("second migrate up printed %q", r.stdout)
		}

		// A running server reports a reverted migration as not ready.
		srv := in.start(t)
		c := newClient(t, false)
		last := all[n-1].version
		if r := in.mustRun(t, "", "migrate", "down", "1"); r.stdout != "reverted "+last+"\n" {
			t.Errorf("migrate down 1 printed %q, want reverted %s", r.stdout, last)
		}
		got := appliedStates(in.migrateStatus(t))
		wantStates := slices.Repeat([]bool{true}, n)
		wantStates[n-1] = false
		if !slices.Equal(got, wantStates) {
			t.Errorf("after down 1: applied = %v, want %v", got, wantStates)
		}
		st, body := c.do(t, "GET", srv.base+"/readyz", "", nil, nil)
		if st != http.StatusServiceUnavailable || !strings.Contains(string(body), `"migrations":"pending"`) {
			t.Errorf("GET /readyz with a pending migration = %d %s, want 503 migrations pending", st, body)
		}

		if r := in.mustRun(t, "", "migrate", "up"); r.stdout != "applied "+last+"\n" {
			t.Errorf("migrate up printed %q, want applied %s", r.stdout, last)
		}
		if got := appliedStates(in.migrateStatus(t)); slices.Contains(got, false) {
			t.Errorf("after up: applied = %v, want all", got)
		}
		if st, body := c.do(t, "GET", srv.base+"/readyz", "", nil, nil); st != http.StatusOK {
			t.Errorf("GET /readyz after migrate up = %d %s, want 200", st, body)
		}
		srv.stop(t)

		// Down more steps than there are reverts them all, newest first.
		r = in.mustRun(t, "", "migrate", "down", "99")
		want = ""
		for i := n - 1; i >= 0; i-- {
			want += "reverted " + all[i].version + "\n"
		}
		if r.stdout != want {
			t.Errorf("migrate down 99 printed:\n%s\nwant:\n%s", r.stdout, want)
		}
		if got := appliedStates(in.migrateStatus(t)); slices.Contains(got, true) {
			t.Errorf("after down 99: applied = %v, want none", got)
		}

		for _, args := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"migrate", "down", "0"}, {"migrate", "down", "x"}} {
			if r := in.run(t, "", args...); r.code != 2 {
				t.Errorf("metachat %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), r.code, r.stderr)
			}
		}
	})
}

func TestVersionAndUnknownCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	for _, arg := range []string{"version", "--version", "-v"} {
		r := runWith(t, env, "", arg)
		if r.code != 0 || r.stdout != "metachat "+Version+"\n" || r.stderr != "" {
			t.Errorf("metachat %s: exit %d, stdout %q, stderr %q; want 0 and \"metachat %s\"", arg, r.code, r.stdout, r.stderr, Version)
		}
	}

	r := runWith(t, env, "", "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) || !strings.Contains(r.stderr, "Usage:") || r.stdout != "" {
		t.Errorf("unknown command: exit %d, stdout %q, stderr %q; want 2 with usage on stderr", r.code, r.stdout, r.stderr)
	}
	r = runWith(t, env, "")
	if r.code != 2 || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("no command: exit %d, stderr %q; want 2 with usage", r.code, r.stderr)
	}
	r = runWith(t, env, "", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
		t.Errorf("help: exit %d, stdout %q; want 0 with usage", r.code, r.stdout)
	}

	// Misused subcommands are usage errors (2), before touching anything.
	for _, args := range [][]string{
		{"serve", "--no-such-flag"},
		{"tenant"},
		{"tenant", "delete"},
		{"admin"},
		{"admin", "create", "--email"},
	} {
		r := runWith(t, env, "", args...)
		if r.code != 2 {
			t.Errorf("metachat %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
