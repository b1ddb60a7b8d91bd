package widget

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/secrets"
	"github.com/metachat/metachat/internal/store"
)

//go:embed assets/loader.js assets/frame.js assets/frame.css
var assetFS embed.FS

// Limiter is a keyed rate limit (see internal/ratelimit).
type Limiter interface {
	Allow(key string) (ok bool, retryAfter int)
}

// Limits are the widget's abuse limits.
type Limits struct {
	Sessions Limiter // session creations per client IP
	Messages Limiter // messages per visitor
}

// Handler serves the widget endpoints.
type Handler struct {
	store    *store.Store
	channels *channels.Service
	convs    *conversations.Service
	hub      *realtime.Hub
	keys     *secrets.Keyring
	base     *url.URL
	limits   Limits
	log      *slog.Logger
	assets   map[string]asset
	now      func() time.Time
	connState
}

type asset struct {
	body        []byte
	hash        string
	contentType string
}

// New returns the widget handler. hub is where live events arrive (fed by
// the in-process bus or by LISTEN on PostgreSQL).
func New(st *store.Store, ch *channels.Service, cv *conversations.Service, hub *realtime.Hub, keys *secrets.Keyring, baseURL string, limits Limits, log *slog.Logger) (*Handler, error) {
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	h := &Handler{store: st, channels: ch, convs: cv, hub: hub, keys: keys, base: base, limits: limits, log: log, assets: map[string]asset{}, now: time.Now}
	for name, ct := range map[string]string{"loader.js": "text/javascript; charset=utf-8", "frame.js": "text/javascript; charset=utf-8", "frame.css": "text/css; charset=utf-8"} {
		b, err := fs.ReadFile(assetFS, "assets/"+name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		h.assets[name] = asset{body: b, hash: hex.EncodeToString(sum[:6]), contentType: ct}
	}
	return h, nil
}

// Hub is where live events arrive in this process.
func (h *Handler) Hub() *realtime.Hub { return h.hub }

// AssetSizes reports the embedded assets' sizes (for the size budget test).
func AssetSizes() map[string][]byte {
	out := map[string][]byte{}
	for _, n := range []string{"loader.js", "frame.js", "frame.css"} {
		b, _ := fs.ReadFile(assetFS, "assets/"+n)
		out[n] = b
	}
	return out
}

// origin is the server's own origin (scheme://host).
func (h *Handler) origin() string { return h.base.Scheme + "://" + h.base.Host }

// Loader serves GET /widget.js. Sites embed this URL, so it cannot carry a
// content hash: it is cached briefly and revalidated by ETag.
func (h *Handler) Loader(w http.ResponseWriter, r *http.Request) error {
	a := h.assets["loader.js"]
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	return serveAsset(w, r, a)
}

// Asset serves GET /widget/assets/{name}; the frame links them with ?v=hash,
// so they can be cached for a year.
func (h *Handler) Asset(w http.ResponseWriter, r *http.Request) error {
	a, ok := h.assets[r.PathValue("name")]
	if !ok || r.PathValue("name") == "loader.js" {
		return apperr.New(apperr.NotFound, "no such asset")
	}
	if r.URL.Query().Get("v") == a.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	return serveAsset(w, r, a)
}

func serveAsset(w http.ResponseWriter, r *http.Request, a asset) error {
	etag := `"` + a.hash + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", a.contentType)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	_, err := w.Write(a.body)
	return err
}

var frameTmpl = template.Must(template.New("frame").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat</title><link rel="stylesheet" href="/widget/assets/frame.css?v={{.CSS}}"></head>
<body><div id="app" data-key="{{.Key}}"></div><script src="/widget/assets/frame.js?v={{.JS}}" defer></script></body></html>
`))

// Frame serves GET /widget/frame?key=pk_…: the chat UI on our origin, inside
// an iframe on the tenant's site. Its CSP allows no inline script and no
// eval, and frame-ancestors lets only the channel's allowed origins embed it.
func (h *Handler) Frame(w http.ResponseWriter, r *http.Request) error {
	key := r.URL.Query().Get("key")
	ch, err := h.channels.ByPublicKey(r.Context(), key)
	ancestors := "'none'"
	if err == nil && len(ch.Web.AllowedOrigins) > 0 {
		ancestors = strings.Join(ch.Web.AllowedOrigins, " ")
	} else if err != nil && !apperr.Is(err, apperr.NotFound) {
		return err
	}
	// An unknown key still gets the page: it shows the refusal the session
	// endpoint explains, instead of a blank frame.
	wsOrigin := "ws://" + h.base.Host
	if h.base.Scheme == "https" {
		wsOrigin = "wss://" + h.base.Host
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self' "+wsOrigin+"; base-uri 'none'; form-action 'none'; frame-ancestors "+ancestors)
	hd.Del("X-Frame-Options") // frame-ancestors governs embedding here
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cross-Origin-Opener-Policy", "unsafe-none")
	return frameTmpl.Execute(w, map[string]string{"Key": key, "JS": h.assets["frame.js"].hash, "CSS": h.assets["frame.css"].hash})
}

// sessionRequest is POST /api/v1/widget/sessions.
type sessionRequest struct {
	PublicKey     string `json:"public_key"`
	VisitorToken  string `json:"visitor_token"`
	HostOrigin    string `json:"host_origin"`
	Language      string `json:"language"`
	UserID        string `json:"user_id"`
	UserTimestamp int64  `json:"user_timestamp"`
	UserSignature string `json:"user_signature"`
}

// Config is what the frame needs to draw itself.
type Config struct {
	Title       string            `json:"title"`
	AccentColor string            `json:"accent_color"`
	Greeting    string            `json:"greeting"`
	Position    string            `json:"position"`
	AvatarURL   string            `json:"avatar_url"`
	Suggestions []string          `json:"suggestions"`
	Language    string            `json:"language"`
	Strings     map[string]string `json:"strings"`
}

// SessionAnswer is the session endpoint's answer.
type SessionAnswer struct {
	VisitorToken   string  `json:"visitor_token"`
	ConversationID *string `json:"conversation_id"`
	ExpiresAt      string  `json:"expires_at"`
	Config         Config  `json:"config"`
}

// CheckOrigin applies the channel's allowed origins to a browser request.
// A request from our own frame (Origin = our origin) is judged by the host
// page it says it is embedded in — the frame's CSP frame-ancestors has
// already made the browser refuse to render it anywhere else. A request
// from a page elsewhere is judged by its Origin. Requests without Origin
// come from no browser (apps, servers) and are not the browser's to police.
func (h *Handler) CheckOrigin(r *http.Request, ch channels.WebChannel, hostOrigin string) error {
	origin := r.Header.Get("Origin")
	claimed := origin
	if origin == h.origin() {
		// Our own frame. Browsers that hide the host page (no
		// ancestorOrigins, a no-referrer policy) send no host_origin;
		// frame-ancestors has still kept the frame off other sites.
		if hostOrigin == "" {
			return nil
		}
		claimed = hostOrigin
	}
	if origin == "" && hostOrigin == "" {
		return nil
	}
	if !ch.Web.AllowsOrigin(claimed) {
		return &apperr.Error{Kind: apperr.Forbidden, Message: "this site (" + claimed + ") is not allowed to use this chat: add it to the channel's allowed origins",
			Fields: []apperr.FieldError{{Field: "origin", Message: "is not among the channel's allowed origins"}}}
	}
	return nil
}

// CreateSession answers POST /api/v1/widget/sessions: it checks the key and
// the origin, resumes the visitor a valid token names (or starts a new
// one), and returns a renewed token with the visitor's conversation.
func (h *Handler) CreateSession(w http.ResponseWriter, r *http.Request, decode func(any) error, clientIP string) error {
	if ok, wait := h.limits.Sessions.Allow("ip:" + clientIP); !ok {
		return &apperr.Error{Kind: apperr.RateLimited, Message: "too many chat sessions from this address: try again shortly", RetryAfter: wait}
	}
	var req sessionRequest
	if err := decode(&req); err != nil {
		return err
	}
	if req.PublicKey == "" {
		return apperr.Field("public_key", "is required")
	}
	ch, err := h.channels.ByPublicKey(r.Context(), req.PublicKey)
	if err != nil {
		return err
	}
	if err := h.CheckOrigin(r, ch, req.HostOrigin); err != nil {
		return err
	}
	now := h.now()
	external := ""
	if req.VisitorToken != "" {
		if v, err := verifyToken(h.keys, req.VisitorToken, now); err == nil && v.TenantID == ch.TenantID && v.ChannelID == ch.ID {
			external = v.ExternalID
		}
		// An invalid or foreign token is not an error: the visitor simply
		// starts afresh, as after clearing their storage.
	}
	if req.UserID != "" {
		if ch.IdentitySecret == "" {
			return apperr.Field("user_id", "this channel does not use identity verification")
		}
		if !verifyIdentity(ch.IdentitySecret, req.UserID, req.UserTimestamp, req.UserSignature, now) {
			return &apperr.Error{Kind: apperr.Unauthenticated, Message: "the user signature is invalid or expired",
				Fields: []apperr.FieldError{{Field: "user_signature", Message: "must be hex HMAC-SHA256(identity secret, user_id:user_timestamp) from the last 10 minutes"}}}
		}
		external = "user:" + req.UserID
	}
	if external == "" {
		external = "v_" + auth.RandomToken(16)
	}
	v := Visitor{TenantID: ch.TenantID, ChannelID: ch.ID, ExternalID: external, Expires: now.Add(TokenTTL).Unix()}
	convID, err := h.visitorConversation(r.Context(), v)
	if err != nil {
		return err
	}
	lang := chooseLanguage(ch.Web.Language, req.Language, r.Header.Get("Accept-Language"))
	ans := SessionAnswer{
		VisitorToken: signToken(h.keys, v), ExpiresAt: time.Unix(v.Expires, 0).UTC().Format(time.RFC3339),
		Config: Config{Title: ch.Web.Title, AccentColor: ch.Web.AccentColor, Greeting: ch.Web.Greeting, Position: ch.Web.Position,
			AvatarURL: ch.Web.AvatarURL, Suggestions: ch.Web.Suggestions, Language: lang, Strings: catalogue[lang]},
	}
	if convID != "" {
		ans.ConversationID = &convID
	}
	return writeJSON(w, ans)
}

// visitorConversation finds the visitor's latest conversation, if any. It
// writes nothing: contacts and conversations are created by a first
// message, so page views do not fill the database.
func (h *Handler) visitorConversation(ctx context.Context, v Visitor) (string, error) {
	var id string
	err := h.store.Read(ctx, store.TenantScope(v.TenantID), func(tx *store.Tx) error {
		ct, err := tx.ContactByExternalID(ctx, v.ChannelID, v.ExternalID)
		if err != nil {
			return err
		}
		conv, err := tx.LatestConversation(ctx, ct.ID)
		id = conv.ID
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return "", nil
	}
	return id, err
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}
