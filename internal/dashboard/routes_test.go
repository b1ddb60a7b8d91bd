package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/dashboard"
	"github.com/metachat/metachat/internal/store"
)

// samplePath turns a route pattern into a request path: {id} becomes a
// well-formed id that exists nowhere, {$} is dropped, the catch-all
// /app/ becomes an unknown page.
func samplePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	switch {
	case path == "/app/":
		path = "/app/no-such-page"
	case strings.HasSuffix(path, "{$}"):
		path = strings.TrimSuffix(path, "{$}")
	}
	path = strings.ReplaceAll(path, "{id}", store.NewID())
	return method, path
}

// TestRoutesNeedSession: every non-public route sends an anonymous GET to
// the sign-in page (with a local next) and refuses an anonymous POST.
func TestRoutesNeedSession(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		b := e.browser()
		for _, rt := range e.dash.Routes() {
			if rt.Access == dashboard.Public {
				continue
			}
			method, path := samplePath(rt.Pattern)
			var p page
			if method == "GET" {
				p = b.get(path)
				want := "/login?next=" + url.QueryEscape(path)
				if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
					t.Errorf("anonymous GET %s = %d Location %q, want 303 to %s", path, p.Status, p.Header.Get("Location"), want)
				}
			} else {
				p = b.postRaw(path, url.Values{"csrf": {"x"}})
				if p.Status != http.StatusForbidden {
					t.Errorf("anonymous %s %s = %d, want 403", method, path, p.Status)
				}
			}
			if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("%s %s: CSP %q", method, path, csp)
			}
		}
		// A garbage session cookie is no session.
		req, _ := http.NewRequest("GET", e.srv.URL+"/app/keys", nil)
		req.AddCookie(&http.Cookie{Name: "metachat_session", Value: strings.Repeat("a", 43)})
		if p := b.do(req); p.Status != http.StatusSeeOther {
			t.Errorf("GET /app/keys with a made-up session = %d, want 303", p.Status)
		}
	})
}

// TestPostsNeedCSRF: every POST route refuses a signed-in request without
// the session's CSRF token, or with a wrong one, and does nothing.
func TestPostsNeedCSRF(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		b := e.login("owner@acme.test")
		for _, rt := range e.dash.Routes() {
			method, path := samplePath(rt.Pattern)
			if method != "POST" || rt.Pattern == "POST /login" {
				continue
			}
			for _, token := range []string{"", "wrong-" + b.csrf[6:], b.csrf + "x"} {
				form := url.Values{"csrf": {token}, "name": {"k"}, "scopes": {"read"}, "tenant_id": {tn.ID},
					"current_password": {testPassword}, "new_password": {"another long password"}, "confirm_password": {"another long password"}}
				if p := b.postRaw(path, form); p.Status != http.StatusForbidden {
					t.Errorf("%s with csrf %q = %d, want 403", rt.Pattern, token, p.Status)
				}
			}
		}
		// Nothing happened: still signed in, with the old password, and no key was made.
		b.get("/app/keys").must(t, 200)
		var keys []store.APIKey
		err := e.st.Read(context.Background(), store.TenantScope(tn.ID), func(tx *store.Tx) error {
			var err error
			keys, err = tx.ListAPIKeys(context.Background(), store.Page{Limit: 10})
			return err
		})
		if err != nil || len(keys) != 1 {
			t.Errorf("keys after forged posts: %d (%v), want only the tenant's first", len(keys), err)
		}
		e.login("owner@acme.test")

		// POST /login has its own double-submit token.
		anon := e.browser()
		anon.get("/login")
		p := anon.postRaw("/login", url.Values{"csrf": {"forged"}, "email": {"owner@acme.test"}, "password": {testPassword}})
		if p.Status != http.StatusForbidden || strings.Contains(strings.Join(p.Header.Values("Set-Cookie"), "\n"), "metachat_session=") {
			t.Errorf("POST /login with a forged token = %d (Set-Cookie %q), want 403 and no session", p.Status, p.Header.Values("Set-Cookie"))
		}
	})
}

// TestRolesEnforced: each role reaches exactly the routes its level
// allows; a refused page is a 403 page, a refused action changes nothing.
func TestRolesEnforced(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		levels := map[string]dashboard.Access{"viewer": dashboard.Viewer, "agent": dashboard.Agent, "admin": dashboard.Admin, "owner": dashboard.Admin}
		for role, level := range levels {
			e.addUser(tn.ID, role+"@acme.test", role, false)
			b := e.login(role + "@acme.test")
			for _, rt := range e.dash.Routes() {
				if rt.Access <= dashboard.SignedIn || strings.Contains(rt.Pattern, "{id}") {
					continue
				}
				method, path := samplePath(rt.Pattern)
				var p page
				if method == "GET" {
					p = b.get(path)
				} else {
					p = b.post(path, url.Values{"name": {"by " + role}, "scopes": {"read"}})
				}
				allowed := rt.Access <= level
				if allowed && p.Status == http.StatusForbidden || !allowed && p.Status != http.StatusForbidden {
					t.Errorf("%s: %s = %d (route needs %d, role has %d)", role, rt.Pattern, p.Status, rt.Access, level)
				}
			}
			nav := b.get("/app/")
			if hasKeys := strings.Contains(nav.Body, `href="/app/keys"`); hasKeys != (level >= dashboard.Admin) {
				t.Errorf("%s: the navigation links API keys: %v", role, hasKeys)
			}
		}
		viewer := e.login("viewer@acme.test")
		p := viewer.post("/app/keys", url.Values{"name": {"sneaky"}, "scopes": {"read"}}).must(t, http.StatusForbidden)
		p.contains(t, "Your role does not allow this")
	})
}

// idRoutes gives, for every route with an {id}, the path of tenant B's
// object and a check that it is unchanged. TestCrossTenant fails when a
// route with an {id} has no row here.
var idRoutes = map[string]func(t *testing.T, e *env, b tenantFixture) (path string, unchanged func() bool){
	// Channels and team: the fixtures are in pages_channels_test.go.
	"GET /app/channels/{id}":                 crossChannel(""),
	"POST /app/channels/{id}":                crossChannel(""),
	"POST /app/channels/{id}/delete":         crossChannel("/delete"),
	"POST /app/team/{id}/role":               crossMember("/role"),
	"POST /app/team/{id}/remove":             crossMember("/remove"),
	"POST /app/team/invitations/{id}/revoke": crossInvitation,
	"POST /app/keys/{id}/revoke": func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		return "/app/keys/" + b.KeyID + "/revoke", func() bool {
			var k store.APIKey
			err := e.st.Read(context.Background(), store.TenantScope(b.ID), func(tx *store.Tx) error {
				var err error
				k, err = tx.GetAPIKey(context.Background(), b.KeyID)
				return err
			})
			return err == nil && k.RevokedAt == nil
		}
	},
}

// TestCrossTenant: tenant A's owner cannot see or act on tenant B's
// objects through any dashboard route: an id of B is a 404, and lists show
// only A's objects.
func TestCrossTenant(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		a, bt := e.newTenant("Alpha"), e.newTenant("Beta")
		e.addUser(a.ID, "owner@alpha.test", "owner", false)
		br := e.login("owner@alpha.test")
		for _, rt := range e.dash.Routes() {
			if !strings.Contains(rt.Pattern, "{id}") {
				continue
			}
			row, ok := idRoutes[rt.Pattern]
			if !ok {
				t.Errorf("route %s takes an id but has no row in idRoutes (routes_test.go)", rt.Pattern)
				continue
			}
			path, unchanged := row(t, e, bt)
			var p page
			if strings.HasPrefix(rt.Pattern, "GET ") {
				p = br.get(path)
			} else {
				p = br.post(path, nil)
			}
			if p.Status != http.StatusNotFound {
				t.Errorf("%s with tenant B's id = %d, want 404", rt.Pattern, p.Status)
			}
			if !unchanged() {
				t.Errorf("%s changed tenant B's object", rt.Pattern)
			}
		}
		// Lists: A's keys page shows A's key, not B's.
		var bKey store.APIKey
		_ = e.st.Read(context.Background(), store.TenantScope(bt.ID), func(tx *store.Tx) error {
			var err error
			bKey, err = tx.GetAPIKey(context.Background(), bt.KeyID)
			return err
		})
		p := br.get("/app/keys").must(t, 200)
		if strings.Contains(p.Body, bt.KeyID) || strings.Contains(p.Body, bKey.Prefix) {
			t.Errorf("tenant A's keys page shows tenant B's key")
		}
		// A tenant the user is not in cannot be switched to.
		br.post("/app/tenant", url.Values{"tenant_id": {bt.ID}}).must(t, http.StatusNotFound)
	})
}
