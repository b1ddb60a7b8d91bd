package dashboard

import (
	"crypto/subtle"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/store"
)

// loginData is the sign-in page's own data.
type loginData struct {
	CSRF   string // the pre-session double-submit token
	Next   string
	Signup bool // self-service sign-up is on: link to it
}

// loginPage serves GET /login. A signed-in user goes straight on.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) error {
	next := localNext(r.URL.Query().Get("next"))
	if auth.FromContext(r.Context()) != nil {
		return h.redirect(w, r, next, "")
	}
	return h.renderLogin(w, r, http.StatusOK, page{Form: r.URL.Query()})
}

// renderLogin shows the sign-in form with a fresh (or the current)
// pre-session CSRF token in a cookie and the form.
func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, pg page) error {
	token := ""
	if c, err := r.Cookie(loginCSRFCookie); err == nil && len(c.Value) == 43 {
		token = c.Value
	} else {
		token = auth.RandomToken(32)
	}
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: token, Path: "/login", HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	pg.Title = "login.title"
	pg.Data = loginData{CSRF: token, Next: localNext(pg.Form.Get("next")), Signup: h.accounts().SignupEnabled()}
	return h.render(w, r, status, "login", pg)
}

// loginSubmit serves POST /login: the double-submit token, then the
// password check by the auth service (which throttles and audits).
func (h *Handler) loginSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return apperr.New(apperr.Invalid, "unreadable form")
	}
	lang := infoOf(r).lang
	form := maps.Clone(r.PostForm)
	form.Del("password") // never echoed back
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		return h.renderLogin(w, r, http.StatusForbidden, page{Form: form, Error: h.cat.text(lang, "login.expired")})
	}
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	errs := map[string]string{}
	if email == "" || len(email) > 254 {
		errs["email"] = h.cat.text(lang, "login.email_required")
	}
	if password == "" || len(password) > auth.MaxPasswordLen*4 {
		errs["password"] = h.cat.text(lang, "login.password_required")
	}
	if len(errs) > 0 {
		return h.renderLogin(w, r, http.StatusUnprocessableEntity, page{Form: form, Errors: errs})
	}
	ns, err := h.auth.Login(r.Context(), email, password, httpapi.ClientIP(r.Context()), r.UserAgent(), httpapi.RequestID(r.Context()))
	var e *apperr.Error
	switch {
	case apperr.Is(err, apperr.Unauthenticated):
		return h.renderLogin(w, r, http.StatusUnauthorized, page{Form: form, Errors: map[string]string{"password": h.cat.text(lang, "login.wrong")}})
	case apperr.Is(err, apperr.RateLimited) && asErr(err, &e):
		w.Header().Set("Retry-After", itoa(e.RetryAfter))
		return h.renderLogin(w, r, http.StatusTooManyRequests, page{Form: form, Error: h.cat.text(lang, "login.throttled", waitText(h.cat, lang, e.RetryAfter))})
	case err != nil:
		return err
	}
	// The session id rotates at every sign-in: the cookie is replaced.
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Value: ns.ID, Path: "/", HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, Expires: ns.ExpiresAt})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Path: "/login", MaxAge: -1, HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	return h.redirect(w, r, localNext(r.PostFormValue("next")), "")
}

// waitText says how long to wait, in minutes when it is more than one.
func waitText(c catalogue, lang string, seconds int) string {
	if seconds > 90 {
		return c.text(lang, "time.minutes", (seconds+59)/60)
	}
	return c.text(lang, "time.seconds", max(seconds, 1))
}

// logout serves POST /logout.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.auth.Logout(r.Context(), auth.FromContext(r.Context())); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Path: "/", HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1, Expires: time.Unix(0, 0)})
	return h.redirect(w, r, "/login", "flash.signed_out")
}

// switchTenant serves POST /app/tenant (the user menu's tenant switcher).
func (h *Handler) switchTenant(w http.ResponseWriter, r *http.Request) error {
	id := r.PostFormValue("tenant_id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "tenant not found")
	}
	if err := h.auth.SwitchTenant(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/", "flash.tenant_switched")
}
