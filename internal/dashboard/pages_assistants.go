package dashboard

// The assistants pages: the list, one settings form for a new or an
// existing assistant (validation messages next to the fields: the
// dashboard's own for unreadable numbers, then the service's), delete,
// and a playground on the assistant's page (assistants.js) that streams
// answers from POST /api/v1/chat with their citations.
//
// Viewers read the settings; agents also use the playground; admins edit.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// assistantsData is the list page's own data.
type assistantsData struct {
	Assistants []assistants.View
	Next       string
	CanEdit    bool
}

// assistantData is the settings page's own data.
type assistantData struct {
	ID        string // "" for a new assistant
	Name      string
	HasAPIKey bool
	CanEdit   bool
	CanChat   bool
	Providers []string
	Modes     []string
}

var (
	assistantProviders = []string{"", "extractive", "openai", "anthropic"}
	confidenceModes    = []string{"strict", "standard", "lenient"}
)

func (h *Handler) assistantsPage(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	pgn, err := store.ParsePage(r.URL.Query().Get("cursor"), 50)
	if err != nil {
		return err
	}
	list, err := h.assts.List(r.Context(), p, pgn)
	if err != nil {
		return err
	}
	d := assistantsData{Assistants: list, CanEdit: p.Can(auth.ScopeAdmin)}
	if len(list) > 0 {
		d.Next = store.NextCursor(pgn, len(list), list[len(list)-1].ID)
	}
	return h.render(w, r, http.StatusOK, "assistants", page{Title: "assistants.title", Nav: "assistants", Data: d})
}

// newAssistantPage serves GET /app/assistants/new: the form with defaults.
func (h *Handler) newAssistantPage(w http.ResponseWriter, r *http.Request) error {
	return h.renderAssistant(w, r, http.StatusOK, assistants.View{Settings: assistants.Defaults()}, page{Form: settingsForm("", assistants.Defaults())})
}

// assistantPage serves GET /app/assistants/{id}: settings and playground.
func (h *Handler) assistantPage(w http.ResponseWriter, r *http.Request) error {
	v, err := h.getAssistant(r)
	if err != nil {
		return err
	}
	return h.renderAssistant(w, r, http.StatusOK, v, page{Form: settingsForm(v.Name, v.Settings)})
}

func (h *Handler) getAssistant(r *http.Request) (assistants.View, error) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return assistants.View{}, apperr.New(apperr.NotFound, "assistant not found")
	}
	return h.assts.Get(r.Context(), auth.FromContext(r.Context()), id)
}

func (h *Handler) renderAssistant(w http.ResponseWriter, r *http.Request, status int, v assistants.View, pg page) error {
	p := auth.FromContext(r.Context())
	pg.Nav, pg.Title = "assistants", "assistants.new.title"
	if v.ID != "" {
		pg.Title = "assistants.edit.title"
	}
	pg.Data = assistantData{ID: v.ID, Name: v.Name, HasAPIKey: v.HasAPIKey, CanEdit: p.Can(auth.ScopeAdmin),
		CanChat: v.ID != "" && p.Can(auth.ScopeWrite), Providers: assistantProviders, Modes: confidenceModes}
	return h.render(w, r, status, "assistant", pg)
}

// settingsForm is an assistant's settings as the form's values.
func settingsForm(name string, s assistants.Settings) url.Values {
	f := url.Values{}
	f.Set("name", name)
	f.Set("instructions", s.Instructions)
	f.Set("model.provider", s.Model.Provider)
	f.Set("model.name", s.Model.Name)
	f.Set("model.temperature", strconv.FormatFloat(s.Model.Temperature, 'f', -1, 64))
	f.Set("model.max_output_tokens", strconv.Itoa(s.Model.MaxOutputTokens))
	f.Set("model.base_url", s.Model.BaseURL)
	setCheck(f, "kb.enabled", s.Knowledge.Enabled)
	f.Set("kb.top_k", strconv.Itoa(s.Knowledge.TopK))
	f.Set("kb.min_relevance", strconv.FormatFloat(s.Knowledge.MinRelevance, 'f', -1, 64))
	setCheck(f, "kb.only_from_knowledge", s.Knowledge.OnlyFromKnowledge)
	f.Set("handoff.keywords", strings.Join(s.Handoff.Keywords, ", "))
	setCheck(f, "handoff.when_no_answer", s.Handoff.WhenNoAnswer)
	f.Set("handoff.message", s.Handoff.Message)
	f.Set("confidence.mode", s.Confidence.Mode)
	f.Set("confidence.high_stakes_topics", strings.Join(s.Confidence.HighStakesTopics, ", "))
	f.Set("confidence.disclaimer", s.Confidence.Disclaimer)
	f.Set("fallback_message", s.FallbackMessage)
	f.Set("language", s.Language)
	return f
}

func setCheck(f url.Values, k string, on bool) {
	if on {
		f.Set(k, "on")
	}
}

// splitList reads a comma-separated list field.
func splitList(s string) []string {
	out := []string{}
	for t := range strings.SplitSeq(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// readSettings fills req from the posted form; numbers that do not parse
// come back as field errors (the service checks everything else).
func (h *Handler) readSettings(r *http.Request, req *assistants.Request) map[string]string {
	lang := infoOf(r).lang
	f := r.PostForm
	errs := map[string]string{}
	num := func(field string, bits int) float64 {
		v := strings.TrimSpace(f.Get(field))
		if v == "" {
			return 0
		}
		v = strings.Replace(v, ",", ".", 1) // 0,7 as written in hr and de
		var n float64
		var err error
		if bits == 0 {
			var i int
			i, err = strconv.Atoi(v)
			n = float64(i)
		} else {
			n, err = strconv.ParseFloat(v, 64)
		}
		if err != nil {
			key := "assistants.number_invalid"
			if bits == 0 {
				key = "assistants.whole_number_invalid"
			}
			errs[field] = h.cat.text(lang, key)
		}
		return n
	}
	req.Name = strings.TrimSpace(f.Get("name"))
	s := &req.Settings
	s.Instructions = f.Get("instructions")
	s.Model.Provider = f.Get("model.provider")
	s.Model.Name = strings.TrimSpace(f.Get("model.name"))
	s.Model.Temperature = num("model.temperature", 64)
	s.Model.MaxOutputTokens = int(num("model.max_output_tokens", 0))
	s.Model.BaseURL = strings.TrimSpace(f.Get("model.base_url"))
	s.Knowledge.Enabled = f.Get("kb.enabled") == "on"
	s.Knowledge.TopK = int(num("kb.top_k", 0))
	s.Knowledge.MinRelevance = num("kb.min_relevance", 64)
	s.Knowledge.OnlyFromKnowledge = f.Get("kb.only_from_knowledge") == "on"
	s.Handoff.Keywords = splitList(f.Get("handoff.keywords"))
	s.Handoff.WhenNoAnswer = f.Get("handoff.when_no_answer") == "on"
	s.Handoff.Message = f.Get("handoff.message")
	s.Confidence.Mode = f.Get("confidence.mode")
	s.Confidence.HighStakesTopics = splitList(f.Get("confidence.high_stakes_topics"))
	s.Confidence.Disclaimer = f.Get("confidence.disclaimer")
	s.FallbackMessage = f.Get("fallback_message")
	s.Language = strings.TrimSpace(f.Get("language"))
	req.APIKey = strings.TrimSpace(f.Get("api_key"))
	if f.Get("remove_api_key") == "on" {
		req.APIKey = "-"
	}
	if req.Name == "" {
		errs["name"] = h.cat.text(lang, "assistants.name_required")
	}
	return errs
}

// errAssistantForm stops a service call whose form did not read: the
// messages are already by field.
var errAssistantForm = apperr.New(apperr.Invalid, "form")

// saveAssistant reads the form into the service's request through create
// or update; it returns the saved assistant or the messages by field.
func (h *Handler) saveAssistant(r *http.Request, save func(body func(*assistants.Request) error) (assistants.View, error)) (assistants.View, map[string]string, error) {
	var formErrs map[string]string
	v, err := save(func(req *assistants.Request) error {
		formErrs = h.readSettings(r, req)
		if len(formErrs) > 0 {
			return errAssistantForm
		}
		return nil
	})
	if len(formErrs) > 0 {
		return v, formErrs, nil
	}
	if err != nil {
		fe, ok := fieldErrors(err)
		if !ok {
			return v, nil, err
		}
		// The form names the knowledge settings kb.* (the service:
		// knowledge.*).
		for k, msg := range fe {
			if rest, ok := strings.CutPrefix(k, "knowledge."); ok {
				delete(fe, k)
				fe["kb."+rest] = msg
			}
		}
		return v, fe, nil
	}
	return v, nil, nil
}

// createAssistant serves POST /app/assistants.
func (h *Handler) createAssistant(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	v, errs, err := h.saveAssistant(r, func(body func(*assistants.Request) error) (assistants.View, error) {
		return h.assts.Create(r.Context(), p, body)
	})
	if err != nil {
		return err
	}
	if errs != nil {
		return h.renderAssistant(w, r, http.StatusUnprocessableEntity, assistants.View{}, page{Form: r.PostForm, Errors: errs})
	}
	return h.redirect(w, r, "/app/assistants/"+v.ID, "assistants.flash.created")
}

// updateAssistant serves POST /app/assistants/{id}.
func (h *Handler) updateAssistant(w http.ResponseWriter, r *http.Request) error {
	cur, err := h.getAssistant(r)
	if err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	_, errs, err := h.saveAssistant(r, func(body func(*assistants.Request) error) (assistants.View, error) {
		return h.assts.Update(r.Context(), p, cur.ID, body)
	})
	if err != nil {
		return err
	}
	if errs != nil {
		return h.renderAssistant(w, r, http.StatusUnprocessableEntity, cur, page{Form: r.PostForm, Errors: errs})
	}
	return h.redirect(w, r, "/app/assistants/"+cur.ID, "assistants.flash.saved")
}

// deleteAssistant serves POST /app/assistants/{id}/delete.
func (h *Handler) deleteAssistant(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "assistant not found")
	}
	if err := h.assts.Delete(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/assistants", "assistants.flash.deleted")
}
