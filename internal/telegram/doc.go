// Package telegram speaks the Telegram Bot API for the platform: webhook
// registration, the secret-token check, update parsing and sending text.
// It is a protocol library: no storage, no jobs, no HTTP routes.
//
// # Receiving
//
// Register the webhook with SetWebhook and a secret from NewSecretToken;
// Telegram then POSTs each update with the secret verbatim in SecretHeader
// (there is no HMAC and no timestamp). Check it with CheckSecret, then read
// the body with ParseUpdate.
//
// # Sending
//
// Client.SendMessage sends plain text (no parse mode, so model output with
// stray * or _ cannot fail to parse). Text over MaxTextLength must be cut
// first with meta.SplitText(text, telegram.MaxTextLength). Errors are *APIError, and
// meta.ActionOf classifies them with the same Action values as Meta's.
//
// # What the integration must do
//
//   - Answer 2xx quickly: any other answer is retried, and Telegram "gives
//     up after a reasonable number of attempts". Answer 200 even for an
//     update that fails to parse, or it will be redelivered for a day.
//   - Deduplicate on (bot, Update.UpdateID) for at least 24 hours, the
//     time Telegram keeps undelivered updates. update_id is sequential, but
//     restarts at a random value after a week without updates, so do not
//     treat a lower id as old.
//   - Telegram keeps no secret in the URL; the bot token is in the API URL
//     path and must never be logged (this package redacts it from errors).
//   - Limits are deliberately vague: about 1 message/s per chat, 30
//     messages/s overall, 20/minute per group. On 429 wait RetryAfter.
//   - A user who blocks the bot turns sends into 403 (APIError.Blocked) and
//     sends a my_chat_member update (Update.BotStatus, status "kicked").
//   - Webhook URLs must be HTTPS on port 443, 80, 88 or 8443.
package telegram
