// Package tenants manages tenants and their people: creating and suspending
// tenants (platform admins), members and their roles, invitations.
package tenants

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// Service manages tenants, members and invitations.
type Service struct {
	store   *store.Store
	auth    *auth.Service
	baseURL string
}

// NewService returns the service; baseURL builds invitation links, and
// au checks existing accounts' passwords (throttled like sign-in).
func NewService(st *store.Store, au *auth.Service, baseURL string) *Service {
	return &Service{store: st, auth: au, baseURL: strings.TrimSuffix(baseURL, "/")}
}

// ValidName checks a tenant name.
func ValidName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
		return "", apperr.Field(field, "is required, at most 200 characters")
	}
	return name, nil
}

// Created is a new tenant with its first API key (shown once).
type Created struct {
	Tenant store.Tenant
	Key    store.APIKey
	Secret string
}

// Create makes a tenant and its first admin key in one transaction. actor
// is the platform admin (nil for the CLI).
func (s *Service) Create(ctx context.Context, actor *auth.Principal, name string) (Created, error) {
	return s.create(ctx, actor, name, true)
}

// CreateWithoutKey makes a tenant with no API key (the dashboard, which
// shows keys only on the keys page, creates one there when asked).
func (s *Service) CreateWithoutKey(ctx context.Context, actor *auth.Principal, name string) (store.Tenant, error) {
	c, err := s.create(ctx, actor, name, false)
	return c.Tenant, err
}

func (s *Service) create(ctx context.Context, actor *auth.Principal, name string, withKey bool) (Created, error) {
	name, err := ValidName("name", name)
	if err != nil {
		return Created{}, err
	}
	if actor == nil {
		actor = &auth.Principal{Kind: "system"}
	}
	var out Created
	err = s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		tn, err := tx.CreateTenant(ctx, name)
		if err != nil {
			return err
		}
		out.Tenant = tn
		if err := tx.EnterTenant(ctx, tn.ID); err != nil {
			return err
		}
		creator := *actor
		creator.TenantID = tn.ID
		creator.Scopes = []string{auth.ScopeAdmin, auth.ScopeRead, auth.ScopeWrite} // sorted, as CreateKey stores them
		if err := tx.Audit(ctx, creator.Audit("tenant.created", "tenant", tn.ID, fmt.Sprintf(`{"name":%q}`, tn.Name))); err != nil {
			return err
		}
		if !withKey {
			return nil
		}
		out.Key, out.Secret, err = auth.IssueKey(ctx, tx, &creator, auth.KeyRequest{Name: "initial key", Scopes: creator.Scopes})
		return err
	})
	return out, err
}

// List pages through all tenants (platform admin).
func (s *Service) List(ctx context.Context, p store.Page) ([]store.Tenant, error) {
	var out []store.Tenant
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		out, err = tx.ListTenants(ctx, p)
		return err
	})
	return out, err
}

// Get reads a tenant (platform admin).
func (s *Service) Get(ctx context.Context, id string) (store.Tenant, error) {
	var out store.Tenant
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		out, err = tx.GetTenant(ctx, id)
		return err
	})
	return out, err
}

// SetStatus suspends ("suspended") or reactivates ("active") a tenant. A
// suspended tenant's keys and sessions stop working on their next request:
// authentication checks the status every time.
func (s *Service) SetStatus(ctx context.Context, actor *auth.Principal, id, status string) (store.Tenant, error) {
	var out store.Tenant
	err := s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		if err := tx.SetTenantStatus(ctx, id, status); err != nil {
			return err
		}
		e := actor.Audit("tenant."+map[string]string{"active": "reactivated", "suspended": "suspended"}[status], "tenant", id, "")
		e.TenantID = id
		if err := tx.Audit(ctx, e); err != nil {
			return err
		}
		var err error
		out, err = tx.GetTenant(ctx, id)
		return err
	})
	return out, err
}
