package dashboard

// The team page: members and their roles (change, remove), invitations by
// link (the link is shown once, with a copy button), pending invitations
// (revoke). Viewers see the team; admins and owners change it. The
// service enforces who may grant which role and that a tenant keeps an
// owner; its refusals are shown on the page.

import (
	"errors"
	"net/http"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// teamData is the team page's own data.
type teamData struct {
	Members     []store.Member
	Next        string
	Invitations []store.Invitation // pending only
	Link        *createdInvite
	CanManage   bool
	Roles       []string // the roles the user may grant
	Me          string   // the signed-in user's id
}

// createdInvite is an invitation just made: its link is shown this once.
type createdInvite struct {
	Email, Role, Link string
}

func (h *Handler) teamPage(w http.ResponseWriter, r *http.Request) error {
	return h.renderTeam(w, r, http.StatusOK, page{Form: map[string][]string{"role": {auth.RoleAgent}}}, nil)
}

func (h *Handler) renderTeam(w http.ResponseWriter, r *http.Request, status int, pg page, link *createdInvite) error {
	p := auth.FromContext(r.Context())
	pgn, err := store.ParsePage(r.URL.Query().Get("cursor"), 50)
	if err != nil {
		return err
	}
	members, err := h.tenants.ListMembers(r.Context(), p, pgn)
	if err != nil {
		return err
	}
	d := teamData{Members: members, Link: link, CanManage: h.canManage(r), Me: p.UserID}
	if len(members) > 0 {
		d.Next = store.NextCursor(pgn, len(members), members[len(members)-1].UserID)
	}
	if d.CanManage {
		invs, err := h.tenants.ListInvitations(r.Context(), p, store.Page{Limit: store.MaxPageSize})
		if err != nil {
			return err
		}
		now := h.now()
		for _, inv := range invs {
			if inv.AcceptedAt == nil && inv.RevokedAt == nil && now.Before(inv.ExpiresAt) {
				d.Invitations = append(d.Invitations, inv)
			}
		}
		for _, role := range []string{auth.RoleOwner, auth.RoleAdmin, auth.RoleAgent, auth.RoleViewer} {
			if role != auth.RoleOwner || p.Role == auth.RoleOwner {
				d.Roles = append(d.Roles, role)
			}
		}
	}
	pg.Title, pg.Nav, pg.Data = "team.title", "team", d
	if link != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	return h.render(w, r, status, "team", pg)
}

// createInvitation serves POST /app/team/invitations and shows the link once.
func (h *Handler) createInvitation(w http.ResponseWriter, r *http.Request) error {
	lang := infoOf(r).lang
	email := strings.TrimSpace(r.PostFormValue("email"))
	role := r.PostFormValue("role")
	errs := map[string]string{}
	if email == "" {
		errs["email"] = h.cat.text(lang, "team.email_required")
	}
	if !auth.ValidRole(role) {
		errs["role"] = h.cat.text(lang, "team.role_invalid")
	}
	if len(errs) == 0 {
		inv, link, err := h.tenants.Invite(r.Context(), auth.FromContext(r.Context()), email, role)
		if err == nil {
			return h.renderTeam(w, r, http.StatusOK, page{Form: map[string][]string{"role": {role}}}, &createdInvite{Email: inv.Email, Role: inv.Role, Link: link})
		}
		if msg, status, ok := teamRefusal(err); ok {
			return h.renderTeam(w, r, status, page{Form: r.PostForm, Error: msg}, nil)
		}
		fe, ok := fieldErrors(err)
		if !ok {
			return err
		}
		errs = fe
	}
	return h.renderTeam(w, r, http.StatusUnprocessableEntity, page{Form: r.PostForm, Errors: errs}, nil)
}

// teamRefusal is a service's refusal to be shown on the team page (not a
// forbidden route: a rule such as "keep an owner" or "only owners grant
// owner"), with its status.
func teamRefusal(err error) (string, int, bool) {
	var e *apperr.Error
	if !errors.As(err, &e) {
		return "", 0, false
	}
	switch e.Kind {
	case apperr.Conflict:
		return e.Message, http.StatusConflict, true
	case apperr.Forbidden:
		return e.Message, http.StatusForbidden, true
	}
	return "", 0, false
}

// revokeInvitation serves POST /app/team/invitations/{id}/revoke.
func (h *Handler) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "invitation not found")
	}
	if err := h.tenants.RevokeInvitation(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/team", "team.flash.revoked")
}

// changeRole serves POST /app/team/{id}/role.
func (h *Handler) changeRole(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "member not found")
	}
	// Another tenant's member (or nobody) is a 404 before anything else.
	if _, err := h.tenants.GetMember(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	role := r.PostFormValue("role")
	if !auth.ValidRole(role) {
		return h.renderTeam(w, r, http.StatusUnprocessableEntity, page{Error: h.cat.text(infoOf(r).lang, "team.role_invalid")}, nil)
	}
	if _, err := h.tenants.ChangeRole(r.Context(), auth.FromContext(r.Context()), id, role); err != nil {
		if msg, status, ok := teamRefusal(err); ok {
			return h.renderTeam(w, r, status, page{Error: msg}, nil)
		}
		return err
	}
	return h.redirect(w, r, "/app/team", "team.flash.role_changed")
}

// removeMember serves POST /app/team/{id}/remove.
func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "member not found")
	}
	if err := h.tenants.RemoveMember(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		if msg, status, ok := teamRefusal(err); ok {
			return h.renderTeam(w, r, status, page{Error: msg}, nil)
		}
		return err
	}
	return h.redirect(w, r, "/app/team", "team.flash.removed")
}
