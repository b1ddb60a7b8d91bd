// Package messaging connects provider channels — WhatsApp, Messenger,
// Instagram (one Meta implementation) and Telegram — to conversations:
// verified webhooks in, deliveries with retries out, statuses that never
// regress, media kept for agents.
package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/meta"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/telegram"
)

// MediaQueue queues fetching a message's media in the message's
// transaction.
type MediaQueue interface {
	EnqueueMedia(ctx context.Context, tx *store.Tx, messageID string) error
}

// Service handles provider channels.
type Service struct {
	store *store.Store
	chans *channels.Service
	convs *conversations.Service
	bus   realtime.Publisher
	graph *meta.Client
	tg    *telegram.Client
	media MediaQueue
	log   *slog.Logger
	// MaxMediaBytes bounds a downloaded file.
	MaxMediaBytes int64

	// intake stores verified webhooks for the webhook job; without a
	// queue (tests of this package) webhooks are processed inline.
	intake *intake
	cache  channelCache
	// drainFor bounds how long one webhook job drains; what is still
	// waiting then goes on in a new job.
	drainFor time.Duration
}

// New returns the service; graph and tg are the providers' API clients.
func New(st *store.Store, chans *channels.Service, convs *conversations.Service, bus realtime.Publisher, graph *meta.Client, tg *telegram.Client, log *slog.Logger) *Service {
	return &Service{store: st, chans: chans, convs: convs, bus: bus, graph: graph, tg: tg, log: log, MaxMediaBytes: 16 << 20,
		cache: channelCache{m: map[string]cachedChannel{}}, drainFor: 30 * time.Second}
}

// SetWebhookQueue makes webhooks answer once stored, and a job process
// them.
func (s *Service) SetWebhookQueue(q WebhookQueue) {
	s.intake = newIntake(s.store, q, s.log)
}

// SetMediaQueue connects the media download job.
func (s *Service) SetMediaQueue(q MediaQueue) { s.media = q }

var errUnknownChannel = apperr.New(apperr.NotFound, "no such webhook")

// channel loads a provider channel by id for a public webhook route.
func (s *Service) channel(ctx context.Context, id string) (channels.ProviderChannel, error) {
	if !store.ValidID(id) {
		return channels.ProviderChannel{}, errUnknownChannel
	}
	var c store.Channel
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		c, err = tx.ChannelByID(ctx, id)
		return err
	})
	if apperr.Is(err, apperr.NotFound) || (err == nil && !channels.IsProvider(c.Type)) {
		return channels.ProviderChannel{}, errUnknownChannel
	}
	if err != nil {
		return channels.ProviderChannel{}, err
	}
	return s.chans.OpenProvider(c)
}

// channelCacheTTL is how long a cached channel is used before it is read
// again. Staleness never lets a webhook in: the intake transaction checks
// every cached copy against the channel's updated_at (a deleted channel,
// a suspended tenant or new secrets refuse or re-check the webhook), and a
// signature that fails against a cached copy is checked again against
// the stored channel.
const channelCacheTTL = 2 * time.Second

// channelCache keeps recently used provider channels (decrypted) so a
// webhook costs no read transaction of its own.
type channelCache struct {
	mu sync.Mutex
	m  map[string]cachedChannel
}

type cachedChannel struct {
	ch channels.ProviderChannel
	at time.Time
}

// cachedChannel returns the channel, from the cache when fresh; cached
// reports which.
func (s *Service) cachedChannel(ctx context.Context, id string) (ch channels.ProviderChannel, cached bool, err error) {
	now := time.Now()
	s.cache.mu.Lock()
	e, ok := s.cache.m[id]
	s.cache.mu.Unlock()
	if ok && now.Sub(e.at) < channelCacheTTL {
		return e.ch, true, nil
	}
	ch, err = s.channel(ctx, id)
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if err != nil {
		delete(s.cache.m, id)
		return ch, false, err
	}
	if len(s.cache.m) > 10000 {
		clear(s.cache.m) // bounded: a flood of channel ids cannot grow it
	}
	s.cache.m[id] = cachedChannel{ch: ch, at: now}
	return ch, false, nil
}

// Verify answers Meta's webhook verification handshake: the challenge
// when the verify token matches.
func (s *Service) Verify(ctx context.Context, channelID string, q url.Values) (string, error) {
	ch, err := s.channel(ctx, channelID)
	if err != nil {
		return "", err
	}
	if !channels.IsMeta(ch.Type) {
		return "", errUnknownChannel
	}
	challenge, ok := meta.VerifyChallenge(q, ch.Secrets.VerifyToken)
	if !ok {
		return "", apperr.New(apperr.Forbidden, "the verify token does not match")
	}
	err = s.store.Write(ctx, store.TenantScope(ch.TenantID), func(tx *store.Tx) error {
		return tx.TouchChannel(ctx, ch.ID, store.ChannelVerified)
	})
	return challenge, err
}

var errBadSignature = apperr.New(apperr.Unauthenticated, "missing or invalid webhook signature")

// Receive accepts one webhook delivery: it is verified against the
// channel's secret and stored; the webhook job then stores its messages
// (redeliveries are no-ops) with their reply jobs and applies its
// statuses. The caller answers 200 once Receive returns nil.
func (s *Service) Receive(ctx context.Context, channelID string, h http.Header, body []byte, requestID string) error {
	ch, cached, err := s.cachedChannel(ctx, channelID)
	if err != nil {
		return err
	}
	if !authentic(ch, h, body) && cached {
		// The secret may have changed since the channel was cached.
		if ch, err = s.freshChannel(ctx, channelID); err != nil {
			return err
		}
		cached = false
	}
	if !authentic(ch, h, body) {
		return errBadSignature
	}
	if s.intake == nil {
		return s.process(ctx, ch, body, requestID, s.postNow)
	}
	err = s.intake.submit(ctx, ch, requestID, body)
	if !errors.Is(err, errStaleChannel) || !cached {
		return err
	}
	// The channel changed after it was cached: check the signature
	// against its current secrets before storing.
	if ch, err = s.freshChannel(ctx, channelID); err != nil {
		return err
	}
	if !authentic(ch, h, body) {
		return errBadSignature
	}
	return s.intake.submit(ctx, ch, requestID, body)
}

// freshChannel reads the channel again, replacing its cached copy.
func (s *Service) freshChannel(ctx context.Context, id string) (channels.ProviderChannel, error) {
	s.cache.mu.Lock()
	delete(s.cache.m, id)
	s.cache.mu.Unlock()
	ch, _, err := s.cachedChannel(ctx, id)
	return ch, err
}

// authentic checks a webhook's signature (Meta) or secret token (Telegram).
func authentic(ch channels.ProviderChannel, h http.Header, body []byte) bool {
	if ch.Type == "telegram" {
		return telegram.CheckSecret(h.Get(telegram.SecretHeader), ch.Secrets.TelegramToken)
	}
	return meta.VerifySignature(ch.Secrets.AppSecret, body, h.Get(meta.SignatureHeader))
}

// DrainWebhookEvents processes every waiting webhook, oldest first, then
// the job's own events (again, if one failed before). Draining lets one job
// do the work of many, in order, and the intake stores a batch without a
// job of its own while one is waiting to start; so a drain leaves nothing
// behind: an event that fails gets a job of its own, in the transaction
// that records its error (later drains pass over failed events), and when
// the time is up with events still waiting, a job to go on is queued.
//
// One drain runs at a time across every process sharing the database, so
// a customer's messages are stored in the order they were received; while
// another runs, DrainWebhookEvents returns an error wrapping
// store.ErrLockBusy at once (its events are still waiting: try again
// shortly).
func (s *Service) DrainWebhookEvents(ctx context.Context, own []string) error {
	return s.store.TryExclusive(ctx, "webhook-drain", func(ctx context.Context) error { return s.drain(ctx, own) })
}

func (s *Service) drain(ctx context.Context, own []string) error {
	deadline := time.Now().Add(s.drainFor)
	for ctx.Err() == nil {
		var ids []string
		err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			var err error
			ids, err = tx.NextWebhookEvents(ctx, inboundBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("drain webhooks: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		if !time.Now().Before(deadline) {
			if err := s.continueDrain(ctx); err != nil {
				return err
			}
			break
		}
		// The outcome is on each event: a failed one now has its job.
		_ = s.processWebhookEvents(ctx, ids, func(id string) bool { return !slices.Contains(own, id) })
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.processWebhookEvents(ctx, own, nil)
}

// continueDrain queues a webhook job to go on draining, unless one is
// already waiting to start.
func (s *Service) continueDrain(ctx context.Context) error {
	if s.intake == nil {
		return nil
	}
	err := s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		if pending, err := tx.Exists(ctx, s.intake.queue.WaitingDrainJob(tx.Dialect())); err != nil || pending {
			return err
		}
		return s.intake.queue.EnqueueWebhookEvents(ctx, tx, nil)
	})
	if err != nil {
		return fmt.Errorf("queue the rest of a webhook drain: %w", err)
	}
	return nil
}

// inboundBatch bounds the messages stored in one transaction by the
// webhook job.
const inboundBatch = 100

// processWebhookEvents stores what stored webhooks carry, in the order of
// ids, and removes those done. Running it again after a crash is safe:
// messages are unique per provider id and statuses never regress. An event
// whose channel is gone is dropped with a warning; one that fails keeps its
// error for the next attempt and does not stop the others. A failed event
// for which adopt answers true gets a job of its own with its error.
func (s *Service) processWebhookEvents(ctx context.Context, ids []string, adopt func(id string) bool) error {
	if len(ids) == 0 {
		return nil
	}
	var evs []store.WebhookEvent
	err := s.store.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
		var err error
		evs, err = tx.WebhookEventsByID(ctx, ids)
		return err
	})
	if err != nil {
		return err
	}
	order := make(map[string]int, len(ids))
	for i, id := range ids {
		order[id] = i
	}
	slices.SortFunc(evs, func(a, b store.WebhookEvent) int { return order[a.ID] - order[b.ID] })
	// Messages are gathered from every event, then stored a tenant's
	// batch per transaction: one job's events share the writes.
	type gathered struct {
		in    conversations.Inbound
		event int
	}
	var msgs []gathered
	failed := make([]error, len(evs))
	for k, ev := range evs {
		log := s.log.With("tenant_id", ev.TenantID, "channel_id", ev.ChannelID, "request_id", ev.RequestID, "webhook_event_id", ev.ID)
		ch, _, err := s.cachedChannel(ctx, ev.ChannelID)
		if err == nil {
			err = s.process(ctx, ch, ev.Body, ev.RequestID, func(_ context.Context, in conversations.Inbound) error {
				msgs = append(msgs, gathered{in: in, event: k})
				return nil
			})
		} else if errors.Is(err, errUnknownChannel) {
			log.Warn("webhook dropped: its channel was deleted or its tenant suspended before it was processed", "received_at", ev.ReceivedAt)
			err = nil
		}
		failed[k] = err
	}
	for len(msgs) > 0 {
		tenant := msgs[0].in.TenantID
		var batch []gathered
		rest := msgs[:0:0]
		for _, g := range msgs {
			if g.in.TenantID == tenant && len(batch) < inboundBatch {
				batch = append(batch, g)
			} else {
				rest = append(rest, g)
			}
		}
		msgs = rest
		ins := make([]conversations.Inbound, len(batch))
		for k, g := range batch {
			ins[k] = g.in
		}
		for k, err := range s.convs.PostInboundBatch(ctx, tenant, ins) {
			if err != nil && failed[batch[k].event] == nil {
				failed[batch[k].event] = err
			}
		}
	}
	var done []string
	var errs []error
	for k, ev := range evs {
		err := failed[k]
		if err == nil {
			done = append(done, ev.ID)
			continue
		}
		errs = append(errs, fmt.Errorf("webhook %s: %w", ev.ID, err))
		if werr := s.store.Write(ctx, store.TenantScope(ev.TenantID), func(tx *store.Tx) error {
			if err := tx.SetWebhookEventError(ctx, ev.ID, truncate(err.Error(), 500)); err != nil {
				return err
			}
			if adopt != nil && adopt(ev.ID) && s.intake != nil {
				return s.intake.queue.EnqueueWebhookEvents(ctx, tx, []string{ev.ID})
			}
			return nil
		}); werr != nil {
			s.log.Warn("record webhook processing error", "error", werr, "tenant_id", ev.TenantID, "webhook_event_id", ev.ID)
		}
	}
	if len(done) > 0 {
		if err := s.store.Write(ctx, store.SystemScope, func(tx *store.Tx) error { return tx.DeleteWebhookEvents(ctx, done) }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// postFunc takes the inbound messages of a webhook body: stored at once
// (postNow), or gathered to be stored with others in one transaction.
type postFunc func(ctx context.Context, in conversations.Inbound) error

func (s *Service) postNow(ctx context.Context, in conversations.Inbound) error {
	_, err := s.convs.PostInbound(ctx, in)
	return err
}

// process hands the messages of a verified webhook body to post and
// applies its statuses. A body that cannot be read is logged and
// acknowledged: refusing it would only make the provider redeliver it for
// days.
func (s *Service) process(ctx context.Context, ch channels.ProviderChannel, body []byte, requestID string, post postFunc) error {
	log := s.log.With("tenant_id", ch.TenantID, "channel_id", ch.ID, "request_id", requestID)
	if ch.Type == "telegram" {
		return s.receiveTelegram(ctx, ch, body, requestID, log, post)
	}
	n, err := meta.ParseNotification(body)
	if err != nil {
		log.Warn("unreadable webhook body acknowledged", "error", err, "bytes", len(body))
		return nil
	}
	for _, u := range n.Unreadable {
		log.Warn("unreadable item in a webhook", "item", truncate(string(u), 500))
	}
	for _, e := range n.Errors {
		log.Warn("provider reported a webhook error", "code", e.Code, "message", e.Message)
	}
	for _, m := range n.Messages {
		if ch.Config.PhoneNumberID != "" && m.AccountID != ch.Config.PhoneNumberID || ch.Config.PageID != "" && m.AccountID != ch.Config.PageID {
			// One Meta app may deliver for several numbers or pages to
			// every callback: each channel takes only its own.
			continue
		}
		if err := post(ctx, s.metaInbound(ch, m, requestID)); err != nil {
			return err
		}
	}
	for _, st := range n.Statuses {
		if err := s.applyStatus(ctx, ch, st); err != nil {
			return err
		}
	}
	return nil
}

// metaInbound is what a Meta message stores.
func (s *Service) metaInbound(ch channels.ProviderChannel, m meta.Inbound, requestID string) conversations.Inbound {
	text := strings.TrimSpace(m.Text)
	switch {
	case m.Type == meta.TypeText || m.Type == meta.TypeInteractive || m.Type == meta.TypeButton || m.Type == meta.TypePostback || m.Type == meta.TypeQuickReply:
	case m.Type == meta.TypeUnsupported && text != "":
		// A link the customer wrote comes with its preview as a "fallback"
		// attachment: the text is the message, and it wants an answer.
	case m.Media != nil && text != "":
		text = "[" + m.Type + "] " + text
	default:
		text = strings.TrimSpace("[" + m.Type + "] " + text)
	}
	if text == "" {
		text = "[" + m.Type + "]"
	}
	metaJSON, _ := json.Marshal(map[string]any{"type": m.Type, "payload": m.Payload, "reply_to": m.ReplyToID, "raw": m.Raw})
	in := conversations.Inbound{TenantID: ch.TenantID, ChannelID: ch.ID, ExternalID: m.From.ID, ContactName: m.From.Name,
		Text: truncateRunes(text, 4000), ProviderMessageID: m.ProviderMessageID, At: m.Timestamp, Meta: metaJSON, RequestID: requestID,
		NoReply: m.Type == meta.TypeReaction || m.Type == meta.TypeUnsupported && strings.TrimSpace(m.Text) == ""}
	if slices.ContainsFunc(m.Attachments, downloadable) && s.media != nil {
		in.AfterAppend = func(ctx context.Context, tx *store.Tx, msg store.Message) error {
			return s.media.EnqueueMedia(ctx, tx, msg.ID)
		}
	}
	return in
}

// downloadable reports whether an attachment is a file the customer sent.
// Link previews ("fallback"), shares, reels and map links point anywhere
// on the web: fetching them would let a customer make the server GET any
// URL, so they are kept as links only.
func downloadable(a meta.Media) bool {
	switch a.Type {
	case meta.TypeImage, meta.TypeAudio, meta.TypeVideo, meta.TypeDocument, meta.TypeSticker:
		return a.ID != "" || a.URL != ""
	}
	return false
}

// applyStatus moves a sent message's delivery state forward (never back).
func (s *Service) applyStatus(ctx context.Context, ch channels.ProviderChannel, st meta.Status) error {
	if st.ProviderMessageID == "" {
		// A Messenger receipt names no message, only a watermark: every
		// message sent to the contact up to then has reached the status.
		if st.Watermark.IsZero() || st.RecipientID == "" {
			return nil
		}
		return s.applyWatermark(ctx, ch, st)
	}
	reason := ""
	windowClosed := false
	for _, e := range st.Errors {
		reason = strings.TrimSpace(fmt.Sprintf("%d %s %s", e.Code, e.Title, e.Details))
		if e.Action() == meta.ActionWindowClosed {
			windowClosed = true
			reason = "the 24-hour customer-service window is closed: send an approved template (" + reason + ")"
		}
	}
	early := store.EarlyStatus{Status: st.Status, Rank: meta.StatusRank(st.Status), Error: reason, WindowClosed: windowClosed}
	var msg store.Message
	changed := false
	err := s.store.Write(ctx, store.TenantScope(ch.TenantID), func(tx *store.Tx) error {
		var err error
		msg, changed, err = advanceDelivery(ctx, tx, ch.ID, st.ProviderMessageID, early)
		if err != nil || changed {
			return err
		}
		if _, err := tx.MessageByProviderID(ctx, ch.ID, st.ProviderMessageID); !apperr.Is(err, apperr.NotFound) {
			return err // known and already at least as far along
		}
		// No message has this id yet: the send's answer may not be
		// committed. Kept until it is (Deliver claims it).
		return tx.StashEarlyStatus(ctx, ch.ID, st.ProviderMessageID, early)
	})
	if err != nil || !changed {
		return err
	}
	s.publishDelivery(ctx, ch.TenantID, msg)
	return nil
}

// advanceDelivery applies a status report to the message with the
// provider id, unless it would move the message's state back.
func advanceDelivery(ctx context.Context, tx *store.Tx, channelID, providerID string, st store.EarlyStatus) (store.Message, bool, error) {
	id, ok, err := tx.AdvanceDelivery(ctx, channelID, providerID, st.Status, st.Rank, st.Error)
	if err != nil || !ok {
		return store.Message{}, false, err
	}
	msg, err := tx.GetMessage(ctx, id)
	if err != nil {
		return msg, false, err
	}
	if st.WindowClosed {
		if err := tx.SetNeedsTemplate(ctx, msg.ConversationID, true); err != nil {
			return msg, false, err
		}
	}
	return msg, true, nil
}

func (s *Service) applyWatermark(ctx context.Context, ch channels.ProviderChannel, st meta.Status) error {
	var changed []store.Message
	err := s.store.Write(ctx, store.TenantScope(ch.TenantID), func(tx *store.Tx) error {
		ids, err := tx.AdvanceDeliveryUpTo(ctx, ch.ID, st.RecipientID, st.Watermark, st.Status, meta.StatusRank(st.Status))
		if err != nil {
			return err
		}
		for _, id := range ids {
			m, err := tx.GetMessage(ctx, id)
			if err != nil {
				return err
			}
			changed = append(changed, m)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range changed {
		s.publishDelivery(ctx, ch.TenantID, m)
	}
	return nil
}

func (s *Service) publishDelivery(ctx context.Context, tenantID string, m store.Message) {
	data, _ := json.Marshal(map[string]string{"type": "delivery", "message_id": m.ID, "delivery": m.Delivery, "error": m.DeliveryError})
	_ = s.bus.Publish(ctx, realtime.Event{TenantID: tenantID, ConversationID: m.ConversationID, Type: "delivery", Data: data})
}

func (s *Service) receiveTelegram(ctx context.Context, ch channels.ProviderChannel, body []byte, requestID string, log *slog.Logger, post postFunc) error {
	u, err := telegram.ParseUpdate(body)
	if err != nil {
		log.Warn("unreadable Telegram update acknowledged", "error", err)
		return nil
	}
	m := u.Message
	if m == nil {
		return nil // channel posts, membership changes: nothing to answer
	}
	text := strings.TrimSpace(m.Text)
	if m.Type == telegram.TypeCallback && text == "" {
		// A tap carries only the button's data: that is what the customer
		// chose, and what the bot must answer.
		text = strings.TrimSpace(m.Payload)
	}
	if m.Type != telegram.TypeText && m.Type != telegram.TypeCallback {
		text = strings.TrimSpace("[" + m.Type + "] " + text)
	}
	if text == "" {
		text = "[" + m.Type + "]"
	}
	// update_id is unique per bot: a redelivered update is the same id.
	providerID := "update:" + strconv.FormatInt(u.UpdateID, 10)
	name := strings.TrimSpace(m.From.FirstName + " " + m.From.LastName)
	metaJSON, _ := json.Marshal(map[string]any{"type": m.Type, "payload": m.Payload, "message_id": m.MessageID, "raw": u.Raw})
	in := conversations.Inbound{TenantID: ch.TenantID, ChannelID: ch.ID, ExternalID: strconv.FormatInt(m.ChatID, 10), ContactName: name,
		Text: truncateRunes(text, 4000), ProviderMessageID: providerID, At: m.Date, Meta: metaJSON, RequestID: requestID}
	if m.FileID != "" && s.media != nil {
		in.AfterAppend = func(ctx context.Context, tx *store.Tx, msg store.Message) error {
			return s.media.EnqueueMedia(ctx, tx, msg.ID)
		}
	}
	if err := post(ctx, in); err != nil {
		return err
	}
	if m.CallbackQueryID != "" {
		// Without an answer the user's button keeps spinning.
		actx, cancel := context.WithTimeout(ctx, 5*time.Second) // the webhook queue must not wait on Telegram
		defer cancel()
		if err := s.tg.AnswerCallbackQuery(actx, ch.Secrets.BotToken, m.CallbackQueryID, ""); err != nil {
			log.Warn("answer callback query", "error", err)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// RetryAfter asks the job to wait before trying again (a provider's rate
// limit).
type RetryAfter struct {
	Wait time.Duration
	Err  error
}

func (r *RetryAfter) Error() string { return fmt.Sprintf("retry after %s: %v", r.Wait, r.Err) }
func (r *RetryAfter) Unwrap() error { return r.Err }

// Template is a WhatsApp template message an agent sends (messages.meta).
type Template struct {
	Name     string   `json:"name"`
	Language string   `json:"language"`
	Params   []string `json:"params"`
}

// Deliver sends one stored message through its provider channel. It is
// idempotent for messages already sent; lastAttempt turns a retryable
// failure into a failed delivery with the reason.
func (s *Service) Deliver(ctx context.Context, tenantID, messageID string, lastAttempt bool) error {
	scope := store.TenantScope(tenantID)
	var m store.Message
	var conv store.Conversation
	var contact store.Contact
	var c store.Channel
	err := s.store.Read(ctx, scope, func(tx *store.Tx) error {
		var err error
		if m, err = tx.GetMessage(ctx, messageID); err != nil {
			return err
		}
		if conv, err = tx.GetConversation(ctx, m.ConversationID); err != nil {
			return err
		}
		if contact, err = tx.GetContact(ctx, conv.ContactID); err != nil {
			return err
		}
		c, err = tx.GetChannel(ctx, conv.ChannelID)
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil // deleted since
	}
	if err != nil {
		return err
	}
	if m.Delivery != "pending" && m.Delivery != "" {
		return nil // sent (or failed for good) by an earlier attempt
	}
	ch, err := s.chans.OpenProvider(c)
	if err != nil {
		return err
	}
	var tmpl *Template
	var mm struct {
		Template *Template `json:"template"`
	}
	if len(m.Meta) > 0 && json.Unmarshal(m.Meta, &mm) == nil && mm.Template != nil {
		tmpl = mm.Template
	}
	if channels.IsMeta(ch.Type) && tmpl == nil && !meta.WindowOpen(conv.LastInboundAt, time.Now()) {
		return s.failDelivery(ctx, tenantID, ch, m, "the 24-hour customer-service window is closed: send an approved template", true, false)
	}
	providerID, err := s.send(ctx, ch, contact.ExternalID, m.Text, tmpl)
	if err != nil {
		action := meta.ActionOf(err)
		switch {
		case action == meta.ActionWindowClosed:
			return s.failDelivery(ctx, tenantID, ch, m, "the 24-hour customer-service window is closed: send an approved template ("+err.Error()+")", true, false)
		case action == meta.ActionBadToken:
			return s.failDelivery(ctx, tenantID, ch, m, "the channel's access token was refused: update it in the channel settings ("+err.Error()+")", false, true)
		case (action == meta.ActionSlowDown || action == meta.ActionRetry) && !lastAttempt:
			var wait time.Duration
			var me *meta.APIError
			var te *telegram.APIError
			switch {
			case errors.As(err, &me):
				wait = me.RetryAfter
			case errors.As(err, &te):
				wait = te.RetryAfter
			}
			if action == meta.ActionSlowDown && wait == 0 {
				wait = 2 * time.Second
			}
			if wait > 0 {
				return &RetryAfter{Wait: wait, Err: err}
			}
			return fmt.Errorf("deliver: %w", err)
		default:
			return s.failDelivery(ctx, tenantID, ch, m, err.Error(), false, !aboutRecipient(err))
		}
	}
	m.Delivery, m.ProviderMessageID = "sent", providerID
	err = s.store.Write(ctx, scope, func(tx *store.Tx) error {
		if err := tx.SetDelivery(ctx, m.ID, providerID, "sent", ""); err != nil {
			return err
		}
		// A status the provider reported before this commit.
		if early, ok, err := tx.ClaimEarlyStatus(ctx, ch.ID, providerID); err != nil {
			return err
		} else if ok {
			if later, changed, err := advanceDelivery(ctx, tx, ch.ID, providerID, early); err != nil {
				return err
			} else if changed {
				m = later
			}
		}
		return tx.TouchChannel(ctx, ch.ID, store.ChannelOutbound)
	})
	if err != nil {
		return err
	}
	s.publishDelivery(ctx, tenantID, m)
	return nil
}

// send delivers text (split to the provider's limit) or a template; it
// returns the provider's id of the first piece.
func (s *Service) send(ctx context.Context, ch channels.ProviderChannel, to, text string, tmpl *Template) (string, error) {
	if tmpl != nil {
		if ch.Type != "whatsapp" {
			return "", errors.New("templates are a WhatsApp feature")
		}
		return s.graph.SendWhatsAppTemplate(ctx, ch.Config.PhoneNumberID, ch.Secrets.AccessToken, to, tmpl.Name, tmpl.Language, tmpl.Params)
	}
	var pieces []string
	switch ch.Type {
	case "whatsapp":
		pieces = meta.SplitText(text, meta.WhatsAppMaxText)
	case "messenger":
		pieces = meta.SplitText(text, meta.MessengerMaxText)
	case "instagram":
		pieces = meta.SplitTextBytes(text, meta.InstagramMaxTextBytes)
	case "telegram":
		pieces = meta.SplitText(text, telegram.MaxTextLength)
	}
	first := ""
	for _, p := range pieces {
		var id string
		var err error
		switch ch.Type {
		case "whatsapp":
			id, err = s.graph.SendWhatsAppText(ctx, ch.Config.PhoneNumberID, ch.Secrets.AccessToken, to, p)
		case "messenger", "instagram":
			id, err = s.graph.SendMessengerText(ctx, ch.Config.PageID, ch.Secrets.AccessToken, to, p)
		case "telegram":
			chatID, perr := strconv.ParseInt(to, 10, 64)
			if perr != nil {
				return "", fmt.Errorf("telegram chat id %q: %w", to, perr)
			}
			var mid int64
			mid, err = s.tg.SendMessage(ctx, ch.Secrets.BotToken, chatID, p)
			id = to + ":" + strconv.FormatInt(mid, 10)
		}
		if err != nil {
			if first != "" {
				// Part of the message went out: say so rather than retry
				// the parts already delivered.
				return first, nil
			}
			return "", err
		}
		if first == "" {
			first = id
		}
	}
	return first, nil
}

// aboutRecipient reports a failure that concerns one customer, not the
// channel: a Telegram user who blocked the bot or whose chat is gone, a
// WhatsApp number that cannot receive messages. The channel stays healthy.
func aboutRecipient(err error) bool {
	var te *telegram.APIError
	if errors.As(err, &te) {
		return te.Blocked() || te.Code == http.StatusBadRequest && strings.Contains(strings.ToLower(te.Description), "chat not found")
	}
	var me *meta.APIError
	if errors.As(err, &me) {
		switch me.Code {
		case 131021, // recipient cannot be the sender
			131026, // undeliverable
			131030, // not on the test number's allow-list
			551:    // Messenger: this person is not available
			return true
		}
	}
	return false
}

// failDelivery records a message that will not be sent, flagging the
// conversation when the window closed and the channel's health when the
// failure is the channel's (a refused token, a provider refusing to work).
func (s *Service) failDelivery(ctx context.Context, tenantID string, ch channels.ProviderChannel, m store.Message, reason string, windowClosed, channelError bool) error {
	err := s.store.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
		if err := tx.SetDelivery(ctx, m.ID, "", "failed", reason); err != nil {
			return err
		}
		if windowClosed {
			if err := tx.SetNeedsTemplate(ctx, m.ConversationID, true); err != nil {
				return err
			}
		}
		if channelError {
			return tx.SetChannelError(ctx, ch.ID, reason)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Warn("delivery failed", "tenant_id", tenantID, "channel_id", ch.ID, "message_id", m.ID, "reason", reason)
	m.Delivery, m.DeliveryError = "failed", reason
	s.publishDelivery(ctx, tenantID, m)
	return nil
}

// FetchMedia downloads the files that came with an inbound message and
// keeps them for agents; a file that cannot be fetched is recorded with
// the reason on the last attempt.
func (s *Service) FetchMedia(ctx context.Context, tenantID, messageID string, lastAttempt bool) error {
	scope := store.TenantScope(tenantID)
	var m store.Message
	var c store.Channel
	var existing []store.Media
	err := s.store.Read(ctx, scope, func(tx *store.Tx) error {
		var err error
		if m, err = tx.GetMessage(ctx, messageID); err != nil {
			return err
		}
		if existing, err = tx.MediaOf(ctx, messageID); err != nil {
			return err
		}
		c, err = tx.GetChannel(ctx, m.ChannelID)
		return err
	})
	if apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// A retry after a transient failure fetches only the files not kept
	// yet (fetched, or failed for good).
	done := map[string]bool{}
	for _, e := range existing {
		done[e.ProviderID] = true
	}
	ch, err := s.chans.OpenProvider(c)
	if err != nil {
		return err
	}
	type file struct{ id, url, mime, name string }
	var files []file
	var mm struct {
		Raw json.RawMessage `json:"raw"` // the provider's payload, kept on the message
	}
	_ = json.Unmarshal(m.Meta, &mm)
	if ch.Type == "telegram" {
		if u, err := telegram.ParseUpdate(mm.Raw); err == nil && u.Message != nil && u.Message.FileID != "" {
			files = append(files, file{id: u.Message.FileID, mime: u.Message.MimeType, name: u.Message.FileName})
		}
	} else {
		if n, err := meta.ParseNotification(wrapRaw(ch.Type, ch.Config, mm.Raw)); err == nil && len(n.Messages) == 1 {
			for _, a := range n.Messages[0].Attachments {
				if downloadable(a) {
					files = append(files, file{id: a.ID, url: a.URL, mime: a.MimeType, name: a.Filename})
				}
			}
		}
	}
	for i, f := range files {
		// Messenger and Instagram attachments have no id, only a URL that
		// is a short-lived credential: they are known by their place.
		key := f.id
		if key == "" {
			key = "attachment:" + strconv.Itoa(i)
		}
		if done[key] {
			continue
		}
		var data []byte
		mime := f.mime
		var err error
		switch {
		case ch.Type == "telegram":
			data, err = s.tg.DownloadFile(ctx, ch.Secrets.BotToken, f.id, s.MaxMediaBytes)
		case f.id != "":
			data, mime, err = s.graph.DownloadMedia(ctx, ch.Secrets.AccessToken, f.id, s.MaxMediaBytes)
		default:
			data, mime, err = s.graph.DownloadAttachment(ctx, f.url, s.MaxMediaBytes)
		}
		rec := store.Media{MessageID: m.ID, ProviderID: key, MimeType: mime, Filename: f.name}
		if err != nil {
			if meta.ActionOf(err) == meta.ActionRetry && !lastAttempt {
				return fmt.Errorf("fetch media: %w", err)
			}
			rec.Error, data = err.Error(), nil
		}
		if err := s.store.Write(ctx, scope, func(tx *store.Tx) error {
			_, err := tx.AddMedia(ctx, rec, data)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// wrapRaw rebuilds a one-message notification around a stored message so
// the one parser reads its attachments again.
func wrapRaw(typ string, cfg channels.ProviderConfig, raw json.RawMessage) []byte {
	switch typ {
	case "whatsapp":
		b, _ := json.Marshal(map[string]any{"object": meta.ObjectWhatsApp, "entry": []any{map[string]any{"id": "0", "changes": []any{map[string]any{
			"field": "messages", "value": map[string]any{"messaging_product": "whatsapp", "metadata": map[string]string{"phone_number_id": cfg.PhoneNumberID},
				"messages": []json.RawMessage{raw}}}}}}})
		return b
	default:
		obj := meta.ObjectPage
		if typ == "instagram" {
			obj = meta.ObjectInstagram
		}
		b, _ := json.Marshal(map[string]any{"object": obj, "entry": []any{map[string]any{"id": cfg.PageID, "time": 0, "messaging": []json.RawMessage{raw}}}})
		return b
	}
}

var graphVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// GraphClient builds the Graph API client from METACHAT_META_GRAPH_URL,
// whose last path segment may pin the API version (…/v25.0).
func GraphClient(rawURL string, hc *http.Client) *meta.Client {
	base, version := strings.TrimRight(rawURL, "/"), ""
	if i := strings.LastIndexByte(base, '/'); i > 0 && graphVersion.MatchString(base[i+1:]) {
		base, version = base[:i], base[i+1:]
	}
	return &meta.Client{BaseURL: base, Version: version, HTTP: hc}
}
