package dashboard

// The inbox: the tenant's conversations (filtered, with the user's unread
// counts) beside the open thread and its actions. The page works without
// JavaScript; inbox.js keeps it live from GET /app/inbox/events (Server-Sent
// Events fed by the realtime hub, so on PostgreSQL by every process) and
// reads what changed from the JSON at /app/inbox/rows and
// /app/inbox/{id}/messages, rendering it with textContent only.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// inboxData is the inbox page's own data.
type inboxData struct {
	Rows     []inboxRow
	Filter   inboxFilter
	Query    string // the filter as a query string ("" or "?status=…")
	Channels []store.Channel
	Members  []store.Member
	Canned   []store.CannedResponse
	Thread   *threadData
	CanWork  bool // agent or more: actions and the reply box
	CanAdmin bool // admin: canned responses
}

// inboxFilter is the filter form as submitted.
type inboxFilter struct {
	Status, Channel, Assignee, Q string
}

// inboxRow is one conversation of the list (also its JSON for inbox.js).
type inboxRow struct {
	ID          string `json:"id"`
	Href        string `json:"href"`
	Name        string `json:"name"`
	Channel     string `json:"channel"`
	Status      string `json:"status"`
	StatusLabel string `json:"status_label"`
	AssigneeID  string `json:"assignee_id"`
	Assignee    string `json:"assignee"`
	LastText    string `json:"last_text"`
	Unread      int64  `json:"unread"`
	At          string `json:"at"`
	Current     bool   `json:"-"`
}

// threadData is the open conversation.
type threadData struct {
	Conv        store.Conversation
	Contact     store.Contact
	Name        string
	ChannelName string
	ChannelType string
	Messages    []threadMsg
	LastSeq     int64
	// ClientID makes the reply form idempotent: a double submit stores
	// one message.
	ClientID string
}

// threadMsg is a message as the thread shows it (and its JSON).
type threadMsg struct {
	ID            string     `json:"id"`
	Seq           int64      `json:"seq"`
	Role          string     `json:"role"`
	RoleLabel     string     `json:"role_label"`
	Text          string     `json:"text"`
	At            string     `json:"at"`
	Delivery      string     `json:"delivery"`
	DeliveryLabel string     `json:"delivery_label"`
	DeliveryError string     `json:"delivery_error,omitempty"`
	Citations     []citation `json:"citations,omitempty"`
}

// citation is a source under a bot answer.
type citation struct {
	Title   string `json:"title"`
	Snippet string `json:"snippet"`
}

// threadWindow is how many of the newest messages a thread shows.
const threadWindow = 200

// filterOf reads the filter from the query string and resolves it for
// the service ("me" is the signed-in user).
func filterOf(r *http.Request, p *auth.Principal) (inboxFilter, store.InboxFilter, string) {
	q := r.URL.Query()
	f := inboxFilter{Status: q.Get("status"), Channel: q.Get("channel"), Assignee: q.Get("assignee"), Q: strings.TrimSpace(q.Get("q"))}
	sf := store.InboxFilter{Status: f.Status, ChannelID: f.Channel, Query: f.Q}
	switch f.Assignee {
	case "":
	case "me":
		sf.AssigneeID = p.UserID
		if sf.AssigneeID == "" {
			sf.Unassigned = true
		}
	case "unassigned":
		sf.Unassigned = true
	default:
		sf.AssigneeID = f.Assignee
	}
	v := url.Values{}
	for k, s := range map[string]string{"status": f.Status, "channel": f.Channel, "assignee": f.Assignee, "q": f.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	enc := v.Encode()
	if enc != "" {
		enc = "?" + enc
	}
	return f, sf, enc
}

func (h *Handler) inboxPage(w http.ResponseWriter, r *http.Request) error {
	return h.renderInbox(w, r, http.StatusOK, "", page{})
}

func (h *Handler) threadPage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "conversation not found")
	}
	return h.renderInbox(w, r, http.StatusOK, id, page{})
}

// inboxLists reads what the page's forms choose from.
func (h *Handler) inboxLists(r *http.Request, p *auth.Principal) ([]store.Channel, []store.Member, error) {
	scope, err := p.Scope()
	if err != nil {
		return nil, nil, err
	}
	var chans []store.Channel
	var members []store.Member
	err = h.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		if chans, err = tx.ListChannels(r.Context(), store.Page{Limit: store.MaxPageSize}); err != nil {
			return err
		}
		members, err = tx.ListMembers(r.Context(), store.Page{Limit: store.MaxPageSize})
		return err
	})
	return chans, members, err
}

// inboxRows lists the filtered conversations as the page shows them.
func (h *Handler) inboxRows(r *http.Request, p *auth.Principal, sf store.InboxFilter, query, current string, chans []store.Channel, members []store.Member) ([]inboxRow, error) {
	rows, err := h.convs.Inbox(r.Context(), p, sf)
	if err != nil {
		return nil, err
	}
	lang := infoOf(r).lang
	out := make([]inboxRow, 0, len(rows))
	for _, c := range rows {
		out = append(out, inboxRow{ID: c.ID, Href: "/app/inbox/" + c.ID + query, Name: h.contactName(lang, c.Contact),
			Channel: channelName(chans, c.ChannelID), Status: c.Status, StatusLabel: h.cat.text(lang, inboxKey("status", c.Status)),
			AssigneeID: c.AssigneeID, Assignee: memberName(members, c.AssigneeID), LastText: preview(c.LastText),
			Unread: c.Unread, At: formatTime(c.LastMessageAt), Current: c.ID == current})
	}
	return out, nil
}

func (h *Handler) contactName(lang string, c *store.Contact) string {
	if c == nil {
		return ""
	}
	if c.Name != "" {
		return c.Name
	}
	short := c.ExternalID
	if len(short) > 8 {
		short = short[:8]
	}
	return h.cat.text(lang, "inbox.visitor", short)
}

func channelName(chans []store.Channel, id string) string {
	for _, c := range chans {
		if c.ID == id {
			return c.Name
		}
	}
	return ""
}

func memberName(members []store.Member, id string) string {
	if id == "" {
		return ""
	}
	for _, m := range members {
		if m.UserID == id {
			if m.Name != "" {
				return m.Name
			}
			return m.Email
		}
	}
	return ""
}

// preview shortens a message for the list.
func preview(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:119]) + "…"
	}
	return s
}

// renderInbox renders the list and, when id is set, its thread.
func (h *Handler) renderInbox(w http.ResponseWriter, r *http.Request, status int, id string, pg page) error {
	p := auth.FromContext(r.Context())
	f, sf, query := filterOf(r, p)
	chans, members, err := h.inboxLists(r, p)
	if err != nil {
		return err
	}
	d := inboxData{Filter: f, Query: query, Channels: chans, Members: members, CanWork: p.Can(auth.ScopeWrite), CanAdmin: p.Can(auth.ScopeAdmin)}
	if id != "" {
		// The thread first: it marks the conversation read, so the list
		// shows no unread count for what is on the screen.
		if d.Thread, err = h.thread(r, p, id, chans); err != nil {
			return err
		}
	}
	if d.Rows, err = h.inboxRows(r, p, sf, query, id, chans, members); err != nil {
		if _, ok := fieldErrors(err); ok {
			pg.Error = h.cat.text(infoOf(r).lang, "inbox.filter_invalid")
			err = nil
		} else {
			return err
		}
	}
	if d.Canned, err = h.convs.CannedResponses(r.Context(), p); err != nil {
		return err
	}
	pg.Title, pg.Nav, pg.Data = "inbox.title", "inbox", d
	return h.render(w, r, status, "inbox", pg)
}

// thread reads a conversation, its contact and newest messages, and marks
// it read for the user.
func (h *Handler) thread(r *http.Request, p *auth.Principal, id string, chans []store.Channel) (*threadData, error) {
	conv, err := h.convs.Get(r.Context(), p, id)
	if err != nil {
		return nil, err
	}
	msgs, err := h.convs.Messages(r.Context(), p, id, max(0, conv.LastSeq-threadWindow), threadWindow)
	if err != nil {
		return nil, err
	}
	lang := infoOf(r).lang
	t := &threadData{Conv: conv, Contact: *conv.Contact, Name: h.contactName(lang, conv.Contact), LastSeq: conv.LastSeq, ClientID: store.NewID()}
	for _, c := range chans {
		if c.ID == conv.ChannelID {
			t.ChannelName, t.ChannelType = c.Name, c.Type
		}
	}
	for _, m := range msgs {
		t.Messages = append(t.Messages, h.threadMessage(lang, m))
		t.LastSeq = max(t.LastSeq, m.Seq)
	}
	if err := h.convs.MarkRead(r.Context(), p, id, t.LastSeq); err != nil {
		return nil, err
	}
	return t, nil
}

func (h *Handler) threadMessage(lang string, m store.Message) threadMsg {
	tm := threadMsg{ID: m.ID, Seq: m.Seq, Role: m.Role, RoleLabel: h.cat.text(lang, inboxKey("role", m.Role)), Text: m.Text,
		At: formatTime(m.CreatedAt), Delivery: m.Delivery, DeliveryError: m.DeliveryError}
	if m.Delivery != "" {
		tm.DeliveryLabel = h.cat.text(lang, inboxKey("delivery", m.Delivery))
	}
	if m.Role == "assistant" && len(m.Citations) > 0 {
		var cs []citation
		if json.Unmarshal(m.Citations, &cs) == nil {
			for _, c := range cs {
				if c.Title != "" || c.Snippet != "" {
					tm.Citations = append(tm.Citations, citation{Title: c.Title, Snippet: preview(c.Snippet)})
				}
			}
		}
	}
	return tm
}

// inboxKey names a catalogue string of the inbox: inboxKey("status",
// "bot") is "inbox.status.bot".
func inboxKey(parts ...string) string { return "inbox" + "." + strings.Join(parts, ".") }

// writeJSON answers the JSON that inbox.js reads.
func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}

// inboxRowsJSON serves GET /app/inbox/rows: the list for the same filter
// query, for inbox.js to redraw.
func (h *Handler) inboxRowsJSON(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	_, sf, query := filterOf(r, p)
	chans, members, err := h.inboxLists(r, p)
	if err != nil {
		return err
	}
	rows, err := h.inboxRows(r, p, sf, query, "", chans, members)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"rows": rows})
}

// threadMessagesJSON serves GET /app/inbox/{id}/messages?after=seq: the
// messages inbox.js has not shown yet.
func (h *Handler) threadMessagesJSON(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "conversation not found")
	}
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil || after < 0 {
		after = 0
	}
	conv, err := h.convs.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	msgs, err := h.convs.Messages(r.Context(), p, id, max(after, conv.LastSeq-threadWindow), threadWindow)
	if err != nil {
		return err
	}
	lang := infoOf(r).lang
	out := make([]threadMsg, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, h.threadMessage(lang, m))
	}
	return writeJSON(w, map[string]any{"status": conv.Status, "status_label": h.cat.text(lang, inboxKey("status", conv.Status)),
		"assignee_id": conv.AssigneeID, "messages": out})
}

// markRead serves POST /app/inbox/{id}/read (seq=…): inbox.js reports
// what the open thread has shown.
func (h *Handler) markRead(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return apperr.New(apperr.NotFound, "conversation not found")
	}
	seq, _ := strconv.ParseInt(r.PostFormValue("seq"), 10, 64)
	if err := h.convs.MarkRead(r.Context(), auth.FromContext(r.Context()), id, seq); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// threadBack is where an action returns to: the thread, with the list's
// filter (a local query string only).
func threadBack(r *http.Request, id string) string {
	back := "/app/inbox/" + id
	if q := r.PostFormValue("back"); strings.HasPrefix(q, "?") {
		if v, err := url.ParseQuery(q[1:]); err == nil {
			back += "?" + v.Encode()
		}
	}
	return back
}

// convAction wraps an action on one conversation: a well-formed id, the
// service call, a redirect back with a flash.
func (h *Handler) convAction(flash string, act func(r *http.Request, p *auth.Principal, id string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if !store.ValidID(id) {
			return apperr.New(apperr.NotFound, "conversation not found")
		}
		if err := act(r, auth.FromContext(r.Context()), id); err != nil {
			return err
		}
		return h.redirect(w, r, threadBack(r, id), flash)
	}
}

func (h *Handler) takeOver(w http.ResponseWriter, r *http.Request) error {
	return h.convAction("inbox.flash.taken_over", func(r *http.Request, p *auth.Principal, id string) error {
		_, err := h.convs.TakeOver(r.Context(), p, id)
		return err
	})(w, r)
}

func (h *Handler) handBack(w http.ResponseWriter, r *http.Request) error {
	return h.convAction("inbox.flash.handed_back", func(r *http.Request, p *auth.Principal, id string) error {
		_, err := h.convs.SetStatus(r.Context(), p, id, "bot")
		return err
	})(w, r)
}

func (h *Handler) resolve(w http.ResponseWriter, r *http.Request) error {
	return h.convAction("inbox.flash.resolved", func(r *http.Request, p *auth.Principal, id string) error {
		_, err := h.convs.SetStatus(r.Context(), p, id, "resolved")
		return err
	})(w, r)
}

func (h *Handler) assign(w http.ResponseWriter, r *http.Request) error {
	return h.convAction("inbox.flash.assigned", func(r *http.Request, p *auth.Principal, id string) error {
		to := r.PostFormValue("assignee")
		if to == "me" {
			to = p.UserID
		}
		_, err := h.convs.Assign(r.Context(), p, id, to)
		return err
	})(w, r)
}

// reply serves POST /app/inbox/{id}/reply and …/note: an agent's message
// to the contact, or a private note. An empty text shows the thread again
// with the message next to the box.
func (h *Handler) reply(note bool) func(http.ResponseWriter, *http.Request) error {
	flash := "inbox.flash.sent"
	if note {
		flash = "inbox.flash.noted"
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if !store.ValidID(id) {
			return apperr.New(apperr.NotFound, "conversation not found")
		}
		p := auth.FromContext(r.Context())
		_, err := h.convs.PostAgentMessage(r.Context(), p, id, conversations.AgentMessage{Text: r.PostFormValue("text"), Note: note, ClientID: r.PostFormValue("client_id")})
		if err == nil {
			return h.redirect(w, r, threadBack(r, id), flash)
		}
		if _, ok := fieldErrors(err); !ok {
			return err
		}
		errs := map[string]string{"text": h.cat.text(infoOf(r).lang, "inbox.reply_invalid")}
		return h.renderInbox(w, r, http.StatusUnprocessableEntity, id, page{Form: r.PostForm, Errors: errs})
	}
}

// createCanned serves POST /app/inbox/canned (admins).
func (h *Handler) createCanned(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	_, err := h.convs.CreateCannedResponse(r.Context(), p, r.PostFormValue("canned_title"), r.PostFormValue("canned_text"))
	if err == nil {
		return h.redirect(w, r, "/app/inbox", "inbox.flash.canned_created")
	}
	lang := infoOf(r).lang
	errs := map[string]string{}
	if fe, ok := fieldErrors(err); ok {
		for f := range fe {
			errs["canned_"+f] = h.cat.text(lang, inboxKey("canned", f+"_invalid"))
		}
	} else if apperr.Is(err, apperr.Conflict) {
		errs["canned_title"] = h.cat.text(lang, "inbox.canned.title_taken")
	} else {
		return err
	}
	return h.renderInbox(w, r, http.StatusUnprocessableEntity, "", page{Form: r.PostForm, Errors: errs})
}

// deleteCanned serves POST /app/inbox/canned/{id}/delete (admins).
func (h *Handler) deleteCanned(w http.ResponseWriter, r *http.Request) error {
	if err := h.convs.DeleteCannedResponse(r.Context(), auth.FromContext(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	return h.redirect(w, r, "/app/inbox", "inbox.flash.canned_deleted")
}

// inboxEvents serves GET /app/inbox/events: the tenant's live events as
// Server-Sent Events, each {conversation_id, type, seq} (inbox.js reads
// the rest from the JSON endpoints, so no message text travels here).
// The session is checked again at every heartbeat: the stream ends when
// it ends or moves to another tenant. A subscriber that fell behind is
// told to resynchronise ("resync") and the stream closes; EventSource
// reconnects by itself.
func (h *Handler) inboxEvents(w http.ResponseWriter, r *http.Request) error {
	return h.stream(w, r, func(e realtime.Event) (string, string, bool) {
		switch e.Type {
		case "message", "status", "assignment", "delivery":
		default:
			return "", "", false
		}
		b, _ := json.Marshal(map[string]any{"conversation_id": e.ConversationID, "type": e.Type, "seq": e.Seq})
		return e.Type, string(b), true
	})
}
