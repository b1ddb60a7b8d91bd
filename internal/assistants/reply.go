package assistants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// Retriever finds knowledge passages for a question (the knowledge base;
// nil until one is configured). version is the tenant's knowledge version
// as the reply read it, so the search need not read it again.
type Retriever interface {
	Retrieve(ctx context.Context, tenantID string, version int64, query string, topK int, minRelevance float64) ([]llm.Passage, error)
}

// ProviderFactory builds the provider for a configuration.
type ProviderFactory func(cfg llm.Config) (llm.Provider, error)

// Replier answers visitor messages. It is what the reply job runs.
type Replier struct {
	store     *store.Store
	assts     *Service
	convs     *conversations.Service
	retriever Retriever
	defaults  llm.Config // the server-wide model (METACHAT_LLM_*)
	providers ProviderFactory
	watcher   Watcher
	log       *slog.Logger
}

// Watcher follows a conversation's live events. Only a hub that hears
// every process's events will do (a `metachat worker` has none).
type Watcher interface {
	Subscribe(tenantID, conversationID string, buffer int) *realtime.Subscription
}

// SetWatcher lets replies learn of a takeover from live events instead of
// reading the conversation while they stream.
func (r *Replier) SetWatcher(w Watcher) { r.watcher = w }

// NewReplier returns the reply pipeline. retriever may be nil.
func NewReplier(st *store.Store, assts *Service, convs *conversations.Service, retriever Retriever, defaults llm.Config, providers ProviderFactory, log *slog.Logger) *Replier {
	if providers == nil {
		providers = llm.New
	}
	return &Replier{store: st, assts: assts, convs: convs, retriever: retriever, defaults: defaults, providers: providers, log: log}
}

// historyMessages is how many earlier messages a reply sees at most.
const historyMessages = 30

// Meta is what a reply records about how it was made, for analytics.
type Meta struct {
	Provider     string    `json:"provider"`
	Model        string    `json:"model,omitempty"`
	Usage        llm.Usage `json:"usage"`
	Language     string    `json:"language,omitempty"`
	Passages     int       `json:"passages"`
	Decision     string    `json:"decision"` // answered | disclaimer | handoff | fallback | no_answer
	Reason       string    `json:"reason,omitempty"`
	HighStakes   string    `json:"high_stakes,omitempty"`
	Hedged       bool      `json:"hedged,omitempty"`
	ProviderFail string    `json:"provider_error,omitempty"`
}

// Permanent marks an error that retrying cannot fix.
type Permanent struct{ Err error }

func (p Permanent) Error() string { return p.Err.Error() }
func (p Permanent) Unwrap() error { return p.Err }

// Reply answers one inbound message (conversationID may be "" when not
// known). It is idempotent: a reply already
// stored for the message, a conversation no longer with the bot, or a
// channel without an assistant make it a no-op. lastAttempt makes a
// provider failure end in the fallback message instead of an error.
func (r *Replier) Reply(ctx context.Context, tenantID, conversationID, inboundID string, lastAttempt bool) error {
	scope := store.TenantScope(tenantID)
	// Watching the conversation from before the read means no takeover
	// after it goes unseen, without asking the database again.
	var watch *realtime.Subscription
	if r.watcher != nil && conversationID != "" {
		watch = r.watcher.Subscribe(tenantID, conversationID, watchBuffer)
		defer watch.Close()
	}
	var rc store.ReplyContext
	var history []store.Message
	skip := false
	readAt := time.Now()
	err := r.store.Read(ctx, scope, func(tx *store.Tx) error {
		var err error
		if rc, err = tx.ReplyContext(ctx, inboundID); err != nil {
			return err
		}
		if conversationID != "" && rc.Conversation.ID != conversationID {
			return apperr.New(apperr.NotFound, "message not found")
		}
		// Answered already (a retried job), a person has the conversation
		// (the bot stays silent), or no assistant: nothing to do.
		if rc.Answered || rc.Conversation.Status != "bot" || !rc.HasAssistant {
			skip = true
			return nil
		}
		history, err = tx.RecentMessages(ctx, rc.Conversation.ID, rc.Inbound.Seq, historyMessages)
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil // the message or conversation is gone
	}
	if err != nil || skip {
		return err
	}
	in, conv, asst := rc.Inbound, rc.Conversation, rc.Assistant
	view, err := r.assts.view(asst)
	if err != nil {
		return err
	}
	set := view.Settings
	log := r.log.With("tenant_id", tenantID, "conversation_id", conv.ID, "message_id", inboundID)

	lang := set.Language
	if lang == "" {
		lang = DetectLanguage(in.Text)
	}
	meta := Meta{Language: lang}

	if asksForHuman(in.Text, set.Handoff.Keywords) {
		meta.Decision, meta.Reason = "handoff", "visitor asked for a person"
		return r.handoff(ctx, tenantID, conv.ID, in, set, meta)
	}

	var passages []llm.Passage
	if set.Knowledge.Enabled && r.retriever != nil {
		topK := set.Knowledge.TopK
		if topK == 0 {
			topK = 5
		}
		if passages, err = r.retriever.Retrieve(ctx, tenantID, rc.KnowledgeVersion, in.Text, topK, set.Knowledge.MinRelevance); err != nil {
			return fmt.Errorf("retrieve knowledge: %w", err)
		}
	}
	meta.Passages = len(passages)
	if set.Knowledge.Enabled && set.Knowledge.OnlyFromKnowledge && len(passages) == 0 {
		meta.Decision, meta.Reason = "no_answer", "nothing relevant in the knowledge base"
		if set.Handoff.WhenNoAnswer {
			meta.Decision = "handoff"
			return r.handoff(ctx, tenantID, conv.ID, in, set, meta)
		}
		return r.store1(ctx, tenantID, in, store.Message{Role: "assistant", Text: set.FallbackMessage}, meta)
	}

	cfg := r.defaults
	if set.Model.Provider != "" && set.Model.Provider != cfg.Provider {
		cfg = llm.Config{Provider: set.Model.Provider, Timeout: r.defaults.Timeout, MaxRetries: r.defaults.MaxRetries, HTTPClient: r.defaults.HTTPClient}
	}
	if set.Model.Name != "" {
		cfg.Model = set.Model.Name
	}
	if set.Model.BaseURL != "" {
		// Another server never receives the platform's key: only the
		// assistant's own key (set below) goes to a URL the tenant chose.
		cfg.BaseURL, cfg.APIKey = set.Model.BaseURL, ""
	}
	if key, err := r.assts.apiKey(tenantID, asst); err != nil {
		return Permanent{fmt.Errorf("open the assistant's API key: %w", err)}
	} else if key != "" {
		cfg.APIKey = key // bring your own key
	}
	if cfg.Provider == "" {
		cfg.Provider = "extractive"
	}
	meta.Provider, meta.Model = cfg.Provider, cfg.Model
	provider, err := r.providers(cfg)
	if err != nil {
		// A model that cannot be set up must not leave the visitor
		// unanswered: the fallback message goes out, with the reason.
		log.Error("the assistant's model cannot be set up; answering with the fallback message", "error", err)
		meta.Decision, meta.ProviderFail = "fallback", err.Error()
		return r.store1(ctx, tenantID, in, store.Message{Role: "assistant", Text: set.FallbackMessage}, meta)
	}

	msgs := make([]llm.Message, 0, len(history)+1)
	for _, m := range history {
		switch m.Role {
		case "user":
			msgs = append(msgs, llm.Message{Role: "user", Content: m.Text})
		case "assistant", "agent":
			msgs = append(msgs, llm.Message{Role: "assistant", Content: m.Text})
		}
	}
	msgs = append(msgs, llm.Message{Role: "user", Content: in.Text})
	system, msgs := BuildPrompt(set.Instructions, lang, set.Knowledge.OnlyFromKnowledge, passages, msgs)

	replyID := store.NewID()
	// Once a person has taken over, nothing more is streamed and the
	// model call is abandoned.
	callCtx, cancelCall := context.WithCancel(ctx)
	defer cancelCall()
	if watch == nil && r.watcher != nil {
		// A job from an earlier release: the watch starts now, so the
		// first piece is checked against the database.
		watch = r.watcher.Subscribe(tenantID, conv.ID, watchBuffer)
		defer watch.Close()
		readAt = time.Time{}
	}
	guard := takeoverGuard{watch: watch, lastCheck: readAt, withBot: func() (bool, error) { return r.convs.WithBot(ctx, tenantID, conv.ID) }}
	stream := deltaStream{send: func(text string) { r.convs.PublishDelta(ctx, tenantID, conv.ID, replyID, text) }}
	resp, err := provider.Chat(callCtx, llm.Request{
		Model: cfg.Model, System: system, Messages: msgs, Temperature: set.Model.Temperature, MaxTokens: set.Model.MaxOutputTokens,
		Passages: passages, Question: in.Text, Fallback: set.FallbackMessage,
	}, func(delta string) {
		if guard.takenOver() {
			cancelCall()
			return
		}
		stream.add(delta)
	})
	// What is pending goes out only after a complete answer, so the
	// pieces a client saw add up to the model's text.
	stream.finish(err == nil && !guard.gone)
	if guard.gone {
		log.Info("a person took over while the bot was answering; the reply is dropped")
		return nil
	}
	if err != nil {
		permanent := errors.Is(err, llm.ErrBadCredentials) || errors.Is(err, llm.ErrBadRequest)
		if !permanent && !lastAttempt {
			return err // the job retries with backoff; nothing was stored
		}
		log.Error("the model failed; answering with the fallback message", "error", err)
		meta.Decision, meta.ProviderFail = "fallback", err.Error()
		return r.store1(ctx, tenantID, in, store.Message{Role: "assistant", Text: set.FallbackMessage}, meta)
	}
	meta.Usage = resp.Usage
	text := strings.TrimSpace(resp.Text)
	if resp.FinishReason == "no_answer" || text == "" {
		meta.Decision = "no_answer"
		if set.Handoff.WhenNoAnswer {
			meta.Decision = "handoff"
			return r.handoff(ctx, tenantID, conv.ID, in, set, meta)
		}
		if text == "" {
			text = set.FallbackMessage
		}
		return r.store1(ctx, tenantID, in, store.Message{ID: replyID, Role: "assistant", Text: text, Citations: citations(resp.Citations)}, meta)
	}

	meta.Decision = "answered"
	meta.Hedged = Hedges(text)
	meta.HighStakes = touches(in.Text+" "+text, set.Confidence.HighStakesTopics)
	if meta.Hedged || meta.HighStakes != "" {
		switch set.Confidence.Mode {
		case "strict":
			meta.Decision, meta.Reason = "handoff", "low confidence or high-stakes topic"
			return r.handoff(ctx, tenantID, conv.ID, in, set, meta)
		case "standard":
			meta.Decision = "disclaimer"
			if d := strings.TrimSpace(set.Confidence.Disclaimer); d != "" {
				text += "\n\n" + d
			}
		}
	}
	cites := resp.Citations
	if len(cites) == 0 {
		cites = citedPassages(text, passages)
	}
	return r.store1(ctx, tenantID, in, store.Message{ID: replyID, Role: "assistant", Text: text, Citations: citations(cites)}, meta)
}

// citedPassages returns the passages a model's answer cites as [n].
func citedPassages(text string, passages []llm.Passage) []llm.Passage {
	var out []llm.Passage
	for i, p := range passages {
		if strings.Contains(text, fmt.Sprintf("[%d]", i+1)) {
			out = append(out, p)
		}
	}
	return out
}

// Citation is how a reply names a source it used.
type Citation struct {
	DocumentID string `json:"document_id"`
	ChunkID    string `json:"chunk_id"`
	Title      string `json:"title,omitempty"`
	Snippet    string `json:"snippet"`
}

func citations(ps []llm.Passage) json.RawMessage {
	out := make([]Citation, 0, len(ps))
	for _, p := range ps {
		snip := p.Text
		if len([]rune(snip)) > 240 {
			snip = string([]rune(snip)[:240]) + "…"
		}
		out = append(out, Citation{DocumentID: p.DocumentID, ChunkID: p.ChunkID, Title: p.Title, Snippet: snip})
	}
	b, _ := json.Marshal(out)
	return b
}

// store1 stores the reply once (the unique reply_to makes a second attempt
// a no-op) unless a person took the conversation meanwhile.
func (r *Replier) store1(ctx context.Context, tenantID string, in store.Message, m store.Message, meta Meta) error {
	m.ConversationID, m.ReplyTo = in.ConversationID, in.ID
	m.Meta, _ = json.Marshal(meta)
	return r.convs.StoreReply(ctx, tenantID, m)
}

// handoff gives the conversation to a person and tells the visitor.
func (r *Replier) handoff(ctx context.Context, tenantID, convID string, in store.Message, set Settings, meta Meta) error {
	text := set.Handoff.Message
	if strings.TrimSpace(text) == "" {
		text = defaults().Handoff.Message
	}
	m := store.Message{ConversationID: convID, ReplyTo: in.ID, Role: "assistant", Text: text}
	m.Meta, _ = json.Marshal(meta)
	return r.convs.HandoffByBot(ctx, tenantID, m)
}
