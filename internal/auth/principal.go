// Package auth authenticates people and programs and says what they may do:
// passwords (argon2id), dashboard sessions, API keys with scopes, roles,
// sign-in throttling and the first-run setup of a platform admin.
package auth

import (
	"context"
	"slices"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/store"
)

// Scopes an API key can hold, and the roles of tenant members.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"

	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleAgent  = "agent"
	RoleViewer = "viewer"
)

// ValidScope and ValidRole check names from requests.
func ValidScope(s string) bool { return s == ScopeRead || s == ScopeWrite || s == ScopeAdmin }

// ValidRole reports whether r is a member role.
func ValidRole(r string) bool {
	return r == RoleOwner || r == RoleAdmin || r == RoleAgent || r == RoleViewer
}

// roleScopes maps a member's role to what it may do through the API: a
// viewer only reads, an agent works conversations but manages nothing, an
// admin or owner manages keys, members and settings.
var roleScopes = map[string][]string{
	RoleOwner:  {ScopeRead, ScopeWrite, ScopeAdmin},
	RoleAdmin:  {ScopeRead, ScopeWrite, ScopeAdmin},
	RoleAgent:  {ScopeRead, ScopeWrite},
	RoleViewer: {ScopeRead},
}

// Principal is who is making a request. The tenant a request acts on comes
// from here and nowhere else.
type Principal struct {
	Kind          string // "api_key" or "session"
	TenantID      string // "" for a signed-in user with no tenant selected
	TenantName    string
	UserID        string // session principals
	Email         string
	Role          string // the user's role in TenantID
	PlatformAdmin bool
	KeyID         string // API key principals
	Scopes        []string
	SessionHash   string
	CSRFToken     string

	// Request facts for the audit log.
	IP        string
	RequestID string
}

// Can reports whether the principal holds scope.
func (p *Principal) Can(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Scope is the store scope for the principal's tenant.
func (p *Principal) Scope() (store.Scope, error) {
	if p.TenantID == "" {
		return store.Scope{}, apperr.New(apperr.Forbidden, "no tenant selected: switch to a tenant first")
	}
	return store.TenantScope(p.TenantID), nil
}

// ActorID names the principal in the audit log.
func (p *Principal) ActorID() (typ, id string) {
	switch p.Kind {
	case "api_key":
		return "api_key", p.KeyID
	case "session":
		return "user", p.UserID
	}
	return "system", ""
}

// Audit fills an audit entry's actor and request fields.
func (p *Principal) Audit(action, targetType, targetID, details string) store.AuditEntry {
	typ, id := p.ActorID()
	return store.AuditEntry{TenantID: p.TenantID, ActorType: typ, ActorID: id, Action: action, TargetType: targetType, TargetID: targetID, IP: p.IP, RequestID: p.RequestID, Details: details}
}

type principalKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's principal, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
