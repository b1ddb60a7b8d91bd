package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/store"
)

// keyPrincipal is tenant fixture tn's admin key as a principal.
func (e *env) keyPrincipal(tn tenantFixture) *auth.Principal {
	e.t.Helper()
	p, err := e.auth.AuthenticateKey(context.Background(), tn.Key)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// --- cross-tenant fixtures (rows of idRoutes in routes_test.go) -----------

func crossChannel(suffix string) func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
	return func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		p := e.keyPrincipal(b)
		v, err := e.chans.Create(context.Background(), p, channels.Request{Type: "web", Name: "Beta site"})
		if err != nil {
			t.Fatal(err)
		}
		return "/app/channels/" + v.ID + suffix, func() bool {
			got, err := e.chans.Get(context.Background(), p, v.ID)
			return err == nil && got.Name == "Beta site"
		}
	}
}

func crossMember(suffix string) func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
	return func(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
		email := "agent-" + store.NewID()[28:] + "@beta.test"
		e.addUser(b.ID, email, "agent", false)
		p := e.keyPrincipal(b)
		id := memberID(t, e, p, email)
		return "/app/team/" + id + suffix, func() bool {
			m, err := e.tenants.GetMember(context.Background(), p, id)
			return err == nil && m.Role == "agent"
		}
	}
}

func crossInvitation(t *testing.T, e *env, b tenantFixture) (string, func() bool) {
	p := e.keyPrincipal(b)
	inv, _, err := e.tenants.Invite(context.Background(), p, "inv-"+store.NewID()[28:]+"@beta.test", "viewer")
	if err != nil {
		t.Fatal(err)
	}
	return "/app/team/invitations/" + inv.ID + "/revoke", func() bool {
		invs, err := e.tenants.ListInvitations(context.Background(), p, store.Page{Limit: 200})
		for _, i := range invs {
			if i.ID == inv.ID {
				return err == nil && i.RevokedAt == nil
			}
		}
		return false
	}
}

func memberID(t *testing.T, e *env, p *auth.Principal, email string) string {
	t.Helper()
	ms, err := e.tenants.ListMembers(context.Background(), p, store.Page{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Email == email {
			return m.UserID
		}
	}
	t.Fatalf("no member %s", email)
	return ""
}

// --- channels --------------------------------------------------------------

var channelLocation = regexp.MustCompile(`^/app/channels/([0-9a-f-]{36})$`)

// createdChannelID is the id in a 303 to a channel's page.
func createdChannelID(t *testing.T, p page) string {
	t.Helper()
	m := channelLocation.FindStringSubmatch(p.Header.Get("Location"))
	if p.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("create channel = %d Location %q, want 303 to the channel:\n%s", p.Status, p.Header.Get("Location"), p.Body)
	}
	return m[1]
}

func (p page) lacks(t *testing.T, s ...string) {
	t.Helper()
	for _, x := range s {
		if strings.Contains(p.Body, x) {
			t.Errorf("page shows %q, which it must not", x)
		}
	}
}

// TestChannelsWeb: a web channel made through the form, with its settings,
// validation next to the fields, the snippet with its public key, an edit
// and a delete.
func TestChannelsWeb(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		asst, err := e.assts.Create(context.Background(), e.keyPrincipal(tn), func(r *assistants.Request) error { r.Name = "Helper"; return nil })
		if err != nil {
			t.Fatal(err)
		}
		b := e.login("owner@acme.test")
		b.get("/app/channels").must(t, 200).contains(t, "No channels yet", `href="/app/channels/new?type=whatsapp"`)
		b.get("/app/channels/new?type=web").must(t, 200).contains(t, `id="wpreview"`, `name="accent_color"`, "Helper")

		p := b.post("/app/channels", url.Values{"type": {"web"}, "name": {""}, "allowed_origins": {"ftp://shop.test"},
			"title": {"Hi"}, "accent_color": {"#2563eb"}, "position": {"right"}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="name-error"`, "Give the channel a name")
		p = b.post("/app/channels", url.Values{"type": {"web"}, "name": {"Site"}, "allowed_origins": {"https://shop.test\nftp://x"},
			"title": {"Hi"}, "accent_color": {"blue"}, "position": {"right"}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="allowed_origins-error"`, "must be an origin", `id="accent_color-error"`, "must be a colour", "https://shop.test\nftp://x")

		p = b.post("/app/channels", url.Values{"type": {"web"}, "name": {"Website"}, "assistant_id": {asst.ID},
			"allowed_origins": {"https://Shop.test:443/\n\nhttp://localhost:3000"}, "title": {"Ask Acme"}, "accent_color": {"#ff5500"},
			"greeting": {"Hello!"}, "position": {"left"}, "language": {"hr"}, "suggestions": {"Shipping?\nReturns?"}})
		id := createdChannelID(t, p)
		v, err := e.chans.Get(context.Background(), e.keyPrincipal(tn), id)
		if err != nil {
			t.Fatal(err)
		}
		var cfg channels.WebConfig
		_ = json.Unmarshal(v.Config, &cfg)
		if got := strings.TrimSpace(fmt.Sprintln(cfg.AllowedOrigins, cfg.Title, cfg.AccentColor, cfg.Greeting, cfg.Position, cfg.Language, cfg.Suggestions)); got != "[https://shop.test http://localhost:3000] Ask Acme #ff5500 Hello! left hr [Shipping? Returns?]" {
			t.Errorf("saved config: %s", got)
		}
		if v.AssistantID == nil || *v.AssistantID != asst.ID {
			t.Errorf("assistant %v, want %s", v.AssistantID, asst.ID)
		}
		p = b.get("/app/channels/"+id).must(t, 200)
		p.contains(t, "The channel was created.", `id="snippet"`, html.EscapeString(v.Snippet), `data-key=&#34;`+v.PublicKey, "/widget.js", `data-position="left"`, "Ask Acme")
		if !strings.Contains(v.Snippet, `data-key="`+v.PublicKey+`"`) || !strings.HasPrefix(v.Snippet, `<script src="`+e.srv.URL+`/widget.js"`) {
			t.Errorf("snippet %s", v.Snippet)
		}

		// Edit: new title, no assistant; a bad greeting is refused next to its field.
		b.post("/app/channels/"+id, url.Values{"name": {"Website"}, "title": {"Ask us"}, "accent_color": {"#ff5500"}, "position": {"right"},
			"greeting": {strings.Repeat("x", 501)}}).must(t, http.StatusUnprocessableEntity).contains(t, `id="greeting-error"`)
		p = b.post("/app/channels/"+id, url.Values{"name": {"Website 2"}, "title": {"Ask us"}, "accent_color": {"#ff5500"}, "position": {"right"}, "allowed_origins": {"https://shop.test"}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("update = %d:\n%s", p.Status, p.Body)
		}
		v, _ = e.chans.Get(context.Background(), e.keyPrincipal(tn), id)
		if v.Name != "Website 2" || v.AssistantID != nil {
			t.Errorf("after the edit: name %q assistant %v", v.Name, v.AssistantID)
		}
		b.get("/app/channels").must(t, 200).contains(t, "Website 2", "Web widget")

		// Identity verification: its secret is shown once.
		p = b.post("/app/channels/"+id, url.Values{"name": {"Website 2"}, "title": {"Ask us"}, "accent_color": {"#ff5500"}, "position": {"right"}, "identity_verification": {"on"}}).must(t, 200)
		p.contains(t, `id="identity-secret"`, "whsec_")
		b.get("/app/channels/"+id).must(t, 200).lacks(t, "whsec_")

		// Delete.
		p = b.post("/app/channels/"+id+"/delete", nil)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/app/channels" {
			t.Fatalf("delete = %d %q", p.Status, p.Header.Get("Location"))
		}
		b.get("/app/channels").must(t, 200).contains(t, "The channel was deleted.")
		b.get("/app/channels/"+id).must(t, 404)
	})
}

// TestChannelsProviders: WhatsApp, Messenger and Instagram made through the
// form show the webhook URL and the generated verify token once; their
// secrets never come back in the HTML; blank secret inputs keep them;
// Telegram's form validates its token.
func TestChannelsProviders(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "admin@acme.test", "admin", false)
		b := e.login("admin@acme.test")
		const token, secret = "EAAGtokenSECRETvalue12345", "appSECRETvalue67890"

		// Missing id and secrets: errors next to the fields, nothing echoed.
		p := b.post("/app/channels", url.Values{"type": {"whatsapp"}, "name": {"WA"}, "phone_number_id": {"12ab"}, "app_secret": {secret}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="phone_number_id-error"`, `id="access_token-error"`, "is required")
		p.lacks(t, secret)

		for _, tc := range []struct{ typ, idField string }{{"whatsapp", "phone_number_id"}, {"messenger", "page_id"}, {"instagram", "page_id"}} {
			p := b.post("/app/channels", url.Values{"type": {tc.typ}, "name": {"My " + tc.typ}, tc.idField: {"1065123"},
				"access_token": {token}, "app_secret": {secret}}).must(t, 200)
			m := regexp.MustCompile(`<code id="verify-token">(vt_[A-Za-z0-9_-]+)</code>`).FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("%s: the generated verify token is not shown:\n%s", tc.typ, p.Body)
			}
			p.contains(t, `id="webhook-url"`, "/webhooks/", "Webhook not verified yet")
			p.lacks(t, token, secret, "••••")
			id := regexp.MustCompile(`action="/app/channels/([0-9a-f-]{36})/delete"`).FindStringSubmatch(p.Body)[1]

			p = b.get("/app/channels/"+id).must(t, 200)
			p.contains(t, "Leave blank to keep it.", `value="1065123"`, e.srv.URL+"/webhooks/"+id)
			p.lacks(t, token, secret, m[1], "••••")

			// Save with blank secrets: they are kept; the id changes.
			p = b.post("/app/channels/"+id, url.Values{"name": {"Renamed"}, tc.idField: {"999"}})
			if p.Status != http.StatusSeeOther {
				t.Fatalf("%s update = %d:\n%s", tc.typ, p.Status, p.Body)
			}
			var c store.Channel
			_ = e.st.Read(context.Background(), store.TenantScope(tn.ID), func(tx *store.Tx) error {
				var err error
				c, err = tx.GetChannel(context.Background(), id)
				return err
			})
			pc, err := e.chans.OpenProvider(c)
			if err != nil {
				t.Fatal(err)
			}
			if pc.Secrets.AccessToken != token || pc.Secrets.AppSecret != secret || pc.Secrets.VerifyToken != m[1] || c.Name != "Renamed" {
				t.Errorf("%s after a save with blank secrets: %+v %q", tc.typ, pc.Secrets, c.Name)
			}
			if tc.typ == "whatsapp" && pc.Config.PhoneNumberID != "999" || tc.typ != "whatsapp" && pc.Config.PageID != "999" {
				t.Errorf("%s: id not changed: %+v", tc.typ, pc.Config)
			}
			b.get("/app/channels/"+id).must(t, 200).lacks(t, token, secret, m[1])
		}
		b.get("/app/channels").must(t, 200).lacks(t, token, secret)

		// Telegram: the token is checked and never echoed.
		p = b.post("/app/channels", url.Values{"type": {"telegram"}, "name": {"Bot"}, "bot_token": {"not-a-token"}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="bot_token-error"`, "@BotFather")
		p.lacks(t, "not-a-token")
	})
}

// TestChannelsRoles: a viewer sees channels but cannot change them; an
// agent can neither manage channels nor members.
func TestChannelsRoles(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		v, err := e.chans.Create(context.Background(), e.keyPrincipal(tn), channels.Request{Type: "web", Name: "Website"})
		if err != nil {
			t.Fatal(err)
		}
		e.addUser(tn.ID, "viewer@acme.test", "viewer", false)
		e.addUser(tn.ID, "agent@acme.test", "agent", false)
		for _, who := range []string{"viewer", "agent"} {
			b := e.login(who + "@acme.test")
			p := b.get("/app/channels").must(t, 200)
			p.contains(t, "Website")
			p.lacks(t, "/app/channels/new")
			p = b.get("/app/channels/"+v.ID).must(t, 200)
			p.contains(t, `<fieldset class="plain" disabled>`, "Only an owner or admin")
			p.lacks(t, "/delete", "Create channel")
			b.get("/app/channels/new?type=web").must(t, 403)
			b.post("/app/channels", url.Values{"type": {"web"}, "name": {"Sneaky"}}).must(t, 403).contains(t, "Your role does not allow this")
			b.post("/app/channels/"+v.ID, url.Values{"name": {"Sneaky"}}).must(t, 403)
			b.post("/app/channels/"+v.ID+"/delete", nil).must(t, 403)
			b.post("/app/team/invitations", url.Values{"email": {"x@acme.test"}, "role": {"viewer"}}).must(t, 403)
			id := memberID(t, e, e.keyPrincipal(tn), "viewer@acme.test")
			b.post("/app/team/"+id+"/role", url.Values{"role": {"admin"}}).must(t, 403)
			b.post("/app/team/"+id+"/remove", nil).must(t, 403)
			p = b.get("/app/team").must(t, 200)
			p.contains(t, "viewer@acme.test", "agent@acme.test")
			p.lacks(t, "/app/team/invitations", "/remove")
			b.get("/app/audit").must(t, 403)
		}
		got, _ := e.chans.Get(context.Background(), e.keyPrincipal(tn), v.ID)
		if got.Name != "Website" {
			t.Errorf("the channel changed: %q", got.Name)
		}
		if m, _ := e.tenants.GetMember(context.Background(), e.keyPrincipal(tn), memberID(t, e, e.keyPrincipal(tn), "viewer@acme.test")); m.Role != "viewer" {
			t.Errorf("the viewer's role changed to %q", m.Role)
		}
	})
}

// TestTeamPage: an invitation link made on the page works (accepted via the
// API, the member shows up); roles change; the last owner stays; members
// are removed; invitations are revoked.
func TestTeamPage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		b := e.login("owner@acme.test")
		b.get("/app/team").must(t, 200).contains(t, "owner@acme.test", "No pending invitations.", `value="owner"`)

		b.post("/app/team/invitations", url.Values{"email": {""}, "role": {"agent"}}).must(t, http.StatusUnprocessableEntity).contains(t, `id="email-error"`)
		b.post("/app/team/invitations", url.Values{"email": {"not an email"}, "role": {"agent"}}).must(t, http.StatusUnprocessableEntity).contains(t, `id="email-error"`)
		p := b.post("/app/team/invitations", url.Values{"email": {"new@acme.test"}, "role": {"agent"}}).must(t, 200)
		m := regexp.MustCompile(`<code id="invite-link">([^<]+)</code>`).FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatalf("no invitation link:\n%s", p.Body)
		}
		link, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil || link.Query().Get("token") == "" {
			t.Fatalf("invitation link %q", m[1])
		}
		p.contains(t, "new@acme.test", `data-copy="invite-link"`)
		p = b.get("/app/team").must(t, 200)
		p.contains(t, "new@acme.test", "/revoke")
		p.lacks(t, link.Query().Get("token"))

		body := fmt.Sprintf(`{"token":%q,"name":"Newbie","password":%q}`, link.Query().Get("token"), testPassword)
		res, err := http.Post(e.srv.URL+"/api/v1/invitations/accept", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("accept = %d", res.StatusCode)
		}
		p = b.get("/app/team").must(t, 200)
		p.contains(t, "Newbie", "No pending invitations.")
		newbie := e.login("new@acme.test")
		newbie.get("/app/channels").must(t, 200)

		newID := memberID(t, e, e.keyPrincipal(tn), "new@acme.test")
		ownerID := memberID(t, e, e.keyPrincipal(tn), "owner@acme.test")
		if p := b.post("/app/team/"+newID+"/role", url.Values{"role": {"viewer"}}); p.Status != http.StatusSeeOther {
			t.Fatalf("change role = %d:\n%s", p.Status, p.Body)
		}
		b.get("/app/team").must(t, 200).contains(t, "The role was changed.")
		if mm, _ := e.tenants.GetMember(context.Background(), e.keyPrincipal(tn), newID); mm.Role != "viewer" {
			t.Errorf("role %q, want viewer", mm.Role)
		}
		// The last owner can be neither demoted nor removed: the service says why.
		b.post("/app/team/"+ownerID+"/role", url.Values{"role": {"admin"}}).must(t, http.StatusConflict).contains(t, "at least one owner")
		b.post("/app/team/"+ownerID+"/remove", nil).must(t, http.StatusConflict).contains(t, "at least one owner")
		if p := b.post("/app/team/"+newID+"/remove", nil); p.Status != http.StatusSeeOther {
			t.Fatalf("remove = %d:\n%s", p.Status, p.Body)
		}
		b.get("/app/team").must(t, 200).lacks(t, "new@acme.test")

		// Revoke an invitation: its link stops working.
		p = b.post("/app/team/invitations", url.Values{"email": {"later@acme.test"}, "role": {"viewer"}}).must(t, 200)
		link, _ = url.Parse(html.UnescapeString(regexp.MustCompile(`<code id="invite-link">([^<]+)</code>`).FindStringSubmatch(p.Body)[1]))
		invID := regexp.MustCompile(`/app/team/invitations/([0-9a-f-]{36})/revoke`).FindStringSubmatch(b.get("/app/team").Body)[1]
		if p := b.post("/app/team/invitations/"+invID+"/revoke", nil); p.Status != http.StatusSeeOther {
			t.Fatalf("revoke = %d:\n%s", p.Status, p.Body)
		}
		res, _ = http.Post(e.srv.URL+"/api/v1/invitations/accept", "application/json",
			strings.NewReader(fmt.Sprintf(`{"token":%q,"name":"L","password":%q}`, link.Query().Get("token"), testPassword)))
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("accepting a revoked invitation = %d, want 404", res.StatusCode)
		}

		// An admin cannot grant the owner role: not offered, and refused.
		e.addUser(tn.ID, "admin@acme.test", "admin", false)
		ad := e.login("admin@acme.test")
		p = ad.get("/app/team").must(t, 200)
		if form := p.Body[:strings.Index(p.Body, `id="members-title"`)]; strings.Contains(form, `value="owner"`) {
			t.Errorf("the invitation form offers an admin the owner role")
		}
		ad.post("/app/team/invitations", url.Values{"email": {"boss@acme.test"}, "role": {"owner"}}).must(t, 403).contains(t, "only an owner")
	})
}

// TestAuditPage: sign-ins, channel and member changes appear with their
// actor; the filter narrows by action; pages follow a cursor.
func TestAuditPage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		b := e.login("owner@acme.test")
		b.get("/app/audit").must(t, 200)
		createdChannelID(t, b.post("/app/channels", url.Values{"type": {"web"}, "name": {"Site"}, "title": {"Hi"}, "accent_color": {"#2563eb"}, "position": {"right"}}))
		b.post("/app/team/invitations", url.Values{"email": {"x@acme.test"}, "role": {"viewer"}}).must(t, 200)
		p := b.get("/app/audit").must(t, 200)
		p.contains(t, "channel.created", "member.invited", "owner@acme.test", "x@acme.test")
		p = b.get("/app/audit?action=channel.").must(t, 200)
		p.contains(t, "channel.created")
		p.lacks(t, "member.invited")
		b.get("/app/audit?action=nothing.").must(t, 200).contains(t, "No entries of this kind.")

		// 70 more entries: two pages, filtered or not.
		err := e.st.Write(context.Background(), store.TenantScope(tn.ID), func(tx *store.Tx) error {
			for i := range 70 {
				if err := tx.Audit(context.Background(), store.AuditEntry{ActorType: "system", Action: fmt.Sprintf("channel.test_%02d", i), TargetType: "channel"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		next := regexp.MustCompile(`href="/app/audit\?cursor=([A-Za-z0-9_-]+)(?:&amp;action=([a-z_.]+))?"`)
		for _, filter := range []string{"", "channel."} {
			p = b.get("/app/audit?action="+filter).must(t, 200)
			first := strings.Count(p.Body, "<tr>") - 1
			m := next.FindStringSubmatch(p.Body)
			if first != 50 || m == nil || m[2] != filter {
				t.Fatalf("filter %q: first page has %d rows, next link %v", filter, first, m)
			}
			p = b.get("/app/audit?cursor="+m[1]+"&action="+filter).must(t, 200)
			rest := strings.Count(p.Body, "<tr>") - 1
			all, err := e.tenants.ListAudit(context.Background(), e.keyPrincipal(tn), store.Page{Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, a := range all {
				if strings.HasPrefix(a.Action, filter) {
					want++
				}
			}
			if first+rest != want || next.MatchString(p.Body) {
				t.Errorf("filter %q: %d + %d rows, want %d and no further page", filter, first, rest, want)
			}
		}
	})
}
