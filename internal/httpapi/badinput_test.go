package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// --- helpers shared by the test files of this package -----------------

// forEachDialectWith is forEachDialect for a server started with options.
func forEachDialectWith(t *testing.T, o envOptions, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d, o))
		})
	}
}

// scenario is one behaviour, checked against a server shared with others.
type scenario struct {
	name string
	fn   func(t *testing.T, e *env)
}

// runScenarios starts one server per dialect and runs every scenario on it
// as a parallel subtest. Each scenario makes tenants and users of its own,
// so scenarios do not see each other; sharing the server spares a fresh
// database per scenario, which is most of the cost of a small test.
func runScenarios(t *testing.T, o envOptions, scenarios []scenario) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			shared := newEnv(t, d, o)
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					e := *shared
					e.t = t // the harness reports through e.t
					sc.fn(t, &e)
				})
			}
		})
	}
}

// passwordHashes caches argon2id hashes by password: hashing costs tens of
// milliseconds (more under -race), and the tests reuse a few passwords.
var passwordHashes sync.Map

// addUserFast is the harness's addUser with the password hash cached.
func (e *env) addUserFast(tenantID, email, password, role string, platformAdmin bool) string {
	e.t.Helper()
	ctx := context.Background()
	hash, ok := passwordHashes.Load(password)
	if !ok {
		h, err := auth.HashPassword(password)
		if err != nil {
			e.t.Fatal(err)
		}
		hash, _ = passwordHashes.LoadOrStore(password, h)
	}
	var id string
	err := e.st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		u, err := tx.CreateUser(ctx, email, "", hash.(string), platformAdmin)
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

// send makes a request with exactly the headers given (the harness's
// client always says the body is JSON and sends its own credentials).
func (e *env) send(method, path string, hdr http.Header, body string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// problemBody is a decoded problem+json answer.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// problem checks that r is a complete problem+json answer with status
// and, when field is not "", that it names field; it returns the problem.
func (r response) problem(t *testing.T, status int, field string) problemBody {
	t.Helper()
	var p problemBody
	if r.Status != status {
		t.Errorf("status %d, want %d: %s", r.Status, status, r.Body)
		return p
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json: %s", ct, r.Body)
		return p
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Errorf("problem body is not JSON: %v: %s", err, r.Body)
		return p
	}
	if p.Status != status || p.Title == "" || p.Detail == "" || p.Type == "" {
		t.Errorf("problem lacks type/status/title/detail: %s", r.Body)
	}
	if p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-Id") {
		t.Errorf("problem request_id %q, want the X-Request-Id header %q", p.RequestID, r.Header.Get("X-Request-Id"))
	}
	if field != "" {
		var names []string
		for _, f := range p.Errors {
			names = append(names, f.Field)
			if f.Message == "" {
				t.Errorf("field %q has no message: %s", f.Field, r.Body)
			}
		}
		if !slices.Contains(names, field) {
			t.Errorf("problem names fields %q, want %q among them: %s", names, field, r.Body)
		}
	}
	return p
}

// snapshot is everything a tenant's admin key can list, without the
// timestamps that using the key itself moves.
func snapshot(t *testing.T, c *client) string {
	t.Helper()
	var parts []string
	for _, path := range []string{"/api/v1/api-keys?limit=200", "/api/v1/members?limit=200", "/api/v1/invitations?limit=200", "/api/v1/audit-log?limit=200"} {
		r := c.do("GET", path, nil).must(t, 200)
		parts = append(parts, volatile.ReplaceAllString(string(r.Body), ""))
	}
	return strings.Join(parts, "\n")
}

// --- the tests -----------------------------------------------------------

// badBody is one malformed request body and the field its problem names.
type badBody struct {
	name, body, field string
}

func badBodiesFor(valid string, wrongType badBody) []badBody {
	return []badBody{
		{"malformed JSON", `{"name": "x",`, "body"},
		{"not JSON at all", `name=x`, "body"},
		{"bare syntax error", `{name: "x"}`, "body"},
		{"an array instead of an object", `[]`, "body"},
		{"unknown field", strings.TrimSuffix(valid, "}") + `, "sneaky": true}`, "sneaky"},
		wrongType,
		{"trailing data", valid + ` {}`, "body"},
		{"trailing garbage", valid + `x`, "body"},
		{"invalid UTF-8", strings.Replace(valid, `"x`, "\"\xff\xfe", 1), "body"},
		{"empty body", ``, "body"},
		{"whitespace only", "  \n\t ", "body"},
	}
}

func malformedBodiesAreRefusedWithAProblemNamingTheFieldAndWriteNothing(t *testing.T, e *env) {
	tn := e.newTenant("Bad Input Inc")
	memberID := e.addUserFast(tn.ID, "agent@bad.example", "agent-password-1", "agent", false)
	admin := e.as(tn.Key)
	before := snapshot(t, admin)

	endpoints := []struct {
		method, path string
		c            *client
		cases        []badBody
	}{
		{"POST", "/api/v1/api-keys", admin, badBodiesFor(`{"name": "x key", "scopes": ["read"]}`, badBody{"scopes of the wrong type", `{"name": "k", "scopes": "read"}`, "scopes"})},
		{"POST", "/api/v1/api-keys", admin, []badBody{
			{"name of the wrong type", `{"name": 5, "scopes": ["read"]}`, "name"},
			{"name an object", `{"name": {"a": 1}, "scopes": ["read"]}`, "name"},
			{"a scope of the wrong type", `{"name": "k", "scopes": ["read", 5]}`, "scopes"},
			{"over-long name", `{"name": "` + strings.Repeat("n", 101) + `", "scopes": ["read"]}`, "name"},
			{"blank name", `{"name": "   ", "scopes": ["read"]}`, "name"},
			{"no scopes", `{"name": "k", "scopes": []}`, "scopes"},
			{"bad scope", `{"name": "k", "scopes": ["superuser"]}`, "scopes[0]"},
			{"bad second scope", `{"name": "k", "scopes": ["read", "root"]}`, "scopes[1]"},
			{"expires_at of the wrong type", `{"name": "k", "scopes": ["read"], "expires_at": 5}`, ""},
		}},
		{"PATCH", "/api/v1/members/" + memberID, admin, badBodiesFor(`{"role": "xviewer"}`, badBody{"role of the wrong type", `{"role": 5}`, "role"})},
		{"PATCH", "/api/v1/members/" + memberID, admin, []badBody{
			{"unknown role", `{"role": "emperor"}`, "role"},
			{"role null", `{"role": null}`, "role"},
		}},
		{"POST", "/api/v1/auth/login", e.anonymous(), badBodiesFor(`{"email": "xagent@bad.example", "password": "agent-password-1"}`, badBody{"email of the wrong type", `{"email": 5, "password": "agent-password-1"}`, "email"})},
		{"POST", "/api/v1/auth/login", e.anonymous(), []badBody{
			{"password of the wrong type", `{"email": "agent@bad.example", "password": ["agent-password-1"]}`, "password"},
			{"missing password", `{"email": "agent@bad.example"}`, "password"},
		}},
	}
	for _, ep := range endpoints {
		for _, bc := range ep.cases {
			r := ep.c.do(ep.method, ep.path, bc.body)
			if r.Status != 400 {
				t.Errorf("%s %s with %s: status %d, want 400: %s", ep.method, ep.path, bc.name, r.Status, r.Body)
				continue
			}
			r.problem(t, 400, bc.field)
		}
	}
	if after := snapshot(t, admin); after != before {
		t.Fatalf("bad requests changed the tenant's data:\nbefore %s\nafter  %s", before, after)
	}
	// The member's role and the member's password are untouched.
	m := admin.do("GET", "/api/v1/members/"+memberID, nil).must(t, 200).JSON(t)
	if m["role"] != "agent" {
		t.Fatalf("role changed to %v", m["role"])
	}
	e.login("agent@bad.example", "agent-password-1")
}

func bodiesThatAreNotDeclaredAsJSONAreRefused(t *testing.T, e *env) {
	tn := e.newTenant("Content Types")
	memberID := e.addUserFast(tn.ID, "agent@ct.example", "agent-password-1", "agent", false)
	before := snapshot(t, e.as(tn.Key))
	calls := []struct{ method, path, body string }{
		{"POST", "/api/v1/api-keys", `{"name": "k", "scopes": ["read"]}`},
		{"PATCH", "/api/v1/members/" + memberID, `{"role": "viewer"}`},
		{"POST", "/api/v1/auth/login", `{"email": "agent@ct.example", "password": "agent-password-1"}`},
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "json", ";;;"} {
		for _, c := range calls {
			h := http.Header{"Content-Type": {ct}, "Authorization": {"Bearer " + tn.Key}}
			if strings.Contains(c.path, "login") {
				h.Del("Authorization")
			}
			r := e.send(c.method, c.path, h, c.body)
			if r.Status != 400 {
				t.Errorf("%s %s as %q: status %d, want 400: %s", c.method, c.path, ct, r.Status, r.Body)
				continue
			}
			r.problem(t, 400, "body")
			if r.Header.Get("Set-Cookie") != "" {
				t.Errorf("%s %s as %q set a cookie", c.method, c.path, ct)
			}
		}
	}
	// JSON with parameters, and a +json type, are JSON.
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Authorization": {"Bearer " + tn.Key}}
	e.send("POST", "/api/v1/api-keys", h, `{"name": "charset key", "scopes": ["read"]}`).must(t, 201)
	h.Set("Content-Type", "application/merge-patch+json")
	e.send("PATCH", "/api/v1/members/"+memberID, h, `{"role": "agent"}`).must(t, 200)
	after := snapshot(t, e.as(tn.Key))
	if !strings.Contains(after, "charset key") || len(after) <= len(before) {
		t.Fatalf("the well-typed request did not create its key: %s", after)
	}
}

func TestOversizedBodiesAreRefusedWith413(t *testing.T) {
	t.Parallel()
	forEachDialectWith(t, envOptions{cfg: httpapi.Config{MaxBodyBytes: 2048}}, func(t *testing.T, e *env) {
		tn := e.newTenant("Big Bodies")
		memberID := e.addUserFast(tn.ID, "agent@big.example", "agent-password-1", "agent", false)
		admin := e.as(tn.Key)
		before := snapshot(t, admin)
		pad := strings.Repeat("x", 3000)
		calls := []struct {
			c            *client
			method, path string
			body         string
		}{
			{admin, "POST", "/api/v1/api-keys", `{"name": "` + pad + `", "scopes": ["read"]}`},
			{admin, "PATCH", "/api/v1/members/" + memberID, `{"role": "viewer", "x": "` + pad + `"}`},
			{e.anonymous(), "POST", "/api/v1/auth/login", `{"email": "agent@big.example", "password": "` + pad + `"}`},
		}
		for _, c := range calls {
			r := c.c.do(c.method, c.path, c.body)
			if r.Status != 413 {
				t.Errorf("%s %s with %d bytes: status %d, want 413: %s", c.method, c.path, len(c.body), r.Status, r.Body)
				continue
			}
			r.problem(t, 413, "body")
		}
		// A body under the limit still works.
		admin.do("POST", "/api/v1/api-keys", `{"name": "small", "scopes": ["read"]}`).must(t, 201)
		var keys struct{ Items []struct{ Name string } }
		if err := json.Unmarshal(admin.do("GET", "/api/v1/api-keys", nil).must(t, 200).Body, &keys); err != nil {
			t.Fatal(err)
		}
		if len(keys.Items) != 2 || keys.Items[1].Name != "small" {
			t.Fatalf("keys after the oversized requests: %+v (before: %s)", keys.Items, before)
		}
		m := admin.do("GET", "/api/v1/members/"+memberID, nil).must(t, 200).JSON(t)
		if m["role"] != "agent" {
			t.Fatalf("the oversized PATCH changed the role to %v", m["role"])
		}
	})
}

func pathIDsOfTheWrongShapeAreRefusedNamingID(t *testing.T, e *env) {
	tn := e.newTenant("Shapes")
	admin := e.as(tn.Key)
	before := snapshot(t, admin)
	for _, id := range []string{"123", "not-an-id", strings.Repeat("a", 36), "00000000-0000-0000-0000-00000000000g", "'%20OR%201=1--"} {
		for _, c := range []struct{ method, path, body string }{
			{"PATCH", "/api/v1/members/" + id, `{"role": "viewer"}`},
			{"GET", "/api/v1/members/" + id, ""},
			{"DELETE", "/api/v1/members/" + id, ""},
			{"GET", "/api/v1/api-keys/" + id, ""},
			{"DELETE", "/api/v1/api-keys/" + id, ""},
			{"POST", "/api/v1/api-keys/" + id + "/rotate", ""},
			{"DELETE", "/api/v1/invitations/" + id, ""},
		} {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := admin.do(c.method, c.path, body)
			if r.Status != 400 {
				t.Errorf("%s %s: status %d, want 400: %s", c.method, c.path, r.Status, r.Body)
				continue
			}
			r.problem(t, 400, "id")
		}
	}
	// A well-formed id that does not exist is a 404, not a 400.
	admin.do("PATCH", "/api/v1/members/00000000-0000-7000-8000-000000000000", map[string]string{"role": "viewer"}).problem(t, 404, "")
	if after := snapshot(t, admin); after != before {
		t.Fatalf("data changed:\nbefore %s\nafter  %s", before, after)
	}
}

func badLimitsAndCursorsAreRefusedNamingThem(t *testing.T, e *env) {
	tn := e.newTenant("Paging")
	admin := e.as(tn.Key)
	notAnID := base64.RawURLEncoding.EncodeToString([]byte("hello"))
	for _, list := range []string{"/api/v1/api-keys", "/api/v1/members", "/api/v1/invitations", "/api/v1/audit-log"} {
		for _, q := range []struct{ query, field string }{
			{"limit=abc", "limit"},
			{"limit=-1", "limit"},
			{"limit=201", "limit"},
			{"limit=1.5", "limit"},
			{"limit=99999999999999999999", "limit"},
			{"cursor=***", "cursor"},
			{"cursor=" + notAnID, "cursor"},
			{"cursor=%00", "cursor"},
		} {
			r := admin.do("GET", list+"?"+q.query, nil)
			if r.Status != 400 {
				t.Errorf("GET %s?%s: status %d, want 400: %s", list, q.query, r.Status, r.Body)
				continue
			}
			r.problem(t, 400, q.field)
		}
		admin.do("GET", list+"?limit=200", nil).must(t, 200)
		admin.do("GET", list+"?limit=1", nil).must(t, 200)
	}
}

// The documented range of ?limit= is 1 to 200 (openapi.json, and the
// error message itself), yet an explicit limit=0 is quietly taken as 50.
func TestAnExplicitZeroLimitIsRefused(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Zero")
		e.as(tn.Key).do("GET", "/api/v1/api-keys?limit=0", nil).problem(t, 400, "limit")
	})
}

// A key name is limited to 100 characters (openapi.json maxLength: 100,
// and the message says "characters"), but the check counts bytes.
func TestAKeyNameOf100NonASCIICharactersIsAccepted(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Unicode")
		e.as(tn.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": strings.Repeat("é", 100), "scopes": []string{"read"}}).must(t, 201)
		e.as(tn.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": strings.Repeat("é", 101), "scopes": []string{"read"}}).problem(t, 400, "name")
	})
}

// An expires_at that is valid JSON but not a date should name the field;
// the decoder reports it as "body: is not valid JSON" instead.
func TestAnExpiresAtThatIsNotADateNamesExpiresAt(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Dates")
		for _, v := range []string{`"tomorrow"`, `5`, `"2030-13-45T00:00:00Z"`} {
			e.as(tn.Key).do("POST", "/api/v1/api-keys", `{"name": "k", "scopes": ["read"], "expires_at": `+v+`}`).problem(t, 400, "expires_at")
		}
	})
}

// TestBadInputIsRefusedWithAProblemAndWritesNothing runs the bad-input
// scenarios above on one server per dialect.
func TestBadInputIsRefusedWithAProblemAndWritesNothing(t *testing.T) {
	t.Parallel()
	runScenarios(t, envOptions{}, []scenario{
		{"malformed bodies are refused with a problem naming the field and write nothing", malformedBodiesAreRefusedWithAProblemNamingTheFieldAndWriteNothing},
		{"bodies that are not declared as JSON are refused", bodiesThatAreNotDeclaredAsJSONAreRefused},
		{"path ids of the wrong shape are refused naming id", pathIDsOfTheWrongShapeAreRefusedNamingID},
		{"bad limits and cursors are refused naming them", badLimitsAndCursorsAreRefusedNamingThem},
	})
}
