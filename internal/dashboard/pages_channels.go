package dashboard

// The channels pages: the list with each channel's health, and one form per
// type (web widget with a live preview and the snippet; WhatsApp, Messenger
// and Instagram with the webhook URL and verify token for Meta's console;
// Telegram with its bot token). Secrets are write-only: their inputs are
// always empty, a hint says whether one is set, and a secret the server
// generated (a verify token, an identity secret) is shown once, in the
// answer that made it.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/store"
)

// channelTypes are the types the dashboard offers, in the order shown.
var channelTypes = []string{"web", "whatsapp", "messenger", "instagram", "telegram"}

// newChannelTitles are the new-channel form's titles by type.
var newChannelTitles = map[string]string{
	"web":       "channels.new.web",
	"whatsapp":  "channels.new.whatsapp",
	"messenger": "channels.new.messenger",
	"instagram": "channels.new.instagram",
	"telegram":  "channels.new.telegram",
}

// channelSecretFields are each provider type's write-only inputs.
var channelSecretFields = map[string][]string{
	"whatsapp":  {"access_token", "app_secret", "verify_token"},
	"messenger": {"access_token", "app_secret", "verify_token"},
	"instagram": {"access_token", "app_secret", "verify_token"},
	"telegram":  {"bot_token"},
}

// channelsData is the list page's own data.
type channelsData struct {
	Channels   []channelRow
	Next       string
	Types      []string
	CanManage  bool
	Assistants map[string]string // id → name
}

type channelRow struct {
	channels.View
	AssistantName string
}

// channelData is the form page's own data (new or existing channel).
type channelData struct {
	Type       string
	Channel    *channels.View // nil on the new-channel form
	Assistants []assistants.View
	SecretSet  map[string]bool // write-only fields that hold a value
	Created    *channelOnce    // secrets shown this once
	CanManage  bool
	Languages  []string
}

// channelOnce holds what the server generated and shows only once.
type channelOnce struct {
	VerifyToken, IdentitySecret string
}

func (h *Handler) canManage(r *http.Request) bool {
	return Admin.allows(auth.FromContext(r.Context()))
}

// listAssistants returns the tenant's assistants (the first page of 200).
func (h *Handler) listAssistants(r *http.Request) ([]assistants.View, error) {
	return h.assts.List(r.Context(), auth.FromContext(r.Context()), store.Page{Limit: store.MaxPageSize})
}

// channelsPage serves GET /app/channels.
func (h *Handler) channelsPage(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	pgn, err := store.ParsePage(r.URL.Query().Get("cursor"), 50)
	if err != nil {
		return err
	}
	list, err := h.chans.List(r.Context(), p, pgn)
	if err != nil {
		return err
	}
	as, err := h.listAssistants(r)
	if err != nil {
		return err
	}
	d := channelsData{Types: channelTypes, CanManage: h.canManage(r), Assistants: map[string]string{}}
	for _, a := range as {
		d.Assistants[a.ID] = a.Name
	}
	for _, c := range list {
		row := channelRow{View: c}
		if c.AssistantID != nil {
			row.AssistantName = d.Assistants[*c.AssistantID]
		}
		d.Channels = append(d.Channels, row)
	}
	if len(list) > 0 {
		d.Next = store.NextCursor(pgn, len(list), list[len(list)-1].ID)
	}
	return h.render(w, r, http.StatusOK, "channels", page{Title: "channels.title", Nav: "channels", Data: d})
}

// newChannelPage serves GET /app/channels/new?type=web.
func (h *Handler) newChannelPage(w http.ResponseWriter, r *http.Request) error {
	typ := r.URL.Query().Get("type")
	if !slices.Contains(channelTypes, typ) {
		typ = "web"
	}
	return h.renderChannel(w, r, http.StatusOK, typ, nil, page{Form: defaultChannelForm(typ)}, nil)
}

func defaultChannelForm(typ string) url.Values {
	f := url.Values{"type": {typ}}
	if typ == "web" {
		f.Set("title", "Chat with us")
		f.Set("accent_color", "#2563eb")
		f.Set("position", "right")
	}
	return f
}

// renderChannel renders the form of a new channel (c nil) or of c.
func (h *Handler) renderChannel(w http.ResponseWriter, r *http.Request, status int, typ string, c *channels.View, pg page, once *channelOnce) error {
	as, err := h.listAssistants(r)
	if err != nil {
		return err
	}
	d := channelData{Type: typ, Channel: c, Assistants: as, SecretSet: map[string]bool{}, Created: once,
		CanManage: h.canManage(r), Languages: channels.Languages}
	if c != nil && channels.IsProvider(c.Type) {
		var cfg channels.ProviderConfig
		_ = json.Unmarshal(c.Config, &cfg)
		d.SecretSet["access_token"] = cfg.AccessToken != ""
		d.SecretSet["app_secret"] = cfg.AppSecret != ""
		d.SecretSet["verify_token"] = cfg.VerifyToken != ""
		d.SecretSet["bot_token"] = cfg.BotToken != ""
	}
	pg.Title, pg.Nav, pg.Data = newChannelTitles[typ], "channels", d
	if c != nil {
		pg.Title = "channels.edit.title"
	}
	if once != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	return h.render(w, r, status, "channel", pg)
}

// channelPage serves GET /app/channels/{id}: the channel's settings (a
// form for admins), health, and for the web widget the snippet.
func (h *Handler) channelPage(w http.ResponseWriter, r *http.Request) error {
	c, err := h.getChannel(r)
	if err != nil {
		return err
	}
	return h.renderChannel(w, r, http.StatusOK, c.Type, &c, page{Form: channelForm(c)}, nil)
}

func (h *Handler) getChannel(r *http.Request) (channels.View, error) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return channels.View{}, apperr.New(apperr.NotFound, "channel not found")
	}
	return h.chans.Get(r.Context(), auth.FromContext(r.Context()), id)
}

// channelForm fills the form from a channel's visible settings (never its
// secrets, not even masked).
func channelForm(c channels.View) url.Values {
	f := url.Values{"type": {c.Type}, "name": {c.Name}}
	if c.AssistantID != nil {
		f.Set("assistant_id", *c.AssistantID)
	}
	switch {
	case c.Type == "web":
		var cfg channels.WebConfig
		_ = json.Unmarshal(c.Config, &cfg)
		f.Set("allowed_origins", strings.Join(cfg.AllowedOrigins, "\n"))
		f.Set("title", cfg.Title)
		f.Set("accent_color", cfg.AccentColor)
		f.Set("greeting", cfg.Greeting)
		f.Set("position", cfg.Position)
		f.Set("avatar_url", cfg.AvatarURL)
		f.Set("suggestions", strings.Join(cfg.Suggestions, "\n"))
		f.Set("language", cfg.Language)
		if cfg.IdentityVerification {
			f.Set("identity_verification", "on")
		}
	case channels.IsMeta(c.Type):
		var cfg channels.ProviderConfig
		_ = json.Unmarshal(c.Config, &cfg)
		f.Set("phone_number_id", cfg.PhoneNumberID)
		f.Set("page_id", cfg.PageID)
	}
	return f
}

// lines splits a textarea into its non-blank lines.
func lines(s string) []string {
	out := []string{}
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// channelRequest turns the submitted form into a service request; errs
// holds the dashboard's own checks.
func (h *Handler) channelRequest(r *http.Request, typ string, as []assistants.View) (channels.Request, map[string]string) {
	lang := infoOf(r).lang
	f := r.PostForm
	errs := map[string]string{}
	name := strings.TrimSpace(f.Get("name"))
	if name == "" || utf8.RuneCountInString(name) > 100 {
		errs["name"] = h.cat.text(lang, "channels.name_invalid")
	}
	asst := f.Get("assistant_id")
	if asst != "" && !slices.ContainsFunc(as, func(a assistants.View) bool { return a.ID == asst }) {
		errs["assistant_id"] = h.cat.text(lang, "channels.assistant_invalid")
	}
	req := channels.Request{Type: typ, Name: name, AssistantID: &asst}
	var cfg any
	switch {
	case typ == "web":
		cfg = map[string]any{
			"allowed_origins":       lines(f.Get("allowed_origins")),
			"title":                 strings.TrimSpace(f.Get("title")),
			"accent_color":          strings.TrimSpace(f.Get("accent_color")),
			"greeting":              strings.TrimSpace(f.Get("greeting")),
			"position":              f.Get("position"),
			"avatar_url":            strings.TrimSpace(f.Get("avatar_url")),
			"suggestions":           lines(f.Get("suggestions")),
			"language":              f.Get("language"),
			"identity_verification": f.Get("identity_verification") == "on",
		}
	case channels.IsProvider(typ):
		m := map[string]string{}
		if typ == "whatsapp" {
			m["phone_number_id"] = strings.TrimSpace(f.Get("phone_number_id"))
		} else if channels.IsMeta(typ) {
			m["page_id"] = strings.TrimSpace(f.Get("page_id"))
		}
		for _, k := range channelSecretFields[typ] {
			if v := strings.TrimSpace(f.Get(k)); v != "" {
				m[k] = v
			}
		}
		cfg = m
	}
	req.Config, _ = json.Marshal(cfg)
	return req, errs
}

// serviceFieldErrors maps a service's field errors ("config.title",
// "config.allowed_origins[2]") to the form's inputs ("title",
// "allowed_origins"); a whole-config error becomes the form-wide one.
func serviceFieldErrors(err error) (map[string]string, string, bool) {
	fe, ok := fieldErrors(err)
	if !ok {
		return nil, "", false
	}
	out, general := map[string]string{}, ""
	for k, v := range fe {
		switch k {
		case "config":
			general = v
		case "type":
			general = v
		default:
			out[strings.TrimPrefix(k, "config.")] = v
		}
	}
	return out, general, true
}

// keepInput is the submitted form without its secrets, to refill a form.
func keepInput(f url.Values, typ string) url.Values {
	out := url.Values{}
	for k, v := range f {
		if k != csrfField && !slices.Contains(channelSecretFields[typ], k) {
			out[k] = v
		}
	}
	out.Set("type", typ)
	return out
}

// createChannel serves POST /app/channels.
func (h *Handler) createChannel(w http.ResponseWriter, r *http.Request) error {
	typ := r.PostFormValue("type")
	if !slices.Contains(channelTypes, typ) {
		typ = "web"
	}
	as, err := h.listAssistants(r)
	if err != nil {
		return err
	}
	req, errs := h.channelRequest(r, typ, as)
	general := ""
	if len(errs) == 0 {
		v, err := h.chans.Create(r.Context(), auth.FromContext(r.Context()), req)
		if err == nil {
			if v.VerifyToken != "" || v.IdentitySecret != "" {
				return h.renderChannel(w, r, http.StatusOK, v.Type, &v, page{Form: channelForm(v)},
					&channelOnce{VerifyToken: v.VerifyToken, IdentitySecret: v.IdentitySecret})
			}
			return h.redirect(w, r, "/app/channels/"+v.ID, "channels.flash.created")
		}
		var ok bool
		if errs, general, ok = serviceFieldErrors(err); !ok {
			return err
		}
	}
	return h.renderChannel(w, r, http.StatusUnprocessableEntity, typ, nil, page{Form: keepInput(r.PostForm, typ), Errors: errs, Error: general}, nil)
}

// updateChannel serves POST /app/channels/{id}.
func (h *Handler) updateChannel(w http.ResponseWriter, r *http.Request) error {
	c, err := h.getChannel(r)
	if err != nil {
		return err
	}
	as, err := h.listAssistants(r)
	if err != nil {
		return err
	}
	req, errs := h.channelRequest(r, c.Type, as)
	general := ""
	if len(errs) == 0 {
		v, err := h.chans.Update(r.Context(), auth.FromContext(r.Context()), c.ID, req)
		if err == nil {
			if v.IdentitySecret != "" {
				return h.renderChannel(w, r, http.StatusOK, v.Type, &v, page{Form: channelForm(v)},
					&channelOnce{IdentitySecret: v.IdentitySecret})
			}
			return h.redirect(w, r, "/app/channels/"+v.ID, "channels.flash.saved")
		}
		var ok bool
		if errs, general, ok = serviceFieldErrors(err); !ok {
			return err
		}
	}
	return h.renderChannel(w, r, http.StatusUnprocessableEntity, c.Type, &c, page{Form: keepInput(r.PostForm, c.Type), Errors: errs, Error: general}, nil)
}

// deleteChannel serves POST /app/channels/{id}/delete.
func (h *Handler) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "channel not found")
	}
	if err := h.chans.Delete(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/channels", "channels.flash.deleted")
}
