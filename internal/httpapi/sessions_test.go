package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/store"
)

// loginCookie signs in without a cookie jar and returns the session
// cookie the answer set (failing unless there is exactly one).
func loginCookie(t *testing.T, e *env, email, password string) *http.Cookie {
	t.Helper()
	r := e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}).must(t, 200)
	var found *http.Cookie
	for _, line := range r.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("bad Set-Cookie %q: %v", line, err)
		}
		if c.Name == httpapi.SessionCookie {
			if found != nil {
				t.Fatalf("two session cookies set: %q", r.Header.Values("Set-Cookie"))
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("login set no %s cookie: %q", httpapi.SessionCookie, r.Header.Values("Set-Cookie"))
	}
	return found
}

// withCookie sends a request carrying only a session cookie value.
func withCookie(e *env, method, path, value string) response {
	return e.send(method, path, http.Header{"Cookie": {httpapi.SessionCookie + "=" + value}}, "")
}

// jarCookie is the session cookie value a login client's jar holds ("" if none).
func jarCookie(t *testing.T, c *client) string {
	t.Helper()
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == httpapi.SessionCookie {
			return ck.Value
		}
	}
	return ""
}

func loginSetsAnHttpOnlyLaxSessionCookie(t *testing.T, e *env) {
	tn := e.newTenant("Cookies")
	e.addUserFast(tn.ID, "ana@cookies.example", "ana-password-1", "owner", false)
	c := loginCookie(t, e, "ana@cookies.example", "ana-password-1")
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure on http", c)
	}
	if len(c.Value) != 43 || c.Expires.Before(time.Now().Add(time.Hour)) {
		t.Fatalf("cookie value %q expires %v", c.Value, c.Expires)
	}
	r := e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@cookies.example", "password": "ana-password-1"}).must(t, 200)
	if r.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("HSTS on a plain-http server")
	}
	body := r.JSON(t)
	if tok, _ := body["csrf_token"].(string); len(tok) < 32 {
		t.Fatalf("login answer lacks a csrf_token: %s", r.Body)
	}
	if strings.Contains(string(r.Body), c.Value) {
		t.Fatalf("the session id is in the login body")
	}
}

func TestSecureCookiesAreMarkedSecure(t *testing.T) {
	t.Parallel()
	forEachDialectWith(t, envOptions{cfg: httpapi.Config{SecureCookies: true}}, func(t *testing.T, e *env) {
		tn := e.newTenant("Secure")
		e.addUserFast(tn.ID, "ana@secure.example", "ana-password-1", "owner", false)
		r := e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@secure.example", "password": "ana-password-1"}).must(t, 200)
		c, err := http.ParseSetCookie(r.Header.Get("Set-Cookie"))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Fatalf("cookie %+v: want Secure, HttpOnly, SameSite=Lax", c)
		}
		if !strings.HasPrefix(r.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Fatalf("no HSTS with secure cookies: %v", r.Header)
		}
	})
}

func everyLoginStartsASessionWithANewID(t *testing.T, e *env) {
	tn := e.newTenant("Rotation At Login")
	e.addUserFast(tn.ID, "ana@rot.example", "ana-password-1", "owner", false)
	a := loginCookie(t, e, "ana@rot.example", "ana-password-1")
	b := loginCookie(t, e, "ana@rot.example", "ana-password-1")
	if a.Value == b.Value {
		t.Fatalf("two logins gave the same session id")
	}
	// A browser that signs in again while holding a cookie gets a new one.
	c := e.login("ana@rot.example", "ana-password-1")
	first := jarCookie(t, c)
	c.do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@rot.example", "password": "ana-password-1"}).must(t, 200)
	if second := jarCookie(t, c); second == "" || second == first {
		t.Fatalf("signing in again kept the session id")
	}
	// A cookie value the server never issued is not a session.
	withCookie(e, "GET", "/api/v1/auth/me", auth.RandomToken(32)).problem(t, 401, "")
	withCookie(e, "GET", "/api/v1/auth/me", "short").problem(t, 401, "")
}

func cookieWritesNeedTheCSRFToken(t *testing.T, e *env) {
	tn := e.newTenant("CSRF")
	e.addUserFast(tn.ID, "ana@csrf.example", "ana-password-1", "owner", false)
	c := e.login("ana@csrf.example", "ana-password-1")
	body := map[string]any{"name": "from the browser", "scopes": []string{"read"}}

	noToken := *c
	noToken.csrf = ""
	noToken.do("POST", "/api/v1/api-keys", body).problem(t, 403, "")
	noToken.do("DELETE", "/api/v1/api-keys/"+tn.KeyID, nil).problem(t, 403, "")
	noToken.do("POST", "/api/v1/auth/logout", nil).problem(t, 403, "")
	wrong := *c
	wrong.csrf = auth.RandomToken(32)
	wrong.do("POST", "/api/v1/api-keys", body).problem(t, 403, "")
	wrong.do("PATCH", "/api/v1/members/"+tn.KeyID, map[string]string{"role": "viewer"}).problem(t, 403, "")
	// Another session's token is wrong too.
	other := e.login("ana@csrf.example", "ana-password-1")
	stolen := *c
	stolen.csrf = other.csrf
	stolen.do("POST", "/api/v1/api-keys", body).problem(t, 403, "")

	// Reads need no token.
	var kl keyList
	if err := json.Unmarshal(noToken.do("GET", "/api/v1/api-keys", nil).must(t, 200).Body, &kl); err != nil {
		t.Fatal(err)
	}
	if len(kl.Items) != 1 {
		t.Fatalf("a refused write created a key: %d keys", len(kl.Items))
	}
	noToken.do("GET", "/api/v1/auth/me", nil).must(t, 200)
	c.do("POST", "/api/v1/api-keys", body).must(t, 201)
	// The session still works after all the refused writes.
	c.do("GET", "/api/v1/tenant", nil).must(t, 200)
}

func logoutEndsTheSession(t *testing.T, e *env) {
	tn := e.newTenant("Logout")
	e.addUserFast(tn.ID, "ana@logout.example", "ana-password-1", "owner", false)
	c := e.login("ana@logout.example", "ana-password-1")
	other := e.login("ana@logout.example", "ana-password-1")
	value := jarCookie(t, c)
	c.do("GET", "/api/v1/auth/me", nil).must(t, 200)
	r := c.do("POST", "/api/v1/auth/logout", nil).must(t, 204)
	ck, err := http.ParseSetCookie(r.Header.Get("Set-Cookie"))
	if err != nil || ck.Name != httpapi.SessionCookie || ck.Value != "" || ck.MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %q", r.Header.Get("Set-Cookie"))
	}
	c.do("GET", "/api/v1/auth/me", nil).problem(t, 401, "")
	// The old cookie value is dead on the server, not just in the jar.
	withCookie(e, "GET", "/api/v1/auth/me", value).problem(t, 401, "")
	// Other sessions of the same user are not affected.
	other.do("GET", "/api/v1/auth/me", nil).must(t, 200)
	// A key cannot log out.
	e.as(tn.Key).do("POST", "/api/v1/auth/logout", nil).problem(t, 403, "")
}

func TestAnIdleSessionExpires(t *testing.T) {
	t.Parallel()
	forEachDialectWith(t, envOptions{auth: auth.Options{SessionIdle: time.Second, SessionAbsolute: time.Hour}}, func(t *testing.T, e *env) {
		tn := e.newTenant("Idle")
		e.addUserFast(tn.ID, "ana@idle.example", "ana-password-1", "owner", false)
		before := time.Now() // the session's last activity is after this
		c := e.login("ana@idle.example", "ana-password-1")
		// Only a machine fast enough to ask within the idle limit can
		// expect the session alive (a loaded CI machine once was not).
		if r := c.do("GET", "/api/v1/auth/me", nil); time.Since(before) < 900*time.Millisecond {
			r.must(t, 200)
		}
		time.Sleep(1300 * time.Millisecond)
		c.do("GET", "/api/v1/auth/me", nil).problem(t, 401, "")
		// The expired session was deleted: it does not come back.
		c.do("GET", "/api/v1/tenant", nil).problem(t, 401, "")
	})
}

func TestASessionExpiresAtItsAbsoluteLimit(t *testing.T) {
	t.Parallel()
	forEachDialectWith(t, envOptions{auth: auth.Options{SessionIdle: time.Hour, SessionAbsolute: 3 * time.Second}}, func(t *testing.T, e *env) {
		tn := e.newTenant("Absolute")
		e.addUserFast(tn.ID, "ana@abs.example", "ana-password-1", "owner", false)
		before := time.Now() // the session starts after this…
		ck := loginCookie(t, e, "ana@abs.example", "ana-password-1")
		start := time.Now() // …and before this
		if time.Until(ck.Expires) > 4*time.Second {
			t.Errorf("cookie expires %v, want within the absolute limit", ck.Expires)
		}
		// Activity keeps the session alive only until the absolute limit
		// (timed from the start, so a slow machine cannot blur the test).
		time.Sleep(time.Second)
		if r := withCookie(e, "GET", "/api/v1/auth/me", ck.Value); time.Since(before) < 2500*time.Millisecond {
			r.must(t, 200)
		}
		time.Sleep(time.Until(start.Add(3300 * time.Millisecond)))
		// The cookie is sent by hand: the server must refuse it by itself.
		withCookie(e, "GET", "/api/v1/auth/me", ck.Value).problem(t, 401, "")
	})
}

func aWrongPasswordIsA401Problem(t *testing.T, e *env) {
	tn := e.newTenant("Wrong")
	e.addUserFast(tn.ID, "ana@wrong.example", "ana-password-1", "owner", false)
	wrong := e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@wrong.example", "password": "not-the-password"})
	p := wrong.problem(t, 401, "")
	unknown := e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "nobody@wrong.example", "password": "not-the-password"})
	q := unknown.problem(t, 401, "")
	if p.Detail != q.Detail {
		t.Errorf("a wrong password (%q) and an unknown email (%q) answer differently", p.Detail, q.Detail)
	}
	if wrong.Header.Get("Set-Cookie") != "" || unknown.Header.Get("Set-Cookie") != "" {
		t.Errorf("a failed login set a cookie")
	}
	// Email case and surrounding space do not matter.
	e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": " ANA@Wrong.Example ", "password": "ana-password-1"}).must(t, 200)
}

func signInIsThrottledAfterFiveFailuresForAnAccount(t *testing.T, e *env) {
	tn := e.newTenant("Throttle")
	e.addUserFast(tn.ID, "ana@throttle.example", "ana-password-1", "owner", false)
	e.addUserFast(tn.ID, "ben@throttle.example", "ben-password-1", "owner", false)
	for i := range 5 {
		e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@throttle.example", "password": "guess-" + strconv.Itoa(i)}).problem(t, 401, "")
	}
	r := e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@throttle.example", "password": "ana-password-1"})
	r.problem(t, 429, "")
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want whole seconds ≥ 1", r.Header.Get("Retry-After"))
	}
	if r.Header.Get("Set-Cookie") != "" {
		t.Fatalf("a throttled login set a cookie")
	}
	// The throttle is per account: another account is unaffected.
	e.login("ben@throttle.example", "ben-password-1")
}

func meDescribesAKeyAndASession(t *testing.T, e *env) {
	tn := e.newTenant("Who Am I")
	uid := e.addUserFast(tn.ID, "ana@me.example", "ana-password-1", "agent", false)
	k := e.as(tn.Key).do("GET", "/api/v1/auth/me", nil).must(t, 200).JSON(t)
	if k["kind"] != "api_key" || k["key_id"] != tn.KeyID || k["tenant_id"] != tn.ID || k["platform_admin"] != false {
		t.Fatalf("me for a key: %v", k)
	}
	if _, ok := k["email"]; ok {
		t.Errorf("me for a key has an email: %v", k)
	}
	s := e.login("ana@me.example", "ana-password-1").do("GET", "/api/v1/auth/me", nil).must(t, 200).JSON(t)
	if s["kind"] != "session" || s["user_id"] != uid || s["email"] != "ana@me.example" || s["tenant_id"] != tn.ID || s["tenant_name"] != "Who Am I" || s["role"] != "agent" {
		t.Fatalf("me for a session: %v", s)
	}
	if sc, _ := s["scopes"].([]any); len(sc) != 2 {
		t.Fatalf("agent scopes %v, want read and write", s["scopes"])
	}
	if ts, _ := s["tenants"].([]any); len(ts) != 1 {
		t.Fatalf("tenants %v, want one", s["tenants"])
	}
	for _, leak := range []string{"csrf", "session_hash", "password"} {
		for f := range s {
			if strings.Contains(f, leak) {
				t.Errorf("me exposes %q", f)
			}
		}
	}
	e.anonymous().do("GET", "/api/v1/auth/me", nil).problem(t, 401, "")
}

func aPlatformAdminManagesTenantsAndSuspensionLocksMembersOut(t *testing.T, e *env) {
	e.addUserFast("", "root@platform.example", "root-password-1", "", true)
	admin := e.login("root@platform.example", "root-password-1")
	me := admin.do("GET", "/api/v1/auth/me", nil).must(t, 200).JSON(t)
	if me["platform_admin"] != true {
		t.Fatalf("me for the platform admin: %v", me)
	}

	created := admin.do("POST", "/api/v1/admin/tenants", map[string]string{"name": "Made By Admin"}).must(t, 201).JSON(t)
	tenant, _ := created["tenant"].(map[string]any)
	key, _ := created["api_key"].(string)
	if tenant == nil || tenant["name"] != "Made By Admin" || tenant["status"] != "active" || !auth.LooksLikeAPIKey(key) {
		t.Fatalf("create tenant answer: %v", created)
	}
	id := tenant["id"].(string)
	if g := e.as(key).do("GET", "/api/v1/tenant", nil).must(t, 200).JSON(t); g["id"] != id {
		t.Fatalf("the new tenant's key acts on %v, want %s", g["id"], id)
	}
	admin.do("POST", "/api/v1/admin/tenants", map[string]string{"name": "  "}).problem(t, 400, "name")

	other := e.newTenant("Other")
	var tl struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(admin.do("GET", "/api/v1/admin/tenants?limit=200", nil).must(t, 200).Body, &tl); err != nil {
		t.Fatal(err)
	}
	listed := map[any]bool{}
	for _, it := range tl.Items {
		listed[it["id"]] = true
	}
	if !listed[id] || !listed[other.ID] {
		t.Fatalf("the admin's tenant list lacks the tenants just made: %v", tl.Items)
	}
	g := admin.do("GET", "/api/v1/admin/tenants/"+other.ID, nil).must(t, 200).JSON(t)
	if g["name"] != "Other" {
		t.Fatalf("get tenant: %v", g)
	}
	admin.do("GET", "/api/v1/admin/tenants/00000000-0000-7000-8000-000000000000", nil).problem(t, 404, "")

	e.addUserFast(other.ID, "member@other.example", "member-password-1", "owner", false)
	member := e.login("member@other.example", "member-password-1")
	member.do("GET", "/api/v1/tenant", nil).must(t, 200)

	s := admin.do("POST", "/api/v1/admin/tenants/"+other.ID+"/suspend", nil).must(t, 200).JSON(t)
	if s["status"] != "suspended" {
		t.Fatalf("suspend answer: %v", s)
	}
	member.do("GET", "/api/v1/tenant", nil).problem(t, 403, "")
	member.do("GET", "/api/v1/members", nil).problem(t, 403, "")
	e.as(other.Key).do("GET", "/api/v1/tenant", nil).problem(t, 403, "")
	e.as(key).do("GET", "/api/v1/tenant", nil).must(t, 200)

	a := admin.do("POST", "/api/v1/admin/tenants/"+other.ID+"/reactivate", nil).must(t, 200).JSON(t)
	if a["status"] != "active" {
		t.Fatalf("reactivate answer: %v", a)
	}
	member.do("GET", "/api/v1/tenant", nil).must(t, 200)
	e.as(other.Key).do("GET", "/api/v1/tenant", nil).must(t, 200)
}

func aNonAdminSessionCannotUseAdminRoutes(t *testing.T, e *env) {
	tn := e.newTenant("Ordinary")
	e.addUserFast(tn.ID, "owner@ordinary.example", "owner-password-1", "owner", false)
	c := e.login("owner@ordinary.example", "owner-password-1")
	for _, rt := range e.api.Routes() {
		if rt.Access != httpapi.PlatformAdmin {
			continue
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.Replace(path, "{id}", tn.ID, 1)
		r := c.do(method, path, map[string]string{"name": "x"})
		if r.Status != 403 {
			t.Errorf("%s as a tenant owner's session: %d, want 403", rt.Pattern, r.Status)
		}
	}
	if m := e.as(tn.Key).do("GET", "/api/v1/tenant", nil).must(t, 200).JSON(t); m["status"] != "active" {
		t.Fatalf("tenant status %v", m["status"])
	}
}

func switchingTenantNeedsMembership(t *testing.T, e *env) {
	alpha := e.newTenant("Alpha")
	beta := e.newTenant("Beta")
	gamma := e.newTenant("Gamma")
	uid := e.addUserFast(alpha.ID, "ana@switch.example", "ana-password-1", "viewer", false)
	err := e.st.Write(context.Background(), store.SystemScope, func(tx *store.Tx) error {
		if err := tx.EnterTenant(context.Background(), beta.ID); err != nil {
			return err
		}
		return tx.AddMember(context.Background(), uid, "admin")
	})
	if err != nil {
		t.Fatal(err)
	}
	c := e.login("ana@switch.example", "ana-password-1")
	if m := c.do("GET", "/api/v1/tenant", nil).must(t, 200).JSON(t); m["id"] != alpha.ID {
		t.Fatalf("signed in to %v, want Alpha", m["name"])
	}
	c.do("GET", "/api/v1/api-keys", nil).problem(t, 403, "") // a viewer in Alpha

	c.do("POST", "/api/v1/auth/switch-tenant", map[string]string{"tenant_id": gamma.ID}).problem(t, 404, "")
	c.do("POST", "/api/v1/auth/switch-tenant", map[string]string{"tenant_id": "00000000-0000-7000-8000-000000000000"}).problem(t, 404, "")
	c.do("POST", "/api/v1/auth/switch-tenant", map[string]string{"tenant_id": "gamma"}).problem(t, 400, "tenant_id")
	if m := c.do("GET", "/api/v1/tenant", nil).must(t, 200).JSON(t); m["id"] != alpha.ID {
		t.Fatalf("a refused switch moved the session to %v", m["name"])
	}

	c.do("POST", "/api/v1/auth/switch-tenant", map[string]string{"tenant_id": beta.ID}).must(t, 204)
	if m := c.do("GET", "/api/v1/tenant", nil).must(t, 200).JSON(t); m["id"] != beta.ID || m["name"] != "Beta" {
		t.Fatalf("after switching: %v", m)
	}
	me := c.do("GET", "/api/v1/auth/me", nil).must(t, 200).JSON(t)
	if me["tenant_id"] != beta.ID || me["role"] != "admin" {
		t.Fatalf("me after switching: %v", me)
	}
	c.do("GET", "/api/v1/api-keys", nil).must(t, 200) // an admin in Beta
	// A key cannot switch tenants.
	e.as(alpha.Key).do("POST", "/api/v1/auth/switch-tenant", map[string]string{"tenant_id": beta.ID}).problem(t, 403, "")
}

func changingThePasswordSignsOutOtherSessions(t *testing.T, e *env) {
	tn := e.newTenant("Passwords")
	e.addUserFast(tn.ID, "ana@pw.example", "old-password-1", "owner", false)
	s1 := e.login("ana@pw.example", "old-password-1")
	s2 := e.login("ana@pw.example", "old-password-1")

	s1.do("POST", "/api/v1/auth/password", map[string]string{"current_password": "not-it-at-all", "new_password": "new-password-1"}).problem(t, 400, "current_password")
	s1.do("POST", "/api/v1/auth/password", map[string]string{"current_password": "old-password-1", "new_password": "short"}).problem(t, 400, "new_password")
	s2.do("GET", "/api/v1/auth/me", nil).must(t, 200) // nothing happened yet
	e.as(tn.Key).do("POST", "/api/v1/auth/password", map[string]string{"current_password": "old-password-1", "new_password": "new-password-1"}).problem(t, 403, "")

	s1.do("POST", "/api/v1/auth/password", map[string]string{"current_password": "old-password-1", "new_password": "new-password-1"}).must(t, 204)
	s1.do("GET", "/api/v1/auth/me", nil).must(t, 200)
	s2.do("GET", "/api/v1/auth/me", nil).problem(t, 401, "")
	e.anonymous().do("POST", "/api/v1/auth/login", map[string]string{"email": "ana@pw.example", "password": "old-password-1"}).problem(t, 401, "")
	e.login("ana@pw.example", "new-password-1").do("GET", "/api/v1/tenant", nil).must(t, 200)
}

// TestSignInAndSessionsBehaveAsDocumented runs the sign-in and session
// scenarios above on one server per dialect.
func TestSignInAndSessionsBehaveAsDocumented(t *testing.T) {
	t.Parallel()
	runScenarios(t, envOptions{}, []scenario{
		{"login sets an HttpOnly SameSite=Lax session cookie", loginSetsAnHttpOnlyLaxSessionCookie},
		{"every login starts a session with a new id", everyLoginStartsASessionWithANewID},
		{"cookie writes need the CSRF token", cookieWritesNeedTheCSRFToken},
		{"logout ends the session", logoutEndsTheSession},
		{"a wrong password is a 401 problem", aWrongPasswordIsA401Problem},
		{"sign-in is throttled after five failures for an account", signInIsThrottledAfterFiveFailuresForAnAccount},
		{"me describes a key and a session", meDescribesAKeyAndASession},
		{"a platform admin manages tenants and suspension locks members out", aPlatformAdminManagesTenantsAndSuspensionLocksMembersOut},
		{"a non-admin session cannot use admin routes", aNonAdminSessionCannotUseAdminRoutes},
		{"switching tenant needs membership", switchingTenantNeedsMembership},
		{"changing the password signs out other sessions", changingThePasswordSignsOutOtherSessions},
	})
}

// A member whose current tenant is suspended is locked out of that tenant,
// but must still be able to sign out and to move to another tenant they
// belong to. Today every request of the session is refused, logout
// included, so the session cannot be ended and comes back to life when the
// tenant is reactivated.
func TestASessionInASuspendedTenantCanStillSignOutAndSwitch(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		home := e.newTenant("Alpha Home")
		other := e.newTenant("Beta Other")
		uid := e.addUserFast(home.ID, "ana@suspended.example", "ana-password-1", "agent", false)
		err := e.st.Write(context.Background(), store.SystemScope, func(tx *store.Tx) error {
			if err := tx.EnterTenant(context.Background(), other.ID); err != nil {
				return err
			}
			return tx.AddMember(context.Background(), uid, "agent")
		})
		if err != nil {
			t.Fatal(err)
		}
		c := e.login("ana@suspended.example", "ana-password-1")
		value := jarCookie(t, c)
		if _, err := e.tenants.SetStatus(context.Background(), &auth.Principal{Kind: "session"}, home.ID, "suspended"); err != nil {
			t.Fatal(err)
		}
		c.do("GET", "/api/v1/tenant", nil).problem(t, 403, "")
		c.do("POST", "/api/v1/auth/switch-tenant", map[string]string{"tenant_id": other.ID}).must(t, 204)
		c.do("GET", "/api/v1/tenant", nil).must(t, 200)
		c.do("POST", "/api/v1/auth/logout", nil).must(t, 204)
		if _, err := e.tenants.SetStatus(context.Background(), &auth.Principal{Kind: "session"}, home.ID, "active"); err != nil {
			t.Fatal(err)
		}
		withCookie(e, "GET", "/api/v1/auth/me", value).problem(t, 401, "")
	})
}
