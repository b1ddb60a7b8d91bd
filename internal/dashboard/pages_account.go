package dashboard

import (
	"net/http"

	"github.com/metachat/metachat/internal/auth"
)

// accountPage serves GET /app/account: who you are, and the password form.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) error {
	return h.render(w, r, http.StatusOK, "account", page{Title: "account.title", Nav: "account", Data: auth.MinPasswordLen})
}

// changePassword serves POST /app/account/password. The auth service
// checks the current password, applies the policy, signs out the user's
// other sessions and writes the audit entry.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	lang := infoOf(r).lang
	current, next, confirm := r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("confirm_password")
	errs := map[string]string{}
	if current == "" {
		errs["current_password"] = h.cat.text(lang, "form.required")
	}
	if next == "" {
		errs["new_password"] = h.cat.text(lang, "form.required")
	} else if next != confirm {
		errs["confirm_password"] = h.cat.text(lang, "account.mismatch")
	}
	if len(errs) == 0 {
		err := h.auth.ChangePassword(r.Context(), auth.FromContext(r.Context()), current, next)
		if err == nil {
			return h.redirect(w, r, "/app/account", "flash.password_changed")
		}
		fe, ok := fieldErrors(err)
		if !ok {
			return err
		}
		if _, wrong := fe["current_password"]; wrong {
			fe["current_password"] = h.cat.text(lang, "account.wrong_current")
		}
		errs = fe
	}
	return h.render(w, r, http.StatusUnprocessableEntity, "account", page{Title: "account.title", Nav: "account", Data: auth.MinPasswordLen, Errors: errs})
}
