package httpapi

import (
	"net/http"
	"strconv"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/store"
)

func channelID(v channels.View) string { return v.ID }

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	out, err := s.chans.List(r.Context(), auth.FromContext(r.Context()), pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, out, channelID))
}

func (s *Server) createChannel(w http.ResponseWriter, r *http.Request) error {
	var req channels.Request
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	v, err := s.chans.Create(r.Context(), auth.FromContext(r.Context()), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.chans.Get(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) updateChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req channels.Request
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	v, err := s.chans.Update(r.Context(), auth.FromContext(r.Context()), id, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.chans.Delete(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func conversationID(c store.Conversation) string { return c.ID }

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ConversationFilter{Status: q.Get("status"), ChannelID: q.Get("channel_id"), AssigneeID: q.Get("assignee_id")}
	var fe apperr.Fields
	switch f.Status {
	case "", "bot", "human", "resolved":
	default:
		fe.Add("status", "must be bot, human or resolved")
	}
	if f.ChannelID != "" && !validID(f.ChannelID) {
		fe.Add("channel_id", "is not a valid id")
	}
	if f.AssigneeID != "" && !validID(f.AssigneeID) {
		fe.Add("assignee_id", "is not a valid id")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	out, err := s.convs.List(r.Context(), auth.FromContext(r.Context()), f, pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, out, conversationID))
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := s.convs.Get(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// listMessages pages by seq: ?after_seq=N&limit=L; next_cursor is the seq
// to pass as after_seq for the next page.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var after int64
	if v := q.Get("after_seq"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return apperr.Field("after_seq", "must be a whole number ≥ 0")
		}
	}
	if v := q.Get("cursor"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return apperr.Field("cursor", "is not a cursor this API issued")
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > store.MaxPageSize {
			return apperr.Field("limit", "must be between 1 and 200")
		}
	}
	ms, err := s.convs.Messages(r.Context(), auth.FromContext(r.Context()), id, after, limit)
	if err != nil {
		return err
	}
	next := ""
	if len(ms) == limit {
		next = strconv.FormatInt(ms[len(ms)-1].Seq, 10)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ms, "next_cursor": next})
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		Text     string `json:"text"`
		Note     bool   `json:"note"`
		ClientID string `json:"client_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	res, err := s.convs.PostAgentMessage(r.Context(), auth.FromContext(r.Context()), id, conversations.AgentMessage{Text: req.Text, Note: req.Note, ClientID: req.ClientID})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	return writeJSON(w, status, res.Message)
}

func (s *Server) handoff(w http.ResponseWriter, r *http.Request) error {
	return s.setConversationStatus(w, r, "human")
}

func (s *Server) handback(w http.ResponseWriter, r *http.Request) error {
	return s.setConversationStatus(w, r, "bot")
}

func (s *Server) resolve(w http.ResponseWriter, r *http.Request) error {
	return s.setConversationStatus(w, r, "resolved")
}

func (s *Server) setConversationStatus(w http.ResponseWriter, r *http.Request, status string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.convs.SetStatus(r.Context(), auth.FromContext(r.Context()), id, status)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) widgetSession(w http.ResponseWriter, r *http.Request) error {
	return s.widget.CreateSession(w, r, func(v any) error { return decodeJSON(r, v) }, clientIP(r.Context()))
}
