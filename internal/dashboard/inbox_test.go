package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/store"
)

// The inbox's {id} routes in the cross-tenant matrix (routes_test.go):
// each acts on a fresh conversation of tenant B, which must stay with the
// bot, unassigned, with its one message.
func init() {
	conv := func(t *testing.T, e *env, b tenantFixture, suffix string) (string, func() bool) {
		id := e.visitorSays(b.ID, e.webChannel(b.ID, "B site"), "b-visitor", "Bea", "hello from B")
		return "/app/inbox/" + id + suffix, func() bool {
			c := e.conversation(b.ID, id)
			return c.Status == "bot" && c.AssigneeID == "" && c.LastSeq == 1
		}
	}
	for _, s := range []string{"", "/messages", "/read", "/takeover", "/handback", "/resolve", "/assign", "/reply", "/note"} {
		method := "POST"
		if s == "" || s == "/messages" {
			method = "GET"
		}
		idRoutes[method+" /app/inbox/{id}"+s] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
			return conv(t, e, b, s)
		}
	}
	idRoutes["POST /app/inbox/canned/{id}/delete"] = func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		c, err := e.convs.CreateCannedResponse(context.Background(), systemOf(b.ID), "B's greeting", "Hello from B")
		if err != nil {
			t.Fatal(err)
		}
		return "/app/inbox/canned/" + c.ID + "/delete", func() bool {
			list, err := e.convs.CannedResponses(context.Background(), systemOf(b.ID))
			return err == nil && len(list) == 1
		}
	}
}

// systemOf is a principal with every scope in a tenant, for fixtures.
func systemOf(tenantID string) *auth.Principal {
	return &auth.Principal{Kind: "system", TenantID: tenantID, Scopes: []string{auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin}}
}

// webChannel creates a web channel without an assistant (nobody answers).
func (e *env) webChannel(tenantID, name string) string {
	e.t.Helper()
	v, err := e.chans.Create(context.Background(), systemOf(tenantID), channels.Request{Type: "web", Name: name,
		Config: json.RawMessage(`{"allowed_origins":["https://shop.example"]}`)})
	if err != nil {
		e.t.Fatal(err)
	}
	return v.ID
}

// visitorSays stores a contact's message and returns its conversation.
func (e *env) visitorSays(tenantID, channelID, externalID, name, text string) string {
	e.t.Helper()
	out, err := e.convs.PostInbound(context.Background(), conversations.Inbound{TenantID: tenantID, ChannelID: channelID,
		ExternalID: externalID, ContactName: name, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Conversation.ID
}

func (e *env) conversation(tenantID, id string) store.Conversation {
	e.t.Helper()
	var c store.Conversation
	err := e.st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		c, err = tx.GetConversation(context.Background(), id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// visitorView is what the widget shows the contact: no notes.
func (e *env) visitorView(tenantID, id string) []store.Message {
	e.t.Helper()
	var ms []store.Message
	err := e.st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		ms, err = tx.ListMessages(context.Background(), id, 0, 100, false)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func (e *env) userID(email string) string {
	e.t.Helper()
	var id string
	err := e.st.Read(context.Background(), store.SystemScope, func(tx *store.Tx) error {
		u, err := tx.UserByEmail(context.Background(), email)
		id = u.ID
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// rowsOf reads GET /app/inbox/rows for a filter query.
func rowsOf(t *testing.T, b *browser, query string) map[string]int64 {
	t.Helper()
	p := b.get("/app/inbox/rows"+query).must(t, 200)
	var out struct {
		Rows []struct {
			ID     string `json:"id"`
			Unread int64  `json:"unread"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(p.Body), &out); err != nil {
		t.Fatalf("rows %s: %v\n%s", query, err, p.Body)
	}
	m := map[string]int64{}
	for _, r := range out.Rows {
		m[r.ID] = r.Unread
	}
	return m
}

func sameSet(got map[string]int64, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			return false
		}
	}
	return true
}

// TestInboxListFiltersAndUnread: the list filters by status, channel,
// assignee and text, and counts each user's unread messages.
func TestInboxListFiltersAndUnread(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "agent@acme.test", "agent", false)
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		site, shop := e.webChannel(tn.ID, "Site"), e.webChannel(tn.ID, "Shop")
		ana := e.visitorSays(tn.ID, site, "v-ana", "Ana", "Where is my parcel?")
		e.visitorSays(tn.ID, site, "v-ana", "Ana", "It is late")
		bob := e.visitorSays(tn.ID, shop, "v-bob", "Bob", "Refund please")
		cid := e.visitorSays(tn.ID, site, "v-cid", "", "hello 100%_sure")

		agent := e.login("agent@acme.test")
		p := agent.get("/app/inbox").must(t, 200)
		p.contains(t, "Ana", "Bob", "Visitor v-cid", "Refund please", "/app/inbox/"+bob)
		if strings.Count(p.Body, `class="unread"`) != 3 {
			t.Errorf("the list shows %d unread badges, want 3", strings.Count(p.Body, `class="unread"`))
		}
		if got := rowsOf(t, agent, ""); got[ana] != 2 || got[bob] != 1 || got[cid] != 1 {
			t.Errorf("unread %v, want ana 2, bob 1, cid 1", got)
		}
		for q, want := range map[string][]string{
			"?q=PARCEL":                   {ana},
			"?q=bob":                      {bob},
			"?q=100%25_":                  {cid},
			"?q=%25":                      {cid},
			"?channel=" + shop:            {bob},
			"?status=bot":                 {ana, bob, cid},
			"?status=human":               {},
			"?assignee=unassigned":        {ana, bob, cid},
			"?assignee=me":                {},
			"?status=bot&channel=" + site: {ana, cid},
		} {
			if got := rowsOf(t, agent, q); !sameSet(got, want...) {
				t.Errorf("%s lists %v, want %v", q, got, want)
			}
		}
		agent.get("/app/inbox?status=nope").must(t, 200).contains(t, "This filter is not valid")

		// Opening a thread reads it, for this user only.
		agent.get("/app/inbox/"+ana).must(t, 200).contains(t, "Where is my parcel?", "It is late", "v-ana", "Site")
		if got := rowsOf(t, agent, ""); got[ana] != 0 || got[bob] != 1 {
			t.Errorf("after reading Ana's thread: %v", got)
		}
		viewer := e.login("viewer@acme.test")
		if got := rowsOf(t, viewer, ""); got[ana] != 2 {
			t.Errorf("the viewer's unread count moved with the agent's: %v", got)
		}
		e.visitorSays(tn.ID, site, "v-ana", "Ana", "Hello?")
		if got := rowsOf(t, agent, ""); got[ana] != 1 {
			t.Errorf("a new message after reading: unread %d, want 1", got[ana])
		}
		// inbox.js reports what it showed.
		agent.post("/app/inbox/"+ana+"/read", url.Values{"seq": {"3"}}).must(t, http.StatusNoContent)
		if got := rowsOf(t, agent, ""); got[ana] != 0 {
			t.Errorf("after POST read: unread %d", got[ana])
		}

		// Take over: the agent's, and the assignee filter sees it.
		agent.post("/app/inbox/"+ana+"/takeover", url.Values{"back": {"?status=bot"}}).must(t, http.StatusSeeOther)
		if got := rowsOf(t, agent, "?assignee=me"); !sameSet(got, ana) {
			t.Errorf("?assignee=me after taking over lists %v", got)
		}
		if got := rowsOf(t, viewer, "?assignee="+e.userID("agent@acme.test")+"&status=human"); !sameSet(got, ana) {
			t.Errorf("filter by the agent's id lists %v", got)
		}
	})
}

// TestInboxThreadActions: take over, reply, note, assign, hand back,
// resolve; notes never reach the visitor; citations and delivery ticks
// show; every action is audited where the services audit.
func TestInboxThreadActions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "agent@acme.test", "agent", false)
		e.addUser(tn.ID, "admin@acme.test", "admin", false)
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		id := e.visitorSays(tn.ID, e.webChannel(tn.ID, "Site"), "v-ana", "Ana", "Where is my parcel?")
		// A bot answer with a citation, and a failed delivery.
		err := e.st.Write(ctx, store.TenantScope(tn.ID), func(tx *store.Tx) error {
			if _, err := tx.AppendMessage(ctx, store.Message{ConversationID: id, Role: "assistant", Text: "Parcels take 3 days.",
				Citations: json.RawMessage(`[{"document_id":"d","chunk_id":"c","title":"Shipping FAQ","snippet":"Parcels ship within three days."}]`)}); err != nil {
				return err
			}
			_, err := tx.AppendMessage(ctx, store.Message{ConversationID: id, Role: "assistant", Text: "Anything else?", Delivery: "failed", DeliveryError: "window closed"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		agent := e.login("agent@acme.test")
		p := agent.get("/app/inbox/"+id).must(t, 200)
		p.contains(t, "Shipping FAQ", "Parcels ship within three days.", "Failed", "window closed", `id="reply-text"`, `action="/app/inbox/`+id+`/takeover"`)

		// The viewer reads but cannot act.
		viewer := e.login("viewer@acme.test")
		vp := viewer.get("/app/inbox/"+id).must(t, 200)
		if strings.Contains(vp.Body, `id="reply-text"`) || strings.Contains(vp.Body, "/takeover") {
			t.Error("a viewer's thread offers actions")
		}
		for _, act := range []string{"takeover", "reply", "note", "assign", "resolve", "handback"} {
			viewer.post("/app/inbox/"+id+"/"+act, url.Values{"text": {"sneaky"}}).must(t, http.StatusForbidden)
		}
		if c := e.conversation(tn.ID, id); c.Status != "bot" || c.LastSeq != 3 {
			t.Fatalf("after the viewer's attempts: %+v", c)
		}

		agentID, adminID := e.userID("agent@acme.test"), e.userID("admin@acme.test")
		p = agent.post("/app/inbox/"+id+"/takeover", url.Values{"back": {"?status=human&x=<b>"}}).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); !strings.HasPrefix(loc, "/app/inbox/"+id+"?") || strings.Contains(loc, "<") {
			t.Errorf("take over redirects to %q", loc)
		}
		if c := e.conversation(tn.ID, id); c.Status != "human" || c.AssigneeID != agentID {
			t.Errorf("after take over: %s assigned to %q", c.Status, c.AssigneeID)
		}
		agent.post("/app/inbox/"+id+"/reply", url.Values{"text": {"It ships today."}}).must(t, http.StatusSeeOther)
		agent.post("/app/inbox/"+id+"/note", url.Values{"text": {"VIP customer, be nice"}, "client_id": {"n1"}}).must(t, http.StatusSeeOther)
		agent.post("/app/inbox/"+id+"/note", url.Values{"text": {"VIP customer, be nice"}, "client_id": {"n1"}}).must(t, http.StatusSeeOther) // a double submit
		if c := e.conversation(tn.ID, id); c.LastSeq != 5 {
			t.Errorf("after a reply and a note submitted twice: last seq %d, want 5", c.LastSeq)
		}
		agent.post("/app/inbox/"+id+"/reply", url.Values{"text": {"   "}}).must(t, http.StatusUnprocessableEntity).contains(t, "Write a message of at most 4000 characters.")
		agent.get("/app/inbox/"+id).must(t, 200).contains(t, "It ships today.", "VIP customer, be nice", "Private note")
		for _, m := range e.visitorView(tn.ID, id) {
			if m.Role == "note" || strings.Contains(m.Text, "VIP") {
				t.Errorf("the visitor's view holds the note %+v", m)
			}
		}
		var sawReply bool
		for _, m := range e.visitorView(tn.ID, id) {
			sawReply = sawReply || m.Role == "agent" && m.Text == "It ships today."
		}
		if !sawReply {
			t.Error("the visitor's view lacks the agent's reply")
		}

		agent.post("/app/inbox/"+id+"/assign", url.Values{"assignee": {adminID}}).must(t, http.StatusSeeOther)
		if c := e.conversation(tn.ID, id); c.AssigneeID != adminID || c.Status != "human" {
			t.Errorf("after assign: %+v", c)
		}
		agent.post("/app/inbox/"+id+"/assign", url.Values{"assignee": {store.NewID()}}).must(t, http.StatusBadRequest)
		agent.post("/app/inbox/"+id+"/assign", url.Values{"assignee": {"me"}}).must(t, http.StatusSeeOther)
		if c := e.conversation(tn.ID, id); c.AssigneeID != agentID {
			t.Errorf("after assign to me: %q", c.AssigneeID)
		}
		agent.post("/app/inbox/"+id+"/handback", nil).must(t, http.StatusSeeOther)
		if c := e.conversation(tn.ID, id); c.Status != "bot" || c.AssigneeID != "" {
			t.Errorf("after hand back: %+v", c)
		}
		agent.post("/app/inbox/"+id+"/resolve", nil).must(t, http.StatusSeeOther)
		if c := e.conversation(tn.ID, id); c.Status != "resolved" {
			t.Errorf("after resolve: %+v", c)
		}
		acts := auditActions(t, e, tn.ID)
		for _, a := range []string{"conversation.taken_over", "conversation.assigned", "conversation.bot", "conversation.resolved"} {
			if !strings.Contains(acts, a) {
				t.Errorf("audit log lacks %s: %s", a, acts)
			}
		}
	})
}

// TestInboxCannedResponses: admins manage them, agents insert them,
// nobody else changes them.
func TestInboxCannedResponses(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "agent@acme.test", "agent", false)
		e.addUser(tn.ID, "admin@acme.test", "admin", false)
		id := e.visitorSays(tn.ID, e.webChannel(tn.ID, "Site"), "v-ana", "Ana", "Hi")
		agent, admin := e.login("agent@acme.test"), e.login("admin@acme.test")
		agent.get("/app/inbox").must(t, 200).contains(t, "No canned responses yet")
		agent.post("/app/inbox/canned", url.Values{"canned_title": {"Hello"}, "canned_text": {"Hi there!"}}).must(t, http.StatusForbidden)
		admin.post("/app/inbox/canned", url.Values{"canned_title": {""}, "canned_text": {""}}).must(t, http.StatusUnprocessableEntity).
			contains(t, "Give it a title of 1 to 100 characters.", "Write a text of at most 4000 characters.")
		admin.post("/app/inbox/canned", url.Values{"canned_title": {"Hello"}, "canned_text": {"Hi there! <b>"}}).must(t, http.StatusSeeOther)
		admin.post("/app/inbox/canned", url.Values{"canned_title": {"Hello"}, "canned_text": {"again"}}).must(t, http.StatusUnprocessableEntity).
			contains(t, "exists already")
		p := agent.get("/app/inbox/"+id).must(t, 200)
		p.contains(t, `id="canned-pick"`, `<option value="Hi there! &lt;b&gt;">Hello</option>`)
		if strings.Contains(p.Body, "/app/inbox/canned/") {
			t.Error("an agent is offered to delete a canned response")
		}
		list, err := e.convs.CannedResponses(context.Background(), systemOf(tn.ID))
		if err != nil || len(list) != 1 {
			t.Fatalf("canned responses: %v %v", list, err)
		}
		agent.post("/app/inbox/canned/"+list[0].ID+"/delete", nil).must(t, http.StatusForbidden)
		admin.post("/app/inbox/canned/"+list[0].ID+"/delete", nil).must(t, http.StatusSeeOther)
		admin.post("/app/inbox/canned/"+list[0].ID+"/delete", nil).must(t, http.StatusNotFound)
		acts := auditActions(t, e, tn.ID)
		if !strings.Contains(acts, "canned_response.created") || !strings.Contains(acts, "canned_response.deleted") {
			t.Errorf("audit log: %s", acts)
		}
	})
}

// TestInboxEvents: the stream answers EventSource only, and carries a new
// message's event (ids only) live.
func TestInboxEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn, other := e.newTenant("Acme"), e.newTenant("Other")
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		site, otherSite := e.webChannel(tn.ID, "Site"), e.webChannel(other.ID, "Elsewhere")
		b := e.login("viewer@acme.test")
		b.get("/app/inbox/events").must(t, http.StatusBadRequest)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/app/inbox/events", nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Fatalf("events: %d %v", res.StatusCode, res.Header)
		}
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l := <-lines; !strings.HasPrefix(l, "retry:") {
			t.Fatalf("first line %q", l)
		}
		e.visitorSays(other.ID, otherSite, "v-x", "X", "not for Acme")
		id := e.visitorSays(tn.ID, site, "v-ana", "Ana", "secret text")
		var got []string
		for l := range lines {
			got = append(got, l)
			if strings.HasPrefix(l, "data:") && strings.Contains(l, `"type":"message"`) {
				if !strings.Contains(l, id) || strings.Contains(l, "secret text") {
					t.Errorf("message event %q: want the conversation id, not the text", l)
				}
				break
			}
		}
		joined := strings.Join(got, "\n")
		if !strings.Contains(joined, "event: message") || strings.Contains(joined, "not for Acme") {
			t.Errorf("stream: %s", joined)
		}
		for _, l := range got {
			if strings.HasPrefix(l, "data:") && !strings.Contains(l, id) {
				t.Errorf("an event of another conversation (tenant?) %q", l)
			}
		}
	})
}

// TestInboxEventsEndWithTheSession: signing out ends an open stream at
// the next heartbeat, with an "end" event (EventSource then stops).
func TestInboxEventsEndWithTheSession(t *testing.T) {
	e := newEnv(t, store.SQLite)
	tn := e.newTenant("Acme")
	e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
	b := e.login("viewer@acme.test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/app/inbox/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	beats := 0
	for sc.Scan() && beats < 2 {
		if sc.Text() == ": heartbeat" {
			beats++
		}
	}
	if beats < 2 {
		t.Fatalf("no heartbeats: %v", sc.Err())
	}
	b.post("/logout", nil).must(t, http.StatusSeeOther)
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	if ctx.Err() != nil || !strings.Contains(strings.Join(rest, "\n"), "event: end") {
		t.Errorf("after sign-out the stream went on: %q (%v)", rest, ctx.Err())
	}
}
