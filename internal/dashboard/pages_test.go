package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/store"
)

func TestLogin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "ana@acme.test", "agent", false)

		b := e.browser()
		p := b.get("/login?next="+url.QueryEscape("/app/account")).must(t, 200)
		token := hiddenCSRF.FindStringSubmatch(p.Body)[1]
		p.contains(t, `name="next" value="/app/account"`, `autocomplete="current-password"`, `<label for="email">`)

		// Wrong password: the message is next to the password field, the
		// email is kept, the password is not echoed.
		p = b.postRaw("/login", url.Values{"csrf": {token}, "email": {"ana@acme.test"}, "password": {"nope nope nope"}, "next": {"/app/account"}}).must(t, http.StatusUnauthorized)
		p.contains(t, `id="password-error">Wrong email or password.`, `value="ana@acme.test"`, `aria-invalid="true"`)
		if strings.Contains(p.Body, "nope nope nope") {
			t.Error("the login page echoes the password")
		}
		// Missing fields.
		p = b.postRaw("/login", url.Values{"csrf": {token}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="email-error"`, `id="password-error"`)

		// Success goes to next (a local dashboard path only).
		p = b.postRaw("/login", url.Values{"csrf": {token}, "email": {"ana@acme.test"}, "password": {testPassword}, "next": {"/app/account"}}).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/app/account" {
			t.Errorf("after sign-in Location = %q, want /app/account", loc)
		}
		if got := b.get("/login").must(t, http.StatusSeeOther).Header.Get("Location"); got != "/app/" {
			t.Errorf("GET /login when signed in goes to %q, want /app/", got)
		}
		for _, next := range []string{"//evil.test/app/", "https://evil.test/app/", "/\\evil.test", "/api/v1/tenant", "/app/../login", "javascript:alert(1)"} {
			b2 := e.browser()
			tok := hiddenCSRF.FindStringSubmatch(b2.get("/login").Body)[1]
			p = b2.postRaw("/login", url.Values{"csrf": {tok}, "email": {"ana@acme.test"}, "password": {testPassword}, "next": {next}})
			if loc := p.Header.Get("Location"); loc != "/app/" {
				t.Errorf("next=%q redirects to %q, want /app/", next, loc)
			}
		}

		// Throttling is explained politely.
		b3 := e.browser()
		tok := hiddenCSRF.FindStringSubmatch(b3.get("/login").Body)[1]
		for range 5 {
			b3.postRaw("/login", url.Values{"csrf": {tok}, "email": {"ana@acme.test"}, "password": {"wrong password!"}})
		}
		p = b3.postRaw("/login", url.Values{"csrf": {tok}, "email": {"ana@acme.test"}, "password": {testPassword}}).must(t, http.StatusTooManyRequests)
		p.contains(t, "Too many failed sign-ins. Please wait")
		if p.Header.Get("Retry-After") == "" {
			t.Error("throttled sign-in without Retry-After")
		}

		// Sign-ins are audited by the auth service.
		if acts := auditActions(t, e, tn.ID); !strings.Contains(acts, "login.succeeded") || !strings.Contains(acts, "login.failed") {
			t.Errorf("audit log %s lacks the sign-ins", acts)
		}
	})
}

func TestLogout(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "ana@acme.test", "viewer", false)
		b := e.login("ana@acme.test")
		p := b.post("/logout", nil).must(t, http.StatusSeeOther)
		if p.Header.Get("Location") != "/login" {
			t.Errorf("logout goes to %q", p.Header.Get("Location"))
		}
		b.get("/login").must(t, 200).contains(t, "You are signed out.")
		b.get("/app/").must(t, http.StatusSeeOther)
	})
}

// TestKeysPage walks the reference page: validation next to fields, the
// key shown once and usable, revocation with a flash, audit entries.
func TestKeysPage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		b := e.login("owner@acme.test")

		b.get("/app/keys").must(t, 200).contains(t, `aria-current="page">API keys`, `name="scopes" value="admin"`)

		p := b.post("/app/keys", url.Values{"name": {"  "}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="name-error">Give the key a name`, `id="scopes-error">Choose at least one scope.`)
		p = b.post("/app/keys", url.Values{"name": {"ok"}, "scopes": {"root"}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="scopes-error">must be read, write or admin`, `value="ok"`)

		p = b.post("/app/keys", url.Values{"name": {"Website <backend>"}, "scopes": {"read", "write"}}).must(t, 200)
		m := regexp.MustCompile(`<code id="new-key">([^<]+)</code>`).FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatalf("the new key is not shown:\n%s", p.Body)
		}
		key := m[1]
		p.contains(t, "Key “Website &lt;backend&gt;” created")
		if p.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("the page with the key has Cache-Control %q", p.Header.Get("Cache-Control"))
		}
		if strings.Contains(b.get("/app/keys").Body, key) {
			t.Error("the key is shown again")
		}
		// The key works on the API.
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/tenant", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if p := b.do(req); p.Status != 200 {
			t.Fatalf("the new key on GET /api/v1/tenant = %d %s", p.Status, p.Body)
		}

		var id string
		_ = e.st.Read(context.Background(), store.TenantScope(tn.ID), func(tx *store.Tx) error {
			keys, err := tx.ListAPIKeys(context.Background(), store.Page{Limit: 10})
			for _, k := range keys {
				if k.Name == "Website <backend>" {
					id = k.ID
				}
			}
			return err
		})
		p = b.post("/app/keys/"+id+"/revoke", nil).must(t, http.StatusSeeOther)
		p = b.get("/app/keys").must(t, 200)
		p.contains(t, "The API key was revoked.", "Revoked")
		if strings.Contains(b.get("/app/keys").Body, "was revoked") {
			t.Error("the flash message shows twice")
		}
		if p := b.do(req); p.Status != http.StatusUnauthorized {
			t.Errorf("a revoked key on the API = %d, want 401", p.Status)
		}
		b.post("/app/keys/not-an-id/revoke", nil).must(t, http.StatusNotFound)

		if acts := auditActions(t, e, tn.ID); !strings.Contains(acts, "api_key.created") || !strings.Contains(acts, "api_key.revoked") {
			t.Errorf("audit log %s lacks the key events", acts)
		}

		// The dashboard's session also calls the JSON API, with the CSRF
		// header its pages carry in <meta name="csrf-token">.
		req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/api-keys", strings.NewReader(`{"name":"from js","scopes":["read"]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", b.csrf)
		b.do(req).must(t, http.StatusCreated)
	})
}

func TestAccountPassword(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "ana@acme.test", "viewer", false)
		b := e.login("ana@acme.test")
		b.get("/app/account").must(t, 200).contains(t, "ana@acme.test", "Viewer")
		next := "a brand new password"
		b.post("/app/account/password", url.Values{"current_password": {testPassword}, "new_password": {next}, "confirm_password": {"typo"}}).
			must(t, http.StatusUnprocessableEntity).contains(t, `id="confirm_password-error">The two new passwords differ.`)
		b.post("/app/account/password", url.Values{"current_password": {"wrong password"}, "new_password": {next}, "confirm_password": {next}}).
			must(t, http.StatusUnprocessableEntity).contains(t, `id="current_password-error">This is not your current password.`)
		b.post("/app/account/password", url.Values{"current_password": {testPassword}, "new_password": {"short"}, "confirm_password": {"short"}}).
			must(t, http.StatusUnprocessableEntity).contains(t, `id="new_password-error">must be at least`)
		b.post("/app/account/password", url.Values{"current_password": {testPassword}, "new_password": {next}, "confirm_password": {next}}).must(t, http.StatusSeeOther)
		b.get("/app/account").must(t, 200).contains(t, "Your password was changed.")
		if acts := auditActions(t, e, tn.ID); !strings.Contains(acts, "password.changed") {
			t.Errorf("audit log %s lacks password.changed", acts)
		}
	})
}

// TestTenantSwitcher: a user in two tenants switches between them.
func TestTenantSwitcher(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		a, bt := e.newTenant("Alpha"), e.newTenant("Beta")
		e.addUser(a.ID, "ana@x.test", "owner", false)
		ctx := context.Background()
		err := e.st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			u, err := tx.UserByEmail(ctx, "ana@x.test")
			if err != nil {
				return err
			}
			if err := tx.EnterTenant(ctx, bt.ID); err != nil {
				return err
			}
			return tx.AddMember(ctx, u.ID, "viewer")
		})
		if err != nil {
			t.Fatal(err)
		}
		b := e.login("ana@x.test")
		p := b.get("/app/").must(t, 200)
		p.contains(t, `action="/app/tenant"`, ">Alpha</option>", ">Beta</option>")
		other := a.ID
		if strings.Contains(p.Body, `<span class="tenant-name">Alpha</span>`) {
			other = bt.ID
		}
		b.post("/app/tenant", url.Values{"tenant_id": {other}}).must(t, http.StatusSeeOther)
		p = b.get("/app/").must(t, 200)
		p.contains(t, "Workspace switched.")

		// A platform admin in no tenant is asked to pick one.
		e.addUser("", "root@x.test", "", true)
		e.login("root@x.test").get("/app/").must(t, 200).contains(t, "No workspace selected", ">Alpha</option>")
		e.login("root@x.test").get("/app/keys").must(t, http.StatusForbidden).contains(t, "Choose a workspace first")
	})
}

// TestLanguages: Accept-Language, the lang cookie and the picker.
func TestLanguages(t *testing.T) {
	e := newEnv(t, store.SQLite)
	b := e.browser()
	req, _ := http.NewRequest("GET", e.srv.URL+"/login", nil)
	req.Header.Set("Accept-Language", "fr;q=1, de-AT;q=0.8, hr;q=0.5")
	p := b.do(req).must(t, 200)
	p.contains(t, `<html lang="de">`, "Anmelden", "Passwort")
	p = b.get("/app/lang?lang=hr&next="+url.QueryEscape("/login")).must(t, http.StatusSeeOther)
	if p.Header.Get("Location") != "/login" {
		t.Errorf("language picker goes to %q", p.Header.Get("Location"))
	}
	b.get("/login").must(t, 200).contains(t, `<html lang="hr">`, "Prijava", "Lozinka")
	if loc := b.get("/app/lang?lang=de&next=https://evil.test/").Header.Get("Location"); loc != "/app/" {
		t.Errorf("the language picker redirects to %q", loc)
	}
}

// TestHeadersAndAssets: every page carries the strict CSP and no inline
// script, style or event handler; assets are hashed and immutable.
func TestHeadersAndAssets(t *testing.T) {
	e := newEnv(t, store.SQLite)
	tn := e.newTenant("Acme")
	e.addUser(tn.ID, "owner@acme.test", "owner", false)
	b := e.login("owner@acme.test")
	const want = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	var assets []string
	for _, path := range []string{"/app/", "/app/keys", "/app/account", "/app/inbox", "/app/nope"} {
		p := b.get(path)
		if got := p.Header.Get("Content-Security-Policy"); got != want {
			t.Errorf("%s: CSP %q", path, got)
		}
		if p.Header.Get("X-Content-Type-Options") != "nosniff" || p.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, p.Header)
		}
		if m := inline.FindString(p.Body); m != "" {
			t.Errorf("%s has inline code %q", path, m)
		}
		assets = regexp.MustCompile(`/app/assets/[^"]+`).FindAllString(p.Body, -1)
	}
	if len(assets) < 3 {
		t.Fatalf("pages link %v, want app.css, app.js and the icon", assets)
	}
	anon := e.browser()
	for _, a := range assets {
		p := anon.get(a).must(t, 200)
		if !strings.Contains(p.Header.Get("Cache-Control"), "immutable") || p.Header.Get("Content-Type") == "" {
			t.Errorf("%s: %v", a, p.Header)
		}
	}
	anon.get("/app/assets/app.0000.css").must(t, http.StatusNotFound)
	b.get("/app/nope").must(t, http.StatusNotFound).contains(t, "There is nothing here")
}

func auditActions(t *testing.T, e *env, tenantID string) string {
	t.Helper()
	var acts []string
	err := e.st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
		entries, err := tx.ListAudit(context.Background(), store.Page{Limit: 200})
		for _, a := range entries {
			acts = append(acts, a.Action)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(acts, " ")
}
