// Package assistants holds the AI assistants: their settings, and the reply
// pipeline that answers a visitor (retrieve knowledge, prompt the model,
// stream, decide on confidence and handoff, store the reply exactly once).
package assistants

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/secrets"
	"github.com/metachat/metachat/internal/store"
)

// Model says which model answers.
type Model struct {
	// Provider is openai, anthropic or extractive; "" uses the server default.
	Provider        string  `json:"provider"`
	Name            string  `json:"name"`
	Temperature     float64 `json:"temperature"`
	MaxOutputTokens int     `json:"max_output_tokens"`
	// BaseURL overrides the server's for an OpenAI-compatible server.
	BaseURL string `json:"base_url,omitempty"`
}

// Knowledge configures retrieval.
type Knowledge struct {
	Enabled      bool    `json:"enabled"`
	TopK         int     `json:"top_k"`
	MinRelevance float64 `json:"min_relevance"`
	// OnlyFromKnowledge makes the assistant decline politely when nothing
	// relevant is found instead of answering from general knowledge.
	OnlyFromKnowledge bool `json:"only_from_knowledge"`
}

// Handoff configures when the bot hands the conversation to a person.
type Handoff struct {
	// Keywords that, in a visitor message, ask for a person.
	Keywords []string `json:"keywords"`
	// WhenNoAnswer hands over when the knowledge base has no answer.
	WhenNoAnswer bool `json:"when_no_answer"`
	// Message is what the visitor is told when handed over.
	Message string `json:"message"`
}

// Confidence configures what happens when the model hedges or a question
// touches a high-stakes topic.
type Confidence struct {
	// Mode is strict (hand over), standard (add a disclaimer) or lenient
	// (do nothing, record only).
	Mode             string   `json:"mode"`
	HighStakesTopics []string `json:"high_stakes_topics"`
	Disclaimer       string   `json:"disclaimer"`
}

// Settings is everything about an assistant but its secrets.
type Settings struct {
	Instructions    string     `json:"instructions"`
	Model           Model      `json:"model"`
	Knowledge       Knowledge  `json:"knowledge"`
	Handoff         Handoff    `json:"handoff"`
	Confidence      Confidence `json:"confidence"`
	FallbackMessage string     `json:"fallback_message"`
	// Language pins the reply language (en, hr, de, …); "" answers in the
	// visitor's language.
	Language string `json:"language"`
}

// View is an assistant as the API shows it: credentials only as a flag.
type View struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Settings
	HasAPIKey bool      `json:"has_api_key"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Request creates or updates an assistant. APIKey is write-only: "" keeps
// the stored key, "-" removes it.
type Request struct {
	Name string `json:"name"`
	Settings
	APIKey string `json:"api_key"`
}

// Defaults are the settings a new assistant starts from (what Create fills
// in for anything its body omits).
func Defaults() Settings { return defaults() }

func defaults() Settings {
	return Settings{
		Instructions:    "You are a friendly, concise support assistant.",
		Knowledge:       Knowledge{Enabled: true, TopK: 5, MinRelevance: 0},
		Handoff:         Handoff{Keywords: []string{"human", "agent", "person", "operator", "čovjek", "osoba", "Mitarbeiter", "Mensch"}, Message: "I'm connecting you with a person. Someone from our team will reply here shortly."},
		Confidence:      Confidence{Mode: "standard", Disclaimer: "Please note: I'm not fully sure about this answer. A person from our team can confirm it."},
		FallbackMessage: "Sorry, I don't know the answer to that. I can connect you with a person from our team.",
	}
}

// Service manages assistants.
type Service struct {
	store *store.Store
	keys  *secrets.Keyring
}

// NewService returns the service.
func NewService(st *store.Store, keys *secrets.Keyring) *Service {
	return &Service{store: st, keys: keys}
}

// parse reads a request body into settings on top of base, strictly.
func validate(req *Request) error {
	var fe apperr.Fields
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || utf8.RuneCountInString(req.Name) > 100 {
		fe.Add("name", "is required, at most 100 characters")
	}
	s := &req.Settings
	if utf8.RuneCountInString(s.Instructions) > 20000 {
		fe.Add("instructions", "must be at most 20000 characters")
	}
	switch s.Model.Provider {
	case "", "openai", "anthropic", "extractive":
	default:
		fe.Add("model.provider", "must be openai, anthropic or extractive")
	}
	if (s.Model.Provider == "openai" || s.Model.Provider == "anthropic") && s.Model.Name == "" {
		fe.Add("model.name", "is required for "+s.Model.Provider)
	}
	if len(s.Model.Name) > 200 {
		fe.Add("model.name", "must be at most 200 characters")
	}
	if s.Model.Temperature < 0 || s.Model.Temperature > 2 {
		fe.Add("model.temperature", "must be between 0 and 2")
	}
	if s.Model.MaxOutputTokens < 0 || s.Model.MaxOutputTokens > 32000 {
		fe.Add("model.max_output_tokens", "must be between 0 (default) and 32000")
	}
	if s.Model.BaseURL != "" && !strings.HasPrefix(s.Model.BaseURL, "https://") && !strings.HasPrefix(s.Model.BaseURL, "http://") {
		fe.Add("model.base_url", "must be an http(s) URL")
	}
	if s.Knowledge.TopK < 0 || s.Knowledge.TopK > 50 {
		fe.Add("knowledge.top_k", "must be between 0 and 50")
	}
	if s.Knowledge.MinRelevance < 0 || s.Knowledge.MinRelevance > 1 {
		fe.Add("knowledge.min_relevance", "must be between 0 and 1")
	}
	if len(s.Handoff.Keywords) > 50 {
		fe.Add("handoff.keywords", "at most 50 keywords")
	}
	for i, k := range s.Handoff.Keywords {
		if strings.TrimSpace(k) == "" || len(k) > 60 {
			fe.Add(fmt.Sprintf("handoff.keywords[%d]", i), "must be 1 to 60 characters")
		}
	}
	switch s.Confidence.Mode {
	case "strict", "standard", "lenient":
	default:
		fe.Add("confidence.mode", "must be strict, standard or lenient")
	}
	for i, k := range s.Confidence.HighStakesTopics {
		if strings.TrimSpace(k) == "" || len(k) > 60 {
			fe.Add(fmt.Sprintf("confidence.high_stakes_topics[%d]", i), "must be 1 to 60 characters")
		}
	}
	for field, v := range map[string]string{"fallback_message": s.FallbackMessage, "handoff.message": s.Handoff.Message, "confidence.disclaimer": s.Confidence.Disclaimer} {
		if utf8.RuneCountInString(v) > 2000 {
			fe.Add(field, "must be at most 2000 characters")
		}
	}
	if len(s.Language) > 10 {
		fe.Add("language", "must be a language code such as en, hr or de")
	}
	if len(req.APIKey) > 500 {
		fe.Add("api_key", "is too long")
	}
	return fe.Err()
}

func (s *Service) aad(tenantID, id string) []byte { return []byte("assistant:" + tenantID + ":" + id) }

func (s *Service) view(a store.Assistant) (View, error) {
	v := View{ID: a.ID, Name: a.Name, HasAPIKey: a.Credentials != "", CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
	if err := json.Unmarshal(a.Settings, &v.Settings); err != nil {
		return v, fmt.Errorf("assistant settings: %w", err)
	}
	return v, nil
}

// Create makes an assistant from a JSON body (defaults fill what it omits).
func (s *Service) Create(ctx context.Context, p *auth.Principal, body func(*Request) error) (View, error) {
	scope, err := p.Scope()
	if err != nil {
		return View{}, err
	}
	req := Request{Settings: defaults()}
	if err := body(&req); err != nil {
		return View{}, err
	}
	if err := validate(&req); err != nil {
		return View{}, err
	}
	a := store.Assistant{ID: store.NewID(), Name: req.Name}
	a.Settings, _ = json.Marshal(req.Settings)
	if req.APIKey != "" && req.APIKey != "-" {
		if a.Credentials, err = s.keys.Seal([]byte(req.APIKey), s.aad(p.TenantID, a.ID)); err != nil {
			return View{}, err
		}
	}
	var out View
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		created, err := tx.CreateAssistant(ctx, a)
		if err != nil {
			return err
		}
		if out, err = s.view(created); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("assistant.created", "assistant", a.ID, fmt.Sprintf(`{"name":%q}`, a.Name)))
	})
	return out, err
}

// Get reads an assistant.
func (s *Service) Get(ctx context.Context, p *auth.Principal, id string) (View, error) {
	scope, err := p.Scope()
	if err != nil {
		return View{}, err
	}
	var out View
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		a, err := tx.GetAssistant(ctx, id)
		if err != nil {
			return err
		}
		out, err = s.view(a)
		return err
	})
	return out, err
}

// List pages through assistants.
func (s *Service) List(ctx context.Context, p *auth.Principal, pg store.Page) ([]View, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	out := []View{}
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		as, err := tx.ListAssistants(ctx, pg)
		for _, a := range as {
			v, err := s.view(a)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return err
	})
	return out, err
}

// Update applies a JSON body on top of the stored settings.
func (s *Service) Update(ctx context.Context, p *auth.Principal, id string, body func(*Request) error) (View, error) {
	scope, err := p.Scope()
	if err != nil {
		return View{}, err
	}
	var out View
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		a, err := tx.GetAssistant(ctx, id)
		if err != nil {
			return err
		}
		cur, err := s.view(a)
		if err != nil {
			return err
		}
		req := Request{Name: cur.Name, Settings: cur.Settings}
		if err := body(&req); err != nil {
			return err
		}
		if err := validate(&req); err != nil {
			return err
		}
		a.Name = req.Name
		a.Settings, _ = json.Marshal(req.Settings)
		switch req.APIKey {
		case "":
		case "-":
			a.Credentials = ""
		default:
			if a.Credentials, err = s.keys.Seal([]byte(req.APIKey), s.aad(p.TenantID, a.ID)); err != nil {
				return err
			}
		}
		if err := tx.UpdateAssistant(ctx, a); err != nil {
			return err
		}
		a.UpdatedAt = tx.Now
		if out, err = s.view(a); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("assistant.updated", "assistant", a.ID, ""))
	})
	return out, err
}

// Delete removes an assistant.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, id string) error {
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	return s.store.Write(ctx, scope, func(tx *store.Tx) error {
		if err := tx.DeleteAssistant(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("assistant.deleted", "assistant", id, ""))
	})
}

// apiKey opens an assistant's own provider key ("" if none).
func (s *Service) apiKey(tenantID string, a store.Assistant) (string, error) {
	if a.Credentials == "" {
		return "", nil
	}
	b, err := s.keys.Open(a.Credentials, s.aad(tenantID, a.ID))
	return string(b), err
}
