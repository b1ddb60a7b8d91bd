package dashboard_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/dashboard"
	"github.com/metachat/metachat/internal/secrets"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/telegram"
	"github.com/metachat/metachat/internal/telegram/telegramfake"
)

// withTelegram is e with its dashboard served again over a channels service
// that registers Telegram webhooks with fake, under an https public URL (as
// Telegram requires). The shared harness stays as it is: this env has its
// own channels service, dashboard and server over e's database.
func withTelegram(t *testing.T, e *env, fake *telegramfake.Server) *env {
	t.Helper()
	keys, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, secrets.KeySize)) // the harness's key
	if err != nil {
		t.Fatal(err)
	}
	chans := channels.NewService(e.st, keys, "https://chat.example.test")
	chans.SetTelegram(&telegram.Client{BaseURL: fake.URL, HTTP: &http.Client{Timeout: 5 * time.Second}})
	dash, err := dashboard.New(dashboard.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), dashboard.Deps{Store: e.st, Auth: e.auth,
		Tenants: e.tenants, Assistants: e.assts, Channels: chans, Conversations: e.convs, Knowledge: e.kb, Hub: e.hub})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dash)
	t.Cleanup(srv.Close)
	out := *e
	out.t, out.chans, out.dash, out.srv = t, chans, dash, srv
	return &out
}

// TestChannelsTelegram: a Telegram channel made through the form registers
// its webhook (with a secret token) at Telegram; the bot token never comes
// back in the HTML; Telegram's refusal shows next to the token field and
// keeps no channel; deleting the channel removes the webhook.
func TestChannelsTelegram(t *testing.T) {
	forEachDialect(t, func(t *testing.T, base *env) {
		const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
		fake := telegramfake.NewServer(token)
		t.Cleanup(fake.Close)
		e := withTelegram(t, base, fake)
		tn := e.newTenant("Acme")
		e.addUser(tn.ID, "owner@acme.test", "owner", false)
		b := e.login("owner@acme.test")

		// A well-formed token Telegram does not know: refused, nothing kept.
		const unknown = "987654321:AAHunknownTOKENunknownTOKEN12345"
		p := b.post("/app/channels", url.Values{"type": {"telegram"}, "name": {"Bot"}, "bot_token": {unknown}}).must(t, http.StatusUnprocessableEntity)
		p.contains(t, `id="bot_token-error"`, "Telegram refused")
		p.lacks(t, unknown)
		if list, _ := e.chans.List(t.Context(), e.keyPrincipal(tn), store.Page{Limit: 10}); len(list) != 0 {
			t.Errorf("a refused Telegram channel was kept: %v", list)
		}

		id := createdChannelID(t, b.post("/app/channels", url.Values{"type": {"telegram"}, "name": {"Bot"}, "bot_token": {token}}))
		wh := fake.Webhook(token)
		if wh.URL != "https://chat.example.test/webhooks/"+id || wh.SecretToken == "" {
			t.Fatalf("webhook at Telegram: %+v", wh)
		}
		p = b.get("/app/channels/"+id).must(t, 200)
		p.contains(t, "https://chat.example.test/webhooks/"+id, "Leave blank to keep it.", "registered this webhook")
		p.lacks(t, token, wh.SecretToken, strings.SplitN(token, ":", 2)[1])

		// Saving without a token keeps the bot and its webhook.
		if p := b.post("/app/channels/"+id, url.Values{"name": {"Support bot"}}); p.Status != http.StatusSeeOther {
			t.Fatalf("update = %d:\n%s", p.Status, p.Body)
		}
		if got := fake.Webhook(token); got.URL != wh.URL || got.SecretToken != wh.SecretToken {
			t.Errorf("the webhook changed on a save without a token: %+v", got)
		}
		b.get("/app/channels").must(t, 200).contains(t, "Support bot", "Telegram")

		if p := b.post("/app/channels/"+id+"/delete", nil); p.Status != http.StatusSeeOther {
			t.Fatalf("delete = %d", p.Status)
		}
		if got := fake.Webhook(token); got.URL != "" {
			t.Errorf("the webhook is still set after the delete: %+v", got)
		}
	})
}
