package dashboard

import (
	"net/http"

	"github.com/metachat/metachat/internal/auth"
)

// Access is the least a caller needs to reach a route. Tenant levels follow
// the member's role through its scopes (see auth.roleScopes): a viewer
// reads, an agent also works conversations, an admin or owner manages
// settings, keys and members.
type Access int

// The access levels, weakest first.
const (
	Public   Access = iota // anyone: the sign-in page, assets, the language picker
	SignedIn               // any signed-in user, with or without a tenant selected
	Viewer                 // a member of the selected tenant (scope read)
	Agent                  // agent, admin or owner (scope write)
	Admin                  // admin or owner (scope admin)
)

// scope is the auth scope a tenant access level needs.
func (a Access) scope() string {
	switch a {
	case Viewer:
		return auth.ScopeRead
	case Agent:
		return auth.ScopeWrite
	case Admin:
		return auth.ScopeAdmin
	}
	return ""
}

// allows reports whether p may reach a route of this level.
func (a Access) allows(p *auth.Principal) bool {
	switch a {
	case Public:
		return true
	case SignedIn:
		return p != nil
	}
	return p != nil && p.TenantID != "" && p.Can(a.scope())
}

// Route is one dashboard endpoint.
type Route struct {
	Pattern string // ServeMux pattern with method, e.g. "POST /app/keys/{id}/revoke"
	Access  Access
	// Handle serves the request; the principal is auth.FromContext. It
	// returns errors (apperr kinds) for h.fail to render as a page.
	Handle func(http.ResponseWriter, *http.Request) error
}

// routeTable is the whole dashboard in one place.
//
// Every POST is checked for the session's CSRF token (the form field
// "csrf", or the X-CSRF-Token header) before its handler runs; POST /login
// uses a pre-session double-submit cookie instead. Every route with an
// {id} must have a row in the cross-tenant test (routes_test.go).
func (h *Handler) routeTable() []Route {
	return []Route{
		// Sign-in, sign-out, preferences.
		{Pattern: "GET /login", Access: Public, Handle: h.loginPage},
		{Pattern: "POST /login", Access: Public, Handle: h.loginSubmit},
		{Pattern: "POST /logout", Access: SignedIn, Handle: h.logout},
		{Pattern: "GET /app/lang", Access: Public, Handle: h.setLanguage},
		{Pattern: "GET /app/assets/{file}", Access: Public, Handle: h.asset},
		{Pattern: "POST /app/tenant", Access: SignedIn, Handle: h.switchTenant},

		// The signed-in user.
		{Pattern: "GET /app/{$}", Access: SignedIn, Handle: h.overview},
		{Pattern: "GET /app/account", Access: SignedIn, Handle: h.accountPage},
		{Pattern: "POST /app/account/password", Access: SignedIn, Handle: h.changePassword},

		// API keys: the reference list + form + action page.
		{Pattern: "GET /app/keys", Access: Admin, Handle: h.keysPage},
		{Pattern: "POST /app/keys", Access: Admin, Handle: h.createKey},
		{Pattern: "POST /app/keys/{id}/revoke", Access: Admin, Handle: h.revokeKey},

		// Areas still to be built: each shows an empty state until its page lands.
		{Pattern: "GET /app/inbox", Access: Viewer, Handle: h.placeholder("inbox")},
		{Pattern: "GET /app/knowledge", Access: Viewer, Handle: h.placeholder("knowledge")},
		{Pattern: "GET /app/assistants", Access: Viewer, Handle: h.placeholder("assistants")},
		{Pattern: "GET /app/channels", Access: Viewer, Handle: h.placeholder("channels")},
		{Pattern: "GET /app/team", Access: Viewer, Handle: h.placeholder("team")},
		{Pattern: "GET /app/audit", Access: Admin, Handle: h.placeholder("audit")},

		// Anything else under /app/ is a 404 page (for signed-in users).
		{Pattern: "/app/", Access: SignedIn, Handle: h.notFound},
	}
}

// navItem is one entry of the main navigation.
type navItem struct {
	ID     string // matches page.Nav to mark the current entry
	Path   string
	Label  string // catalogue key
	Access Access
}

// nav is the main navigation, in order; entries the user cannot reach are
// not shown.
var nav = []navItem{
	{"overview", "/app/", "nav.overview", SignedIn},
	{"inbox", "/app/inbox", "nav.inbox", Viewer},
	{"knowledge", "/app/knowledge", "nav.knowledge", Viewer},
	{"assistants", "/app/assistants", "nav.assistants", Viewer},
	{"channels", "/app/channels", "nav.channels", Viewer},
	{"team", "/app/team", "nav.team", Viewer},
	{"keys", "/app/keys", "nav.keys", Admin},
	{"audit", "/app/audit", "nav.audit", Admin},
}
