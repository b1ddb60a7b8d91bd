// Package meta speaks the three Meta messaging products the platform
// connects to — the WhatsApp Business Cloud API, Messenger and Instagram
// Messaging. They share the Graph API, the webhook handshake and signature
// and the error format, so one implementation serves all three. It is a
// protocol library: no storage, no jobs, no HTTP routes.
//
// # Receiving
//
// A webhook endpoint answers Meta's GET handshake with VerifyChallenge and,
// for each POST, reads the raw body (at most MaxWebhookBytes), checks it
// with VerifySignature against the app secret, and hands it to
// ParseNotification, which returns every message and delivery status of
// the batch in one shape (Inbound, Status) whatever the product.
//
// # Sending
//
// Client sends WhatsApp text and template messages and Messenger/Instagram
// text, downloads media, and returns *APIError for Graph errors. Every
// error maps to an Action (ActionOf) saying whether to retry, slow down,
// fall back to a template, or stop and ask for a new token. Long text is
// cut with SplitText / SplitTextBytes before sending.
//
// # What the integration must do
//
//   - Acknowledge fast and work later: Messenger wants a 200 within 5
//     seconds (older docs: 20 s) and, after 15 minutes of failures, alerts;
//     after an hour it disables the webhook and unsubscribes the app.
//     WhatsApp publishes no timeout. Persist on receipt (there is no
//     history API), answer 200, then process asynchronously.
//   - Answer 200 even when a verified body fails to parse: a non-2xx makes
//     Meta retry it for up to 7 days. Reject (4xx) only bad signatures.
//   - Deduplicate: Meta retries and delivers to every subscribed app, so
//     duplicates are normal. Keys: Inbound.ProviderMessageID, and
//     (Status.ProviderMessageID, Status.Status). Keep them at least 7 days
//     for WhatsApp (36 hours is the generic Graph horizon). A captured,
//     signed request replays forever — the signature has no timestamp — so
//     idempotency is the only replay defence; do not reject old timestamps
//     tightly (real retries can be days old; at most reject >7 days).
//   - Never regress a status: statuses arrive unordered; use
//     StatusAdvances. Sort messages by Timestamp where order matters.
//   - Route WhatsApp by Inbound.AccountID (phone_number_id) and
//     Messenger/Instagram by the Page / Instagram account id.
//   - Key WhatsApp users on Sender.ID, which is the business-scoped user id
//     (BSUID) when present: users with a username may have no phone.
//   - Download WhatsApp media right away: media ids expire after 7 days
//     and download URLs after minutes.
//   - Respect the 24-hour window (WindowOpen): outside it send a WhatsApp
//     template or a tagged Messenger message. A closed WhatsApp window can
//     surface as ActionWindowClosed at send time or as a later "failed"
//     Status whose error code is 131047 (APIErrorDetail.Action).
//   - Throughput: 80 messages/s per WhatsApp number by default (inbound and
//     outbound together), at most about 1 message per 6 s to the same user
//     (131056: back off 4^X seconds); Messenger 300 sends/s per Page.
//   - Meta does not order sends; wait for "delivered" before sending the
//     next part of a split message if order matters.
package meta
