package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/httpapi"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/llm/fake"
	"github.com/metachat/metachat/internal/meta"
	"github.com/metachat/metachat/internal/meta/metafake"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
	"github.com/metachat/metachat/internal/telegram"
	"github.com/metachat/metachat/internal/telegram/telegramfake"
)

// --- harness for the provider channels ---------------------------------

// publicBaseURL is the address the test servers announce: Telegram takes
// only HTTPS webhooks on a few ports, so the loopback URL would be refused.
const publicBaseURL = "https://metachat.example"

// providers is a test server wired to fakes of the Graph API (WhatsApp,
// Messenger, Instagram), the Telegram Bot API and the model provider.
type providers struct {
	*env
	graph *metafake.Server
	tg    *telegramfake.Server
	files *fileServer
}

type providerScenario struct {
	name string
	fn   func(t *testing.T, p *providers)
}

// runProviderScenarios starts one server per dialect with fakes of its own.
// The serial scenarios run first, one at a time: they script the fakes'
// next answers, which any concurrent request would take. The others then
// run in parallel, each with tenants, tokens and accounts of its own.
func runProviderScenarios(t *testing.T, serial, parallel []providerScenario) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			graph := metafake.NewServer("EAAG-nobody")
			t.Cleanup(graph.Close)
			tg := telegramfake.NewServer("1:nobody")
			t.Cleanup(tg.Close)
			model := fake.OpenAI(t)
			model.SetAPIKey(serverModelKey)
			files := newFileServer(t)
			e := newEnv(t, d, envOptions{
				cfg:         httpapi.Config{BaseURL: publicBaseURL},
				graphURL:    graph.URL,
				telegramURL: tg.URL,
				llm:         llm.Config{Provider: llm.ProviderOpenAI, BaseURL: model.URL, APIKey: serverModelKey, Model: modelName(llm.ProviderOpenAI), Timeout: 10 * time.Second},
			})
			run := func(sc providerScenario, parallel bool) {
				t.Run(sc.name, func(t *testing.T) {
					if parallel {
						t.Parallel()
					}
					ec := *e
					ec.t = t // the harness reports through e.t
					sc.fn(t, &providers{env: &ec, graph: graph, tg: tg, files: files})
				})
			}
			for _, sc := range serial {
				run(sc, false)
			}
			for _, sc := range parallel {
				run(sc, true)
			}
		})
	}
}

// fileServer stands in for Meta's CDN, serving Messenger and Instagram
// attachment URLs; a path can be made to fail a number of times first.
type fileServer struct {
	URL   string
	mu    sync.Mutex
	files map[string][]byte
	fails map[string]int
	hits  map[string]int
}

func newFileServer(t *testing.T) *fileServer {
	f := &fileServer{files: map[string][]byte{}, fails: map[string]int{}, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hits[r.URL.Path]++
		data, ok := f.files[r.URL.Path]
		fail := f.fails[r.URL.Path] > 0
		if fail {
			f.fails[r.URL.Path]--
		}
		f.mu.Unlock()
		switch {
		case fail:
			http.Error(w, "upstream hiccup", http.StatusBadGateway)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(data)
		}
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// add serves data at a new path, failing the first failures requests, and
// returns its URL.
func (f *fileServer) add(data []byte, failures int) string {
	path := fmt.Sprintf("/cdn/%d.png", rand.Int64())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = data
	f.fails[path] = failures
	return f.URL + path
}

// hitsOf counts the requests for a URL add returned.
func (f *fileServer) hitsOf(rawURL string) int {
	u, _ := url.Parse(rawURL)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[u.Path]
}

// numericID is a random id of n digits, as Meta and Telegram use.
func numericID(n int) string {
	var b strings.Builder
	b.WriteByte(byte('1' + rand.IntN(9)))
	for b.Len() < n {
		b.WriteByte(byte('0' + rand.IntN(10)))
	}
	return b.String()
}

func randomToken(prefix string) string {
	return fmt.Sprintf("%s%016x%016x", prefix, rand.Uint64(), rand.Uint64())
}

var providerIDs atomic.Int64

// wamid is a fresh WhatsApp message id (Messenger mids look alike).
func wamid() string {
	return fmt.Sprintf("wamid.HBgLMzg1OTExMjM0NTY3FQIAEhgg%08dTEST", providerIDs.Add(1))
}

func mid() string { return fmt.Sprintf("m_TEST%08dAbCdEfGhIjKlMnOpQr", providerIDs.Add(1)) }

// fresh stamps a payload built by the fakes with the current time: they
// use a fixed date in 2025, which is outside any 24-hour window.
func fresh(payload []byte) []byte { return at(payload, time.Now()) }

// at stamps a built payload with time ts (WhatsApp and Telegram carry Unix
// seconds, Messenger and Instagram milliseconds; both start the same).
func at(payload []byte, ts time.Time) []byte {
	return bytes.ReplaceAll(payload, []byte(strconv.FormatInt(metafake.Timestamp, 10)), []byte(strconv.FormatInt(ts.Unix(), 10)))
}

// shop is a tenant, optionally with an assistant that answers.
type shop struct {
	p           *providers
	tn          tenantFixture
	admin       *client
	assistantID string
}

func newShop(t *testing.T, p *providers, withBot bool) *shop {
	t.Helper()
	s := &shop{p: p, tn: p.newTenant("Provider shop")}
	s.admin = p.as(s.tn.Key)
	if withBot {
		s.assistantID = s.admin.do("POST", "/api/v1/assistants", map[string]any{"name": "Helper"}).must(t, 201).JSON(t)["id"].(string)
	}
	return s
}

// provChannel is a provider channel made through the API, with the
// secrets its provider knows.
type provChannel struct {
	ID, Type    string
	Account     string // phone number id, Page or Instagram account id, bot id
	Token       string // access token or bot token
	AppSecret   string
	VerifyToken string // shown once by the create answer
	Secret      string // Telegram: the secret_token given to setWebhook
	View        map[string]any
}

// channelConfig is a valid config for typ with fresh ids and secrets.
func channelConfig(typ string) (cfg map[string]any, account, token, appSecret string) {
	switch typ {
	case "telegram":
		account = numericID(10)
		token = account + ":" + randomToken("AAH")
		return map[string]any{"bot_token": token}, account, token, ""
	case "whatsapp":
		account = numericID(15)
		token, appSecret = randomToken("EAAG"), randomToken("appsecret")
		return map[string]any{"phone_number_id": account, "access_token": token, "app_secret": appSecret}, account, token, appSecret
	default:
		account = numericID(15)
		token, appSecret = randomToken("EAAG"), randomToken("appsecret")
		return map[string]any{"page_id": account, "access_token": token, "app_secret": appSecret}, account, token, appSecret
	}
}

// channel creates a provider channel of typ whose token the fakes accept.
func (s *shop) channel(t *testing.T, typ string) provChannel {
	t.Helper()
	cfg, account, token, appSecret := channelConfig(typ)
	if typ == "telegram" {
		s.p.tg.AllowToken(token)
	} else {
		s.p.graph.AllowToken(token)
	}
	body := map[string]any{"type": typ, "name": typ + " line", "config": cfg}
	if s.assistantID != "" {
		body["assistant_id"] = s.assistantID
	}
	v := s.admin.do("POST", "/api/v1/channels", body).must(t, 201).JSON(t)
	c := provChannel{ID: v["id"].(string), Type: typ, Account: account, Token: token, AppSecret: appSecret, View: v}
	c.VerifyToken, _ = v["verify_token"].(string)
	if typ == "telegram" {
		c.Secret = s.p.tg.Webhook(token).SecretToken
	}
	return c
}

// post delivers a webhook the way the provider does: signed with the app
// secret (Meta) or carrying the secret token (Telegram).
func (c provChannel) post(t *testing.T, p *providers, payload []byte) response {
	t.Helper()
	return p.send("POST", "/webhooks/"+c.ID, c.headers(payload), string(payload))
}

func (c provChannel) headers(payload []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if c.Type == "telegram" {
		h.Set(telegram.SecretHeader, c.Secret)
	} else {
		h.Set(meta.SignatureHeader, metafake.Sign(c.AppSecret, payload))
	}
	return h
}

// deliverOK posts a webhook that must be acknowledged, and waits until the
// webhook job has processed it (the webhook answers once the body is
// stored; what it carries is stored by the job).
func (c provChannel) deliverOK(t *testing.T, p *providers, payload []byte) {
	t.Helper()
	r := c.post(t, p, payload)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"ok":true`) {
		t.Fatalf("webhook answered %d, want 200 {\"ok\":true}: %s", r.Status, r.Body)
	}
	c.awaitProcessed(t, p)
}

// awaitProcessed waits until none of the channel's webhooks waits to be
// processed, and fails with the recorded error of one that is stuck.
func (c provChannel) awaitProcessed(t *testing.T, p *providers) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		var lastErr string
		err := p.st.Read(context.Background(), store.SystemScope, func(tx *store.Tx) error {
			var err error
			n, lastErr, err = tx.PendingWebhookEvents(context.Background(), c.ID)
			return err
		})
		if err != nil {
			t.Fatalf("count waiting webhooks: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d webhooks of channel %s still unprocessed after 15s (error: %q)", n, c.ID, lastErr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// conversations lists the channel's conversations.
func (s *shop) conversations(t *testing.T, channelID string) []map[string]any {
	t.Helper()
	return listOf(t, s.admin.do("GET", "/api/v1/conversations?limit=200&channel_id="+channelID, nil).must(t, 200)).Items
}

// conversationOf is the conversation of the contact with externalID.
func (s *shop) conversationOf(t *testing.T, channelID, externalID string) string {
	t.Helper()
	for _, c := range s.conversations(t, channelID) {
		conv := s.admin.do("GET", "/api/v1/conversations/"+c["id"].(string), nil).must(t, 200).JSON(t)
		if ct, _ := conv["contact"].(map[string]any); ct["external_id"] == externalID {
			return c["id"].(string)
		}
	}
	t.Fatalf("no conversation with contact %s on channel %s", externalID, channelID)
	return ""
}

func (s *shop) messages(t *testing.T, conversationID string) []map[string]any {
	t.Helper()
	return messagesOf(t, s.admin, conversationID, "?limit=200")
}

// awaitMessage waits for a message of the conversation satisfying ok.
func (s *shop) awaitMessage(t *testing.T, conversationID, what string, ok func(m map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	waitUntil(t, what, func() bool {
		for _, m := range s.messages(t, conversationID) {
			if ok(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// awaitDelivery waits until the conversation's message of role reaches a
// final delivery state (anything but pending) and returns it.
func (s *shop) awaitDelivery(t *testing.T, conversationID, role string) map[string]any {
	t.Helper()
	return s.awaitMessage(t, conversationID, "the "+role+" message is delivered or failed", func(m map[string]any) bool {
		return m["role"] == role && m["delivery"] != "pending" && m["delivery"] != ""
	})
}

func (s *shop) health(t *testing.T, channelID string) map[string]any {
	t.Helper()
	h, _ := s.admin.do("GET", "/api/v1/channels/"+channelID, nil).must(t, 200).JSON(t)["health"].(map[string]any)
	if h == nil {
		t.Fatalf("channel %s shows no health", channelID)
	}
	return h
}

func (s *shop) conversation(t *testing.T, id string) map[string]any {
	t.Helper()
	return s.admin.do("GET", "/api/v1/conversations/"+id, nil).must(t, 200).JSON(t)
}

// settle waits until none of the tenant's reply, delivery and media jobs
// is waiting, running or due for a retry.
func (s *shop) settle(t *testing.T) {
	t.Helper()
	tenant := `args->>'tenant_id'`
	if s.p.st.Dialect() == store.SQLite {
		tenant = `json_extract(args, '$.tenant_id')`
	}
	q := `SELECT COUNT(*) FROM river_job WHERE kind IN ('reply', 'deliver', 'media') AND state NOT IN ('completed', 'cancelled', 'discarded') AND ` + tenant + ` = $1`
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := s.p.st.DB().QueryRow(q, s.tn.ID).Scan(&n); err != nil {
			t.Fatalf("count unfinished jobs: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs are still unfinished after 15s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// matching keeps the items keep accepts (the fakes record every tenant's
// calls; a test looks at its own).
func matching[T any](items []T, keep func(T) bool) []T {
	var out []T
	for _, it := range items {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// graphSends are the successful Graph sends made with token.
func (p *providers) graphSends(token string) []metafake.Request {
	return matching(p.graph.Sent(), func(r metafake.Request) bool { return r.Token == token })
}

// graphRequests are every Graph request made with token.
func (p *providers) graphRequests(token string) []metafake.Request {
	return matching(p.graph.Requests(), func(r metafake.Request) bool { return r.Token == token })
}

func (p *providers) telegramSends(token string) []telegramfake.SentMessage {
	return matching(p.tg.Sent(), func(m telegramfake.SentMessage) bool { return m.Token == token })
}

func (p *providers) telegramCalls(token, method string) []telegramfake.Call {
	return matching(p.tg.Calls(), func(c telegramfake.Call) bool { return c.Token == token && strings.EqualFold(c.Method, method) })
}

// sentTo is what a fake provider recorded of one message sent.
type sentTo struct {
	To, Text, ID string
}

// sends are the messages the fakes sent on the channel, in one shape.
func (p *providers) sends(c provChannel) []sentTo {
	var out []sentTo
	if c.Type == "telegram" {
		for _, m := range p.telegramSends(c.Token) {
			out = append(out, sentTo{To: strconv.FormatInt(m.ChatID, 10), Text: m.Text, ID: fmt.Sprintf("%d:%d", m.ChatID, m.MessageID)})
		}
		return out
	}
	for _, r := range p.graphSends(c.Token) {
		out = append(out, sentTo{To: r.To, Text: r.Text, ID: r.MessageID})
	}
	return out
}

// inbound builds a text message from user on the channel's platform; n
// numbers Telegram updates.
func inbound(c provChannel, user string, n int64, text string) (payload []byte, providerID string) {
	switch c.Type {
	case "whatsapp":
		id := wamid()
		return fresh(metafake.WhatsAppText(c.Account, user, "Ana Horvat", id, text)), id
	case "messenger":
		id := mid()
		return fresh(metafake.MessengerText(c.Account, user, id, text)), id
	case "instagram":
		id := mid()
		return fresh(metafake.InstagramText(c.Account, user, id, text)), id
	default:
		chat, _ := strconv.ParseInt(user, 10, 64)
		return fresh(telegramfake.Text(n, chat, n+1000, text)), "update:" + strconv.FormatInt(n, 10)
	}
}

// recipient is how the provider addresses user in a send.
func recipient(typ, user string) string {
	if typ == "whatsapp" {
		return "+" + user // a wa_id is sent in E.164
	}
	return user
}

func userID(typ string) string {
	switch typ {
	case "whatsapp":
		return "3859" + numericID(8)
	case "telegram":
		return numericID(9)
	}
	return numericID(16)
}

var providerTypes = []string{"whatsapp", "messenger", "instagram", "telegram"}

// backdateInbound moves a conversation's last inbound message into the
// past, as if the contact had last written then.
func (s *shop) backdateInbound(t *testing.T, conversationID string, ago time.Duration) {
	t.Helper()
	ctx := context.Background()
	err := s.p.st.Write(ctx, store.TenantScope(s.tn.ID), func(tx *store.Tx) error {
		_, err := tx.SQL().ExecContext(ctx, `UPDATE conversations SET last_inbound_at = $1 WHERE tenant_id = $2 AND id = $3`,
			time.Now().Add(-ago).UnixMicro(), s.tn.ID, conversationID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// --- the tests -----------------------------------------------------------

func TestProviderChannelsCarryConversationsEndToEnd(t *testing.T) {
	t.Parallel()
	serial := []providerScenario{
		{"a provider's rate limit is waited out and the reply goes out exactly once", testRateLimitIsWaitedOut},
		{"a provider's server error is retried and the reply goes out exactly once", testServerErrorIsRetried},
	}
	parallel := []providerScenario{
		{"a conversation on every provider gets the bot's reply through the provider", testEveryProviderGetsAReply},
		{"a redelivered notification never doubles the message nor the reply", testRedeliveriesAreDeduplicated},
		{"batched notifications are all stored", testBatchedNotificationsAreStored},
		{"every WhatsApp message type is stored", testEveryWhatsAppTypeIsStored},
		{"reactions and unsupported messages are stored without a reply", testReactionsGetNoReply},
		{"Messenger and Instagram attachments, quick replies and postbacks are stored and echoes ignored", testMessengerEventsAreStored},
		{"statuses move a message's delivery forward and never back", testStatusesNeverRegress},
		{"bad or missing signatures are refused and store nothing", testBadSignaturesAreRefused},
		{"the verification handshake answers the challenge only for the right token", testVerificationHandshake},
		{"a closed 24-hour window fails the message and a template still goes out", testClosedWindowNeedsATemplate},
		{"a late, older message does not close the window", testALateOlderMessageKeepsTheWindowOpen},
		{"an invalid access token fails the message and marks the channel unhealthy", testInvalidTokenMarksTheChannel},
		{"a customer who blocked the bot fails their message but leaves the channel healthy", testABlockedCustomerLeavesTheChannelHealthy},
		{"a shared link is answered and never fetched", testASharedLinkIsAnsweredNotFetched},
		{"a long message is split to each provider's limit", testLongMessagesAreSplit},
		{"a suspended tenant's channels take no webhooks", testASuspendedTenantTakesNoWebhooks},
		{"media are downloaded and served to agents", testMediaAreDownloaded},
		{"a Telegram channel sets its webhook, deduplicates updates and removes the webhook when deleted", testTelegramLifecycle},
		{"the channels API masks secrets, names bad fields and keeps secrets an update omits", testProviderChannelSettings},
	}
	runProviderScenarios(t, serial, parallel)
}

// 1. A reply on every provider.
func testEveryProviderGetsAReply(t *testing.T, p *providers) {
	for _, typ := range providerTypes {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			p := &providers{env: withT(p.env, t), graph: p.graph, tg: p.tg, files: p.files}
			s := newShop(t, p, true)
			c := s.channel(t, typ)
			if want := publicBaseURL + "/webhooks/" + c.ID; c.View["webhook_url"] != want {
				t.Errorf("webhook_url %v, want %s", c.View["webhook_url"], want)
			}
			if h := s.health(t, c.ID); h["last_inbound_at"] != nil || h["last_outbound_at"] != nil || h["healthy"] != true {
				t.Errorf("a new channel's health %v, want no traffic and healthy", h)
			}
			user := userID(typ)
			payload, inboundID := inbound(c, user, 5001, "Dobar dan, šaljete li u Zagreb? 🚚")
			c.deliverOK(t, p, payload)
			conv := s.conversationOf(t, c.ID, user)
			reply := s.awaitDelivery(t, conv, "assistant")
			if reply["delivery"] != "sent" || reply["text"] != fake.DefaultText {
				t.Fatalf("the reply %v, want the model's answer sent", reply)
			}
			sends := p.sends(c)
			if len(sends) != 1 {
				t.Fatalf("the provider recorded %d sends, want 1: %v", len(sends), sends)
			}
			if got := sends[0]; got.To != recipient(typ, user) || got.Text != fake.DefaultText || got.ID == "" || reply["provider_message_id"] != got.ID {
				t.Errorf("sent %+v; want %q to %s with the stored provider id %v", got, fake.DefaultText, recipient(typ, user), reply["provider_message_id"])
			}
			msgs := s.messages(t, conv)
			if len(msgs) != 2 || msgs[0]["role"] != "user" || msgs[0]["text"] != "Dobar dan, šaljete li u Zagreb? 🚚" || msgs[0]["provider_message_id"] != inboundID {
				t.Errorf("messages %v, want the customer's (decoded from the provider's escapes, keyed by %s) and the reply", msgs, inboundID)
			}
			h := s.health(t, c.ID)
			if h["last_inbound_at"] == nil || h["last_outbound_at"] == nil || h["healthy"] != true || h["last_error"] != "" {
				t.Errorf("health after a reply %v, want last inbound and outbound set and healthy", h)
			}
			if typ == "whatsapp" {
				if ct, _ := s.conversation(t, conv)["contact"].(map[string]any); ct["name"] != "Ana Horvat" {
					t.Errorf("contact %v, want the WhatsApp profile name", ct)
				}
			}
			// The provider's first status report moves the delivery on.
			var status []byte
			want := "delivered"
			now := time.Now()
			switch typ {
			case "whatsapp":
				status = metafake.WhatsAppStatus(c.Account, sends[0].ID, user, "delivered", now.Unix())
			case "messenger":
				status = metafake.MessengerDelivery(c.Account, user, now.UnixMilli(), sends[0].ID)
			case "instagram":
				status, want = metafake.InstagramSeen(c.Account, user, sends[0].ID), "read"
			default:
				return // Telegram reports no deliveries
			}
			c.deliverOK(t, p, status)
			if got := s.messages(t, conv)[1]; got["delivery"] != want {
				t.Errorf("after the status the reply's delivery is %v, want %s", got["delivery"], want)
			}
		})
	}
}

// withT is a copy of e reporting through t.
func withT(e *env, t *testing.T) *env {
	ec := *e
	ec.t = t
	return &ec
}

// 2. Redeliveries, sequential and concurrent.
func testRedeliveriesAreDeduplicated(t *testing.T, p *providers) {
	for _, typ := range []string{"whatsapp", "messenger", "telegram"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			p := &providers{env: withT(p.env, t), graph: p.graph, tg: p.tg, files: p.files}
			s := newShop(t, p, true)
			c := s.channel(t, typ)
			user := userID(typ)
			payload, _ := inbound(c, user, 7001, "Where is my order?")
			// The first delivery arrives several times at once (Meta
			// delivers to every subscribed app and retries), then again.
			var wg sync.WaitGroup
			statuses := make([]int, 6)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("POST", p.srv.URL+"/webhooks/"+c.ID, bytes.NewReader(payload))
					req.Header = c.headers(payload)
					res, err := p.srv.Client().Do(req)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					statuses[i] = res.StatusCode
				}()
			}
			wg.Wait()
			for i, st := range statuses {
				if st != 200 {
					t.Errorf("concurrent delivery %d answered %d, want 200", i, st)
				}
			}
			c.deliverOK(t, p, payload)
			conv := s.conversationOf(t, c.ID, user)
			s.awaitDelivery(t, conv, "assistant")
			c.deliverOK(t, p, payload) // a retry after the reply went out
			s.settle(t)
			if n := len(s.conversations(t, c.ID)); n != 1 {
				t.Errorf("%d conversations, want 1", n)
			}
			msgs := s.messages(t, conv)
			if len(msgs) != 2 || msgs[0]["role"] != "user" || msgs[1]["role"] != "assistant" {
				t.Errorf("messages %v, want the customer's once and one reply", msgs)
			}
			if sends := p.sends(c); len(sends) != 1 {
				t.Errorf("the provider sent %d messages, want exactly 1: %v", len(sends), sends)
			}
		})
	}
}

// 3. Batches: several entries, several changes or events per entry, several
// messages per change.
func testBatchedNotificationsAreStored(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	t.Run("whatsapp", func(t *testing.T) {
		c := s.channel(t, "whatsapp")
		a, b, other := userID("whatsapp"), userID("whatsapp"), userID("whatsapp")
		body := fresh(metafake.Batch(
			metafake.SameChange(
				metafake.WhatsAppText(c.Account, a, "Ana", wamid(), "a1"),
				metafake.WhatsAppText(c.Account, a, "Ana", wamid(), "a2"),
				metafake.WhatsAppStatus(c.Account, wamid(), a, "read", metafake.Timestamp),
			),
			metafake.SameEntry(
				metafake.WhatsAppText(c.Account, b, "Bo", wamid(), "b1"),
				metafake.WhatsAppLocation(c.Account, b, "Bo", wamid(), 45.815, 15.9819, "", ""),
			),
			metafake.WhatsAppText(c.Account, a, "Ana", wamid(), "a3"),
			// Another number of the same app: not this channel's.
			metafake.WhatsAppText(numericID(15), other, "Other", wamid(), "not ours"),
		))
		c.deliverOK(t, p, body)
		if n := len(s.conversations(t, c.ID)); n != 2 {
			t.Fatalf("%d conversations, want 2 (another number's message is not this channel's)", n)
		}
		for user, want := range map[string][]string{a: {"a1", "a2", "a3"}, b: {"b1", "[location] (45.815,15.9819)"}} {
			var got []string
			for _, m := range s.messages(t, s.conversationOf(t, c.ID, user)) {
				got = append(got, m["text"].(string))
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s's messages %q, want %q", user, got, want)
			}
		}
	})
	t.Run("messenger", func(t *testing.T) {
		c := s.channel(t, "messenger")
		a, b := userID("messenger"), userID("messenger")
		body := fresh(metafake.Batch(
			metafake.SameEntry(
				metafake.MessengerText(c.Account, a, mid(), "a1"),
				metafake.MessengerText(c.Account, b, mid(), "b1"),
				metafake.MessengerRead(c.Account, a, metafake.Timestamp*1000),
			),
			metafake.MessengerText(c.Account, a, mid(), "a2"),
			metafake.MessengerPostback(c.Account, b, mid(), "Start", "START"),
		))
		c.deliverOK(t, p, body)
		for user, want := range map[string][]string{a: {"a1", "a2"}, b: {"b1", "Start"}} {
			var got []string
			for _, m := range s.messages(t, s.conversationOf(t, c.ID, user)) {
				got = append(got, m["text"].(string))
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s's messages %q, want %q", user, got, want)
			}
		}
	})
}

// storedCase is one inbound payload and what must be stored for it.
type storedCase struct {
	name        string
	payload     []byte
	text        string
	typ         string // meta.type
	wantPayload string // meta.payload, when set
}

// checkStored posts each case from one contact and compares what was stored.
func checkStored(t *testing.T, p *providers, s *shop, c provChannel, user string, cases []storedCase) []map[string]any {
	t.Helper()
	for _, tc := range cases {
		c.deliverOK(t, p, fresh(tc.payload))
	}
	msgs := s.messages(t, s.conversationOf(t, c.ID, user))
	if len(msgs) != len(cases) {
		t.Fatalf("%d messages stored, want %d: %v", len(msgs), len(cases), msgs)
	}
	for i, tc := range cases {
		m := msgs[i]
		md, _ := m["meta"].(map[string]any)
		if m["text"] != tc.text || md["type"] != tc.typ || md["raw"] == nil {
			t.Errorf("%s: stored %q with meta type %v (raw kept: %v), want %q of type %s", tc.name, m["text"], md["type"], md["raw"] != nil, tc.text, tc.typ)
		}
		if tc.wantPayload != "" && md["payload"] != tc.wantPayload {
			t.Errorf("%s: meta payload %v, want %s", tc.name, md["payload"], tc.wantPayload)
		}
	}
	return msgs
}

// 4. WhatsApp message types.
func testEveryWhatsAppTypeIsStored(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	c := s.channel(t, "whatsapp")
	u, n := userID("whatsapp"), "Ana Horvat"
	acc := c.Account
	earlier := wamid()
	msgs := checkStored(t, p, s, c, u, []storedCase{
		{"text", metafake.WhatsAppText(acc, u, n, wamid(), "Dobar dan! 👋"), "Dobar dan! 👋", "text", ""},
		{"image with a caption", metafake.WhatsAppImage(acc, u, n, wamid(), "media-img-"+u, "image/jpeg", "Is this the model?"), "[image] Is this the model?", "image", ""},
		{"voice note", metafake.WhatsAppAudio(acc, u, n, wamid(), "media-aud-"+u, "audio/ogg; codecs=opus", true), "[audio]", "audio", ""},
		{"video", metafake.WhatsAppVideo(acc, u, n, wamid(), "media-vid-"+u, "video/mp4", ""), "[video]", "video", ""},
		{"document", metafake.WhatsAppDocument(acc, u, n, wamid(), "media-doc-"+u, "application/pdf", "invoice.pdf", "My invoice"), "[document] My invoice", "document", ""},
		{"sticker", metafake.WhatsAppSticker(acc, u, n, wamid(), "media-stk-"+u), "[sticker]", "sticker", ""},
		{"location", metafake.WhatsAppLocation(acc, u, n, wamid(), 45.815, 15.9819, "Shop", "Ilica 1, Zagreb"), "[location] Shop, Ilica 1, Zagreb (45.815,15.9819)", "location", ""},
		{"contacts", metafake.WhatsAppContacts(acc, u, n, wamid(), "Ivo Ivić", "+385911234567"), "[contacts] Ivo Ivić (+385911234567)", "contacts", ""},
		{"button reply", metafake.WhatsAppButtonReply(acc, u, n, wamid(), earlier, "yes", "Yes, please"), "Yes, please", "interactive", "yes"},
		{"list reply", metafake.WhatsAppListReply(acc, u, n, wamid(), earlier, "slot_1", "Tomorrow 10:00", "At the shop"), "Tomorrow 10:00", "interactive", "slot_1"},
		{"template button", metafake.WhatsAppButton(acc, u, n, wamid(), earlier, "STOP_PROMOS", "Stop promotions"), "Stop promotions", "button", "STOP_PROMOS"},
		{"reaction", metafake.WhatsAppReaction(acc, u, n, wamid(), earlier, "👍"), "[reaction] 👍", "reaction", ""},
		{"unsupported", metafake.WhatsAppUnsupported(acc, u, n, wamid()), "[unsupported]", "unsupported", ""},
		{"a type never heard of", metafake.WhatsAppUnknownType(acc, u, n, wamid(), "poll_vote"), "[unsupported]", "unsupported", ""},
	})
	last, _ := msgs[len(msgs)-1]["meta"].(map[string]any)
	raw, _ := last["raw"].(map[string]any)
	if body, _ := raw["poll_vote"].(map[string]any); raw["type"] != "poll_vote" || body["some_field"] != "some value" {
		t.Errorf("the unknown type's raw payload %v, want it kept whole", raw)
	}
	if md, _ := msgs[8]["meta"].(map[string]any); md["reply_to"] != earlier {
		t.Errorf("the button reply's meta %v, want reply_to %s", md, earlier)
	}
}

func testReactionsGetNoReply(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	c := s.channel(t, "whatsapp")
	u := userID("whatsapp")
	c.deliverOK(t, p, fresh(metafake.WhatsAppReaction(c.Account, u, "Ana", wamid(), wamid(), "❤️")))
	c.deliverOK(t, p, fresh(metafake.WhatsAppUnsupported(c.Account, u, "Ana", wamid())))
	s.settle(t)
	if msgs := s.messages(t, s.conversationOf(t, c.ID, u)); len(msgs) != 2 || len(p.sends(c)) != 0 {
		t.Errorf("messages %v and %d sends, want the two stored and no reply", msgs, len(p.sends(c)))
	}
}

// 4b. Messenger and Instagram.
func testMessengerEventsAreStored(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	png := []byte("\x89PNG fake image bytes")
	t.Run("messenger", func(t *testing.T) {
		c := s.channel(t, "messenger")
		u, acc := userID("messenger"), c.Account
		reacted := mid()
		// None of these is a message from the customer.
		for _, ignored := range [][]byte{
			metafake.MessengerEcho(acc, u, mid(), "our own reply", "1234567890"),
			metafake.MessengerStandby(acc, u, mid(), "for another app"),
			metafake.MessengerDelivery(acc, u, metafake.Timestamp*1000, mid()),
		} {
			c.deliverOK(t, p, fresh(ignored))
		}
		checkStored(t, p, s, c, u, []storedCase{
			{"text", metafake.MessengerText(acc, u, mid(), "Hi there"), "Hi there", "text", ""},
			{"image", metafake.MessengerAttachment(acc, u, mid(), "image", p.files.add(png, 0)), "[image]", "image", ""},
			{"file", metafake.MessengerAttachment(acc, u, mid(), "file", p.files.add(png, 0)), "[document]", "document", ""},
			{"two images", metafake.MessengerImages(acc, u, mid(), p.files.add(png, 0), p.files.add(png, 0)), "[image]", "image", ""},
			{"sticker", metafake.MessengerSticker(acc, u, mid(), p.files.add(png, 0)), "[sticker]", "sticker", ""},
			{"quick reply", metafake.MessengerQuickReply(acc, u, mid(), "Red", "COLOR_RED"), "Red", "quick_reply", "COLOR_RED"},
			{"postback", metafake.MessengerPostback(acc, u, mid(), "Get started", "GET_STARTED"), "Get started", "postback", "GET_STARTED"},
			{"postback without a mid", metafake.MessengerPostback(acc, u, "", "Menu", "MENU"), "Menu", "postback", "MENU"},
			{"reaction", metafake.MessengerReaction(acc, u, reacted, "❤", "react"), "[reaction] ❤", "reaction", ""},
		})
	})
	t.Run("instagram", func(t *testing.T) {
		c := s.channel(t, "instagram")
		u, acc := userID("instagram"), c.Account
		sent := mid()
		for _, ignored := range [][]byte{
			metafake.InstagramEcho(acc, u, mid(), "our own reply"),
			metafake.InstagramDeleted(acc, u, sent),
			metafake.InstagramSeen(acc, u, sent),
		} {
			c.deliverOK(t, p, fresh(ignored))
		}
		checkStored(t, p, s, c, u, []storedCase{
			{"text", metafake.InstagramText(acc, u, mid(), "Love it"), "Love it", "text", ""},
			{"image", metafake.InstagramAttachment(acc, u, mid(), "image", p.files.add(png, 0)), "[image]", "image", ""},
			{"unsupported", metafake.InstagramUnsupported(acc, u, mid()), "[unsupported]", "unsupported", ""},
		})
	})
	s.settle(t)
}

// 5. Statuses.
func testStatusesNeverRegress(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	c := s.channel(t, "whatsapp")
	u := userID("whatsapp")
	payload, _ := inbound(c, u, 0, "Hello")
	c.deliverOK(t, p, payload)
	conv := s.conversationOf(t, c.ID, u)
	reply := s.awaitDelivery(t, conv, "assistant")
	w := reply["provider_message_id"].(string)
	now := time.Now().Unix()
	for _, step := range []struct {
		status string
		ts     int64
		want   string
	}{
		{"delivered", now, "delivered"},
		{"sent", now - 5, "delivered"}, // late and older: no regression
		{"read", now + 5, "read"},
		{"delivered", now + 1, "read"},
		{"read", now + 5, "read"}, // a redelivery
		{"failed", now + 6, "read"},
	} {
		c.deliverOK(t, p, metafake.WhatsAppStatus(c.Account, w, u, step.status, step.ts))
		msgs := s.messages(t, conv)
		if len(msgs) != 2 || msgs[1]["delivery"] != step.want {
			t.Fatalf("after %q the reply's delivery is %v (%d messages), want %s", step.status, msgs[len(msgs)-1]["delivery"], len(msgs), step.want)
		}
	}
	// A status for a message nobody knows is acknowledged and ignored.
	c.deliverOK(t, p, metafake.WhatsAppStatus(c.Account, wamid(), u, "read", now))

	// A status that arrives before the send's answer was stored (Meta may
	// report before the Graph call returns) is kept and applied then.
	u3 := userID("whatsapp")
	early := wamid()
	p.graph.SetNextMessageID(recipient("whatsapp", u3), early)
	c.deliverOK(t, p, metafake.WhatsAppStatus(c.Account, early, u3, "delivered", now))
	payload, _ = inbound(c, u3, 0, "Hi there")
	c.deliverOK(t, p, payload)
	if got := s.awaitDelivery(t, s.conversationOf(t, c.ID, u3), "assistant"); got["provider_message_id"] != early || got["delivery"] != "delivered" {
		t.Errorf("a reply whose status came first: %v (%v), want delivered with id %s", got["delivery"], got["provider_message_id"], early)
	}

	// A failure reported after the send: the window had closed.
	u2 := userID("whatsapp")
	payload, _ = inbound(c, u2, 0, "Hello again")
	c.deliverOK(t, p, payload)
	conv2 := s.conversationOf(t, c.ID, u2)
	w2 := s.awaitDelivery(t, conv2, "assistant")["provider_message_id"].(string)
	if s.conversation(t, conv2)["needs_template"] != false {
		t.Fatal("a fresh conversation needs a template")
	}
	c.deliverOK(t, p, metafake.WhatsAppFailedStatus(c.Account, w2, u2, now, 131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."))
	got := s.messages(t, conv2)[1]
	if reason, _ := got["delivery_error"].(string); got["delivery"] != "failed" || !strings.Contains(reason, "131047") || !strings.Contains(reason, "24-hour") {
		t.Errorf("after a 131047 failure the reply is %v, want failed with the reason", got)
	}
	if s.conversation(t, conv2)["needs_template"] != true {
		t.Error("after a 131047 failure the conversation does not need a template")
	}
	// A later "delivered" proves the message arrived after all.
	c.deliverOK(t, p, metafake.WhatsAppStatus(c.Account, w2, u2, "delivered", now+10))
	if got := s.messages(t, conv2)[1]; got["delivery"] != "delivered" {
		t.Errorf("delivered after failed: %v", got["delivery"])
	}

	t.Run("Messenger receipts name a watermark, not a message", func(t *testing.T) {
		c := s.channel(t, "messenger")
		u, other := userID("messenger"), userID("messenger")
		for _, user := range []string{u, other} {
			payload, _ := inbound(c, user, 0, "Hello")
			c.deliverOK(t, p, payload)
		}
		conv, otherConv := s.conversationOf(t, c.ID, u), s.conversationOf(t, c.ID, other)
		s.awaitDelivery(t, conv, "assistant")
		s.awaitDelivery(t, otherConv, "assistant")
		delivery := func(conv string) any { return s.messages(t, conv)[1]["delivery"] }
		// A receipt from before the reply was sent covers nothing.
		c.deliverOK(t, p, metafake.MessengerRead(c.Account, u, time.Now().Add(-time.Hour).UnixMilli()))
		if got := delivery(conv); got != "sent" {
			t.Errorf("after an old read watermark the reply is %v, want sent", got)
		}
		c.deliverOK(t, p, metafake.MessengerDelivery(c.Account, u, time.Now().UnixMilli()))
		if got := delivery(conv); got != "delivered" {
			t.Errorf("after a delivery watermark the reply is %v, want delivered", got)
		}
		c.deliverOK(t, p, metafake.MessengerRead(c.Account, u, time.Now().UnixMilli()))
		c.deliverOK(t, p, metafake.MessengerDelivery(c.Account, u, time.Now().UnixMilli()))
		if got := delivery(conv); got != "read" {
			t.Errorf("after a read watermark (and a late delivery one) the reply is %v, want read", got)
		}
		if got := delivery(otherConv); got != "sent" {
			t.Errorf("another customer's receipts moved this reply to %v", got)
		}
	})
}

// 6. Signatures and secret tokens.
func testBadSignaturesAreRefused(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	wa := s.channel(t, "whatsapp")
	tg := s.channel(t, "telegram")
	other := s.channel(t, "messenger")
	u := userID("whatsapp")
	body, _ := inbound(wa, u, 0, "Hello")
	tgBody, _ := inbound(tg, userID("telegram"), 9001, "Hello")
	sign := func(secret string, b []byte) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set(meta.SignatureHeader, metafake.Sign(secret, b))
		return h
	}
	for _, tc := range []struct {
		name   string
		ch     provChannel
		header http.Header
		body   []byte
	}{
		{"no signature", wa, http.Header{"Content-Type": {"application/json"}}, body},
		{"an empty signature", wa, http.Header{"X-Hub-Signature-256": {""}}, body},
		{"another channel's app secret", wa, sign(other.AppSecret, body), body},
		{"a signature of another body", wa, sign(wa.AppSecret, append([]byte(nil), body[:len(body)-1]...)), body},
		{"the body changed after signing", wa, sign(wa.AppSecret, body), append(append([]byte(nil), body...), ' ')},
		{"a signature that is not hex", wa, http.Header{"X-Hub-Signature-256": {"sha256=zz" + strings.Repeat("0", 62)}}, body},
		{"the old SHA-1 signature", wa, http.Header{"X-Hub-Signature-256": {strings.Replace(metafake.Sign(wa.AppSecret, body), "sha256=", "sha1=", 1)}}, body},
		{"a Telegram update without the secret header", tg, http.Header{"Content-Type": {"application/json"}}, tgBody},
		{"a Telegram update with a wrong secret", tg, http.Header{telegram.SecretHeader: {tg.Secret + "x"}}, tgBody},
		{"a Telegram update signed like Meta's", tg, sign(tg.Secret, tgBody), tgBody},
	} {
		r := p.send("POST", "/webhooks/"+tc.ch.ID, tc.header, string(tc.body))
		t.Run(tc.name, func(t *testing.T) { r.problem(t, 401, "") })
	}
	for _, c := range []provChannel{wa, tg} {
		if n := len(s.conversations(t, c.ID)); n != 0 {
			t.Errorf("%s: %d conversations stored from refused deliveries", c.Type, n)
		}
		if h := s.health(t, c.ID); h["last_inbound_at"] != nil {
			t.Errorf("%s: health %v records an inbound message", c.Type, h)
		}
	}
	// Routes for channels that do not take webhooks.
	web := newWebChannelVia(t, p.env, s.tn.Key, nil)
	for name, id := range map[string]string{"an unknown channel": "00000000-0000-4000-8000-000000000000", "a web channel": web.ID, "not an id": "nope"} {
		r := p.send("POST", "/webhooks/"+id, sign(wa.AppSecret, body), string(body))
		t.Run(name, func(t *testing.T) { r.problem(t, 404, "") })
	}
	s.settle(t)
	if len(p.sends(wa)) != 0 || len(p.sends(tg)) != 0 {
		t.Error("a refused delivery was answered")
	}
}

// 7. Meta's GET handshake.
func testVerificationHandshake(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	c := s.channel(t, "whatsapp")
	if !strings.HasPrefix(c.VerifyToken, "vt_") {
		t.Fatalf("the create answer shows verify_token %q, want the generated one", c.VerifyToken)
	}
	if again := s.admin.do("GET", "/api/v1/channels/"+c.ID, nil).must(t, 200).JSON(t); again["verify_token"] != nil || strings.Contains(fmt.Sprint(again), c.VerifyToken) {
		t.Errorf("the verify token is shown again: %v", again)
	}
	if h := s.health(t, c.ID); h["webhook_verified"] != false {
		t.Fatalf("health %v before any handshake, want unverified", h)
	}
	handshake := func(id, mode, token, challenge string) response {
		q := url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}
		return p.send("GET", "/webhooks/"+id+"?"+q.Encode(), nil, "")
	}
	for _, tc := range []struct{ name, mode, token, challenge string }{
		{"a wrong verify token", "subscribe", c.VerifyToken + "x", "1158201444"},
		{"no verify token", "subscribe", "", "1158201444"},
		{"another mode", "unsubscribe", c.VerifyToken, "1158201444"},
		{"no challenge", "subscribe", c.VerifyToken, ""},
	} {
		r := handshake(c.ID, tc.mode, tc.token, tc.challenge)
		t.Run(tc.name, func(t *testing.T) { r.problem(t, 403, "") })
	}
	if h := s.health(t, c.ID); h["webhook_verified"] != false {
		t.Fatalf("health %v after failed handshakes, want unverified", h)
	}
	challenge := "<b>1158201444</b>"
	r := handshake(c.ID, "subscribe", c.VerifyToken, challenge).must(t, 200)
	if string(r.Body) != challenge || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("handshake answered %q as %q, want the raw challenge as text/plain", r.Body, r.Header.Get("Content-Type"))
	}
	if h := s.health(t, c.ID); h["webhook_verified"] != true {
		t.Errorf("health %v after the handshake, want verified", h)
	}
	// A verify token chosen by the tenant is used as given and not shown.
	cfg, _, token, _ := channelConfig("messenger")
	cfg["verify_token"] = "my-own-verify-token"
	p.graph.AllowToken(token)
	v := s.admin.do("POST", "/api/v1/channels", map[string]any{"type": "messenger", "name": "Page", "config": cfg}).must(t, 201).JSON(t)
	if v["verify_token"] != nil {
		t.Errorf("a chosen verify token is shown back: %v", v)
	}
	handshake(v["id"].(string), "subscribe", "my-own-verify-token", "42").must(t, 200)
	// Telegram has no handshake.
	tg := s.channel(t, "telegram")
	handshake(tg.ID, "subscribe", "anything", "42").problem(t, 404, "")
}

// 8. Rate limits (serial: they script the fakes' next answers).
func testRateLimitIsWaitedOut(t *testing.T, p *providers) {
	for _, typ := range []string{"whatsapp", "telegram"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel() // one uses the Graph fake, the other the Telegram fake
			p := &providers{env: withT(p.env, t), graph: p.graph, tg: p.tg, files: p.files}
			s := newShop(t, p, true)
			c := s.channel(t, typ)
			if typ == "telegram" {
				p.tg.FailNext(1, 429, "Too Many Requests: retry after 1", 1)
			} else {
				p.graph.FailNext(1, 429, metafake.ThroughputBody, "1")
			}
			u := userID(typ)
			payload, _ := inbound(c, u, 3001, "Hello")
			c.deliverOK(t, p, payload)
			conv := s.conversationOf(t, c.ID, u)
			reply := s.awaitDelivery(t, conv, "assistant")
			s.settle(t)
			if reply["delivery"] != "sent" {
				t.Fatalf("reply %v, want sent after the wait", reply)
			}
			if sends := p.sends(c); len(sends) != 1 || sends[0].ID != reply["provider_message_id"] {
				t.Errorf("sends %v, want exactly one, the stored one", sends)
			}
			attempts := len(p.graphRequests(c.Token))
			if typ == "telegram" {
				attempts = len(p.telegramCalls(c.Token, "sendMessage"))
			}
			if attempts != 2 {
				t.Errorf("%d send attempts, want the refused one and one more", attempts)
			}
			if h := s.health(t, c.ID); h["healthy"] != true {
				t.Errorf("health %v, want healthy after a rate limit", h)
			}
		})
	}
}

func testServerErrorIsRetried(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	c := s.channel(t, "whatsapp")
	p.graph.FailNext(1, 500, metafake.ServerErrorBody, "")
	u := userID("whatsapp")
	payload, _ := inbound(c, u, 0, "Hello")
	c.deliverOK(t, p, payload)
	conv := s.conversationOf(t, c.ID, u)
	reply := s.awaitDelivery(t, conv, "assistant")
	s.settle(t)
	if reply["delivery"] != "sent" || len(p.sends(c)) != 1 || len(p.graphRequests(c.Token)) != 2 {
		t.Errorf("reply %v after %d requests and %d sends, want sent once on the second try", reply, len(p.graphRequests(c.Token)), len(p.sends(c)))
	}
}

// 9. The 24-hour window.
func testClosedWindowNeedsATemplate(t *testing.T, p *providers) {
	t.Run("an agent's message after 24 hours fails and a template goes out", func(t *testing.T) {
		s := newShop(t, p, false)
		c := s.channel(t, "whatsapp")
		u := userID("whatsapp")
		payload, _ := inbound(c, u, 0, "Hello")
		c.deliverOK(t, p, payload)
		conv := s.conversationOf(t, c.ID, u)
		s.backdateInbound(t, conv, 25*time.Hour)
		s.admin.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": "Are you still there?"}).must(t, 201)
		msg := s.awaitDelivery(t, conv, "agent")
		if reason, _ := msg["delivery_error"].(string); msg["delivery"] != "failed" || !strings.Contains(reason, "24-hour") {
			t.Fatalf("the agent's message %v, want failed because the window closed", msg)
		}
		if len(p.graphRequests(c.Token)) != 0 {
			t.Errorf("the provider was called for a message outside the window: %v", p.graphRequests(c.Token))
		}
		if s.conversation(t, conv)["needs_template"] != true {
			t.Error("the conversation does not need a template")
		}
		if h := s.health(t, c.ID); h["healthy"] != true {
			t.Errorf("a closed window made the channel unhealthy: %v", h)
		}
		for _, bad := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"language": "en_US"}, "name"},
			{map[string]any{"name": "Order Update", "language": "en_US"}, "name"},
			{map[string]any{"name": "order_update"}, "language"},
			{map[string]any{"name": "order_update", "language": "en_US", "params": make([]string, 21)}, "params"},
		} {
			s.admin.do("POST", "/api/v1/conversations/"+conv+"/template", bad.body).problem(t, 400, bad.field)
		}
		r := s.admin.do("POST", "/api/v1/conversations/"+conv+"/template", map[string]any{"name": "order_update", "language": "en_US", "params": []string{"42", "tomorrow"}}).must(t, 201).JSON(t)
		if r["text"] != "Template order_update: 42, tomorrow" || r["delivery"] != "pending" {
			t.Errorf("template message %v", r)
		}
		sent := s.awaitMessage(t, conv, "the template is sent", func(m map[string]any) bool { return m["id"] == r["id"] && m["delivery"] != "pending" })
		sends := p.graphSends(c.Token)
		if sent["delivery"] != "sent" || len(sends) != 1 || sends[0].Type != "template" || sends[0].Template != "order_update" || sends[0].To != "+"+u || sends[0].MessageID != sent["provider_message_id"] {
			t.Fatalf("template %v, sends %+v; want one template send to +%s", sent, sends, u)
		}
		var tmpl struct {
			Template struct {
				Language   struct{ Code string }
				Components []struct {
					Parameters []struct{ Text string }
				}
			}
		}
		if err := json.Unmarshal(sends[0].Body, &tmpl); err != nil || tmpl.Template.Language.Code != "en_US" || len(tmpl.Template.Components) != 1 ||
			len(tmpl.Template.Components[0].Parameters) != 2 || tmpl.Template.Components[0].Parameters[0].Text != "42" {
			t.Errorf("template body %s, want en_US with the two parameters", sends[0].Body)
		}
		// The customer writing again reopens the window.
		payload, _ = inbound(c, u, 0, "Yes, I'm here")
		c.deliverOK(t, p, payload)
		if s.conversation(t, conv)["needs_template"] != false {
			t.Error("a new message from the customer did not clear needs_template")
		}
	})
	t.Run("the provider refusing a message for the window fails it the same way", func(t *testing.T) {
		s := newShop(t, p, true)
		c := s.channel(t, "whatsapp")
		u := userID("whatsapp")
		p.graph.SetWindowClosed("+"+u, true)
		payload, _ := inbound(c, u, 0, "Hello")
		c.deliverOK(t, p, payload)
		conv := s.conversationOf(t, c.ID, u)
		reply := s.awaitDelivery(t, conv, "assistant")
		if reason, _ := reply["delivery_error"].(string); reply["delivery"] != "failed" || !strings.Contains(reason, "131047") {
			t.Errorf("reply %v, want failed with Meta's 131047", reply)
		}
		if s.conversation(t, conv)["needs_template"] != true {
			t.Error("the conversation does not need a template")
		}
	})
	t.Run("Messenger has no templates and keeps its own window", func(t *testing.T) {
		s := newShop(t, p, false)
		c := s.channel(t, "messenger")
		u := userID("messenger")
		payload, _ := inbound(c, u, 0, "Hello")
		c.deliverOK(t, p, payload)
		conv := s.conversationOf(t, c.ID, u)
		s.admin.do("POST", "/api/v1/conversations/"+conv+"/template", map[string]any{"name": "order_update", "language": "en_US"}).problem(t, 400, "name")
		s.backdateInbound(t, conv, 25*time.Hour)
		s.admin.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": "Still there?"}).must(t, 201)
		if msg := s.awaitDelivery(t, conv, "agent"); msg["delivery"] != "failed" || len(p.graphRequests(c.Token)) != 0 {
			t.Errorf("agent message %v after %d requests, want failed without calling Meta", msg, len(p.graphRequests(c.Token)))
		}
	})
}

// A message Meta delivers late (it retries for days) must not move the
// window back to when it was written.
func testALateOlderMessageKeepsTheWindowOpen(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	c := s.channel(t, "whatsapp")
	u := userID("whatsapp")
	c.deliverOK(t, p, fresh(metafake.WhatsAppText(c.Account, u, "Ana", wamid(), "the newer message")))
	c.deliverOK(t, p, at(metafake.WhatsAppText(c.Account, u, "Ana", wamid(), "an older one, redelivered late"), time.Now().Add(-30*time.Hour)))
	conv := s.conversationOf(t, c.ID, u)
	s.admin.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": "Thanks, on it"}).must(t, 201)
	if msg := s.awaitDelivery(t, conv, "agent"); msg["delivery"] != "sent" {
		t.Errorf("the agent's answer %v, want sent: the customer wrote minutes ago", msg)
	}
}

// 10. A refused token.
func testInvalidTokenMarksTheChannel(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	cfg, account, _, appSecret := channelConfig("whatsapp")
	cfg["access_token"] = "EAAG-revoked-token" // the fake has never heard of it
	v := s.admin.do("POST", "/api/v1/channels", map[string]any{"type": "whatsapp", "name": "WA", "assistant_id": s.assistantID, "config": cfg}).must(t, 201).JSON(t)
	c := provChannel{ID: v["id"].(string), Type: "whatsapp", Account: account, AppSecret: appSecret, Token: "EAAG-revoked-token"}
	u := userID("whatsapp")
	payload, _ := inbound(c, u, 0, "Hello")
	c.deliverOK(t, p, payload)
	conv := s.conversationOf(t, c.ID, u)
	reply := s.awaitDelivery(t, conv, "assistant")
	if reason, _ := reply["delivery_error"].(string); reply["delivery"] != "failed" || !strings.Contains(reason, "token") {
		t.Fatalf("reply %v, want failed naming the token", reply)
	}
	h := s.health(t, c.ID)
	if le, _ := h["last_error"].(string); h["healthy"] != false || !strings.Contains(le, "token") || h["last_error_at"] == nil {
		t.Fatalf("health %v, want unhealthy with the token error", h)
	}
	if strings.Contains(fmt.Sprint(h), "EAAG-revoked-token") {
		t.Errorf("the health shows the token: %v", h)
	}
	// A new token fixes it: the next reply goes out and the channel is healthy.
	token := randomToken("EAAG")
	p.graph.AllowToken(token)
	s.admin.do("PATCH", "/api/v1/channels/"+c.ID, map[string]any{"config": map[string]any{"access_token": token}}).must(t, 200)
	c.Token = token
	payload, _ = inbound(c, u, 0, "Hello again")
	c.deliverOK(t, p, payload)
	s.awaitMessage(t, conv, "the second reply is sent", func(m map[string]any) bool { return m["role"] == "assistant" && m["delivery"] == "sent" })
	if h := s.health(t, c.ID); h["healthy"] != true || h["last_error"] != "" {
		t.Errorf("health %v after a successful send, want healthy", h)
	}
}

func testABlockedCustomerLeavesTheChannelHealthy(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	c := s.channel(t, "telegram")
	u := userID("telegram")
	chat, _ := strconv.ParseInt(u, 10, 64)
	p.tg.BlockChat(chat)
	payload, _ := inbound(c, u, 1, "Hello")
	c.deliverOK(t, p, payload)
	reply := s.awaitDelivery(t, s.conversationOf(t, c.ID, u), "assistant")
	if reason, _ := reply["delivery_error"].(string); reply["delivery"] != "failed" || !strings.Contains(reason, "blocked") {
		t.Errorf("reply %v, want failed because the user blocked the bot", reply)
	}
	if h := s.health(t, c.ID); h["healthy"] != true || h["last_error"] != "" {
		t.Errorf("one customer blocking the bot made the channel unhealthy: %v", h)
	}
}

// withText adds text to the message of a Messenger payload built by the fake.
func withText(t *testing.T, payload []byte, text string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	ev := m["entry"].([]any)[0].(map[string]any)["messaging"].([]any)[0].(map[string]any)
	ev["message"].(map[string]any)["text"] = text
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Messenger sends a link the customer wrote with its preview as a
// "fallback" attachment, and a shared location as a map link.
func testASharedLinkIsAnsweredNotFetched(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	c := s.channel(t, "messenger")
	u := userID("messenger")
	link := p.files.add([]byte("<html>a page on the web</html>"), 0)
	question := "Do you have this in blue? " + link
	c.deliverOK(t, p, withText(t, fresh(metafake.MessengerAttachment(c.Account, u, mid(), "fallback", link)), question))
	conv := s.conversationOf(t, c.ID, u)
	reply := s.awaitDelivery(t, conv, "assistant")
	mapLink := p.files.add([]byte("a map"), 0)
	c.deliverOK(t, p, fresh(metafake.MessengerAttachment(c.Account, u, mid(), "location", mapLink)))
	s.settle(t)
	msgs := s.messages(t, conv)
	if msgs[0]["text"] != question || reply["delivery"] != "sent" {
		t.Errorf("messages %v, want the question stored as written and answered", msgs)
	}
	for _, m := range msgs {
		if m["role"] == "user" {
			if items := listOf(t, s.admin.do("GET", "/api/v1/messages/"+m["id"].(string)+"/media", nil).must(t, 200)).Items; len(items) != 0 {
				t.Errorf("message %q has media %v, want none", m["text"], items)
			}
		}
	}
	if p.files.hitsOf(link) != 0 || p.files.hitsOf(mapLink) != 0 {
		t.Errorf("the server fetched a link the customer sent (%d and %d requests)", p.files.hitsOf(link), p.files.hitsOf(mapLink))
	}
}

func testLongMessagesAreSplit(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	long := strings.TrimSpace(strings.Repeat("Paket šaljemo sutra ujutro. ", 140)) // 3919 characters, 4059 bytes
	for _, tc := range []struct {
		typ    string
		pieces int
		fits   func(string) bool
	}{
		{"whatsapp", 1, func(p string) bool { return len([]rune(p)) <= 4096 }},
		{"telegram", 1, func(p string) bool { return len([]rune(p)) <= 4096 }},
		{"messenger", 2, func(p string) bool { return len([]rune(p)) <= 2000 }},
		{"instagram", 5, func(p string) bool { return len(p) < 1000 }},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			c := s.channel(t, tc.typ)
			u := userID(tc.typ)
			payload, _ := inbound(c, u, 1, "Kada stiže paket?")
			c.deliverOK(t, p, payload)
			conv := s.conversationOf(t, c.ID, u)
			s.admin.do("POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"text": long}).must(t, 201)
			msg := s.awaitDelivery(t, conv, "agent")
			sends := p.sends(c)
			var texts []string
			for _, sd := range sends {
				texts = append(texts, sd.Text)
				if !tc.fits(sd.Text) {
					t.Errorf("a piece of %d characters, %d bytes is over the limit", len([]rune(sd.Text)), len(sd.Text))
				}
			}
			if msg["delivery"] != "sent" || len(sends) != tc.pieces || msg["provider_message_id"] != sends[0].ID {
				t.Fatalf("message %v sent in %d pieces, want %d with the first one's id stored", msg, len(sends), tc.pieces)
			}
			if strings.Join(strings.Fields(strings.Join(texts, " ")), " ") != long {
				t.Errorf("the pieces do not add up to the message")
			}
		})
	}
}

func testASuspendedTenantTakesNoWebhooks(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	wa := s.channel(t, "whatsapp")
	tg := s.channel(t, "telegram")
	ctx := context.Background()
	if err := p.st.Write(ctx, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, s.tn.ID, "suspended") }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []provChannel{wa, tg} {
		payload, _ := inbound(c, userID(c.Type), 1, "Hello?")
		c.post(t, p, payload).problem(t, 404, "")
	}
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {wa.VerifyToken}, "hub.challenge": {"1"}}
	p.send("GET", "/webhooks/"+wa.ID+"?"+q.Encode(), nil, "").problem(t, 404, "")
	if err := p.st.Write(ctx, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, s.tn.ID, "active") }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []provChannel{wa, tg} {
		if n := len(s.conversations(t, c.ID)); n != 0 || len(p.sends(c)) != 0 {
			t.Errorf("%s: %d conversations and %d sends while suspended, want none", c.Type, n, len(p.sends(c)))
		}
	}
}

// 11. Media.
func testMediaAreDownloaded(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	other := newShop(t, p, false)
	// mediaOf waits for the message's files and checks their bytes.
	mediaOf := func(t *testing.T, messageID string, n int) []map[string]any {
		t.Helper()
		var items []map[string]any
		waitUntil(t, "the media are fetched", func() bool {
			items = listOf(t, s.admin.do("GET", "/api/v1/messages/"+messageID+"/media", nil).must(t, 200)).Items
			return len(items) >= n
		})
		return items
	}
	fetch := func(t *testing.T, item map[string]any, want []byte, mime string) {
		t.Helper()
		r := s.admin.do("GET", "/api/v1/media/"+item["id"].(string), nil).must(t, 200)
		if !bytes.Equal(r.Body, want) || item["size_bytes"] != float64(len(want)) || item["mime_type"] != mime || item["error"] != "" {
			t.Errorf("media %v served %d bytes, want %d bytes of %s", item, len(r.Body), len(want), mime)
		}
		if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("Content-Disposition %q, want an attachment", cd)
		}
		other.admin.do("GET", "/api/v1/media/"+item["id"].(string), nil).problem(t, 404, "")
	}
	t.Run("a WhatsApp image through the Graph media endpoints", func(t *testing.T) {
		c := s.channel(t, "whatsapp")
		u := userID("whatsapp")
		img := append([]byte("\xff\xd8\xff\xe0 jpeg "), []byte(u)...)
		mediaID := numericID(16)
		p.graph.AddMedia(mediaID, "image/jpeg", img)
		c.deliverOK(t, p, fresh(metafake.WhatsAppImage(c.Account, u, "Ana", wamid(), mediaID, "image/jpeg", "")))
		msg := s.messages(t, s.conversationOf(t, c.ID, u))[0]
		items := mediaOf(t, msg["id"].(string), 1)
		if len(items) != 1 {
			t.Fatalf("media %v, want one file", items)
		}
		fetch(t, items[0], img, "image/jpeg")
		var info, download int
		for _, r := range p.graphRequests(c.Token) {
			switch r.Kind {
			case metafake.KindMediaInfo:
				info++
			case metafake.KindMediaDownload:
				download++
			}
		}
		if info != 1 || download != 1 {
			t.Errorf("%d media lookups and %d downloads with the channel's token, want one each", info, download)
		}
	})
	t.Run("a WhatsApp file the provider no longer has is recorded with the reason", func(t *testing.T) {
		c := s.channel(t, "whatsapp")
		u := userID("whatsapp")
		c.deliverOK(t, p, fresh(metafake.WhatsAppDocument(c.Account, u, "Ana", wamid(), numericID(16), "application/pdf", "gone.pdf", "")))
		msg := s.messages(t, s.conversationOf(t, c.ID, u))[0]
		items := mediaOf(t, msg["id"].(string), 1)
		if items[0]["error"] == "" || items[0]["filename"] != "gone.pdf" {
			t.Errorf("media %v, want the failure recorded", items)
		}
		s.admin.do("GET", "/api/v1/media/"+items[0]["id"].(string), nil).problem(t, 404, "")
	})
	t.Run("Messenger images, one of them after a failed try", func(t *testing.T) {
		c := s.channel(t, "messenger")
		u := userID("messenger")
		first, second := []byte("\x89PNG first "+u), []byte("\x89PNG second "+u)
		c.deliverOK(t, p, fresh(metafake.MessengerImages(c.Account, u, mid(), p.files.add(first, 0), p.files.add(second, 1))))
		msg := s.messages(t, s.conversationOf(t, c.ID, u))[0]
		var items []map[string]any
		waitUntil(t, "both images are fetched", func() bool {
			items = listOf(t, s.admin.do("GET", "/api/v1/messages/"+msg["id"].(string)+"/media", nil).must(t, 200)).Items
			good := 0
			for _, it := range items {
				if it["error"] == "" {
					good++
				}
			}
			return good == 2
		})
		got := map[string]bool{}
		for _, it := range items {
			got[string(s.admin.do("GET", "/api/v1/media/"+it["id"].(string), nil).must(t, 200).Body)] = true
		}
		if len(items) != 2 || !got[string(first)] || !got[string(second)] {
			t.Errorf("media %v, want both images", items)
		}
	})
	t.Run("a Telegram photo through getFile", func(t *testing.T) {
		c := s.channel(t, "telegram")
		u := userID("telegram")
		photo := []byte("\xff\xd8 telegram photo " + u)
		fileID := "AgAC" + randomToken("")
		p.tg.AddFile(fileID, "photos/file_"+u+".jpg", photo)
		chat, _ := strconv.ParseInt(u, 10, 64)
		c.deliverOK(t, p, telegramfake.Photo(11, chat, 12, fileID, "my receipt"))
		msg := s.messages(t, s.conversationOf(t, c.ID, u))[0]
		if msg["text"] != "[photo] my receipt" {
			t.Errorf("photo stored as %q", msg["text"])
		}
		items := mediaOf(t, msg["id"].(string), 1)
		r := s.admin.do("GET", "/api/v1/media/"+items[0]["id"].(string), nil).must(t, 200)
		if !bytes.Equal(r.Body, photo) {
			t.Errorf("served %q, want the photo", r.Body)
		}
	})
	s.settle(t)
}

// 12. Telegram.
func testTelegramLifecycle(t *testing.T, p *providers) {
	s := newShop(t, p, true)
	c := s.channel(t, "telegram")
	wh := p.tg.Webhook(c.Token)
	if wh.URL != publicBaseURL+"/webhooks/"+c.ID || c.View["webhook_url"] != wh.URL {
		t.Errorf("webhook set to %q (view %v), want %s/webhooks/%s", wh.URL, c.View["webhook_url"], publicBaseURL, c.ID)
	}
	if !telegram.ValidSecretToken(wh.SecretToken) || len(wh.SecretToken) < 32 {
		t.Errorf("secret token %q, want a long random one", wh.SecretToken)
	}
	for _, r := range []response{
		s.admin.do("GET", "/api/v1/channels/"+c.ID, nil),
		s.admin.do("GET", "/api/v1/channels", nil),
	} {
		if bytes.Contains(r.Body, []byte(wh.SecretToken)) || bytes.Contains(r.Body, []byte(c.Token)) {
			t.Errorf("the API shows the bot's secrets: %s", r.Body)
		}
	}

	u := userID("telegram")
	chat, _ := strconv.ParseInt(u, 10, 64)
	c.deliverOK(t, p, telegramfake.Text(500, chat, 1, "Hello bot"))
	c.deliverOK(t, p, telegramfake.Text(500, chat, 1, "Hello bot"))                      // redelivered
	c.deliverOK(t, p, telegramfake.ChannelPost(501, -100123, 1, "news, not a customer")) // ignored
	c.deliverOK(t, p, telegramfake.Callback(502, chat, 1, "cbq-"+u, "size_m"))
	conv := s.conversationOf(t, c.ID, u)
	s.settle(t)
	var users []string
	for _, m := range s.messages(t, conv) {
		if m["role"] == "user" {
			users = append(users, m["text"].(string))
		}
	}
	if strings.Join(users, "|") != "Hello bot|size_m" {
		t.Errorf("stored %q, want the text once and the button tap", users)
	}
	if calls := p.telegramCalls(c.Token, "answerCallbackQuery"); len(calls) != 1 || calls[0].Params["callback_query_id"] != "cbq-"+u {
		t.Errorf("answerCallbackQuery calls %v, want the tap answered", calls)
	}
	if sends := p.sends(c); len(sends) != 2 {
		t.Errorf("%d sends, want a reply to each of the two messages: %v", len(sends), sends)
	}
	if ct, _ := s.conversation(t, conv)["contact"].(map[string]any); ct["name"] != telegramfake.FirstName+" "+telegramfake.LastName {
		t.Errorf("contact %v, want the Telegram user's name", ct)
	}

	// A bot token Telegram refuses keeps no channel.
	bad := s.admin.do("POST", "/api/v1/channels", map[string]any{"type": "telegram", "name": "Bad bot", "config": map[string]any{"bot_token": "123:" + randomToken("AAH")}})
	bad.problem(t, 400, "config.bot_token")

	s.admin.do("DELETE", "/api/v1/channels/"+c.ID, nil).must(t, 204)
	if wh := p.tg.Webhook(c.Token); wh.URL != "" {
		t.Errorf("after deleting the channel the webhook is %q, want none", wh.URL)
	}
	if calls := p.telegramCalls(c.Token, "deleteWebhook"); len(calls) != 1 {
		t.Errorf("%d deleteWebhook calls, want 1", len(calls))
	}
	if n := len(listOf(t, s.admin.do("GET", "/api/v1/channels", nil).must(t, 200)).Items); n != 0 {
		t.Errorf("%d channels left, want none (the refused one is not kept)", n)
	}
	c.post(t, p, telegramfake.Text(503, chat, 2, "anyone?")).problem(t, 404, "")
}

// 13. The channels API.
func testProviderChannelSettings(t *testing.T, p *providers) {
	s := newShop(t, p, false)
	t.Run("secrets are shown masked and never in full", func(t *testing.T) {
		for _, typ := range providerTypes {
			cfg, _, token, appSecret := channelConfig(typ)
			p.tg.AllowToken(token)
			r := s.admin.do("POST", "/api/v1/channels", map[string]any{"type": typ, "name": "Masked", "config": cfg}).must(t, 201)
			v := r.JSON(t)
			got, _ := v["config"].(map[string]any)
			secrets := map[string]string{"access_token": token, "app_secret": appSecret}
			if typ == "telegram" {
				secrets = map[string]string{"bot_token": token}
			}
			listed := s.admin.do("GET", "/api/v1/channels", nil).must(t, 200)
			fetched := s.admin.do("GET", "/api/v1/channels/"+v["id"].(string), nil).must(t, 200)
			for field, secret := range secrets {
				if want := "••••" + secret[len(secret)-4:]; got[field] != want {
					t.Errorf("%s config.%s = %v, want %s", typ, field, got[field], want)
				}
				for _, body := range [][]byte{r.Body, listed.Body, fetched.Body} {
					if bytes.Contains(body, []byte(secret)) {
						t.Errorf("%s: the API shows %s in full: %s", typ, field, body)
					}
				}
			}
			if h, _ := v["health"].(map[string]any); h == nil || v["webhook_url"] == nil {
				t.Errorf("%s view %v lacks health or webhook_url", typ, v)
			}
		}
	})
	t.Run("bad configs are refused naming the field", func(t *testing.T) {
		wa, _, _, _ := channelConfig("whatsapp")
		with := func(base map[string]any, k string, v any) map[string]any {
			out := map[string]any{}
			for kk, vv := range base {
				out[kk] = vv
			}
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
			return out
		}
		pg, _, _, _ := channelConfig("messenger")
		for _, tc := range []struct {
			name, typ string
			config    any
			field     string
		}{
			{"whatsapp without settings", "whatsapp", nil, "config.phone_number_id"},
			{"whatsapp without a token", "whatsapp", with(wa, "access_token", nil), "config.access_token"},
			{"whatsapp without an app secret", "whatsapp", with(wa, "app_secret", nil), "config.app_secret"},
			{"a phone number id that is not numeric", "whatsapp", with(wa, "phone_number_id", "+1 555 0100"), "config.phone_number_id"},
			{"a page id on whatsapp", "whatsapp", with(wa, "page_id", "12345"), "config.page_id"},
			{"a bot token on whatsapp", "whatsapp", with(wa, "bot_token", "1:abc"), "config.bot_token"},
			{"a token with spaces", "whatsapp", with(wa, "access_token", "EAAG abc"), "config.access_token"},
			{"messenger without a page id", "messenger", with(pg, "page_id", nil), "config.page_id"},
			{"a phone number id on instagram", "instagram", with(pg, "phone_number_id", "12345"), "config.phone_number_id"},
			{"telegram without a token", "telegram", map[string]any{}, "config.bot_token"},
			{"a telegram token of the wrong shape", "telegram", map[string]any{"bot_token": "not-a-bot-token"}, "config.bot_token"},
			{"meta settings on telegram", "telegram", map[string]any{"bot_token": "123:" + randomToken("AAH"), "access_token": "x"}, "config"},
			{"an unknown setting", "whatsapp", with(wa, "phone", "1"), "config"},
		} {
			r := s.admin.do("POST", "/api/v1/channels", map[string]any{"type": tc.typ, "name": "Bad", "config": tc.config})
			t.Run(tc.name, func(t *testing.T) { r.problem(t, 400, tc.field) })
		}
	})
	t.Run("an update that omits or echoes the secrets keeps them", func(t *testing.T) {
		c := s.channel(t, "whatsapp")
		u := userID("whatsapp")
		// Only the name; then the config as shown (masked); then the id alone.
		s.admin.do("PATCH", "/api/v1/channels/"+c.ID, map[string]any{"name": "Renamed"}).must(t, 200)
		shown := s.admin.do("GET", "/api/v1/channels/"+c.ID, nil).must(t, 200).JSON(t)["config"]
		s.admin.do("PATCH", "/api/v1/channels/"+c.ID, map[string]any{"config": shown}).must(t, 200)
		after := s.admin.do("PATCH", "/api/v1/channels/"+c.ID, map[string]any{"config": map[string]any{"phone_number_id": c.Account}}).must(t, 200).JSON(t)
		if fmt.Sprint(after["config"]) != fmt.Sprint(shown) {
			t.Errorf("config after updates %v, want %v", after["config"], shown)
		}
		// The app secret still verifies deliveries and the verify token
		// still answers the handshake.
		payload, _ := inbound(c, u, 0, "still there")
		c.deliverOK(t, p, payload)
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {c.VerifyToken}, "hub.challenge": {"7"}}
		p.send("GET", "/webhooks/"+c.ID+"?"+q.Encode(), nil, "").must(t, 200)
		// A new app secret replaces the old one.
		newSecret := randomToken("appsecret")
		s.admin.do("PATCH", "/api/v1/channels/"+c.ID, map[string]any{"config": map[string]any{"app_secret": newSecret}}).must(t, 200)
		payload, _ = inbound(c, u, 0, "after the change")
		c.post(t, p, payload).problem(t, 401, "")
		c.AppSecret = newSecret
		c.deliverOK(t, p, payload)
		if n := len(s.messages(t, s.conversationOf(t, c.ID, u))); n != 2 {
			t.Errorf("%d messages, want the two accepted ones", n)
		}
		// A bad update changes nothing.
		s.admin.do("PATCH", "/api/v1/channels/"+c.ID, map[string]any{"config": map[string]any{"phone_number_id": "abc"}}).problem(t, 400, "config.phone_number_id")
		if got := s.admin.do("GET", "/api/v1/channels/"+c.ID, nil).must(t, 200).JSON(t)["config"].(map[string]any); got["phone_number_id"] != c.Account {
			t.Errorf("a refused update changed the config: %v", got)
		}
	})
}
