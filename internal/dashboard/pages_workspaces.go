package dashboard

import (
	"net/http"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
)

// createWorkspace lets a platform admin create a tenant from the overview
// (a fresh install has none) and switches into it, so the first-run guide
// can start at once. The tenant gets no API key here: keys are made on the
// keys page, where their secret is shown once.
func (h *Handler) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	if !p.PlatformAdmin {
		return apperr.New(apperr.Forbidden, "only a platform admin creates workspaces")
	}
	tn, err := h.tenants.CreateWithoutKey(r.Context(), p, r.PostFormValue("name"))
	if errs, ok := fieldErrors(err); ok {
		return h.render(w, r, http.StatusUnprocessableEntity, "overview", page{Title: "overview.title", Nav: "overview",
			Data: overviewData{NoTenant: true, Steps: setupSteps}, Form: r.PostForm, Errors: errs})
	}
	if err != nil {
		return err
	}
	if err := h.auth.SwitchTenant(r.Context(), p, tn.ID); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/", "flash.workspace_created")
}
