package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/messaging"
	"github.com/metachat/metachat/internal/meta"
	"github.com/metachat/metachat/internal/store"
)

func webhookLimit() int64 { return meta.MaxWebhookBytes }

// verifyWebhook answers Meta's verification handshake with the raw
// challenge.
func (s *Server) verifyWebhook(w http.ResponseWriter, r *http.Request) error {
	challenge, err := s.msg.Verify(r.Context(), r.PathValue("channel_id"), r.URL.Query())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(w, challenge)
	return err
}

// receiveWebhook accepts a provider's delivery: verified over the raw body,
// stored, acknowledged.
func (s *Server) receiveWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyReadError(err, "body")
	}
	if err := s.msg.Receive(r.Context(), r.PathValue("channel_id"), r.Header, body, requestID(r.Context())); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = io.WriteString(w, `{"ok":true}`)
	return err
}

var templateName = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)

// sendTemplate stores an agent's WhatsApp template message and queues it:
// the way to reach a customer after the 24-hour window closed.
func (s *Server) sendTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req messaging.Template
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var fe apperr.Fields
	if !templateName.MatchString(req.Name) {
		fe.Add("name", "is required: the approved template's name (lowercase letters, digits, _)")
	}
	if req.Language == "" || len(req.Language) > 15 {
		fe.Add("language", "is required, e.g. en_US")
	}
	if len(req.Params) > 20 {
		fe.Add("params", "at most 20 parameters")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	conv, err := s.convs.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	ch, err := s.chans.Get(r.Context(), p, conv.ChannelID)
	if err != nil {
		return err
	}
	if ch.Type != "whatsapp" {
		return apperr.Field("name", "templates are sent on WhatsApp conversations only")
	}
	metaJSON, _ := json.Marshal(map[string]any{"template": req})
	text := "Template " + req.Name
	if len(req.Params) > 0 {
		text += ": " + strings.Join(req.Params, ", ")
	}
	res, err := s.convs.PostAgentMessage(r.Context(), p, id, conversations.AgentMessage{Text: text, Meta: metaJSON})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res.Message)
}

type mediaView struct {
	ID        string `json:"id"`
	MimeType  string `json:"mime_type"`
	Filename  string `json:"filename"`
	SizeBytes int64  `json:"size_bytes"`
	Error     string `json:"error"`
	CreatedAt string `json:"created_at"`
}

// listMedia lists the files that came with a message.
func (s *Server) listMedia(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	scope, err := auth.FromContext(r.Context()).Scope()
	if err != nil {
		return err
	}
	var ms []store.Media
	err = s.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		if _, err := tx.GetMessage(r.Context(), id); err != nil {
			return err
		}
		ms, err = tx.MediaOf(r.Context(), id)
		return err
	})
	if err != nil {
		return err
	}
	out := make([]mediaView, len(ms))
	for i, m := range ms {
		out[i] = mediaView{ID: m.ID, MimeType: m.MimeType, Filename: m.Filename, SizeBytes: m.SizeBytes, Error: m.Error, CreatedAt: m.CreatedAt.Format("2006-01-02T15:04:05.000000Z07:00")}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// getMedia serves a file's bytes, as an attachment so a browser never
// renders a customer's upload inside our origin.
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	scope, err := auth.FromContext(r.Context()).Scope()
	if err != nil {
		return err
	}
	var m store.Media
	var data []byte
	err = s.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		m, data, err = tx.MediaData(r.Context(), id)
		return err
	})
	if err != nil {
		return err
	}
	if m.Error != "" {
		return apperr.New(apperr.NotFound, "the file could not be fetched from the provider: %s", m.Error)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, m.Filename)))
	w.Header().Set("X-Media-Type", m.MimeType)
	_, err = w.Write(data)
	return err
}
