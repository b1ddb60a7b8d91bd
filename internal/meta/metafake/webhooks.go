package metafake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Fixed values the builders stamp on payloads, so tests can assert them.
const (
	// Timestamp is when every built message was sent (Unix seconds;
	// Messenger/Instagram payloads carry it in milliseconds).
	Timestamp int64 = 1749416383
	// WABAID is the WhatsApp Business Account id in built entries.
	WABAID = "102290129340398"
	// DisplayPhoneNumber is the business number in built metadata.
	DisplayPhoneNumber = "15550783881"
)

// Sign returns the X-Hub-Signature-256 value Meta would send for body.
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// NewWebhookRequest is a signed webhook POST for an http.Handler under test
// (httptest.NewRequest: pass it to ServeHTTP, not to a client).
func NewWebhookRequest(target, appSecret string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Hub-Signature-256", Sign(appSecret, body))
	return r
}

// encode marshals v the way Meta does: non-ASCII characters escaped as
// \uXXXX (surrogate pairs beyond the BMP). Code that re-serialises JSON
// before checking the signature fails against these payloads, as it would
// against Meta's.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("metafake: encode payload: %v", err))
	}
	var out bytes.Buffer
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(b[0])
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[n:]
	}
	return out.Bytes()
}

// decode reads a payload built here, keeping numbers exact.
func decode(payload []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		panic(fmt.Sprintf("metafake: payload is not a JSON object: %v", err))
	}
	return m
}

type obj = map[string]any

// --- WhatsApp ---

func whatsAppEnvelope(phoneNumberID string, value obj) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = obj{"display_phone_number": DisplayPhoneNumber, "phone_number_id": phoneNumberID}
	return encode(obj{
		"object": "whatsapp_business_account",
		"entry": []any{obj{
			"id":      WABAID,
			"changes": []any{obj{"field": "messages", "value": value}},
		}},
	})
}

// whatsAppMessage wraps one message from a phone-number user.
func whatsAppMessage(phoneNumberID, from, name, wamid, typ string, body any, replyTo string) []byte {
	msg := obj{"from": from, "id": wamid, "timestamp": strconv.FormatInt(Timestamp, 10), "type": typ}
	if body != nil {
		msg[typ] = body
	}
	if replyTo != "" {
		msg["context"] = obj{"from": DisplayPhoneNumber, "id": replyTo}
	}
	return whatsAppEnvelope(phoneNumberID, obj{
		"contacts": []any{obj{"profile": obj{"name": name}, "wa_id": from}},
		"messages": []any{msg},
	})
}

func fakeSHA(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// WhatsAppText is a text message from the user with phone (wa_id) from.
func WhatsAppText(phoneNumberID, from, name, wamid, text string) []byte {
	return whatsAppMessage(phoneNumberID, from, name, wamid, "text", obj{"body": text}, "")
}

// WhatsAppTextFromUser is a text message as sent since business-scoped user
// ids: from_user_id and contacts[].user_id carry the BSUID, and a user with
// a username may come without a phone (pass phone "").
func WhatsAppTextFromUser(phoneNumberID, phone, userID, username, name, wamid, text string) []byte {
	msg := obj{"from_user_id": userID, "id": wamid, "timestamp": strconv.FormatInt(Timestamp, 10), "type": "text", "text": obj{"body": text}}
	profile := obj{"name": name}
	contact := obj{"profile": profile, "user_id": userID}
	if phone != "" {
		msg["from"] = phone
		contact["wa_id"] = phone
	}
	if username != "" {
		profile["username"] = username
	}
	return whatsAppEnvelope(phoneNumberID, obj{"contacts": []any{contact}, "messages": []any{msg}})
}

// WhatsAppImage is an image message; caption may be empty. The sha256 is a
// stand-in derived from the media id.
func WhatsAppImage(phoneNumberID, from, name, wamid, mediaID, mimeType, caption string) []byte {
	body := obj{"id": mediaID, "mime_type": mimeType, "sha256": fakeSHA(mediaID)}
	if caption != "" {
		body["caption"] = caption
	}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "image", body, "")
}

// WhatsAppVideo is a video message; caption may be empty.
func WhatsAppVideo(phoneNumberID, from, name, wamid, mediaID, mimeType, caption string) []byte {
	body := obj{"id": mediaID, "mime_type": mimeType, "sha256": fakeSHA(mediaID)}
	if caption != "" {
		body["caption"] = caption
	}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "video", body, "")
}

// WhatsAppAudio is an audio message; voice marks a recorded voice note.
func WhatsAppAudio(phoneNumberID, from, name, wamid, mediaID, mimeType string, voice bool) []byte {
	body := obj{"id": mediaID, "mime_type": mimeType, "sha256": fakeSHA(mediaID), "voice": voice}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "audio", body, "")
}

// WhatsAppDocument is a document message; caption may be empty.
func WhatsAppDocument(phoneNumberID, from, name, wamid, mediaID, mimeType, filename, caption string) []byte {
	body := obj{"id": mediaID, "mime_type": mimeType, "sha256": fakeSHA(mediaID), "filename": filename}
	if caption != "" {
		body["caption"] = caption
	}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "document", body, "")
}

// WhatsAppSticker is a (static, webp) sticker message.
func WhatsAppSticker(phoneNumberID, from, name, wamid, mediaID string) []byte {
	body := obj{"id": mediaID, "mime_type": "image/webp", "sha256": fakeSHA(mediaID), "animated": false}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "sticker", body, "")
}

// WhatsAppLocation is a shared location; placeName and address may be empty.
func WhatsAppLocation(phoneNumberID, from, name, wamid string, lat, long float64, placeName, address string) []byte {
	body := obj{"latitude": lat, "longitude": long}
	if placeName != "" {
		body["name"] = placeName
	}
	if address != "" {
		body["address"] = address
	}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "location", body, "")
}

// WhatsAppContacts shares one contact card with the given phones.
func WhatsAppContacts(phoneNumberID, from, name, wamid, contactName string, phones ...string) []byte {
	var ph []any
	for _, p := range phones {
		ph = append(ph, obj{"phone": p, "type": "CELL"})
	}
	card := obj{"name": obj{"formatted_name": contactName, "first_name": contactName}, "phones": ph}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "contacts", []any{card}, "")
}

// WhatsAppButtonReply is a tap on a reply button of the interactive message
// replyTo.
func WhatsAppButtonReply(phoneNumberID, from, name, wamid, replyTo, id, title string) []byte {
	body := obj{"type": "button_reply", "button_reply": obj{"id": id, "title": title}}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "interactive", body, replyTo)
}

// WhatsAppListReply is a choice from the list message replyTo.
func WhatsAppListReply(phoneNumberID, from, name, wamid, replyTo, id, title, description string) []byte {
	body := obj{"type": "list_reply", "list_reply": obj{"id": id, "title": title, "description": description}}
	return whatsAppMessage(phoneNumberID, from, name, wamid, "interactive", body, replyTo)
}

// WhatsAppButton is a tap on a quick-reply button of the template replyTo.
func WhatsAppButton(phoneNumberID, from, name, wamid, replyTo, payload, text string) []byte {
	return whatsAppMessage(phoneNumberID, from, name, wamid, "button", obj{"payload": payload, "text": text}, replyTo)
}

// WhatsAppReaction is a reaction to reactedTo; emoji "" removes one.
func WhatsAppReaction(phoneNumberID, from, name, wamid, reactedTo, emoji string) []byte {
	return whatsAppMessage(phoneNumberID, from, name, wamid, "reaction", obj{"message_id": reactedTo, "emoji": emoji}, "")
}

// WhatsAppUnsupported is what WhatsApp sends for content the Cloud API
// cannot deliver (e.g. a poll): type "unsupported" with error 131051.
func WhatsAppUnsupported(phoneNumberID, from, name, wamid string) []byte {
	b := whatsAppMessage(phoneNumberID, from, name, wamid, "unsupported", nil, "")
	m := decode(b)
	msg := m["entry"].([]any)[0].(obj)["changes"].([]any)[0].(obj)["value"].(obj)["messages"].([]any)[0].(obj)
	msg["errors"] = []any{obj{
		"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
		"error_data": obj{"details": "Message type is currently not supported."},
	}}
	return encode(m)
}

// WhatsAppUnknownType is a message of a type this code has never heard of,
// with a body under that type's key, as a future API version might send.
func WhatsAppUnknownType(phoneNumberID, from, name, wamid, typ string) []byte {
	return whatsAppMessage(phoneNumberID, from, name, wamid, typ, obj{"some_field": "some value"}, "")
}

// WhatsAppStatus is a status (sent, delivered, read, played) for a message
// the business sent to recipient (a wa_id), at Unix time ts.
func WhatsAppStatus(phoneNumberID, wamid, recipient, status string, ts int64) []byte {
	st := obj{"id": wamid, "status": status, "timestamp": strconv.FormatInt(ts, 10), "recipient_id": recipient}
	if status != "failed" {
		st["pricing"] = obj{"billable": true, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"}
	}
	return whatsAppEnvelope(phoneNumberID, obj{"statuses": []any{st}})
}

// WhatsAppFailedStatus is a "failed" status with one error, e.g. code
// 131047 with title "Re-engagement message".
func WhatsAppFailedStatus(phoneNumberID, wamid, recipient string, ts int64, code int, title, details string) []byte {
	st := obj{
		"id": wamid, "status": "failed", "timestamp": strconv.FormatInt(ts, 10), "recipient_id": recipient,
		"errors": []any{obj{
			"code": code, "title": title, "message": title, "error_data": obj{"details": details},
			"href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
		}},
	}
	return whatsAppEnvelope(phoneNumberID, obj{"statuses": []any{st}})
}

// --- Messenger and Instagram ---

func messagingEnvelope(object, accountID string, event obj) []byte {
	return encode(obj{
		"object": object,
		"entry": []any{obj{
			"id":        accountID,
			"time":      Timestamp*1000 + 500,
			"messaging": []any{event},
		}},
	})
}

func userEvent(object, accountID, userID string, key string, body obj) []byte {
	return messagingEnvelope(object, accountID, obj{
		"sender":    obj{"id": userID},
		"recipient": obj{"id": accountID},
		"timestamp": Timestamp * 1000,
		key:         body,
	})
}

func attachments(kind, url string) []any {
	return []any{obj{"type": kind, "payload": obj{"url": url}}}
}

// MessengerText is a text message from the user psid to the Page.
func MessengerText(pageID, psid, mid, text string) []byte {
	return userEvent("page", pageID, psid, "message", obj{"mid": mid, "text": text})
}

// MessengerAttachment is a message with one attachment of kind image,
// audio, video, file, fallback, … at url.
func MessengerAttachment(pageID, psid, mid, kind, url string) []byte {
	return userEvent("page", pageID, psid, "message", obj{"mid": mid, "attachments": attachments(kind, url)})
}

// MessengerImages is one message carrying several images.
func MessengerImages(pageID, psid, mid string, urls ...string) []byte {
	var list []any
	for _, u := range urls {
		list = append(list, obj{"type": "image", "payload": obj{"url": u}})
	}
	return userEvent("page", pageID, psid, "message", obj{"mid": mid, "attachments": list})
}

// MessengerSticker is a sticker (an image attachment with a sticker_id;
// this one is the thumbs-up "like").
func MessengerSticker(pageID, psid, mid, url string) []byte {
	return userEvent("page", pageID, psid, "message", obj{"mid": mid, "sticker_id": 369239263222822,
		"attachments": []any{obj{"type": "image", "payload": obj{"url": url, "sticker_id": 369239263222822}}}})
}

// MessengerQuickReply is a tap on a quick reply.
func MessengerQuickReply(pageID, psid, mid, text, payload string) []byte {
	return userEvent("page", pageID, psid, "message", obj{"mid": mid, "text": text, "quick_reply": obj{"payload": payload}})
}

// MessengerPostback is a tap on a button or ice breaker; mid "" builds the
// pre-v11 shape without one.
func MessengerPostback(pageID, psid, mid, title, payload string) []byte {
	body := obj{"title": title, "payload": payload}
	if mid != "" {
		body["mid"] = mid
	}
	return userEvent("page", pageID, psid, "postback", body)
}

// MessengerReaction is a reaction ("react" or "unreact") to reactedMid.
func MessengerReaction(pageID, psid, reactedMid, emoji, action string) []byte {
	return userEvent("page", pageID, psid, "reaction", obj{"reaction": "love", "emoji": emoji, "action": action, "mid": reactedMid})
}

// MessengerEcho is the echo of a message the Page sent to psid: sender and
// recipient swapped, is_echo set.
func MessengerEcho(pageID, psid, mid, text, appID string) []byte {
	return messagingEnvelope("page", pageID, obj{
		"sender":    obj{"id": pageID},
		"recipient": obj{"id": psid},
		"timestamp": Timestamp * 1000,
		"message":   obj{"is_echo": true, "app_id": appID, "metadata": "sent-by-metachat", "mid": mid, "text": text},
	})
}

// MessengerDelivery is a delivery receipt: all messages to psid up to
// watermark (Unix ms) are delivered; mids may be empty.
func MessengerDelivery(pageID, psid string, watermark int64, mids ...string) []byte {
	body := obj{"watermark": watermark}
	if len(mids) > 0 {
		body["mids"] = mids
	}
	return userEvent("page", pageID, psid, "delivery", body)
}

// MessengerRead is a read receipt up to watermark (Unix ms).
func MessengerRead(pageID, psid string, watermark int64) []byte {
	return userEvent("page", pageID, psid, "read", obj{"watermark": watermark})
}

// MessengerStandby is a message delivered in standby[] because another app
// owns the thread (handover protocol).
func MessengerStandby(pageID, psid, mid, text string) []byte {
	return encode(obj{
		"object": "page",
		"entry": []any{obj{"id": pageID, "time": Timestamp * 1000, "standby": []any{obj{
			"sender": obj{"id": psid}, "recipient": obj{"id": pageID}, "timestamp": Timestamp * 1000,
			"message": obj{"mid": mid, "text": text},
		}}}},
	})
}

// InstagramText is a direct message from igsid to the Instagram account.
func InstagramText(igID, igsid, mid, text string) []byte {
	return userEvent("instagram", igID, igsid, "message", obj{"mid": mid, "text": text})
}

// InstagramAttachment is a direct message with one attachment (image,
// video, audio, share, story_mention, ig_reel, …).
func InstagramAttachment(igID, igsid, mid, kind, url string) []byte {
	return userEvent("instagram", igID, igsid, "message", obj{"mid": mid, "attachments": attachments(kind, url)})
}

// InstagramEcho is the echo of a message the account sent (Instagram
// delivers echoes on the messages field).
func InstagramEcho(igID, igsid, mid, text string) []byte {
	return messagingEnvelope("instagram", igID, obj{
		"sender":    obj{"id": igID},
		"recipient": obj{"id": igsid},
		"timestamp": Timestamp * 1000,
		"message":   obj{"mid": mid, "text": text, "is_echo": true},
	})
}

// InstagramSeen is a messaging_seen event: igsid read the message mid.
func InstagramSeen(igID, igsid, mid string) []byte {
	return userEvent("instagram", igID, igsid, "read", obj{"mid": mid})
}

// InstagramDeleted is the event for a message the user unsent.
func InstagramDeleted(igID, igsid, mid string) []byte {
	return userEvent("instagram", igID, igsid, "message", obj{"mid": mid, "is_deleted": true})
}

// InstagramUnsupported is a message Instagram cannot represent (a GIF,
// say): is_unsupported set.
func InstagramUnsupported(igID, igsid, mid string) []byte {
	return userEvent("instagram", igID, igsid, "message", obj{"mid": mid, "is_unsupported": true})
}

// --- Combinators ---

// Batch puts every entry of every payload into one envelope, as Meta does
// when it batches updates (the object is taken from the first payload).
func Batch(payloads ...[]byte) []byte {
	var out obj
	var entries []any
	for _, p := range payloads {
		m := decode(p)
		if out == nil {
			out = m
		}
		if e, ok := m["entry"].([]any); ok {
			entries = append(entries, e...)
		}
	}
	out["entry"] = entries
	return encode(out)
}

// SameEntry puts every change (WhatsApp) or messaging event
// (Messenger/Instagram) of every payload into the first payload's entry.
func SameEntry(payloads ...[]byte) []byte {
	var out obj
	var first obj
	for _, p := range payloads {
		m := decode(p)
		for _, e := range m["entry"].([]any) {
			entry := e.(obj)
			if first == nil {
				out, first = m, entry
				continue
			}
			for _, key := range []string{"changes", "messaging"} {
				if items, ok := entry[key].([]any); ok {
					existing, _ := first[key].([]any)
					first[key] = append(existing, items...)
				}
			}
		}
	}
	out["entry"] = []any{first}
	return encode(out)
}

// SameChange merges WhatsApp payloads into one change whose value lists
// every contact, message and status — several messages in one value, as
// Meta sends when a user writes in quick succession.
func SameChange(payloads ...[]byte) []byte {
	var out, value obj
	for _, p := range payloads {
		m := decode(p)
		for _, e := range m["entry"].([]any) {
			for _, c := range e.(obj)["changes"].([]any) {
				v := c.(obj)["value"].(obj)
				if value == nil {
					out, value = m, v
					e.(obj)["changes"] = []any{c}
					m["entry"] = []any{e}
					continue
				}
				for _, key := range []string{"contacts", "messages", "statuses"} {
					if items, ok := v[key].([]any); ok {
						existing, _ := value[key].([]any)
						value[key] = append(existing, items...)
					}
				}
			}
		}
	}
	return encode(out)
}

// WithReplyTo marks every message in payload as a reply to messageID:
// WhatsApp context.id or Messenger/Instagram message.reply_to.mid.
func WithReplyTo(payload []byte, messageID string) []byte {
	m := decode(payload)
	for _, e := range m["entry"].([]any) {
		entry := e.(obj)
		if changes, ok := entry["changes"].([]any); ok {
			for _, c := range changes {
				msgs, _ := c.(obj)["value"].(obj)["messages"].([]any)
				for _, msg := range msgs {
					msg.(obj)["context"] = obj{"from": DisplayPhoneNumber, "id": messageID}
				}
			}
		}
		if events, ok := entry["messaging"].([]any); ok {
			for _, ev := range events {
				if msg, ok := ev.(obj)["message"].(obj); ok {
					msg["reply_to"] = obj{"mid": messageID}
				}
			}
		}
	}
	return encode(m)
}
