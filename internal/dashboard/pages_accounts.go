package dashboard

// Account self-service pages, all public: password reset by a one-time
// link (/login/reset), accepting an invitation (/invite/{token}) and the
// optional sign-up (/signup, off by default). Their forms are posted
// without a session, so like POST /login they carry a pre-session
// double-submit token: a random value in a SameSite=Strict cookie that
// the form echoes.

import (
	"crypto/subtle"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/metachat/metachat/internal/accounts"
	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/httpapi"
)

// formCSRFCookie holds the double-submit token of the public account forms.
const formCSRFCookie = "metachat_form_csrf"

// SetAccounts gives the dashboard its account self-service (how links are
// delivered, whether sign-up is on). A Handler without one gets a default:
// sign-up off, links written to the dashboard's log.
func (h *Handler) SetAccounts(a *accounts.Service) { h.acc.Store(a) }

func (h *Handler) accounts() *accounts.Service {
	if a := h.acc.Load(); a != nil {
		return a
	}
	h.acc.CompareAndSwap(nil, accounts.New(h.store, accounts.Options{Log: h.log}))
	return h.acc.Load()
}

// formToken returns the form's double-submit token: the cookie's, or a
// fresh one set in a cookie.
func (h *Handler) formToken(w http.ResponseWriter, r *http.Request) string {
	token := ""
	if c, err := r.Cookie(formCSRFCookie); err == nil && len(c.Value) == 43 {
		token = c.Value
	} else {
		token = auth.RandomToken(32)
	}
	http.SetCookie(w, &http.Cookie{Name: formCSRFCookie, Value: token, Path: "/", HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	return token
}

// checkFormToken refuses a public form post whose token does not match
// its cookie.
func checkFormToken(r *http.Request) error {
	c, err := r.Cookie(formCSRFCookie)
	if err != nil || len(c.Value) != 43 || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		return apperr.New(apperr.Forbidden, "csrf")
	}
	return nil
}

// publicForm is the data of the account forms.
type publicForm struct {
	CSRF   string
	Token  string // the link's token, for the form's action
	MinLen int    // the password policy's minimum length
	Invite accounts.Invitation
}

// noticeData is a message page (link sent, link invalid) with an
// optional way on.
type noticeData struct {
	Heading   string // catalogue key
	Text      string // translated
	LinkHref  string
	LinkLabel string // catalogue key
}

func (h *Handler) notice(w http.ResponseWriter, r *http.Request, status int, heading, text, href, label string) error {
	return h.render(w, r, status, "accounts_notice", page{Title: heading, Data: noticeData{Heading: heading, Text: text, LinkHref: href, LinkLabel: label}})
}

// throttled is the message for a rate-limited request, or "".
func (h *Handler) throttled(w http.ResponseWriter, err error, lang, key string) string {
	var e *apperr.Error
	if !apperr.Is(err, apperr.RateLimited) || !asErr(err, &e) {
		return ""
	}
	w.Header().Set("Retry-After", itoa(e.RetryAfter))
	return h.cat.text(lang, key, waitText(h.cat, lang, e.RetryAfter))
}

// withoutSecrets is a submitted form minus its passwords (never echoed).
func withoutSecrets(f url.Values) url.Values {
	f = maps.Clone(f)
	for _, k := range []string{"password", "confirm_password", csrfField} {
		f.Del(k)
	}
	return f
}

// --- password reset ------------------------------------------------------

func (h *Handler) renderResetRequest(w http.ResponseWriter, r *http.Request, status int, pg page) error {
	pg.Title, pg.Data = "reset.title", publicForm{CSRF: h.formToken(w, r)}
	return h.render(w, r, status, "accounts_reset", pg)
}

// resetPage serves GET /login/reset: the email form.
func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) error {
	return h.renderResetRequest(w, r, http.StatusOK, page{Form: url.Values{"email": {r.URL.Query().Get("email")}}})
}

// resetRequest serves POST /login/reset. Known or not, the email gets the
// same answer; requests are throttled per IP and per email.
func (h *Handler) resetRequest(w http.ResponseWriter, r *http.Request) error {
	if err := checkFormToken(r); err != nil {
		return err
	}
	lang := infoOf(r).lang
	form := withoutSecrets(r.PostForm)
	email := strings.TrimSpace(r.PostFormValue("email"))
	err := h.accounts().RequestReset(r.Context(), email, httpapi.ClientIP(r.Context()))
	if msg := h.throttled(w, err, lang, "reset.throttled"); msg != "" {
		return h.renderResetRequest(w, r, http.StatusTooManyRequests, page{Form: form, Error: msg})
	}
	if _, ok := fieldErrors(err); ok {
		return h.renderResetRequest(w, r, http.StatusUnprocessableEntity, page{Form: form, Errors: map[string]string{"email": h.cat.text(lang, "reset.email_invalid")}})
	}
	if err != nil {
		return err
	}
	return h.notice(w, r, http.StatusOK, "reset.sent.title", h.cat.text(lang, "reset.sent", strings.ToLower(email)), "/login", "reset.back")
}

func (h *Handler) renderResetForm(w http.ResponseWriter, r *http.Request, status int, token string, pg page) error {
	pg.Title, pg.Data = "reset.new.title", publicForm{CSRF: h.formToken(w, r), Token: token, MinLen: auth.MinPasswordLen}
	return h.render(w, r, status, "accounts_reset_new", pg)
}

func (h *Handler) resetInvalid(w http.ResponseWriter, r *http.Request) error {
	return h.notice(w, r, http.StatusNotFound, "reset.invalid.title", h.cat.text(infoOf(r).lang, "reset.invalid"), "/login/reset", "reset.again")
}

// resetForm serves GET /login/reset/{token}: the new-password form, if
// the link still works.
func (h *Handler) resetForm(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	if err := h.accounts().CheckReset(r.Context(), token); apperr.Is(err, apperr.NotFound) {
		return h.resetInvalid(w, r)
	} else if err != nil {
		return err
	}
	return h.renderResetForm(w, r, http.StatusOK, token, page{})
}

// resetSubmit serves POST /login/reset/{token}: sets the password, which
// uses up the link and signs the user out everywhere, then on to sign-in.
func (h *Handler) resetSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := checkFormToken(r); err != nil {
		return err
	}
	lang, token := infoOf(r).lang, r.PathValue("token")
	password, confirm := r.PostFormValue("password"), r.PostFormValue("confirm_password")
	errs := map[string]string{}
	if password == "" {
		errs["password"] = h.cat.text(lang, "form.required")
	} else if password != confirm {
		errs["confirm_password"] = h.cat.text(lang, "reset.mismatch")
	}
	if len(errs) == 0 {
		email, err := h.accounts().ResetPassword(r.Context(), token, password, httpapi.ClientIP(r.Context()), httpapi.RequestID(r.Context()))
		switch {
		case err == nil:
			return h.redirect(w, r, "/login?email="+url.QueryEscape(email), "reset.done")
		case apperr.Is(err, apperr.NotFound):
			return h.resetInvalid(w, r)
		}
		if _, ok := fieldErrors(err); !ok {
			return err
		}
		errs["password"] = h.cat.text(lang, "reset.policy", auth.MinPasswordLen)
	}
	return h.renderResetForm(w, r, http.StatusUnprocessableEntity, token, page{Errors: errs})
}

// --- invitations ---------------------------------------------------------

// inviteLegacy serves GET /invite?token=…, the form of the links the
// tenants service hands out, by moving the token into the path.
func (h *Handler) inviteLegacy(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if len(token) != 43 || strings.ContainsAny(token, "/?#%") {
		return h.inviteInvalid(w, r)
	}
	return h.redirect(w, r, "/invite/"+token, "")
}

func (h *Handler) inviteInvalid(w http.ResponseWriter, r *http.Request) error {
	return h.notice(w, r, http.StatusNotFound, "invite.invalid.title", h.cat.text(infoOf(r).lang, "invite.invalid"), "/login", "reset.back")
}

func (h *Handler) renderInvite(w http.ResponseWriter, r *http.Request, status int, token string, inv accounts.Invitation, pg page) error {
	pg.Title, pg.Data = "invite.title", publicForm{CSRF: h.formToken(w, r), Token: token, MinLen: auth.MinPasswordLen, Invite: inv}
	return h.render(w, r, status, "accounts_invite", pg)
}

// invitePage serves GET /invite/{token}: the tenant and role, and the
// form (a new person chooses a name and password; someone with an
// account gives its password).
func (h *Handler) invitePage(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	inv, err := h.accounts().Invitation(r.Context(), token)
	if apperr.Is(err, apperr.NotFound) {
		return h.inviteInvalid(w, r)
	}
	if err != nil {
		return err
	}
	return h.renderInvite(w, r, http.StatusOK, token, inv, page{})
}

// inviteAccept serves POST /invite/{token}: accepts through the tenants
// service (which checks an existing account's password under the sign-in
// throttle), signs in, selects the tenant and goes to the dashboard.
func (h *Handler) inviteAccept(w http.ResponseWriter, r *http.Request) error {
	if err := checkFormToken(r); err != nil {
		return err
	}
	ctx, lang, token := r.Context(), infoOf(r).lang, r.PathValue("token")
	inv, err := h.accounts().Invitation(ctx, token)
	if apperr.Is(err, apperr.NotFound) {
		return h.inviteInvalid(w, r)
	}
	if err != nil {
		return err
	}
	form := withoutSecrets(r.PostForm)
	name, password := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	errs := map[string]string{}
	if password == "" {
		errs["password"] = h.cat.text(lang, "form.required")
	} else if !inv.Existing && password != r.PostFormValue("confirm_password") {
		errs["confirm_password"] = h.cat.text(lang, "reset.mismatch")
	}
	if len(errs) > 0 {
		return h.renderInvite(w, r, http.StatusUnprocessableEntity, token, inv, page{Form: form, Errors: errs})
	}
	ip, rid := httpapi.ClientIP(ctx), httpapi.RequestID(ctx)
	_, err = h.tenants.Accept(ctx, token, name, password, ip, rid)
	if msg := h.throttled(w, err, lang, "invite.throttled"); msg != "" {
		return h.renderInvite(w, r, http.StatusTooManyRequests, token, inv, page{Form: form, Error: msg})
	}
	if apperr.Is(err, apperr.NotFound) {
		return h.inviteInvalid(w, r)
	}
	if fe, ok := fieldErrors(err); ok {
		for f := range fe {
			switch {
			case f == "password" && inv.Existing:
				errs[f] = h.cat.text(lang, "invite.wrong_password")
			case f == "password":
				errs[f] = h.cat.text(lang, "reset.policy", auth.MinPasswordLen)
			case f == "name":
				errs[f] = h.cat.text(lang, "signup.name_invalid")
			}
		}
		return h.renderInvite(w, r, http.StatusUnprocessableEntity, token, inv, page{Form: form, Errors: errs})
	}
	if err != nil {
		return err
	}
	ns, err := h.auth.Login(ctx, inv.Email, password, ip, r.UserAgent(), rid)
	if err != nil {
		return err
	}
	if err := h.auth.SwitchTenant(ctx, ns.Principal, inv.TenantID); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Value: ns.ID, Path: "/", HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, Expires: ns.ExpiresAt})
	return h.redirect(w, r, "/app/", "invite.joined")
}

// --- sign-up -------------------------------------------------------------

func (h *Handler) renderSignup(w http.ResponseWriter, r *http.Request, status int, pg page) error {
	pg.Title, pg.Data = "signup.title", publicForm{CSRF: h.formToken(w, r), MinLen: auth.MinPasswordLen}
	return h.render(w, r, status, "accounts_signup", pg)
}

var errSignupOff = apperr.New(apperr.NotFound, "sign-up is off")

// signupPage serves GET /signup (a 404 while sign-up is off).
func (h *Handler) signupPage(w http.ResponseWriter, r *http.Request) error {
	if !h.accounts().SignupEnabled() {
		return errSignupOff
	}
	return h.renderSignup(w, r, http.StatusOK, page{})
}

// signupSubmit serves POST /signup: records the sign-up and sends the
// verification link; nothing can sign in until it is followed.
func (h *Handler) signupSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := checkFormToken(r); err != nil {
		return err
	}
	if !h.accounts().SignupEnabled() {
		return errSignupOff
	}
	lang := infoOf(r).lang
	form := withoutSecrets(r.PostForm)
	req := accounts.SignupRequest{Company: r.PostFormValue("company"), Name: r.PostFormValue("name"), Email: r.PostFormValue("email"), Password: r.PostFormValue("password")}
	errs := map[string]string{}
	if req.Password != "" && req.Password != r.PostFormValue("confirm_password") {
		errs["confirm_password"] = h.cat.text(lang, "reset.mismatch")
	}
	if len(errs) == 0 {
		err := h.accounts().Signup(r.Context(), req, httpapi.ClientIP(r.Context()))
		if err == nil {
			return h.notice(w, r, http.StatusOK, "signup.sent.title", h.cat.text(lang, "signup.sent", strings.ToLower(strings.TrimSpace(req.Email))), "/login", "reset.back")
		}
		if msg := h.throttled(w, err, lang, "signup.throttled"); msg != "" {
			return h.renderSignup(w, r, http.StatusTooManyRequests, page{Form: form, Error: msg})
		}
		fe, ok := fieldErrors(err)
		if !ok {
			return err
		}
		keys := map[string]string{"company": "signup.company_invalid", "name": "signup.name_invalid", "email": "reset.email_invalid"}
		for f := range fe {
			if k, ok := keys[f]; ok {
				errs[f] = h.cat.text(lang, k)
			} else if f == "password" {
				errs[f] = h.cat.text(lang, "reset.policy", auth.MinPasswordLen)
			}
		}
	}
	return h.renderSignup(w, r, http.StatusUnprocessableEntity, page{Form: form, Errors: errs})
}

// signupVerify serves GET /signup/verify/{token}: creates the tenant and
// its owner, then on to sign-in.
func (h *Handler) signupVerify(w http.ResponseWriter, r *http.Request) error {
	if !h.accounts().SignupEnabled() {
		return errSignupOff
	}
	lang := infoOf(r).lang
	email, err := h.accounts().Verify(r.Context(), r.PathValue("token"), httpapi.ClientIP(r.Context()), httpapi.RequestID(r.Context()))
	switch {
	case err == nil:
		return h.redirect(w, r, "/login?email="+url.QueryEscape(email), "signup.verified")
	case apperr.Is(err, apperr.NotFound):
		return h.notice(w, r, http.StatusNotFound, "signup.invalid.title", h.cat.text(lang, "signup.invalid"), "/signup", "signup.title")
	case apperr.Is(err, apperr.Conflict):
		return h.notice(w, r, http.StatusConflict, "signup.invalid.title", h.cat.text(lang, "signup.exists"), "/login/reset", "reset.link")
	}
	return err
}
