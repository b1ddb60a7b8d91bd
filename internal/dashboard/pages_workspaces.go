package dashboard

import (
	"net/http"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
)

// createWorkspace lets a platform admin create a tenant from the overview
// (a fresh install has none) and switches into it, so the first-run guide
// can start at once. The tenant's initial API key, whose secret this page
// never shows, is revoked: keys are made on the keys page, shown once.
func (h *Handler) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	if !p.PlatformAdmin {
		return apperr.New(apperr.Forbidden, "only a platform admin creates workspaces")
	}
	c, err := h.tenants.Create(r.Context(), p, r.PostFormValue("name"))
	if errs, ok := fieldErrors(err); ok {
		return h.render(w, r, http.StatusUnprocessableEntity, "overview", page{Title: "overview.title", Nav: "overview",
			Data: overviewData{NoTenant: true, Steps: setupSteps}, Form: r.PostForm, Errors: errs})
	}
	if err != nil {
		return err
	}
	in := *p
	in.TenantID, in.Role, in.Scopes = c.Tenant.ID, "owner", []string{auth.ScopeAdmin, auth.ScopeRead, auth.ScopeWrite}
	if err := h.auth.RevokeKey(r.Context(), &in, c.Key.ID); err != nil {
		return err
	}
	if err := h.auth.SwitchTenant(r.Context(), p, c.Tenant.ID); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/", "flash.workspace_created")
}
