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
	// MaxBody is the largest POST body the route takes; 0 is the
	// dashboard's default (1 MiB). Uploads set more.
	MaxBody int64
	// Handle serves the request; the principal is auth.FromContext. It
	// returns errors (apperr kinds) for h.fail to render as a page.
	Handle func(http.ResponseWriter, *http.Request) error
}

// routeTable is the whole dashboard in one place.
//
// Every POST is checked for the session's CSRF token (the form field
// "csrf", or the X-CSRF-Token header) before its handler runs; POST /login
// and the public account forms use a pre-session double-submit cookie
// instead. Every route with an
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

		// Account self-service (pages_accounts.go): reset by a one-time
		// link, invitations, optional sign-up. Their POSTs carry a
		// pre-session double-submit token like POST /login.
		{Pattern: "GET /login/reset", Access: Public, Handle: h.resetPage},
		{Pattern: "POST /login/reset", Access: Public, Handle: h.resetRequest},
		{Pattern: "GET /login/reset/{token}", Access: Public, Handle: h.resetForm},
		{Pattern: "POST /login/reset/{token}", Access: Public, Handle: h.resetSubmit},
		{Pattern: "GET /invite", Access: Public, Handle: h.inviteLegacy},
		{Pattern: "GET /invite/{token}", Access: Public, Handle: h.invitePage},
		{Pattern: "POST /invite/{token}", Access: Public, Handle: h.inviteAccept},
		{Pattern: "GET /signup", Access: Public, Handle: h.signupPage},
		{Pattern: "POST /signup", Access: Public, Handle: h.signupSubmit},
		{Pattern: "GET /signup/verify/{token}", Access: Public, Handle: h.signupVerify},

		// The signed-in user.
		{Pattern: "GET /app/{$}", Access: SignedIn, Handle: h.overview},
		{Pattern: "POST /app/workspaces", Access: SignedIn, Handle: h.createWorkspace}, // platform admins only (checked inside)
		{Pattern: "GET /app/overview.csv", Access: Viewer, Handle: h.overviewCSV},
		{Pattern: "GET /app/account", Access: SignedIn, Handle: h.accountPage},
		{Pattern: "POST /app/account/password", Access: SignedIn, Handle: h.changePassword},

		// API keys: the reference list + form + action page.
		{Pattern: "GET /app/keys", Access: Admin, Handle: h.keysPage},
		{Pattern: "POST /app/keys", Access: Admin, Handle: h.createKey},
		{Pattern: "POST /app/keys/{id}/revoke", Access: Admin, Handle: h.revokeKey},

		// The inbox (pages_inbox.go): list, thread, live events, actions.
		{Pattern: "GET /app/inbox", Access: Viewer, Handle: h.inboxPage},
		{Pattern: "GET /app/inbox/rows", Access: Viewer, Handle: h.inboxRowsJSON},
		{Pattern: "GET /app/inbox/events", Access: Viewer, Handle: h.inboxEvents},
		{Pattern: "GET /app/inbox/{id}", Access: Viewer, Handle: h.threadPage},
		{Pattern: "GET /app/inbox/{id}/messages", Access: Viewer, Handle: h.threadMessagesJSON},
		{Pattern: "POST /app/inbox/{id}/read", Access: Viewer, Handle: h.markRead},
		{Pattern: "POST /app/inbox/{id}/takeover", Access: Agent, Handle: h.takeOver},
		{Pattern: "POST /app/inbox/{id}/handback", Access: Agent, Handle: h.handBack},
		{Pattern: "POST /app/inbox/{id}/resolve", Access: Agent, Handle: h.resolve},
		{Pattern: "POST /app/inbox/{id}/assign", Access: Agent, Handle: h.assign},
		{Pattern: "POST /app/inbox/{id}/reply", Access: Agent, Handle: h.reply(false)},
		{Pattern: "POST /app/inbox/{id}/note", Access: Agent, Handle: h.reply(true)},
		{Pattern: "POST /app/inbox/canned", Access: Admin, Handle: h.createCanned},
		{Pattern: "POST /app/inbox/canned/{id}/delete", Access: Admin, Handle: h.deleteCanned},

		// Knowledge (pages_knowledge.go): documents, live status, chunks, search tester.
		{Pattern: "GET /app/knowledge", Access: Viewer, Handle: h.knowledgePage},
		{Pattern: "POST /app/knowledge", Access: Admin, MaxBody: h.uploadLimit(), Handle: h.uploadDocuments},
		{Pattern: "POST /app/knowledge/import", Access: Admin, Handle: h.importURL},
		{Pattern: "POST /app/knowledge/text", Access: Admin, Handle: h.addText},
		{Pattern: "GET /app/knowledge/events", Access: Viewer, Handle: h.knowledgeEvents},
		{Pattern: "GET /app/knowledge/{id}", Access: Viewer, Handle: h.documentPage},
		{Pattern: "POST /app/knowledge/{id}/delete", Access: Admin, Handle: h.deleteDocument},
		{Pattern: "POST /app/knowledge/{id}/reindex", Access: Admin, Handle: h.reindexDocument},
		// Assistants (pages_assistants.go): settings form and playground.
		{Pattern: "GET /app/assistants", Access: Viewer, Handle: h.assistantsPage},
		{Pattern: "GET /app/assistants/new", Access: Admin, Handle: h.newAssistantPage},
		{Pattern: "POST /app/assistants", Access: Admin, Handle: h.createAssistant},
		{Pattern: "GET /app/assistants/{id}", Access: Viewer, Handle: h.assistantPage},
		{Pattern: "POST /app/assistants/{id}", Access: Admin, Handle: h.updateAssistant},
		{Pattern: "POST /app/assistants/{id}/delete", Access: Admin, Handle: h.deleteAssistant},
		// Channels: the list, a form per type, health, the widget's preview and snippet.
		{Pattern: "GET /app/channels", Access: Viewer, Handle: h.channelsPage},
		{Pattern: "GET /app/channels/new", Access: Admin, Handle: h.newChannelPage},
		{Pattern: "POST /app/channels", Access: Admin, Handle: h.createChannel},
		{Pattern: "GET /app/channels/{id}", Access: Viewer, Handle: h.channelPage},
		{Pattern: "POST /app/channels/{id}", Access: Admin, Handle: h.updateChannel},
		{Pattern: "POST /app/channels/{id}/delete", Access: Admin, Handle: h.deleteChannel},

		// Team: members, roles and invitations by link.
		{Pattern: "GET /app/team", Access: Viewer, Handle: h.teamPage},
		{Pattern: "POST /app/team/invitations", Access: Admin, Handle: h.createInvitation},
		{Pattern: "POST /app/team/invitations/{id}/revoke", Access: Admin, Handle: h.revokeInvitation},
		{Pattern: "POST /app/team/{id}/role", Access: Admin, Handle: h.changeRole},
		{Pattern: "POST /app/team/{id}/remove", Access: Admin, Handle: h.removeMember},

		// The audit log.
		{Pattern: "GET /app/audit", Access: Admin, Handle: h.auditPage},

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
