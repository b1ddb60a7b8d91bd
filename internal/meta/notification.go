package meta

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook "object" values, one per product.
const (
	ObjectWhatsApp  = "whatsapp_business_account"
	ObjectPage      = "page" // Messenger
	ObjectInstagram = "instagram"
)

// Platform names used in Inbound.Platform and Status.Platform.
const (
	PlatformWhatsApp  = "whatsapp"
	PlatformMessenger = "messenger"
	PlatformInstagram = "instagram"
)

// Inbound message types (Inbound.Type).
const (
	TypeText        = "text"
	TypeImage       = "image"
	TypeAudio       = "audio"
	TypeVideo       = "video"
	TypeDocument    = "document"
	TypeSticker     = "sticker"
	TypeLocation    = "location"
	TypeContacts    = "contacts"
	TypeInteractive = "interactive" // WhatsApp button_reply, list_reply or flow (nfm_reply) answer
	TypeButton      = "button"      // WhatsApp template quick-reply button
	TypeReaction    = "reaction"
	TypePostback    = "postback"    // Messenger/Instagram button or ice breaker
	TypeQuickReply  = "quick_reply" // Messenger/Instagram quick reply
	TypeUnsupported = "unsupported" // anything else; Raw keeps the original
)

// Notification is one webhook POST, normalised. A single POST can batch
// many entries, changes and events (Meta: up to 1000); all are returned, in
// payload order. Meta does not order deliveries, so sort by Timestamp where
// order matters.
type Notification struct {
	// Object is the payload's "object" field. Objects this package does not
	// know leave everything else empty.
	Object   string
	Messages []Inbound
	Statuses []Status
	// Errors are the WhatsApp value-level errors (value.errors[]), which
	// report problems with the webhook itself rather than one message.
	Errors []WebhookError
	// Unreadable holds items that were not well-formed enough to use: a
	// message without an id, or one whose fields have the wrong JSON types.
	// They are kept for logging; the rest of the batch is still returned.
	Unreadable []json.RawMessage
}

// Inbound is a message from a user, in one shape for all three platforms.
type Inbound struct {
	Platform string // PlatformWhatsApp, PlatformMessenger or PlatformInstagram
	// AccountID is the business side: the WhatsApp phone_number_id, or the
	// Page / Instagram account id the message was sent to. Route on it.
	AccountID string
	// ProviderMessageID is the idempotency key: the WhatsApp wamid or the
	// Messenger/Instagram mid. Postbacks without a mid and Messenger
	// reactions (which have none) get a synthetic, stable id prefixed
	// "postback:" or "reaction:". Never empty.
	ProviderMessageID string
	From              Sender
	Timestamp         time.Time
	Type              string // one of the Type constants
	// Text is what a person would read: the text body; a media caption; the
	// title of the tapped button, list row or postback; the quick reply's
	// text; a location as "name, address (lat,long)"; contacts as
	// "Name (phone, phone); …"; a reaction's emoji ("" when a reaction is
	// removed).
	Text string
	// Payload is the machine value behind a tap: the button/postback/quick
	// reply payload, the interactive reply id, or a flow's response_json.
	Payload string
	// Media is the first (usually only) attachment.
	Media *Media
	// Attachments lists every attachment; Messenger and Instagram can send
	// several in one message. Media == &Attachments[0] when there are any.
	Attachments []Media
	Location    *Location
	ReplyToID   string // the message quoted or replied to (context.id / reply_to.mid)
	ReactionTo  string // for reactions: the message reacted to
	// Errors are the WhatsApp per-message errors (e.g. on type unsupported).
	Errors []APIErrorDetail
	// Raw is the original message (WhatsApp) or messaging event
	// (Messenger/Instagram) object, always kept.
	Raw json.RawMessage
}

// Sender identifies the user who sent a message.
type Sender struct {
	// ID is the key to file the user under. On WhatsApp it is the
	// business-scoped user id (BSUID, "US.1349…") when the payload has one
	// and the phone number (wa_id) otherwise: Meta makes BSUID support
	// mandatory and users who adopt a username may come with no phone number
	// at all. A user first seen before BSUIDs were sent can be linked to
	// their BSUID through Phone. On Messenger/Instagram it is the PSID/IGSID.
	ID string
	// Phone is the WhatsApp wa_id (digits, no "+"); empty when hidden behind
	// a username, and always empty on Messenger/Instagram.
	Phone string
	// UserID is the WhatsApp BSUID (from_user_id / contacts[].user_id).
	UserID string
	// Username is the WhatsApp username, when the user has adopted one.
	Username string
	// Name is the WhatsApp profile name. Messenger/Instagram webhooks carry
	// no name; it needs a separate profile lookup.
	Name string
}

// Media describes an attachment. WhatsApp gives an ID to download through
// the Graph API (Client.DownloadMedia) within 7 days; Messenger and
// Instagram give a URL to fetch directly (Client.DownloadAttachment).
type Media struct {
	Type     string // the Type constant of this attachment
	ID       string // WhatsApp media id
	URL      string // Messenger/Instagram CDN url
	MimeType string
	Filename string // WhatsApp documents
	SHA256   string // WhatsApp: checksum to verify the download against
	Caption  string
	Voice    bool // WhatsApp audio recorded as a voice note
}

// Location is a shared place.
type Location struct {
	Latitude, Longitude float64
	Name, Address, URL  string
}

// Status is a delivery report for a message the business sent.
type Status struct {
	Platform string
	// AccountID is the WhatsApp phone_number_id or the Page / Instagram id.
	AccountID string
	// ProviderMessageID is the message reported on. It is empty for
	// Messenger delivery/read receipts that carry only a Watermark.
	ProviderMessageID string
	// RecipientID is the user the message went to: the WhatsApp
	// recipient_id (phone) or the PSID/IGSID.
	RecipientID string
	// RecipientUserID is the WhatsApp recipient's BSUID, when sent.
	RecipientUserID string
	// Status is sent, delivered, read, played or failed (WhatsApp), or
	// delivered / read (Messenger, Instagram). See StatusRank.
	Status    string
	Timestamp time.Time
	// Watermark is set on Messenger receipts: every message sent to
	// RecipientID at or before this time has reached Status.
	Watermark time.Time
	Errors    []APIErrorDetail
	// Pricing is the WhatsApp billing information, when sent.
	Pricing *Pricing
	// CallbackData echoes the biz_opaque_callback_data given at send time.
	CallbackData string
	Raw          json.RawMessage
}

// Pricing is a WhatsApp status's billing information.
type Pricing struct {
	Billable bool
	Model    string // pricing_model, "PMP" since July 2025
	Type     string // regular, free_customer_service, free_entry_point
	Category string // marketing, utility, authentication, service, …
}

// APIErrorDetail is one entry of an errors[] array in a webhook.
type APIErrorDetail struct {
	Code    int
	Title   string
	Message string
	Details string // error_data.details: branch on Code and this, not Title
	Href    string
}

// Action classifies the error by its code, as APIError.Action does, so a
// failed status can be handled like a failed send.
func (d APIErrorDetail) Action() Action {
	return (&APIError{Code: d.Code}).Action()
}

// WebhookError is a value-level WhatsApp webhook error.
type WebhookError struct {
	Platform  string
	AccountID string
	APIErrorDetail
}

// ParseNotification reads a webhook POST body (verify its signature first).
// It returns an error only when the body is not JSON or its envelope
// (entries, changes) has the wrong shape; unknown objects, fields and event
// kinds are skipped without error, and individual unreadable messages go to
// Notification.Unreadable. Messenger/Instagram echoes of the business's own
// messages, deleted (unsent) messages, edits, referrals, opt-ins and
// standby (handover) events are skipped.
func ParseNotification(body []byte) (Notification, error) {
	var env struct {
		Object string            `json:"object"`
		Entry  []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Notification{}, fmt.Errorf("meta: parse notification: %w", err)
	}
	n := Notification{Object: env.Object}
	var err error
	switch env.Object {
	case ObjectWhatsApp:
		err = n.addWhatsApp(env.Entry)
	case ObjectPage:
		err = n.addMessaging(PlatformMessenger, env.Entry)
	case ObjectInstagram:
		err = n.addMessaging(PlatformInstagram, env.Entry)
	default:
		return n, nil
	}
	if err != nil {
		return Notification{}, fmt.Errorf("meta: parse %s notification: %w", env.Object, err)
	}
	return n, nil
}

// --- WhatsApp ---

type waEntry struct {
	ID      flexString `json:"id"`
	Changes []struct {
		Field string          `json:"field"`
		Value json.RawMessage `json:"value"`
	} `json:"changes"`
}

type waValue struct {
	Metadata struct {
		PhoneNumberID flexString `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []waContact       `json:"contacts"`
	Messages []json.RawMessage `json:"messages"`
	Statuses []json.RawMessage `json:"statuses"`
	Errors   []json.RawMessage `json:"errors"`
}

type waContact struct {
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
	WaID   flexString `json:"wa_id"`
	UserID string     `json:"user_id"`
}

type waError struct {
	Code      flexString `json:"code"`
	Title     string     `json:"title"`
	Message   string     `json:"message"`
	Href      string     `json:"href"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (e waError) detail() APIErrorDetail {
	return APIErrorDetail{Code: int(e.Code.int()), Title: e.Title, Message: e.Message, Details: e.ErrorData.Details, Href: e.Href}
}

type waMedia struct {
	ID       flexString `json:"id"`
	MimeType string     `json:"mime_type"`
	SHA256   string     `json:"sha256"`
	Caption  string     `json:"caption"`
	Filename string     `json:"filename"`
	Voice    bool       `json:"voice"`
}

type waMessage struct {
	From       flexString `json:"from"`
	FromUserID string     `json:"from_user_id"`
	ID         string     `json:"id"`
	Timestamp  flexString `json:"timestamp"`
	Type       string     `json:"type"`
	Context    *struct {
		ID string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *waMedia `json:"image"`
	Audio    *waMedia `json:"audio"`
	Video    *waMedia `json:"video"`
	Document *waMedia `json:"document"`
	Sticker  *waMedia `json:"sticker"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
		URL       string  `json:"url"`
	} `json:"location"`
	Contacts []struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
			FirstName     string `json:"first_name"`
			LastName      string `json:"last_name"`
		} `json:"name"`
		Phones []struct {
			Phone string `json:"phone"`
		} `json:"phones"`
	} `json:"contacts"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"list_reply"`
		NfmReply *struct {
			Name         string `json:"name"`
			Body         string `json:"body"`
			ResponseJSON string `json:"response_json"`
		} `json:"nfm_reply"`
	} `json:"interactive"`
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Errors []waError `json:"errors"`
}

type waStatus struct {
	ID                    string     `json:"id"`
	Status                string     `json:"status"`
	Timestamp             flexString `json:"timestamp"`
	RecipientID           flexString `json:"recipient_id"`
	RecipientUserID       string     `json:"recipient_user_id"`
	BizOpaqueCallbackData string     `json:"biz_opaque_callback_data"`
	Pricing               *struct {
		Billable     bool   `json:"billable"`
		PricingModel string `json:"pricing_model"`
		Type         string `json:"type"`
		Category     string `json:"category"`
	} `json:"pricing"`
	Errors []waError `json:"errors"`
}

func (n *Notification) addWhatsApp(entries []json.RawMessage) error {
	for i, raw := range entries {
		var e waEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		for j, ch := range e.Changes {
			// Other fields (account_update, template status, …) are not
			// conversations; "messages" carries both messages and statuses.
			if ch.Field != "messages" || len(ch.Value) == 0 {
				continue
			}
			var v waValue
			if err := json.Unmarshal(ch.Value, &v); err != nil {
				return fmt.Errorf("entry %d change %d: %w", i, j, err)
			}
			n.addWhatsAppValue(v)
		}
	}
	return nil
}

func (n *Notification) addWhatsAppValue(v waValue) {
	account := string(v.Metadata.PhoneNumberID)
	for _, raw := range v.Errors {
		var e waError
		if err := json.Unmarshal(raw, &e); err != nil {
			n.Unreadable = append(n.Unreadable, raw)
			continue
		}
		n.Errors = append(n.Errors, WebhookError{Platform: PlatformWhatsApp, AccountID: account, APIErrorDetail: e.detail()})
	}
	for _, raw := range v.Messages {
		in, ok := parseWhatsAppMessage(raw, account, v.Contacts)
		if !ok {
			n.Unreadable = append(n.Unreadable, raw)
			continue
		}
		n.Messages = append(n.Messages, in)
	}
	for _, raw := range v.Statuses {
		var s waStatus
		if err := json.Unmarshal(raw, &s); err != nil || s.ID == "" || s.Status == "" {
			n.Unreadable = append(n.Unreadable, raw)
			continue
		}
		st := Status{
			Platform:          PlatformWhatsApp,
			AccountID:         account,
			ProviderMessageID: s.ID,
			RecipientID:       string(s.RecipientID),
			RecipientUserID:   s.RecipientUserID,
			Status:            s.Status,
			Timestamp:         s.Timestamp.unixSeconds(),
			CallbackData:      s.BizOpaqueCallbackData,
			Raw:               raw,
		}
		for _, e := range s.Errors {
			st.Errors = append(st.Errors, e.detail())
		}
		if p := s.Pricing; p != nil {
			st.Pricing = &Pricing{Billable: p.Billable, Model: p.PricingModel, Type: p.Type, Category: p.Category}
		}
		n.Statuses = append(n.Statuses, st)
	}
}

func parseWhatsAppMessage(raw json.RawMessage, account string, contacts []waContact) (Inbound, bool) {
	var m waMessage
	if err := json.Unmarshal(raw, &m); err != nil || m.ID == "" {
		return Inbound{}, false
	}
	in := Inbound{
		Platform:          PlatformWhatsApp,
		AccountID:         account,
		ProviderMessageID: m.ID,
		From:              whatsAppSender(m, contacts),
		Timestamp:         m.Timestamp.unixSeconds(),
		Type:              TypeUnsupported,
		Raw:               raw,
	}
	if m.Context != nil {
		in.ReplyToID = m.Context.ID
	}
	for _, e := range m.Errors {
		in.Errors = append(in.Errors, e.detail())
	}
	media := func(typ string, md *waMedia) {
		if md == nil {
			return
		}
		in.Type = typ
		in.Text = md.Caption
		in.Attachments = []Media{{Type: typ, ID: string(md.ID), MimeType: md.MimeType, Filename: md.Filename, SHA256: md.SHA256, Caption: md.Caption, Voice: md.Voice}}
		in.Media = &in.Attachments[0]
	}
	// The body sits under the key named by "type"; a type whose body is
	// missing stays unsupported rather than pretending to be empty.
	switch m.Type {
	case "text":
		if m.Text != nil {
			in.Type, in.Text = TypeText, m.Text.Body
		}
	case "image":
		media(TypeImage, m.Image)
	case "audio":
		media(TypeAudio, m.Audio)
	case "video":
		media(TypeVideo, m.Video)
	case "document":
		media(TypeDocument, m.Document)
	case "sticker":
		media(TypeSticker, m.Sticker)
	case "location":
		if l := m.Location; l != nil {
			in.Type = TypeLocation
			in.Location = &Location{Latitude: l.Latitude, Longitude: l.Longitude, Name: l.Name, Address: l.Address, URL: l.URL}
			in.Text = FormatLocation(*in.Location)
		}
	case "contacts":
		if len(m.Contacts) > 0 {
			in.Type = TypeContacts
			var parts []string
			for _, c := range m.Contacts {
				name := c.Name.FormattedName
				if name == "" {
					name = strings.TrimSpace(c.Name.FirstName + " " + c.Name.LastName)
				}
				var phones []string
				for _, p := range c.Phones {
					if p.Phone != "" {
						phones = append(phones, p.Phone)
					}
				}
				switch {
				case len(phones) == 0:
					parts = append(parts, name)
				case name == "":
					parts = append(parts, strings.Join(phones, ", "))
				default:
					parts = append(parts, name+" ("+strings.Join(phones, ", ")+")")
				}
			}
			in.Text = strings.Join(parts, "; ")
		}
	case "interactive":
		if it := m.Interactive; it != nil {
			switch {
			case it.ButtonReply != nil:
				in.Type, in.Text, in.Payload = TypeInteractive, it.ButtonReply.Title, it.ButtonReply.ID
			case it.ListReply != nil:
				in.Type, in.Text, in.Payload = TypeInteractive, it.ListReply.Title, it.ListReply.ID
			case it.NfmReply != nil:
				in.Type, in.Text, in.Payload = TypeInteractive, it.NfmReply.Body, it.NfmReply.ResponseJSON
			}
		}
	case "button":
		if b := m.Button; b != nil {
			in.Type, in.Text, in.Payload = TypeButton, b.Text, b.Payload
		}
	case "reaction":
		if r := m.Reaction; r != nil {
			in.Type, in.Text, in.ReactionTo = TypeReaction, r.Emoji, r.MessageID
		}
	}
	return in, true
}

// whatsAppSender joins a message with its entry in value.contacts, matching
// on the phone or the BSUID and falling back to the only contact.
func whatsAppSender(m waMessage, contacts []waContact) Sender {
	s := Sender{Phone: string(m.From), UserID: m.FromUserID}
	var c *waContact
	for i := range contacts {
		if (s.Phone != "" && string(contacts[i].WaID) == s.Phone) || (s.UserID != "" && contacts[i].UserID == s.UserID) {
			c = &contacts[i]
			break
		}
	}
	if c == nil && len(contacts) == 1 {
		c = &contacts[0]
	}
	if c != nil {
		s.Name, s.Username = c.Profile.Name, c.Profile.Username
		if s.UserID == "" {
			s.UserID = c.UserID
		}
		if s.Phone == "" {
			s.Phone = string(c.WaID)
		}
	}
	s.ID = s.UserID
	if s.ID == "" {
		s.ID = s.Phone
	}
	return s
}

// FormatLocation renders a location as "name, address (lat,long)", leaving
// out the parts that are empty.
func FormatLocation(l Location) string {
	coords := "(" + strconv.FormatFloat(l.Latitude, 'f', -1, 64) + "," + strconv.FormatFloat(l.Longitude, 'f', -1, 64) + ")"
	var label []string
	for _, s := range []string{l.Name, l.Address} {
		if s = strings.TrimSpace(s); s != "" {
			label = append(label, s)
		}
	}
	if len(label) == 0 {
		return coords
	}
	return strings.Join(label, ", ") + " " + coords
}

// --- Messenger and Instagram ---

type fbEntry struct {
	ID        flexString        `json:"id"`
	Time      flexString        `json:"time"`
	Messaging []json.RawMessage `json:"messaging"`
	// Standby events (another app owns the thread) are deliberately not
	// decoded: this app must not answer them.
}

type fbEvent struct {
	Sender struct {
		ID flexString `json:"id"`
	} `json:"sender"`
	Recipient struct {
		ID flexString `json:"id"`
	} `json:"recipient"`
	Timestamp flexString `json:"timestamp"`
	Message   *struct {
		Mid           string `json:"mid"`
		Text          string `json:"text"`
		IsEcho        bool   `json:"is_echo"`
		IsDeleted     bool   `json:"is_deleted"`
		IsUnsupported bool   `json:"is_unsupported"`
		QuickReply    *struct {
			Payload string `json:"payload"`
		} `json:"quick_reply"`
		ReplyTo *struct {
			Mid string `json:"mid"`
		} `json:"reply_to"`
		Attachments []struct {
			Type    string `json:"type"`
			Payload *struct {
				URL         string     `json:"url"`
				StickerID   flexString `json:"sticker_id"`
				Coordinates *struct {
					Lat  float64 `json:"lat"`
					Long float64 `json:"long"`
				} `json:"coordinates"`
			} `json:"payload"`
		} `json:"attachments"`
	} `json:"message"`
	Postback *struct {
		Mid     string `json:"mid"`
		Title   string `json:"title"`
		Payload string `json:"payload"`
	} `json:"postback"`
	Reaction *struct {
		Mid    string `json:"mid"`
		Action string `json:"action"`
		Emoji  string `json:"emoji"`
	} `json:"reaction"`
	Delivery *struct {
		Mids      []string   `json:"mids"`
		Watermark flexString `json:"watermark"`
	} `json:"delivery"`
	Read *struct {
		Mid       string     `json:"mid"` // Instagram messaging_seen
		Watermark flexString `json:"watermark"`
	} `json:"read"`
}

func (n *Notification) addMessaging(platform string, entries []json.RawMessage) error {
	for i, raw := range entries {
		var e fbEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		for _, ev := range e.Messaging {
			n.addMessagingEvent(platform, string(e.ID), e.Time.unixMillis(), ev)
		}
	}
	return nil
}

func (n *Notification) addMessagingEvent(platform, entryID string, entryTime time.Time, raw json.RawMessage) {
	var ev fbEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		n.Unreadable = append(n.Unreadable, raw)
		return
	}
	ts := ev.Timestamp.unixMillis()
	if ts.IsZero() {
		ts = entryTime
	}
	account := string(ev.Recipient.ID)
	if account == "" {
		account = entryID
	}
	user := string(ev.Sender.ID)
	in := Inbound{Platform: platform, AccountID: account, From: Sender{ID: user}, Timestamp: ts, Raw: raw}

	switch {
	case ev.Message != nil:
		m := ev.Message
		// Echoes are the business's own sends (from this app, another app
		// or the Page inbox); unsent messages are withdrawn content.
		if m.IsEcho || m.IsDeleted {
			return
		}
		if m.Mid == "" {
			n.Unreadable = append(n.Unreadable, raw)
			return
		}
		in.ProviderMessageID, in.Text = m.Mid, m.Text
		if m.ReplyTo != nil {
			in.ReplyToID = m.ReplyTo.Mid
		}
		for _, a := range m.Attachments {
			md := Media{Type: attachmentType(a.Type)}
			if p := a.Payload; p != nil {
				md.URL = p.URL
				if md.Type == TypeImage && p.StickerID != "" && p.StickerID != "0" {
					md.Type = TypeSticker
				}
				if a.Type == "location" && p.Coordinates != nil {
					in.Location = &Location{Latitude: p.Coordinates.Lat, Longitude: p.Coordinates.Long, URL: p.URL}
				}
			}
			in.Attachments = append(in.Attachments, md)
		}
		switch {
		case m.IsUnsupported:
			in.Type = TypeUnsupported
		case m.QuickReply != nil:
			in.Type, in.Payload = TypeQuickReply, m.QuickReply.Payload
		case len(in.Attachments) > 0:
			in.Type = in.Attachments[0].Type
			in.Media = &in.Attachments[0]
			if in.Location != nil && in.Type == TypeLocation && in.Text == "" {
				in.Text = FormatLocation(*in.Location)
			}
		case m.Text != "":
			in.Type = TypeText
		default:
			in.Type = TypeUnsupported
		}
		n.Messages = append(n.Messages, in)

	case ev.Postback != nil:
		p := ev.Postback
		in.Type, in.Text, in.Payload = TypePostback, p.Title, p.Payload
		in.ProviderMessageID = p.Mid
		if in.ProviderMessageID == "" {
			// Postbacks before v11 have no mid; the sender and millisecond
			// timestamp are stable across Meta's retries.
			in.ProviderMessageID = "postback:" + user + ":" + string(ev.Timestamp)
		}
		n.Messages = append(n.Messages, in)

	case ev.Reaction != nil:
		r := ev.Reaction
		in.Type, in.ReactionTo = TypeReaction, r.Mid
		if r.Action != "unreact" {
			in.Text = r.Emoji
		}
		// Reactions have no id of their own.
		in.ProviderMessageID = "reaction:" + r.Mid + ":" + user + ":" + r.Action + ":" + string(ev.Timestamp)
		n.Messages = append(n.Messages, in)

	case ev.Delivery != nil:
		st := Status{Platform: platform, AccountID: account, RecipientID: user, Status: "delivered", Timestamp: ts, Watermark: ev.Delivery.Watermark.unixMillis(), Raw: raw}
		if len(ev.Delivery.Mids) == 0 {
			n.Statuses = append(n.Statuses, st)
		}
		for _, mid := range ev.Delivery.Mids {
			st.ProviderMessageID = mid
			n.Statuses = append(n.Statuses, st)
		}

	case ev.Read != nil:
		n.Statuses = append(n.Statuses, Status{Platform: platform, AccountID: account, ProviderMessageID: ev.Read.Mid, RecipientID: user, Status: "read", Timestamp: ts, Watermark: ev.Read.Watermark.unixMillis(), Raw: raw})
	}
}

// attachmentType maps a Messenger/Instagram attachment type to a Type
// constant. Shares, reels, story mentions, templates and fallbacks (link
// previews) are not media the user sent, so they are unsupported; their URL
// is kept in Media.
func attachmentType(t string) string {
	switch t {
	case "image":
		return TypeImage
	case "audio":
		return TypeAudio
	case "video":
		return TypeVideo
	case "file":
		return TypeDocument
	case "location":
		return TypeLocation
	default:
		return TypeUnsupported
	}
}
