// Package httpapi is metachat's HTTP surface: the REST API, health and
// metrics endpoints, middleware and problem+json errors. Every route is
// registered in routes.go, in one table that tests enumerate.
package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/messaging"
	"github.com/metachat/metachat/internal/ratelimit"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/tenants"
	"github.com/metachat/metachat/internal/widget"
)

// Config is what the HTTP layer needs to know of the server configuration.
type Config struct {
	BaseURL        string
	SecureCookies  bool
	MaxBodyBytes   int64
	RateLimitIP    float64 // requests per second per client IP
	RateLimitKey   float64 // requests per second per API key or session
	TrustedProxies []netip.Prefix
	Version        string
}

// Deps are the services the API serves.
type Deps struct {
	Store         *store.Store
	Auth          *auth.Service
	Tenants       *tenants.Service
	Assistants    *assistants.Service
	Channels      *channels.Service
	Conversations *conversations.Service
	Widget        *widget.Handler
	Knowledge     *knowledge.Service
	Messaging     *messaging.Service
	// Dashboard, when set, serves GET|POST /login, POST /logout, the
	// account pages (/login/reset…, /invite…, /signup…) and everything
	// under /app/ (see internal/dashboard). It authenticates
	// by itself (redirecting to /login); the outer middleware still applies.
	Dashboard http.Handler
}

// Server serves the API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	auth    *auth.Service
	tenants *tenants.Service
	assts   *assistants.Service
	chans   *channels.Service
	convs   *conversations.Service
	widget  *widget.Handler
	kb      *knowledge.Service
	msg     *messaging.Service
	metrics *metrics
	ipLimit *ratelimit.Limiter
	keyLim  *ratelimit.Limiter
	routes  []Route
	handler http.Handler
}

// New builds the server and its routes.
func New(cfg Config, log *slog.Logger, d Deps) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.RateLimitIP == 0 {
		cfg.RateLimitIP = 20
	}
	if cfg.RateLimitKey == 0 {
		cfg.RateLimitKey = 50
	}
	s := &Server{
		cfg: cfg, log: log, store: d.Store, auth: d.Auth, tenants: d.Tenants, assts: d.Assistants, chans: d.Channels, convs: d.Conversations, widget: d.Widget, kb: d.Knowledge, msg: d.Messaging,
		metrics: newMetrics(d.Store.DB()),
		ipLimit: ratelimit.New(cfg.RateLimitIP, int(2*cfg.RateLimitIP)+1),
		keyLim:  ratelimit.New(cfg.RateLimitKey, int(2*cfg.RateLimitKey)+1),
	}
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.Pattern, s.wrap(rt))
	}
	if d.Dashboard != nil {
		dash := s.dashboard(d.Dashboard)
		for _, p := range []string{"GET /login", "POST /login", "POST /logout", "/app/", "/login/", "/invite", "/invite/", "/signup", "/signup/"} {
			mux.Handle(p, dash)
		}
	}
	mux.Handle("/", s.wrap(Route{Access: Public, Handle: func(w http.ResponseWriter, r *http.Request) error {
		return apperr.New(apperr.NotFound, "no such endpoint: see /api/v1/openapi.json")
	}}))
	s.handler = s.outer(mux)
	return s
}

// dashboard applies the per-IP rate limit to the dashboard's pages and
// actions (not to its hashed, cacheable assets).
func (s *Server) dashboard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/app/assets/") {
			if ok, wait := s.ipLimit.Allow("ip:" + clientIP(r.Context())); !ok {
				writeError(w, r, &apperr.Error{Kind: apperr.RateLimited, Message: "too many requests from this address", RetryAfter: wait})
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// ClientIP is the request's client address as the outer middleware
// resolved it (honouring trusted proxies); "" outside this server.
func ClientIP(ctx context.Context) string { return clientIP(ctx) }

// RequestID is the request's id (the X-Request-Id answered); "" outside
// this server.
func RequestID(ctx context.Context) string { return requestID(ctx) }

// Logger is the request's logger (carrying its request id).
func Logger(ctx context.Context) *slog.Logger { return logger(ctx) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes lists every registered route (the cross-tenant matrix and the
// OpenAPI test enumerate it).
func (s *Server) Routes() []Route { return s.routes }

// Access says who may call a route.
type Access int

// The access levels.
const (
	Public        Access = iota // anyone; rate-limited per IP
	Authenticated               // any valid API key or session
	SessionOnly                 // a signed-in dashboard user
	Tenant                      // acts on the principal's tenant; needs Scope
	PlatformAdmin               // a signed-in platform admin
)

// Route is one endpoint.
type Route struct {
	Pattern string // ServeMux pattern with method, e.g. "GET /api/v1/api-keys/{id}"
	Access  Access
	Scope   string // for Tenant routes: read, write or admin
	// Unlimited routes skip the per-IP rate limit (health checks, metrics).
	Unlimited bool
	// MaxBody replaces the server-wide request size limit (uploads).
	MaxBody func() int64
	Handle  func(http.ResponseWriter, *http.Request) error
}

var errPanic = errors.New("handler panicked")

type principalKey struct{}

// principalOf returns the request's principal, if authenticated.
func principalOf(r *http.Request) *auth.Principal {
	if st, ok := r.Context().Value(principalKey{}).(*reqState); ok {
		return st.p
	}
	return nil
}

// reqState is mutable per-request state shared with the outer middleware
// (which runs before authentication but logs after it).
type reqState struct {
	p *auth.Principal
	// body is the request body before the server-wide size limit, for
	// routes that allow more (uploads).
	body io.ReadCloser
}

// SessionCookie is the dashboard session cookie's name.
const SessionCookie = "metachat_session"

// CSRFHeader carries the session's CSRF token on cookie-authenticated writes.
const CSRFHeader = "X-CSRF-Token"

// wrap applies rate limits and authentication for one route.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := r.Context().Value(principalKey{}).(*reqState)
		if st == nil {
			st = &reqState{}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, st))
		}
		if rt.MaxBody != nil && st.body != nil {
			r.Body = http.MaxBytesReader(w, st.body, rt.MaxBody())
		}
		err := s.serve(w, r, rt, st)
		if err != nil {
			writeError(w, r, err)
		}
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt Route, st *reqState) error {
	if !rt.Unlimited {
		if ok, wait := s.ipLimit.Allow("ip:" + clientIP(r.Context())); !ok {
			return &apperr.Error{Kind: apperr.RateLimited, Message: "too many requests from this address", RetryAfter: wait}
		}
	}
	if rt.Access == Public {
		return rt.Handle(w, r)
	}
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	p.IP, p.RequestID = clientIP(r.Context()), requestID(r.Context())
	st.p = p
	limitKey := "key:" + p.KeyID
	if p.Kind == "session" {
		limitKey = "session:" + p.SessionHash
	}
	if ok, wait := s.keyLim.Allow(limitKey); !ok {
		return &apperr.Error{Kind: apperr.RateLimited, Message: "too many requests for this key", RetryAfter: wait}
	}
	switch rt.Access {
	case SessionOnly:
		if p.Kind != "session" {
			return apperr.New(apperr.Forbidden, "this endpoint needs a signed-in user, not an API key")
		}
	case PlatformAdmin:
		if p.Kind != "session" || !p.PlatformAdmin {
			return apperr.New(apperr.Forbidden, "this endpoint is for platform admins")
		}
	case Tenant:
		if p.TenantID == "" {
			return apperr.New(apperr.Forbidden, "no tenant selected: switch to a tenant first")
		}
		if !p.Can(rt.Scope) {
			return apperr.New(apperr.Forbidden, "this needs the %s scope, which your key or role does not have", rt.Scope)
		}
	}
	ctx := auth.WithPrincipal(r.Context(), p)
	ctx = context.WithValue(ctx, loggerKey, logger(ctx).With(slog.String("tenant_id", p.TenantID)))
	return rt.Handle(w, r.WithContext(ctx))
}

// authenticate resolves the bearer key or the session cookie. A session
// used for a write must present its CSRF token: the cookie alone, which a
// browser attaches to cross-site requests too, is never enough.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		key, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, apperr.New(apperr.Unauthenticated, "use Authorization: Bearer <api key>")
		}
		return s.auth.AuthenticateKey(r.Context(), strings.TrimSpace(key))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, apperr.New(apperr.Unauthenticated, "authentication required: send an API key as a Bearer token, or sign in")
	}
	p, err := s.auth.AuthenticateSession(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	if !safeMethod(r.Method) {
		token := r.Header.Get(CSRFHeader)
		if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(p.CSRFToken)) != 1 {
			return nil, apperr.New(apperr.Forbidden, "missing or wrong CSRF token: send the X-CSRF-Token header you received at sign-in")
		}
	}
	return p, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func validID(s string) bool { return store.ValidID(s) }
