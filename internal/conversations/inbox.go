package conversations

import (
	"context"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// The inbox: what agents need beyond reading and writing messages —
// unread counts, assignment, taking over, canned responses.

// noUser stands for "no user" in the unread join (an API key has no read
// marks): the nil UUID, which no user has.
const noUser = "00000000-0000-0000-0000-000000000000"

// Inbox lists the tenant's conversations matching f, most recently active
// first, with the principal's unread counts.
func (s *Service) Inbox(ctx context.Context, p *auth.Principal, f store.InboxFilter) ([]store.InboxRow, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var fe apperr.Fields
	switch f.Status {
	case "", "bot", "human", "resolved":
	default:
		fe = append(fe, apperr.FieldError{Field: "status", Message: "must be bot, human or resolved"})
	}
	if f.ChannelID != "" && !store.ValidID(f.ChannelID) {
		fe = append(fe, apperr.FieldError{Field: "channel", Message: "is not a channel id"})
	}
	if f.AssigneeID != "" && !store.ValidID(f.AssigneeID) {
		fe = append(fe, apperr.FieldError{Field: "assignee", Message: "is not a user id"})
	}
	if utf8.RuneCountInString(f.Query) > 200 || !utf8.ValidString(f.Query) {
		fe = append(fe, apperr.FieldError{Field: "q", Message: "must be valid text of at most 200 characters"})
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	user := noUser
	if p.Kind == "session" && p.UserID != "" {
		user = p.UserID
	}
	var out []store.InboxRow
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		out, err = tx.ListInbox(ctx, f, user, store.InboxLimit)
		return err
	})
	return out, err
}

// MarkRead records that the signed-in user has read a conversation up to
// seq (its newest message when seq is 0 or beyond it). API keys have no
// read marks: a no-op.
func (s *Service) MarkRead(ctx context.Context, p *auth.Principal, id string, seq int64) error {
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	if p.Kind != "session" || p.UserID == "" {
		return nil
	}
	return s.store.Write(ctx, scope, func(tx *store.Tx) error {
		conv, err := tx.GetConversation(ctx, id)
		if err != nil {
			return err
		}
		if seq <= 0 || seq > conv.LastSeq {
			seq = conv.LastSeq
		}
		return tx.MarkRead(ctx, id, p.UserID, seq)
	})
}

// TakeOver gives the conversation to the signed-in agent: status human,
// assigned to them (whoever had it before).
func (s *Service) TakeOver(ctx context.Context, p *auth.Principal, id string) (store.Conversation, error) {
	if p.Kind != "session" || p.UserID == "" {
		return s.SetStatus(ctx, p, id, "human")
	}
	scope, err := p.Scope()
	if err != nil {
		return store.Conversation{}, err
	}
	var out store.Conversation
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		conv, err := tx.GetConversation(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.SetConversationStatus(ctx, id, "human", p.UserID); err != nil {
			return err
		}
		conv.Status, conv.AssigneeID = "human", p.UserID
		out = conv
		return tx.Audit(ctx, p.Audit("conversation.taken_over", "conversation", id, ""))
	})
	if err != nil {
		return store.Conversation{}, err
	}
	s.publishStatus(ctx, p.TenantID, id, "human")
	s.publishAssignment(ctx, p.TenantID, id)
	return out, nil
}

// Assign gives the conversation to a member of the tenant ("" unassigns);
// the status does not change.
func (s *Service) Assign(ctx context.Context, p *auth.Principal, id, userID string) (store.Conversation, error) {
	scope, err := p.Scope()
	if err != nil {
		return store.Conversation{}, err
	}
	if userID != "" && !store.ValidID(userID) {
		return store.Conversation{}, apperr.Field("assignee", "is not a member of this tenant")
	}
	var out store.Conversation
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		conv, err := tx.GetConversation(ctx, id)
		if err != nil {
			return err
		}
		if userID != "" {
			if _, err := tx.GetMember(ctx, userID); apperr.Is(err, apperr.NotFound) {
				return apperr.Field("assignee", "is not a member of this tenant")
			} else if err != nil {
				return err
			}
		}
		if err := tx.SetConversationAssignee(ctx, id, userID); err != nil {
			return err
		}
		conv.AssigneeID = userID
		out = conv
		details, _ := json.Marshal(map[string]string{"assignee_id": userID})
		return tx.Audit(ctx, p.Audit("conversation.assigned", "conversation", id, string(details)))
	})
	if err != nil {
		return store.Conversation{}, err
	}
	s.publishAssignment(ctx, p.TenantID, id)
	return out, nil
}

// publishAssignment tells the dashboards that a conversation's assignee
// changed. The event carries no data: the widget forwards the data of
// events it does not know, and a visitor has no business with assignees;
// the dashboard reads the new state from the database.
func (s *Service) publishAssignment(ctx context.Context, tenantID, conversationID string) {
	s.publish(ctx, realtime.Event{TenantID: tenantID, ConversationID: conversationID, Type: "assignment"})
}

// CannedResponses lists the tenant's canned responses.
func (s *Service) CannedResponses(ctx context.Context, p *auth.Principal) ([]store.CannedResponse, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, err
	}
	var out []store.CannedResponse
	err = s.store.Read(ctx, scope, func(tx *store.Tx) error {
		out, err = tx.ListCannedResponses(ctx)
		return err
	})
	return out, err
}

// CreateCannedResponse adds a canned response (admins only).
func (s *Service) CreateCannedResponse(ctx context.Context, p *auth.Principal, title, text string) (store.CannedResponse, error) {
	if !p.Can(auth.ScopeAdmin) {
		return store.CannedResponse{}, apperr.New(apperr.Forbidden, "managing canned responses needs the admin role")
	}
	scope, err := p.Scope()
	if err != nil {
		return store.CannedResponse{}, err
	}
	var fe apperr.Fields
	title = strings.TrimSpace(title)
	if title == "" || utf8.RuneCountInString(title) > 100 || !utf8.ValidString(title) {
		fe = append(fe, apperr.FieldError{Field: "title", Message: "must be 1 to 100 characters"})
	}
	text, err = CheckText("text", text)
	if err != nil {
		fe = append(fe, err.(*apperr.Error).Fields...)
	}
	if err := fe.Err(); err != nil {
		return store.CannedResponse{}, err
	}
	var out store.CannedResponse
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		n, err := tx.CountCannedResponses(ctx)
		if err != nil {
			return err
		}
		if n >= store.MaxCannedResponses {
			return apperr.New(apperr.Conflict, "a tenant can keep at most 200 canned responses")
		}
		if out, err = tx.CreateCannedResponse(ctx, title, text); err != nil {
			return err
		}
		details, _ := json.Marshal(map[string]string{"title": title})
		return tx.Audit(ctx, p.Audit("canned_response.created", "canned_response", out.ID, string(details)))
	})
	return out, err
}

// DeleteCannedResponse removes a canned response (admins only).
func (s *Service) DeleteCannedResponse(ctx context.Context, p *auth.Principal, id string) error {
	if !p.Can(auth.ScopeAdmin) {
		return apperr.New(apperr.Forbidden, "managing canned responses needs the admin role")
	}
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "canned response not found")
	}
	return s.store.Write(ctx, scope, func(tx *store.Tx) error {
		if err := tx.DeleteCannedResponse(ctx, id); err != nil {
			return err
		}
		return tx.Audit(ctx, p.Audit("canned_response.deleted", "canned_response", id, ""))
	})
}
