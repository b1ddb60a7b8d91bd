package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/store"
)

// chatTimeout bounds how long POST /api/v1/chat waits for the reply; past
// it the answer is 202 with the conversation, and the reply arrives later.
const chatTimeout = 2 * time.Minute

// chat is POST /api/v1/chat: a message to an assistant, answered in the
// same request (JSON, or SSE with stream: true). It goes through the same
// pipeline as every channel: the message is stored and its reply job
// queued in one transaction; this request then waits for the reply.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		AssistantID    string `json:"assistant_id"`
		ConversationID string `json:"conversation_id"`
		Message        string `json:"message"`
		Stream         bool   `json:"stream"`
		ClientID       string `json:"client_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var fe apperr.Fields
	if !validID(req.AssistantID) {
		fe.Add("assistant_id", "is required and must be an id")
	}
	if req.ConversationID != "" && !validID(req.ConversationID) {
		fe.Add("conversation_id", "is not a valid id")
	}
	if _, err := conversations.CheckText("message", req.Message); err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	if err := fe.Err(); err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	typ, who := p.ActorID()
	var ch store.Channel
	var newConv, newContact string
	err = s.store.Write(r.Context(), scope, func(tx *store.Tx) error {
		if _, err := tx.GetAssistant(r.Context(), req.AssistantID); err != nil {
			return err
		}
		if ch, err = tx.APIChannel(r.Context(), req.AssistantID); err != nil || req.ConversationID != "" {
			return err
		}
		// A new conversation every time unless the caller names one. It is
		// created here so the answer's events can be subscribed to before
		// the reply job exists: no streamed piece is missed.
		ct, err := tx.UpsertContact(r.Context(), ch.ID, typ+":"+who+":"+store.NewID(), "")
		if err != nil {
			return err
		}
		conv, err := tx.CreateConversation(r.Context(), ch.ID, ct.ID)
		newConv, newContact = conv.ID, ct.ID
		return err
	})
	if err != nil {
		return err
	}
	in := conversations.Inbound{TenantID: p.TenantID, ChannelID: ch.ID, ConversationID: req.ConversationID,
		Text: req.Message, ClientID: req.ClientID, RequestID: requestID(r.Context())}
	if req.ConversationID == "" {
		in.ConversationID, in.ContactID = newConv, newContact
	} else {
		err := s.store.Read(r.Context(), scope, func(tx *store.Tx) error {
			conv, err := tx.GetConversation(r.Context(), req.ConversationID)
			if err == nil && conv.ChannelID != ch.ID {
				return apperr.New(apperr.NotFound, "conversation not found")
			}
			in.ContactID = conv.ContactID
			return err
		})
		if err != nil {
			return err
		}
	}
	sub := s.widget.Hub().Subscribe(p.TenantID, in.ConversationID, 64)
	defer sub.Close()
	res, err := s.convs.PostInbound(r.Context(), in)
	if err != nil {
		return err
	}

	var sse *sseWriter
	if req.Stream {
		sse = newSSE(w)
	}
	ctx, cancel := context.WithTimeout(r.Context(), chatTimeout)
	defer cancel()
	poll := time.NewTicker(time.Second) // a lost event costs at most a second
	defer poll.Stop()
	for {
		reply, err := s.replyTo(ctx, scope, res.Message.ID)
		if err != nil {
			return err
		}
		if reply != nil {
			answer := map[string]any{"conversation_id": res.Conversation.ID, "message": reply}
			if sse != nil {
				return sse.send("message", answer)
			}
			return writeJSON(w, http.StatusOK, answer)
		}
	wait:
		select {
		case <-ctx.Done():
			if r.Context().Err() != nil {
				return nil // the client left
			}
			pending := map[string]any{"conversation_id": res.Conversation.ID, "message": nil, "inbound": res.Message, "status": "pending"}
			if sse != nil {
				return sse.send("pending", pending)
			}
			return writeJSON(w, http.StatusAccepted, pending)
		case e := <-sub.C:
			if e.Type == "delta" && sse != nil {
				var d struct {
					Text string `json:"text"`
				}
				_ = json.Unmarshal(e.Data, &d)
				if err := sse.send("delta", map[string]string{"text": d.Text}); err != nil {
					return nil
				}
				goto wait
			}
		case <-sub.Overflowed:
		case <-poll.C:
		}
	}
}

func (s *Server) replyTo(ctx context.Context, scope store.Scope, inboundID string) (*store.Message, error) {
	var m store.Message
	err := s.store.Read(ctx, scope, func(tx *store.Tx) error {
		var err error
		m, err = tx.ReplyTo(ctx, inboundID)
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// sseWriter writes Server-Sent Events.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) send(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, b); err != nil {
		return err
	}
	return s.rc.Flush()
}
