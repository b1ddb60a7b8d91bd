package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// --- helpers for the channel, conversation and widget tests -------------

// shopOrigin is the site the test channels allow to embed the widget.
const shopOrigin = "https://shop.example"

// webChannel is a web channel made through the API.
type webChannel struct {
	ID, PublicKey, IdentitySecret string
}

// newWebChannelVia creates a web channel with the tenant's key; config
// entries are added to {"allowed_origins":[shopOrigin]}.
func newWebChannelVia(t *testing.T, e *env, key string, config map[string]any) webChannel {
	t.Helper()
	cfg := map[string]any{"allowed_origins": []string{shopOrigin}}
	for k, v := range config {
		cfg[k] = v
	}
	m := e.as(key).do("POST", "/api/v1/channels", map[string]any{"type": "web", "name": "Shop", "config": cfg}).must(t, 201).JSON(t)
	ch := webChannel{}
	ch.ID, _ = m["id"].(string)
	ch.PublicKey, _ = m["public_key"].(string)
	ch.IdentitySecret, _ = m["identity_secret"].(string)
	if ch.ID == "" || ch.PublicKey == "" {
		t.Fatalf("channel answer lacks id or public_key: %v", m)
	}
	return ch
}

// itemList is a decoded list answer.
type itemList struct {
	Items      []map[string]any `json:"items"`
	NextCursor string           `json:"next_cursor"`
}

func listOf(t *testing.T, r response) itemList {
	t.Helper()
	var l itemList
	if err := json.Unmarshal(r.Body, &l); err != nil {
		t.Fatalf("not a list answer: %v\n%s", err, r.Body)
	}
	return l
}

func idsIn(items []map[string]any) []string {
	out := []string{}
	for _, it := range items {
		id, _ := it["id"].(string)
		out = append(out, id)
	}
	return out
}

// messagesOf lists a conversation's messages through the API.
func messagesOf(t *testing.T, c *client, conversationID, query string) []map[string]any {
	t.Helper()
	return listOf(t, c.do("GET", "/api/v1/conversations/"+conversationID+"/messages"+query, nil).must(t, 200)).Items
}

func seqsIn(items []map[string]any) []int64 {
	out := []int64{}
	for _, it := range items {
		n, _ := it["seq"].(float64)
		out = append(out, int64(n))
	}
	return out
}

// hasField reports whether a 400 problem names field.
func hasField(t *testing.T, r response, field string) bool {
	t.Helper()
	return slices.Contains(r.problemFields(t), field)
}

// --- channels ----------------------------------------------------------

func TestTheChannelsAPICreatesReadsUpdatesAndDeletesWebChannels(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		t.Run("a web channel is created with a public key and an embed snippet", func(t *testing.T) {
			tn := e.newTenant("Create")
			admin := e.as(tn.Key)
			r := admin.do("POST", "/api/v1/channels", map[string]any{"type": "web", "name": "Shop",
				"config": map[string]any{"allowed_origins": []string{"https://Shop.Example:443/"}}}).must(t, 201)
			m := r.JSON(t)
			key, _ := m["public_key"].(string)
			if !strings.HasPrefix(key, "pk_") || len(key) < 20 {
				t.Errorf("public_key = %q, want pk_ and a random part", key)
			}
			snippet, _ := m["snippet"].(string)
			if !strings.Contains(snippet, e.srv.URL+"/widget.js") || !strings.Contains(snippet, key) {
				t.Errorf("snippet %q lacks %s/widget.js or the key", snippet, e.srv.URL)
			}
			if m["type"] != "web" || m["name"] != "Shop" {
				t.Errorf("type/name = %v/%v", m["type"], m["name"])
			}
			if _, ok := m["identity_secret"]; ok {
				t.Errorf("a channel without identity verification got an identity_secret: %v", m)
			}
			cfg, _ := m["config"].(map[string]any)
			if origins, _ := cfg["allowed_origins"].([]any); len(origins) != 1 || origins[0] != "https://shop.example" {
				t.Errorf("allowed_origins = %v, want the normalised https://shop.example", cfg["allowed_origins"])
			}
			if cfg["title"] == "" || cfg["position"] != "right" || cfg["accent_color"] == "" {
				t.Errorf("config defaults missing: %v", cfg)
			}
			got := admin.do("GET", "/api/v1/channels/"+m["id"].(string), nil).must(t, 200).JSON(t)
			if got["public_key"] != key || got["snippet"] != snippet {
				t.Errorf("GET = %v", got)
			}
			if ids := idsIn(listOf(t, admin.do("GET", "/api/v1/channels", nil).must(t, 200)).Items); !slices.Equal(ids, []string{m["id"].(string)}) {
				t.Errorf("list = %v", ids)
			}
		})

		t.Run("invalid config is refused naming the config field", func(t *testing.T) {
			tn := e.newTenant("Invalid")
			admin := e.as(tn.Key)
			for _, tc := range []struct {
				name  string
				body  map[string]any
				field string
			}{
				{"an origin with a path", map[string]any{"type": "web", "name": "x", "config": map[string]any{"allowed_origins": []string{"https://shop.example/path"}}}, "config.allowed_origins[0]"},
				{"an origin without a scheme", map[string]any{"type": "web", "name": "x", "config": map[string]any{"allowed_origins": []string{"shop.example"}}}, "config.allowed_origins[0]"},
				{"a second bad origin", map[string]any{"type": "web", "name": "x", "config": map[string]any{"allowed_origins": []string{"https://ok.example", "ftp://shop.example"}}}, "config.allowed_origins[1]"},
				{"a colour name", map[string]any{"type": "web", "name": "x", "config": map[string]any{"accent_color": "blue"}}, "config.accent_color"},
				{"a short hex colour", map[string]any{"type": "web", "name": "x", "config": map[string]any{"accent_color": "#fff"}}, "config.accent_color"},
				{"a position at the top", map[string]any{"type": "web", "name": "x", "config": map[string]any{"position": "top"}}, "config.position"},
				{"an unsupported language", map[string]any{"type": "web", "name": "x", "config": map[string]any{"language": "fr"}}, "config.language"},
				{"an unknown config field", map[string]any{"type": "web", "name": "x", "config": map[string]any{"colour": "#2563eb"}}, "config.colour"},
				{"a config field of the wrong type", map[string]any{"type": "web", "name": "x", "config": map[string]any{"allowed_origins": "https://shop.example"}}, "config.allowed_origins"},
				{"an unknown type", map[string]any{"type": "sms", "name": "x"}, "type"},
				{"a whatsapp channel without its settings", map[string]any{"type": "whatsapp", "name": "x"}, "config.phone_number_id"},
				{"no type", map[string]any{"name": "x"}, "type"},
				{"no name", map[string]any{"type": "web"}, "name"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := admin.do("POST", "/api/v1/channels", tc.body)
					if r.Status != 400 || !hasField(t, r, tc.field) {
						t.Errorf("status %d, fields %v; want 400 naming %s: %s", r.Status, r.problemFields(t), tc.field, r.Body)
					}
				})
			}
			if n := len(listOf(t, admin.do("GET", "/api/v1/channels", nil).must(t, 200)).Items); n != 0 {
				t.Errorf("%d channels were created by refused requests", n)
			}
		})

		t.Run("PATCH changes the name and replaces the config", func(t *testing.T) {
			tn := e.newTenant("Patch")
			admin := e.as(tn.Key)
			ch := newWebChannelVia(t, e, tn.Key, nil)
			r := admin.do("PATCH", "/api/v1/channels/"+ch.ID, map[string]any{"name": "Renamed",
				"config": map[string]any{"allowed_origins": []string{"https://new.example"}, "title": "Hello", "accent_color": "#112233", "position": "left", "language": "hr"}}).must(t, 200).JSON(t)
			got := admin.do("GET", "/api/v1/channels/"+ch.ID, nil).must(t, 200).JSON(t)
			for _, m := range []map[string]any{r, got} {
				cfg, _ := m["config"].(map[string]any)
				origins, _ := cfg["allowed_origins"].([]any)
				if m["name"] != "Renamed" || len(origins) != 1 || origins[0] != "https://new.example" || cfg["title"] != "Hello" ||
					cfg["accent_color"] != "#112233" || cfg["position"] != "left" || cfg["language"] != "hr" || m["public_key"] != ch.PublicKey {
					t.Errorf("after PATCH: %v", m)
				}
			}
			// A name-only PATCH keeps the config.
			admin.do("PATCH", "/api/v1/channels/"+ch.ID, map[string]any{"name": "Again"}).must(t, 200)
			got = admin.do("GET", "/api/v1/channels/"+ch.ID, nil).must(t, 200).JSON(t)
			if cfg, _ := got["config"].(map[string]any); got["name"] != "Again" || cfg["title"] != "Hello" {
				t.Errorf("after a name-only PATCH: %v", got)
			}
			for body, field := range map[string]string{
				`{"type":"whatsapp"}`:                         "type",
				`{"config":{"position":"middle"}}`:            "config.position",
				`{"name":"` + strings.Repeat("n", 101) + `"}`: "name",
			} {
				r := admin.do("PATCH", "/api/v1/channels/"+ch.ID, body)
				if r.Status != 400 || !hasField(t, r, field) {
					t.Errorf("PATCH %s: %d %v, want 400 naming %s", body, r.Status, r.problemFields(t), field)
				}
			}
			if got := admin.do("GET", "/api/v1/channels/"+ch.ID, nil).must(t, 200).JSON(t); got["name"] != "Again" {
				t.Errorf("a refused PATCH changed the channel: %v", got)
			}
		})

		t.Run("the identity secret is shown once and never again", func(t *testing.T) {
			tn := e.newTenant("Identity")
			admin := e.as(tn.Key)
			ch := newWebChannelVia(t, e, tn.Key, map[string]any{"identity_verification": true})
			if !strings.HasPrefix(ch.IdentitySecret, "whsec_") || len(ch.IdentitySecret) < 30 {
				t.Fatalf("identity_secret = %q", ch.IdentitySecret)
			}
			reads := []response{
				admin.do("GET", "/api/v1/channels/"+ch.ID, nil).must(t, 200),
				admin.do("GET", "/api/v1/channels", nil).must(t, 200),
				admin.do("PATCH", "/api/v1/channels/"+ch.ID, map[string]any{"name": "Renamed"}).must(t, 200),
				// Keeping verification on keeps the secret, unshown.
				admin.do("PATCH", "/api/v1/channels/"+ch.ID, map[string]any{"config": map[string]any{"identity_verification": true}}).must(t, 200),
			}
			for i, r := range reads {
				if strings.Contains(string(r.Body), "identity_secret") || strings.Contains(string(r.Body), ch.IdentitySecret) {
					t.Errorf("read %d shows the identity secret: %s", i, r.Body)
				}
			}
			// Turning it on for a channel without one shows a new one, once.
			plain := newWebChannelVia(t, e, tn.Key, nil)
			on := admin.do("PATCH", "/api/v1/channels/"+plain.ID, map[string]any{"config": map[string]any{"identity_verification": true}}).must(t, 200).JSON(t)
			if s, _ := on["identity_secret"].(string); !strings.HasPrefix(s, "whsec_") || s == ch.IdentitySecret {
				t.Errorf("enabling verification: identity_secret = %q", s)
			}
			if r := admin.do("GET", "/api/v1/channels/"+plain.ID, nil).must(t, 200); strings.Contains(string(r.Body), "identity_secret") {
				t.Errorf("GET after enabling shows the secret: %s", r.Body)
			}
		})

		t.Run("a deleted channel is gone", func(t *testing.T) {
			tn := e.newTenant("Delete")
			admin := e.as(tn.Key)
			ch := newWebChannelVia(t, e, tn.Key, nil)
			_, conv := e.visitorSays(tn.ID, ch.ID, "visitor", "hello")
			if r := admin.do("DELETE", "/api/v1/channels/"+ch.ID, nil).must(t, 204); len(r.Body) != 0 {
				t.Errorf("204 with a body: %s", r.Body)
			}
			admin.do("GET", "/api/v1/channels/"+ch.ID, nil).must(t, 404)
			admin.do("DELETE", "/api/v1/channels/"+ch.ID, nil).must(t, 404)
			admin.do("GET", "/api/v1/conversations/"+conv, nil).must(t, 404)
			e.anonymous().do("POST", "/api/v1/widget/sessions", map[string]any{"public_key": ch.PublicKey}).must(t, 404)
		})
	})
}

// --- conversations -----------------------------------------------------

func TestConversationsAreListedByStatusAndChannelAndPagedByCursor(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Lists")
		c := e.as(tn.Key)
		web, other := newWebChannelVia(t, e, tn.Key, nil), newWebChannelVia(t, e, tn.Key, nil)
		type made struct{ id, channel, status string }
		var all []made
		for i, spec := range []made{
			{channel: web.ID, status: "bot"}, {channel: other.ID, status: "human"}, {channel: web.ID, status: "resolved"},
			{channel: web.ID, status: "human"}, {channel: other.ID, status: "bot"},
		} {
			_, spec.id = e.visitorSays(tn.ID, spec.channel, fmt.Sprint("visitor-", i), "hello")
			switch spec.status {
			case "human":
				c.do("POST", "/api/v1/conversations/"+spec.id+"/handoff", nil).must(t, 200)
			case "resolved":
				c.do("POST", "/api/v1/conversations/"+spec.id+"/resolve", nil).must(t, 200)
			}
			all = append(all, spec)
		}
		newestFirst := func(keep func(made) bool) []string {
			out := []string{}
			for i := len(all) - 1; i >= 0; i-- {
				if keep(all[i]) {
					out = append(out, all[i].id)
				}
			}
			return out
		}
		for _, tc := range []struct {
			query string
			keep  func(made) bool
		}{
			{"", func(made) bool { return true }},
			{"?status=bot", func(m made) bool { return m.status == "bot" }},
			{"?status=human", func(m made) bool { return m.status == "human" }},
			{"?status=resolved", func(m made) bool { return m.status == "resolved" }},
			{"?channel_id=" + other.ID, func(m made) bool { return m.channel == other.ID }},
			{"?status=human&channel_id=" + web.ID, func(m made) bool { return m.status == "human" && m.channel == web.ID }},
		} {
			l := listOf(t, c.do("GET", "/api/v1/conversations"+tc.query, nil).must(t, 200))
			if got, want := idsIn(l.Items), newestFirst(tc.keep); !slices.Equal(got, want) {
				t.Errorf("GET /api/v1/conversations%s = %v, want newest first %v", tc.query, got, want)
			}
			for _, it := range l.Items {
				if it["channel_id"] == nil || it["status"] == nil || it["last_message_at"] == nil {
					t.Errorf("item lacks channel_id, status or last_message_at: %v", it)
				}
			}
		}
		// Cursor pages of two walk everything exactly once, newest first.
		var walked []string
		path := "/api/v1/conversations?limit=2"
		for range 10 {
			l := listOf(t, c.do("GET", path, nil).must(t, 200))
			walked = append(walked, idsIn(l.Items)...)
			if l.NextCursor == "" {
				break
			}
			path = "/api/v1/conversations?limit=2&cursor=" + url.QueryEscape(l.NextCursor)
		}
		if want := newestFirst(func(made) bool { return true }); !slices.Equal(walked, want) {
			t.Errorf("cursor walk = %v, want %v", walked, want)
		}
		// Filters hold across pages.
		first := listOf(t, c.do("GET", "/api/v1/conversations?limit=1&channel_id="+web.ID, nil).must(t, 200))
		second := listOf(t, c.do("GET", "/api/v1/conversations?limit=5&channel_id="+web.ID+"&cursor="+url.QueryEscape(first.NextCursor), nil).must(t, 200))
		if got, want := append(idsIn(first.Items), idsIn(second.Items)...), newestFirst(func(m made) bool { return m.channel == web.ID }); !slices.Equal(got, want) {
			t.Errorf("filtered walk = %v, want %v", got, want)
		}
	})
}

func TestTheConversationAPIReadsWritesAndHandsOver(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		t.Run("a conversation is read with its contact", func(t *testing.T) {
			tn := e.newTenant("Read")
			ch := newWebChannelVia(t, e, tn.Key, nil)
			contact, conv := e.visitorSays(tn.ID, ch.ID, "visitor-7", "hello")
			m := e.as(tn.Key).do("GET", "/api/v1/conversations/"+conv, nil).must(t, 200).JSON(t)
			ct, _ := m["contact"].(map[string]any)
			if m["id"] != conv || m["channel_id"] != ch.ID || m["status"] != "bot" || ct["id"] != contact || ct["external_id"] != "visitor-7" {
				t.Errorf("conversation = %v", m)
			}
		})

		t.Run("messages are listed after a seq and paged", func(t *testing.T) {
			tn := e.newTenant("Messages")
			c := e.as(tn.Key)
			ch := newWebChannelVia(t, e, tn.Key, nil)
			_, conv := e.visitorSays(tn.ID, ch.ID, "v", "one")
			for _, text := range []string{"two", "three", "four"} {
				c.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": text}).must(t, 201)
			}
			for query, want := range map[string][]int64{
				"":             {1, 2, 3, 4},
				"?after_seq=0": {1, 2, 3, 4},
				"?after_seq=2": {3, 4},
				"?after_seq=4": {},
				"?after_seq=9": {},
			} {
				if got := seqsIn(messagesOf(t, c, conv, query)); !slices.Equal(got, want) {
					t.Errorf("messages%s = %v, want %v", query, got, want)
				}
			}
			l := listOf(t, c.do("GET", "/api/v1/conversations/"+conv+"/messages?after_seq=1&limit=2", nil).must(t, 200))
			if got := seqsIn(l.Items); !slices.Equal(got, []int64{2, 3}) || l.NextCursor == "" {
				t.Fatalf("first page = %v, cursor %q", got, l.NextCursor)
			}
			rest := listOf(t, c.do("GET", "/api/v1/conversations/"+conv+"/messages?limit=2&cursor="+l.NextCursor, nil).must(t, 200))
			if got := seqsIn(rest.Items); !slices.Equal(got, []int64{4}) || rest.NextCursor != "" {
				t.Errorf("second page = %v, cursor %q", got, rest.NextCursor)
			}
		})

		t.Run("an agent reply takes the conversation from the bot and is idempotent by client id", func(t *testing.T) {
			tn := e.newTenant("Reply")
			c := e.as(tn.Key)
			ch := newWebChannelVia(t, e, tn.Key, nil)
			_, conv := e.visitorSays(tn.ID, ch.ID, "v", "I need a person")
			first := c.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": "  Hi, I am Ana  ", "client_id": "agent-1"}).must(t, 201).JSON(t)
			if first["role"] != "agent" || first["seq"] != float64(2) || first["text"] != "Hi, I am Ana" || first["client_id"] != "agent-1" {
				t.Errorf("reply = %v", first)
			}
			if got := c.do("GET", "/api/v1/conversations/"+conv, nil).must(t, 200).JSON(t); got["status"] != "human" {
				t.Errorf("status after an agent reply = %v, want human", got["status"])
			}
			again := c.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": "Hi, I am Ana", "client_id": "agent-1"}).must(t, 200).JSON(t)
			if again["id"] != first["id"] || again["seq"] != first["seq"] {
				t.Errorf("resend = %v, want the first message %v", again, first)
			}
			if got := seqsIn(messagesOf(t, c, conv, "")); !slices.Equal(got, []int64{1, 2}) {
				t.Errorf("messages after a resend = %v, want [1 2]", got)
			}
		})

		t.Run("concurrent resends of one client id store one message", func(t *testing.T) {
			tn := e.newTenant("Resends")
			ch := newWebChannelVia(t, e, tn.Key, nil)
			_, conv := e.visitorSays(tn.ID, ch.ID, "v", "hello")
			const n = 8
			type answer struct {
				status int
				id     string
				err    error
			}
			answers := make(chan answer, n)
			for range n {
				go func() {
					req, err := http.NewRequest("POST", e.srv.URL+"/api/v1/conversations/"+conv+"/messages", strings.NewReader(`{"text":"on my way","client_id":"agent-x"}`))
					if err != nil {
						answers <- answer{err: err}
						return
					}
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+tn.Key)
					res, err := e.srv.Client().Do(req)
					if err != nil {
						answers <- answer{err: err}
						return
					}
					defer res.Body.Close()
					var m struct {
						ID string `json:"id"`
					}
					err = json.NewDecoder(res.Body).Decode(&m)
					answers <- answer{status: res.StatusCode, id: m.ID, err: err}
				}()
			}
			created, ids := 0, map[string]bool{}
			for range n {
				a := <-answers
				if a.err != nil {
					t.Fatal(a.err)
				}
				switch a.status {
				case 201:
					created++
				case 200:
				default:
					t.Errorf("a resend answered %d", a.status)
				}
				ids[a.id] = true
			}
			if created != 1 || len(ids) != 1 {
				t.Errorf("%d created and %d distinct ids among %d resends, want 1 and 1", created, len(ids), n)
			}
			if got := seqsIn(messagesOf(t, e.as(tn.Key), conv, "")); !slices.Equal(got, []int64{1, 2}) {
				t.Errorf("messages = %v, want [1 2]", got)
			}
		})

		t.Run("a note is listed for agents and changes nothing", func(t *testing.T) {
			tn := e.newTenant("Note")
			c := e.as(tn.Key)
			ch := newWebChannelVia(t, e, tn.Key, nil)
			_, conv := e.visitorSays(tn.ID, ch.ID, "v", "hello")
			n := c.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": "VIP customer", "note": true}).must(t, 201).JSON(t)
			if n["role"] != "note" || n["seq"] != float64(2) {
				t.Errorf("note = %v", n)
			}
			if got := c.do("GET", "/api/v1/conversations/"+conv, nil).must(t, 200).JSON(t); got["status"] != "bot" {
				t.Errorf("a note changed the status to %v", got["status"])
			}
			ms := messagesOf(t, c, conv, "")
			if len(ms) != 2 || ms[1]["role"] != "note" || ms[1]["text"] != "VIP customer" {
				t.Errorf("messages = %v, want the note listed", ms)
			}
		})

		t.Run("handoff, handback and resolve change the status", func(t *testing.T) {
			tn := e.newTenant("Status")
			c := e.as(tn.Key)
			ch := newWebChannelVia(t, e, tn.Key, nil)
			_, conv := e.visitorSays(tn.ID, ch.ID, "v", "hello")
			for _, step := range []struct{ action, want string }{
				{"handoff", "human"}, {"handback", "bot"}, {"resolve", "resolved"}, {"handoff", "human"}, {"resolve", "resolved"},
			} {
				m := c.do("POST", "/api/v1/conversations/"+conv+"/"+step.action, nil).must(t, 200).JSON(t)
				got := c.do("GET", "/api/v1/conversations/"+conv, nil).must(t, 200).JSON(t)
				if m["status"] != step.want || got["status"] != step.want {
					t.Errorf("%s: answer %v, stored %v, want %s", step.action, m["status"], got["status"], step.want)
				}
			}
			// A visitor writing to a resolved conversation reopens it with the bot.
			e.visitorSays(tn.ID, ch.ID, "v", "one more thing")
			if got := c.do("GET", "/api/v1/conversations/"+conv, nil).must(t, 200).JSON(t); got["status"] != "bot" {
				t.Errorf("after the visitor wrote again: %v, want bot", got["status"])
			}
		})
	})
}

func TestBadConversationInputIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Bad")
		c := e.as(tn.Key)
		ch := newWebChannelVia(t, e, tn.Key, nil)
		_, conv := e.visitorSays(tn.ID, ch.ID, "v", "hello")
		msgs := "/api/v1/conversations/" + conv + "/messages"
		for _, tc := range []struct {
			name, method, path string
			body               any
			field              string
		}{
			{"empty text", "POST", msgs, map[string]any{"text": ""}, "text"},
			{"blank text", "POST", msgs, map[string]any{"text": " \n\t "}, "text"},
			{"no text", "POST", msgs, map[string]any{"note": true}, "text"},
			{"4001 characters", "POST", msgs, map[string]any{"text": strings.Repeat("é", 4001)}, "text"},
			{"a client id with a space", "POST", msgs, map[string]any{"text": "hi", "client_id": "a b"}, "client_id"},
			{"a client id of 65 characters", "POST", msgs, map[string]any{"text": "hi", "client_id": strings.Repeat("c", 65)}, "client_id"},
			{"an unknown field", "POST", msgs, map[string]any{"text": "hi", "role": "assistant"}, "role"},
			{"note that is not a boolean", "POST", msgs, map[string]any{"text": "hi", "note": "yes"}, "note"},
			{"a bad status filter", "GET", "/api/v1/conversations?status=open", nil, "status"},
			{"a bad channel filter", "GET", "/api/v1/conversations?channel_id=web", nil, "channel_id"},
			{"a bad assignee filter", "GET", "/api/v1/conversations?assignee_id=me", nil, "assignee_id"},
			{"a negative after_seq", "GET", msgs + "?after_seq=-1", nil, "after_seq"},
			{"a word as after_seq", "GET", msgs + "?after_seq=last", nil, "after_seq"},
			{"a fractional after_seq", "GET", msgs + "?after_seq=1.5", nil, "after_seq"},
			{"a bad message limit", "GET", msgs + "?limit=201", nil, "limit"},
			{"a conversation id of the wrong shape", "GET", "/api/v1/conversations/not-an-id/messages", nil, "id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(tc.method, tc.path, tc.body)
				if r.Status != 400 || !hasField(t, r, tc.field) {
					t.Errorf("status %d, fields %v; want 400 naming %s: %s", r.Status, r.problemFields(t), tc.field, r.Body)
				}
			})
		}
		if got := seqsIn(messagesOf(t, c, conv, "")); !slices.Equal(got, []int64{1}) {
			t.Errorf("refused posts wrote messages: %v", got)
		}
		if got := c.do("GET", "/api/v1/conversations/"+conv, nil).must(t, 200).JSON(t); got["status"] != "bot" {
			t.Errorf("refused posts changed the status to %v", got["status"])
		}
		// 4000 characters is the limit, not over it.
		c.do("POST", msgs, map[string]any{"text": strings.Repeat("é", 4000)}).must(t, 201)
	})
}

func TestAReadOnlyKeyCanReadConversationsButNotWriteThem(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Read only")
		ch := newWebChannelVia(t, e, tn.Key, nil)
		_, conv := e.visitorSays(tn.ID, ch.ID, "v", "hello")
		k := e.as(tn.Key).do("POST", "/api/v1/api-keys", map[string]any{"name": "reader", "scopes": []string{"read"}}).must(t, 201).JSON(t)
		reader := e.as(k["key"].(string))
		reader.do("GET", "/api/v1/conversations", nil).must(t, 200)
		reader.do("GET", "/api/v1/conversations/"+conv, nil).must(t, 200)
		reader.do("GET", "/api/v1/conversations/"+conv+"/messages", nil).must(t, 200)
		reader.do("GET", "/api/v1/channels/"+ch.ID, nil).must(t, 200)
		for _, w := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/conversations/" + conv + "/messages", map[string]any{"text": "sneaky"}},
			{"POST", "/api/v1/conversations/" + conv + "/messages", map[string]any{"text": "sneaky note", "note": true}},
			{"POST", "/api/v1/conversations/" + conv + "/handoff", nil},
			{"POST", "/api/v1/conversations/" + conv + "/resolve", nil},
			{"POST", "/api/v1/channels", map[string]any{"type": "web", "name": "x"}},
			{"PATCH", "/api/v1/channels/" + ch.ID, map[string]any{"name": "x"}},
			{"DELETE", "/api/v1/channels/" + ch.ID, nil},
		} {
			if r := reader.do(w.method, w.path, w.body); r.Status != 403 {
				t.Errorf("%s %s with a read-only key: %d, want 403: %s", w.method, w.path, r.Status, r.Body)
			}
		}
		if got := seqsIn(messagesOf(t, e.as(tn.Key), conv, "")); !slices.Equal(got, []int64{1}) {
			t.Errorf("messages after refused writes = %v", got)
		}
	})
}
