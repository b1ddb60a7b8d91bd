package httpapi_test

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/httpapi"
)

// victim is tenant B with one resource of every kind the API exposes.
type victim struct {
	tenantFixture
	MemberID, InvitationID    string
	ChannelID, PublicKey      string
	ContactID, ConversationID string
	AssistantID               string
	DocumentID, ChunkID       string
	MessageID                 string
}

func (v victim) ids() []string {
	return []string{v.ID, v.KeyID, v.MemberID, v.InvitationID, v.ChannelID, v.PublicKey, v.ContactID, v.ConversationID, v.AssistantID, v.DocumentID, v.ChunkID, v.MessageID}
}

func newVictim(e *env) victim {
	e.t.Helper()
	v := victim{tenantFixture: e.newTenant("Victim B")}
	v.MemberID = e.addUser(v.ID, "member@b.example", "b-member-password", "agent", false)
	p := &auth.Principal{Kind: "api_key", TenantID: v.ID, KeyID: v.KeyID, Scopes: []string{"read", "write", "admin"}}
	inv, _, err := e.tenants.Invite(context.Background(), p, "invitee@b.example", "viewer")
	if err != nil {
		e.t.Fatal(err)
	}
	v.InvitationID = inv.ID
	v.AssistantID = e.as(v.Key).do("POST", "/api/v1/assistants", map[string]any{"name": "B bot", "api_key": "sk-b-secret"}).must(e.t, 201).JSON(e.t)["id"].(string)
	ch := e.as(v.Key).do("POST", "/api/v1/channels", map[string]any{"type": "web", "name": "B web", "config": map[string]any{"allowed_origins": []string{"https://b.example"}}}).must(e.t, 201).JSON(e.t)
	v.ChannelID, v.PublicKey = ch["id"].(string), ch["public_key"].(string)
	v.ContactID, v.ConversationID = e.visitorSays(v.ID, v.ChannelID, "visitor-b", "hello from B")
	msgs := e.as(v.Key).do("GET", "/api/v1/conversations/"+v.ConversationID+"/messages", nil).must(e.t, 200).JSON(e.t)["items"].([]any)
	v.MessageID = msgs[0].(map[string]any)["id"].(string)
	v.DocumentID = e.as(v.Key).do("POST", "/api/v1/documents", map[string]any{"title": "B handbook", "text": victimSecret}).must(e.t, 202).JSON(e.t)["id"].(string)
	e.awaitDocument(v.Key, v.DocumentID, "ready")
	chunks := e.as(v.Key).do("GET", "/api/v1/documents/"+v.DocumentID+"/chunks", nil).must(e.t, 200).JSON(e.t)["items"].([]any)
	v.ChunkID = chunks[0].(map[string]any)["id"].(string)
	return v
}

// victimSecret is in B's knowledge only: A's search must never find it.
const victimSecret = "The vault combination is zebrafinch quasar 4471."

// matrixRow says how to call one tenant route against tenant B's data.
type matrixRow struct {
	// id picks B's resource for a {id} route ("" for routes without one).
	id   func(v victim) string
	body any
	// want is the status tenant A gets. For {id} routes it is always 404:
	// another tenant's id is indistinguishable from a missing one.
	want int
}

// matrix has a row for every Tenant route; TestEveryTenantRouteHasAMatrixRow
// fails when a route is added without one.
var matrix = map[string]matrixRow{
	"GET /api/v1/tenant":                {want: 200},
	"GET /api/v1/api-keys":              {want: 200},
	"POST /api/v1/api-keys":             {body: map[string]any{"name": "a's key", "scopes": []string{"read"}}, want: 201},
	"GET /api/v1/api-keys/{id}":         {id: func(v victim) string { return v.KeyID }, want: 404},
	"DELETE /api/v1/api-keys/{id}":      {id: func(v victim) string { return v.KeyID }, want: 404},
	"POST /api/v1/api-keys/{id}/rotate": {id: func(v victim) string { return v.KeyID }, body: map[string]any{"grace_seconds": 0}, want: 404},
	"GET /api/v1/members":               {want: 200},
	"POST /api/v1/members":              {body: map[string]any{"email": "member@b.example", "role": "admin"}, want: 201},
	"GET /api/v1/members/{id}":          {id: func(v victim) string { return v.MemberID }, want: 404},
	"PATCH /api/v1/members/{id}":        {id: func(v victim) string { return v.MemberID }, body: map[string]any{"role": "viewer"}, want: 404},
	"DELETE /api/v1/members/{id}":       {id: func(v victim) string { return v.MemberID }, want: 404},
	"GET /api/v1/invitations":           {want: 200},
	"DELETE /api/v1/invitations/{id}":   {id: func(v victim) string { return v.InvitationID }, want: 404},
	"GET /api/v1/audit-log":             {want: 200},

	"POST /api/v1/chat":              {body: map[string]any{"assistant_id": "{assistant}", "message": "hello"}, want: 404},
	"GET /api/v1/assistants":         {want: 200},
	"POST /api/v1/assistants":        {body: map[string]any{"name": "A bot"}, want: 201},
	"GET /api/v1/assistants/{id}":    {id: func(v victim) string { return v.AssistantID }, want: 404},
	"PATCH /api/v1/assistants/{id}":  {id: func(v victim) string { return v.AssistantID }, body: map[string]any{"instructions": "pwned"}, want: 404},
	"DELETE /api/v1/assistants/{id}": {id: func(v victim) string { return v.AssistantID }, want: 404},

	"GET /api/v1/documents":                    {want: 200},
	"POST /api/v1/documents":                   {body: map[string]any{"title": "A doc", "text": "A's own words."}, want: 202},
	"GET /api/v1/documents/{id}":               {id: func(v victim) string { return v.DocumentID }, want: 404},
	"PUT /api/v1/documents/{id}":               {id: func(v victim) string { return v.DocumentID }, body: map[string]any{"title": "pwned", "text": "pwned"}, want: 404},
	"DELETE /api/v1/documents/{id}":            {id: func(v victim) string { return v.DocumentID }, want: 404},
	"POST /api/v1/documents/{id}/reindex":      {id: func(v victim) string { return v.DocumentID }, want: 404},
	"GET /api/v1/documents/{id}/chunks":        {id: func(v victim) string { return v.DocumentID }, want: 404},
	"POST /api/v1/search":                      {body: map[string]any{"query": "vault combination zebrafinch quasar"}, want: 200},
	"GET /api/v1/analytics/daily":              {want: 200},
	"GET /api/v1/channels":                     {want: 200},
	"POST /api/v1/channels":                    {body: map[string]any{"type": "web", "name": "A web"}, want: 201},
	"GET /api/v1/channels/{id}":                {id: func(v victim) string { return v.ChannelID }, want: 404},
	"PATCH /api/v1/channels/{id}":              {id: func(v victim) string { return v.ChannelID }, body: map[string]any{"name": "pwned"}, want: 404},
	"DELETE /api/v1/channels/{id}":             {id: func(v victim) string { return v.ChannelID }, want: 404},
	"GET /api/v1/conversations":                {want: 200},
	"GET /api/v1/conversations/{id}":           {id: func(v victim) string { return v.ConversationID }, want: 404},
	"GET /api/v1/conversations/{id}/messages":  {id: func(v victim) string { return v.ConversationID }, want: 404},
	"POST /api/v1/conversations/{id}/messages": {id: func(v victim) string { return v.ConversationID }, body: map[string]any{"text": "injected"}, want: 404},
	"POST /api/v1/conversations/{id}/template": {id: func(v victim) string { return v.ConversationID }, body: map[string]any{"name": "hello_world", "language": "en_US"}, want: 404},
	"GET /api/v1/messages/{id}/media":          {id: func(v victim) string { return v.MessageID }, want: 404},
	"GET /api/v1/media/{id}":                   {id: func(v victim) string { return v.MessageID }, want: 404},
	"POST /api/v1/conversations/{id}/handoff":  {id: func(v victim) string { return v.ConversationID }, want: 404},
	"POST /api/v1/conversations/{id}/handback": {id: func(v victim) string { return v.ConversationID }, want: 404},
	"POST /api/v1/conversations/{id}/resolve":  {id: func(v victim) string { return v.ConversationID }, want: 404},
}

func TestEveryTenantRouteHasAMatrixRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	seen := map[string]bool{}
	for _, rt := range e.api.Routes() {
		if rt.Access != httpapi.Tenant {
			continue
		}
		seen[rt.Pattern] = true
		if _, ok := matrix[rt.Pattern]; !ok {
			t.Errorf("tenant route %q has no row in the cross-tenant matrix (matrix_test.go)", rt.Pattern)
		}
	}
	for p := range matrix {
		if !seen[p] {
			t.Errorf("matrix row %q matches no registered tenant route", p)
		}
	}
}

var volatile = regexp.MustCompile(`"last_used_at":("[^"]*"|null)`)

// fingerprint is everything tenant B can see of its own data.
func fingerprint(t *testing.T, e *env, v victim) string {
	t.Helper()
	b := e.as(v.Key)
	var parts []string
	for _, path := range []string{"/api/v1/tenant", "/api/v1/api-keys", "/api/v1/members", "/api/v1/invitations", "/api/v1/assistants",
		"/api/v1/channels", "/api/v1/conversations", "/api/v1/conversations/" + v.ConversationID + "/messages",
		"/api/v1/documents", "/api/v1/documents/" + v.DocumentID + "/chunks"} {
		r := b.do("GET", path, nil).must(t, 200)
		parts = append(parts, volatile.ReplaceAllString(string(r.Body), ""))
	}
	return strings.Join(parts, "\n")
}

// TestTenantACannotReachTenantBThroughAnyRoute calls every tenant route
// as tenant A — with an admin API key and with an owner's session — aimed
// at tenant B's ids. Each must answer as if B's data did not exist, leak
// none of B's ids, and leave B's data exactly as it was.
func TestTenantACannotReachTenantBThroughAnyRoute(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		a := e.newTenant("Attacker A")
		e.addUser(a.ID, "owner@a.example", "a-owner-password", "owner", false)
		v := newVictim(e)
		before := fingerprint(t, e, v)
		principals := map[string]*client{"api key": e.as(a.Key), "session": e.login("owner@a.example", "a-owner-password")}
		names := make([]string, 0, len(matrix))
		for p := range matrix {
			names = append(names, p)
		}
		sort.Strings(names)
		for kind, c := range principals {
			for _, pattern := range names {
				row := matrix[pattern]
				method, path, _ := strings.Cut(pattern, " ")
				if row.id != nil {
					path = strings.Replace(path, "{id}", row.id(v), 1)
				}
				body := row.body
				if m, ok := body.(map[string]any); ok && m["assistant_id"] == "{assistant}" {
					body = map[string]any{"assistant_id": v.AssistantID, "message": m["message"]}
				}
				r := c.do(method, path, body)
				if r.Status != row.want {
					t.Errorf("%s %s as A's %s: status %d, want %d: %s", method, path, kind, r.Status, row.want, r.Body)
				}
				if strings.Contains(string(r.Body), "zebrafinch") {
					t.Errorf("%s %s as A's %s leaked B's knowledge: %s", method, path, kind, r.Body)
				}
				for _, id := range v.ids() {
					if strings.Contains(string(r.Body), id) {
						t.Errorf("%s %s as A's %s leaked B's id %s: %s", method, path, kind, id, r.Body)
					}
				}
				if after := fingerprint(t, e, v); after != before {
					t.Fatalf("%s %s as A's %s changed B's data:\nbefore %s\nafter  %s", method, path, kind, before, after)
				}
			}
		}
		// B's key still works after all of that.
		e.as(v.Key).do("GET", "/api/v1/api-keys/"+v.KeyID, nil).must(t, 200)
	})
}

// A tenant's key must not reach platform administration at all.
func TestTenantKeysCannotUsePlatformAdminRoutes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		a := e.newTenant("A")
		v := newVictim(e)
		for _, rt := range e.api.Routes() {
			if rt.Access != httpapi.PlatformAdmin {
				continue
			}
			method, path, _ := strings.Cut(rt.Pattern, " ")
			path = strings.Replace(path, "{id}", v.ID, 1)
			r := e.as(a.Key).do(method, path, map[string]any{"name": "x"})
			if r.Status != 403 {
				t.Errorf("%s with a tenant key: %d, want 403", rt.Pattern, r.Status)
			}
		}
		var tn map[string]any
		r := e.as(v.Key).do("GET", "/api/v1/tenant", nil).must(t, 200)
		_ = json.Unmarshal(r.Body, &tn)
		if tn["status"] != "active" {
			t.Fatalf("B's status changed: %v", tn["status"])
		}
	})
}
