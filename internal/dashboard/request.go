package dashboard

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/store"
)

// csp is the Content-Security-Policy of every dashboard response: our own
// scripts, styles and images only, nothing inline, never framed.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Cookie names. The session cookie is the API's: the dashboard's scripts
// can call /api/v1 with it (and the X-CSRF-Token header).
const (
	flashCookie     = "metachat_flash"
	loginCSRFCookie = "metachat_login_csrf"
	langCookie      = "lang"
	csrfField       = "csrf"
)

type reqKey struct{}

// reqInfo is what the dashboard knows of a request before its handler runs.
type reqInfo struct {
	lang string
	p    *auth.Principal // nil on public routes without a session
}

func infoOf(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(reqKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{lang: "en"}
}

// wrap sets the security headers, resolves the language and the session,
// enforces the route's access level and CSRF, then runs the handler.
func (h *Handler) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		ri := &reqInfo{lang: h.language(r)}
		r = r.WithContext(context.WithValue(r.Context(), reqKey{}, ri))
		if r.Method == http.MethodPost {
			limit := h.maxBody
			if rt.MaxBody > 0 {
				limit = rt.MaxBody
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		if err := h.serve(w, r, rt, ri); err != nil {
			h.fail(w, r, err)
		}
	})
}

var errNoSession = apperr.New(apperr.Unauthenticated, "sign in first")

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt Route, ri *reqInfo) error {
	p, err := h.session(r)
	if err != nil {
		return err
	}
	if rt.Access == Public {
		if p != nil {
			ri.p = p
			r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		}
		return rt.Handle(w, r)
	}
	if p == nil {
		return errNoSession
	}
	ri.p = p
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		token := r.Header.Get(httpapi.CSRFHeader)
		if token == "" {
			token = r.PostFormValue(csrfField)
		}
		if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(p.CSRFToken)) != 1 {
			return apperr.New(apperr.Forbidden, "csrf")
		}
	}
	if !rt.Access.allows(p) {
		if p.TenantID == "" {
			return apperr.New(apperr.Forbidden, "no-tenant")
		}
		return apperr.New(apperr.Forbidden, "role")
	}
	return rt.Handle(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
}

// session resolves the session cookie: nil without one (or with an expired
// one), an error only when the database fails.
func (h *Handler) session(r *http.Request) (*auth.Principal, error) {
	c, err := r.Cookie(httpapi.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	p, err := h.auth.AuthenticateSession(r.Context(), c.Value)
	if apperr.Is(err, apperr.Unauthenticated) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.IP, p.RequestID = httpapi.ClientIP(r.Context()), httpapi.RequestID(r.Context())
	return p, nil
}

// page is what a handler hands to render: the page's own part. render adds
// the rest (language, user, CSRF token, tenants, flash, navigation).
type page struct {
	Title  string            // catalogue key of the <title> and <h1>
	Nav    string            // the navItem.ID to mark as current
	Data   any               // the page's own data
	Form   url.Values        // submitted values, to refill a form
	Errors map[string]string // field name → message (already translated)
	Error  string            // a form-wide message (already translated)
}

// view is the whole template data: {{.Page.Data}} is the page's own.
type view struct {
	Page     page
	Lang     string
	Langs    []language
	P        *auth.Principal
	CSRF     string
	Nav      []navItem
	Tenants  []store.Membership // the tenant switcher's choices
	Switcher bool
	Flash    string
	Path     string // the current path and query, for "next" links
}

// render writes page name with status. A failure to render is logged and
// answered with a plain 500 (the template may have written part already).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, pg page) error {
	ri := infoOf(r)
	v := view{Page: pg, Lang: ri.lang, Langs: languages, P: ri.p, Path: r.URL.RequestURI()}
	if v.P != nil {
		v.CSRF = v.P.CSRFToken
		for _, n := range nav {
			if n.Access.allows(v.P) {
				v.Nav = append(v.Nav, n)
			}
		}
		v.Tenants, v.Switcher = h.tenantChoices(r.Context(), v.P)
	}
	if c, err := r.Cookie(flashCookie); err == nil {
		if h.cat.has(c.Value) {
			v.Flash = h.cat.text(ri.lang, c.Value)
		}
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	}
	t := h.pages[ri.lang][name]
	if t == nil {
		return apperr.Wrap(errors.New("no template "+name), "render")
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return apperr.Wrap(err, "render "+name)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Language", ri.lang)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// tenantChoices lists the tenants the user can switch to: their
// memberships, and for a platform admin every tenant (first 200).
func (h *Handler) tenantChoices(ctx context.Context, p *auth.Principal) ([]store.Membership, bool) {
	var out []store.Membership
	err := h.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		out, err = tx.UserMemberships(ctx, p.UserID)
		if err != nil || !p.PlatformAdmin {
			return err
		}
		all, err := tx.ListTenants(ctx, store.Page{Limit: store.MaxPageSize})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, m := range out {
			seen[m.TenantID] = true
		}
		for _, t := range all {
			if !seen[t.ID] && t.Status == "active" {
				out = append(out, store.Membership{TenantID: t.ID, TenantName: t.Name, Role: auth.RoleAdmin})
			}
		}
		return nil
	})
	if err != nil {
		h.logger(ctx).Warn("list tenants for the switcher", slog.String("error", err.Error()))
		return nil, false
	}
	return out, len(out) > 1 || (p.PlatformAdmin && len(out) > 0)
}

// redirect answers 303 See Other to a local path, with an optional flash
// message (a catalogue key) shown once by the next page.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, to, flashKey string) error {
	if flashKey != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: flashKey, Path: "/", MaxAge: 60, HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// fail renders an error as a page: no session → to the sign-in page (GET)
// or 403; forbidden → 403; not found → 404; anything internal → 500 with
// the cause in the log only.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ri := infoOf(r)
	var e *apperr.Error
	if !errors.As(err, &e) || e.Kind == apperr.Internal {
		h.logger(r.Context()).Error("dashboard request failed", slog.String("error", err.Error()))
		e = &apperr.Error{Kind: apperr.Internal}
	}
	status, msg := http.StatusInternalServerError, "error.internal"
	switch e.Kind {
	case apperr.Unauthenticated:
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			_ = h.redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), "")
			return
		}
		status, msg = http.StatusForbidden, "error.session"
	case apperr.Forbidden:
		status, msg = http.StatusForbidden, "error.forbidden"
		switch e.Message {
		case "csrf":
			msg = "error.csrf"
		case "no-tenant":
			msg = "error.no_tenant"
		}
	case apperr.NotFound:
		status, msg = http.StatusNotFound, "error.not_found"
	case apperr.RateLimited:
		status, msg = http.StatusTooManyRequests, "error.rate_limited"
	case apperr.Invalid, apperr.Conflict, apperr.TooLarge:
		status, msg = http.StatusBadRequest, "error.invalid"
		if e.Kind == apperr.Conflict {
			status = http.StatusConflict
		}
	}
	pg := page{Title: "error.title", Data: errorData{Status: status, Message: h.cat.text(ri.lang, msg), Detail: detailOf(e)}}
	if err := h.render(w, r, status, "error", pg); err != nil {
		h.logger(r.Context()).Error("render error page", slog.String("error", err.Error()))
		http.Error(w, http.StatusText(status), status)
	}
}

type errorData struct {
	Status  int
	Message string
	Detail  string
}

// detailOf is the service's own (English) explanation, for the kinds where
// it helps the user and reveals nothing.
func detailOf(e *apperr.Error) string {
	switch e.Kind {
	case apperr.Invalid, apperr.Conflict:
		return e.Message
	}
	return ""
}

func (h *Handler) logger(ctx context.Context) *slog.Logger {
	if l := httpapi.Logger(ctx); l != slog.Default() || h.log == nil {
		return l
	}
	return h.log
}

// fieldErrors turns a service's validation error into messages by field
// (the first segment of names such as "scopes[1]"); ok is false for any
// other error. Messages from services are English; the dashboard's own
// checks use catalogue strings.
func fieldErrors(err error) (map[string]string, bool) {
	var e *apperr.Error
	if !errors.As(err, &e) || e.Kind != apperr.Invalid || len(e.Fields) == 0 {
		return nil, false
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		name, _, _ := strings.Cut(f.Field, "[")
		if _, dup := out[name]; !dup {
			out[name] = f.Message
		}
	}
	return out, true
}

// localNext returns next when it is a dashboard path on this site (so a
// crafted link cannot redirect anywhere else), else /app/.
func localNext(next string) string {
	if next == "" || len(next) > 2000 || strings.ContainsAny(next, "\\\r\n\t") {
		return "/app/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(next, "//") {
		return "/app/"
	}
	if u.Path != "/app" && !strings.HasPrefix(u.Path, "/app/") && u.Path != "/login" {
		return "/app/"
	}
	if strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		return "/app/"
	}
	return u.RequestURI()
}
