package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// pageFrom reads ?cursor= and ?limit=.
func pageFrom(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return store.Page{}, apperr.Field("limit", "must be a whole number between 1 and 200")
		}
		limit = n
	}
	return store.ParsePage(q.Get("cursor"), limit)
}

// list is the shape of every list answer.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func newList[T any](p store.Page, items []T, id func(T) string) list[T] {
	last := ""
	if len(items) > 0 {
		last = id(items[len(items)-1])
	}
	return list[T]{Items: items, NextCursor: store.NextCursor(p, len(items), last)}
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var fe apperr.Fields
	if req.Email == "" || len(req.Email) > 254 {
		fe.Add("email", "is required")
	}
	if req.Password == "" || len(req.Password) > auth.MaxPasswordLen*4 {
		fe.Add("password", "is required")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	ns, err := s.auth.Login(r.Context(), req.Email, req.Password, clientIP(r.Context()), r.UserAgent(), requestID(r.Context()))
	if err != nil {
		return err
	}
	// Any session cookie the browser had is replaced: the id rotates at login.
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: ns.ID, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, Expires: ns.ExpiresAt,
	})
	return writeJSON(w, http.StatusOK, map[string]any{"csrf_token": ns.CSRFToken, "expires_at": ns.ExpiresAt, "user": meOf(ns.Principal)})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.auth.Logout(r.Context(), auth.FromContext(r.Context())); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1, Expires: time.Unix(0, 0)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meAnswer struct {
	Kind          string   `json:"kind"`
	UserID        string   `json:"user_id,omitempty"`
	Email         string   `json:"email,omitempty"`
	PlatformAdmin bool     `json:"platform_admin"`
	TenantID      string   `json:"tenant_id,omitempty"`
	TenantName    string   `json:"tenant_name,omitempty"`
	Role          string   `json:"role,omitempty"`
	KeyID         string   `json:"key_id,omitempty"`
	Scopes        []string `json:"scopes"`
}

func meOf(p *auth.Principal) meAnswer {
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return meAnswer{Kind: p.Kind, UserID: p.UserID, Email: p.Email, PlatformAdmin: p.PlatformAdmin, TenantID: p.TenantID, TenantName: p.TenantName, Role: p.Role, KeyID: p.KeyID, Scopes: scopes}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	out := struct {
		meAnswer
		Tenants []store.Membership `json:"tenants,omitempty"`
	}{meAnswer: meOf(p)}
	if p.Kind == "session" {
		err := s.store.Read(r.Context(), store.SystemScope, func(tx *store.Tx) error {
			var err error
			out.Tenants, err = tx.UserMemberships(r.Context(), p.UserID)
			return err
		})
		if err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) switchTenant(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		TenantID string `json:"tenant_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !validID(req.TenantID) {
		return apperr.Field("tenant_id", "is not a valid id")
	}
	p := auth.FromContext(r.Context())
	if err := s.auth.SwitchTenant(r.Context(), p, req.TenantID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.auth.ChangePassword(r.Context(), auth.FromContext(r.Context()), req.Current, req.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token    string `json:"token"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Token == "" {
		return apperr.Field("token", "is required")
	}
	m, err := s.tenants.Accept(r.Context(), req.Token, req.Name, req.Password, clientIP(r.Context()), requestID(r.Context()))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}
