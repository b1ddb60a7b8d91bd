package httpapi

import (
	"net/http"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

func (s *Server) currentTenant(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	var t store.Tenant
	err = s.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		t, err = tx.GetTenant(r.Context(), p.TenantID)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func keyID(k store.APIKey) string { return k.ID }

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	scope, _ := p.Scope()
	var keys []store.APIKey
	err = s.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		keys, err = tx.ListAPIKeys(r.Context(), pg)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, keys, keyID))
}

// createdKey is the only answer that carries a key's secret.
type createdKey struct {
	store.APIKey
	Key string `json:"key"`
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name      string   `json:"name"`
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expires_at"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var expires *time.Time
	if req.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
		if err != nil {
			return apperr.Field("expires_at", "must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		expires = &t
	}
	k, secret, err := s.auth.CreateKey(r.Context(), auth.FromContext(r.Context()), auth.KeyRequest{Name: req.Name, Scopes: req.Scopes, ExpiresAt: expires})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdKey{k, secret})
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	scope, _ := auth.FromContext(r.Context()).Scope()
	var k store.APIKey
	err = s.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		k, err = tx.GetAPIKey(r.Context(), id)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.auth.RevokeKey(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		GraceSeconds *int64 `json:"grace_seconds"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
	}
	var grace time.Duration
	if req.GraceSeconds != nil {
		if *req.GraceSeconds < 0 || *req.GraceSeconds > 30*24*3600 {
			return apperr.Field("grace_seconds", "must be between 0 and 2592000 (30 days)")
		}
		grace = time.Duration(*req.GraceSeconds) * time.Second
		if grace == 0 {
			grace = time.Nanosecond // zero means "stop the old key now"
		}
	}
	k, secret, err := s.auth.RotateKey(r.Context(), auth.FromContext(r.Context()), id, grace)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdKey{k, secret})
}

func memberID(m store.Member) string { return m.UserID }

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	ms, err := s.tenants.ListMembers(r.Context(), auth.FromContext(r.Context()), pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, ms, memberID))
}

func (s *Server) inviteMember(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	inv, link, err := s.tenants.Invite(r.Context(), auth.FromContext(r.Context()), req.Email, req.Role)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"invitation": inv, "invite_url": link})
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	m, err := s.tenants.GetMember(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) changeMemberRole(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	m, err := s.tenants.ChangeRole(r.Context(), auth.FromContext(r.Context()), id, req.Role)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.tenants.RemoveMember(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func invitationID(i store.Invitation) string { return i.ID }

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	out, err := s.tenants.ListInvitations(r.Context(), auth.FromContext(r.Context()), pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, out, invitationID))
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.tenants.RevokeInvitation(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func auditID(e store.AuditEntry) string { return e.ID }

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	out, err := s.tenants.ListAudit(r.Context(), auth.FromContext(r.Context()), pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, out, auditID))
}

func tenantID(t store.Tenant) string { return t.ID }

func (s *Server) adminListTenants(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	out, err := s.tenants.List(r.Context(), pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, out, tenantID))
}

func (s *Server) adminCreateTenant(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	c, err := s.tenants.Create(r.Context(), auth.FromContext(r.Context()), req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"tenant": c.Tenant, "api_key": c.Secret, "api_key_id": c.Key.ID})
}

func (s *Server) adminGetTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.tenants.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) adminSuspendTenant(w http.ResponseWriter, r *http.Request) error {
	return s.adminSetStatus(w, r, "suspended")
}

func (s *Server) adminReactivateTenant(w http.ResponseWriter, r *http.Request) error {
	return s.adminSetStatus(w, r, "active")
}

func (s *Server) adminSetStatus(w http.ResponseWriter, r *http.Request, status string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.tenants.SetStatus(r.Context(), auth.FromContext(r.Context()), id, status)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}
