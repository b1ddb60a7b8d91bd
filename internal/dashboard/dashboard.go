// Package dashboard is metachat's server-rendered dashboard: the sign-in
// page at /login and the tenant's pages under /app/. Pages are html/template
// files and a few hand-written assets, all embedded; every route is listed
// in routes.go with the least role it needs, and tests enumerate that table.
//
// A page is one file per area (pages_keys.go) and one template
// (templates/keys.html) that defines "content"; see routes.go for how to
// add one.
package dashboard

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metachat/metachat/internal/accounts"
	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/tenants"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config is what the dashboard needs to know of the server configuration.
type Config struct {
	// SecureCookies marks cookies Secure (the public URL is https).
	SecureCookies bool
}

// Deps are the services the dashboard's pages use.
type Deps struct {
	Store         *store.Store
	Auth          *auth.Service
	Tenants       *tenants.Service
	Assistants    *assistants.Service
	Channels      *channels.Service
	Conversations *conversations.Service
	Knowledge     *knowledge.Service
	// Hub delivers every process's events (on PostgreSQL the bus feeds it
	// from LISTEN): the inbox and knowledge pages stream from it.
	Hub *realtime.Hub
}

// Handler serves the dashboard. Mount it for GET|POST /login, POST /logout
// and /app/ (internal/httpapi does, behind its request id, logging,
// metrics and panic recovery).
type Handler struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	auth    *auth.Service
	tenants *tenants.Service
	assts   *assistants.Service
	chans   *channels.Service
	convs   *conversations.Service
	kb      *knowledge.Service
	hub     *realtime.Hub
	acc     atomic.Pointer[accounts.Service] // SetAccounts
	// closing ends the live streams (SSE) when the server stops: they
	// never go idle, so http.Server.Shutdown would wait for them in vain.
	closing   chan struct{}
	closeOnce sync.Once

	assets  *assets
	cat     catalogue
	pages   map[string]map[string]*template.Template // lang → page → template
	routes  []Route
	mux     *http.ServeMux
	now     func() time.Time
	maxBody int64
}

// New builds the dashboard: it parses every template in every language
// and hashes the assets, so a broken template fails at start-up.
func New(cfg Config, log *slog.Logger, d Deps) (*Handler, error) {
	h := &Handler{cfg: cfg, log: log, store: d.Store, auth: d.Auth, tenants: d.Tenants,
		assts: d.Assistants, chans: d.Channels, convs: d.Conversations, kb: d.Knowledge, hub: d.Hub,
		now: time.Now, maxBody: 1 << 20, closing: make(chan struct{})}
	var err error
	if h.assets, err = loadAssets(); err != nil {
		return nil, fmt.Errorf("dashboard assets: %w", err)
	}
	if h.cat, err = loadCatalogue(); err != nil {
		return nil, fmt.Errorf("dashboard catalogues: %w", err)
	}
	if err := h.parseTemplates(); err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	h.routes = h.routeTable()
	h.mux = http.NewServeMux()
	for _, rt := range h.routes {
		h.mux.Handle(rt.Pattern, h.wrap(rt))
	}
	return h, nil
}

// Shutdown ends the live streams; call it before http.Server.Shutdown.
func (h *Handler) Shutdown() { h.closeOnce.Do(func() { close(h.closing) }) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Routes lists every dashboard route (tests enumerate it).
func (h *Handler) Routes() []Route { return h.routes }

// parseTemplates builds, per language, one template per page: the shared
// layout (templates/layout.html) plus the page's own file, which defines
// "content" (and may define "head" for page-specific <head> entries).
func (h *Handler) parseTemplates() error {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	h.pages = map[string]map[string]*template.Template{}
	for _, lang := range languages {
		base, err := template.New("layout.html").Funcs(h.funcs(lang.Code)).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
		if err != nil {
			return err
		}
		h.pages[lang.Code] = map[string]*template.Template{}
		for _, f := range files {
			name := strings.TrimSuffix(path.Base(f), ".html")
			if name == "layout" || name == "partials" {
				continue
			}
			t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
			if err != nil {
				return err
			}
			h.pages[lang.Code][name] = t
		}
	}
	return nil
}

// funcs are the template functions, bound to one language:
//
//	{{t "keys.title"}}            the catalogue string (fmt verbs take args)
//	{{asset "app.css"}}           the asset's content-hashed URL
//	{{date .CreatedAt}}           a time (or *time.Time; nil is "—")
//	{{has .Form.scopes "read"}}   whether a list holds a value
//	{{range list "a" "b"}}        a list of strings
func (h *Handler) funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"t":     func(key string, args ...any) string { return h.cat.text(lang, key, args...) },
		"asset": h.assets.url,
		"date":  formatTime,
		"list":  func(s ...string) []string { return s },
		"has": func(list []string, v string) bool {
			for _, s := range list {
				if s == v {
					return true
				}
			}
			return false
		},
	}
}

func formatTime(v any) string {
	switch t := v.(type) {
	case time.Time:
		return t.UTC().Format("2006-01-02 15:04 UTC")
	case *time.Time:
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	return ""
}
