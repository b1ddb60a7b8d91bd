package meta

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/meta/metafake"
)

const (
	phoneID = "106540352242922"
	waUser  = "16505551234"
	pageID  = "104567891234567"
	psid    = "6789012345678901"
	igID    = "17841400000000000"
	igsid   = "5432109876543210"
)

var (
	builtAt   = time.Unix(metafake.Timestamp, 0).UTC()
	waSenderZ = Sender{ID: waUser, Phone: waUser, Name: "Zoë"}
)

func fakeSHA(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func parse(t *testing.T, body []byte) Notification {
	t.Helper()
	n, err := ParseNotification(body)
	if err != nil {
		t.Fatalf("ParseNotification: %v\n%s", err, body)
	}
	return n
}

// comparable drops Raw, which is checked separately, so expectations stay
// readable.
func comparable(in Inbound) Inbound {
	in.Raw = nil
	return in
}

func withMedia(in Inbound, media ...Media) Inbound {
	in.Attachments = media
	in.Media = &in.Attachments[0]
	return in
}

func wa(typ, text string) Inbound {
	return Inbound{Platform: PlatformWhatsApp, AccountID: phoneID, ProviderMessageID: "wamid.1", From: waSenderZ, Timestamp: builtAt, Type: typ, Text: text}
}

func TestParseNotificationReadsEveryWhatsAppMessageType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
		want Inbound
	}{
		{"text", metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "hi there 👋"), wa(TypeText, "hi there 👋")},
		{"image with caption",
			metafake.WhatsAppImage(phoneID, waUser, "Zoë", "wamid.1", "img-1", "image/jpeg", "my receipt"),
			withMedia(wa(TypeImage, "my receipt"), Media{Type: TypeImage, ID: "img-1", MimeType: "image/jpeg", SHA256: fakeSHA("img-1"), Caption: "my receipt"})},
		{"video without caption",
			metafake.WhatsAppVideo(phoneID, waUser, "Zoë", "wamid.1", "vid-1", "video/mp4", ""),
			withMedia(wa(TypeVideo, ""), Media{Type: TypeVideo, ID: "vid-1", MimeType: "video/mp4", SHA256: fakeSHA("vid-1")})},
		{"voice note",
			metafake.WhatsAppAudio(phoneID, waUser, "Zoë", "wamid.1", "aud-1", "audio/ogg; codecs=opus", true),
			withMedia(wa(TypeAudio, ""), Media{Type: TypeAudio, ID: "aud-1", MimeType: "audio/ogg; codecs=opus", SHA256: fakeSHA("aud-1"), Voice: true})},
		{"document with filename",
			metafake.WhatsAppDocument(phoneID, waUser, "Zoë", "wamid.1", "doc-1", "application/pdf", "invoice.pdf", "March"),
			withMedia(wa(TypeDocument, "March"), Media{Type: TypeDocument, ID: "doc-1", MimeType: "application/pdf", Filename: "invoice.pdf", SHA256: fakeSHA("doc-1"), Caption: "March"})},
		{"sticker",
			metafake.WhatsAppSticker(phoneID, waUser, "Zoë", "wamid.1", "stk-1"),
			withMedia(wa(TypeSticker, ""), Media{Type: TypeSticker, ID: "stk-1", MimeType: "image/webp", SHA256: fakeSHA("stk-1")})},
		{"named location",
			metafake.WhatsAppLocation(phoneID, waUser, "Zoë", "wamid.1", 37.4836, -122.1483, "Meta HQ", "1 Hacker Way"),
			func() Inbound {
				in := wa(TypeLocation, "Meta HQ, 1 Hacker Way (37.4836,-122.1483)")
				in.Location = &Location{Latitude: 37.4836, Longitude: -122.1483, Name: "Meta HQ", Address: "1 Hacker Way"}
				return in
			}()},
		{"bare location",
			metafake.WhatsAppLocation(phoneID, waUser, "Zoë", "wamid.1", 45.8, 15.97, "", ""),
			func() Inbound {
				in := wa(TypeLocation, "(45.8,15.97)")
				in.Location = &Location{Latitude: 45.8, Longitude: 15.97}
				return in
			}()},
		{"contacts",
			metafake.WhatsAppContacts(phoneID, waUser, "Zoë", "wamid.1", "Ana Horvat", "+385 91 111 2222", "+385 1 333 4444"),
			wa(TypeContacts, "Ana Horvat (+385 91 111 2222, +385 1 333 4444)")},
		{"interactive button reply",
			metafake.WhatsAppButtonReply(phoneID, waUser, "Zoë", "wamid.1", "wamid.OUT", "opt-yes", "Yes please"),
			func() Inbound {
				in := wa(TypeInteractive, "Yes please")
				in.Payload, in.ReplyToID = "opt-yes", "wamid.OUT"
				return in
			}()},
		{"interactive list reply",
			metafake.WhatsAppListReply(phoneID, waUser, "Zoë", "wamid.1", "wamid.OUT", "row-2", "Tuesday", "10:00–12:00"),
			func() Inbound {
				in := wa(TypeInteractive, "Tuesday")
				in.Payload, in.ReplyToID = "row-2", "wamid.OUT"
				return in
			}()},
		{"template quick-reply button",
			metafake.WhatsAppButton(phoneID, waUser, "Zoë", "wamid.1", "wamid.TPL", "STOP_PROMOS", "Stop promotions"),
			func() Inbound {
				in := wa(TypeButton, "Stop promotions")
				in.Payload, in.ReplyToID = "STOP_PROMOS", "wamid.TPL"
				return in
			}()},
		{"reaction",
			metafake.WhatsAppReaction(phoneID, waUser, "Zoë", "wamid.1", "wamid.OUT", "❤️"),
			func() Inbound {
				in := wa(TypeReaction, "❤️")
				in.ReactionTo = "wamid.OUT"
				return in
			}()},
		{"reaction removed",
			metafake.WhatsAppReaction(phoneID, waUser, "Zoë", "wamid.1", "wamid.OUT", ""),
			func() Inbound {
				in := wa(TypeReaction, "")
				in.ReactionTo = "wamid.OUT"
				return in
			}()},
		{"reply to a message",
			metafake.WithReplyTo(metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "this one"), "wamid.OUT"),
			func() Inbound {
				in := wa(TypeText, "this one")
				in.ReplyToID = "wamid.OUT"
				return in
			}()},
		{"unsupported keeps its errors",
			metafake.WhatsAppUnsupported(phoneID, waUser, "Zoë", "wamid.1"),
			func() Inbound {
				in := wa(TypeUnsupported, "")
				in.Errors = []APIErrorDetail{{Code: 131051, Title: "Message type unknown", Message: "Message type unknown", Details: "Message type is currently not supported."}}
				return in
			}()},
		{"unknown future type is unsupported", metafake.WhatsAppUnknownType(phoneID, waUser, "Zoë", "wamid.1", "hologram"), wa(TypeUnsupported, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := parse(t, tt.body)
			if n.Object != ObjectWhatsApp || len(n.Messages) != 1 || len(n.Statuses) != 0 || len(n.Unreadable) != 0 {
				t.Fatalf("got object %q, %d messages, %d statuses, %d unreadable; want one whatsapp message", n.Object, len(n.Messages), len(n.Statuses), len(n.Unreadable))
			}
			got := n.Messages[0]
			if !json.Valid(got.Raw) {
				t.Errorf("Raw is not the original message JSON: %s", got.Raw)
			}
			if got, want := comparable(got), tt.want; !reflect.DeepEqual(got, want) {
				t.Errorf("message\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseNotificationKeepsTheRawMessageOfAnUnknownType(t *testing.T) {
	t.Parallel()
	n := parse(t, metafake.WhatsAppUnknownType(phoneID, waUser, "Zoë", "wamid.1", "hologram"))
	var raw struct {
		Type     string            `json:"type"`
		Hologram map[string]string `json:"hologram"`
	}
	if err := json.Unmarshal(n.Messages[0].Raw, &raw); err != nil || raw.Type != "hologram" || raw.Hologram["some_field"] != "some value" {
		t.Errorf("Raw = %s; want the original hologram message", n.Messages[0].Raw)
	}
}

func TestParseNotificationKeysWhatsAppUsersOnTheirBusinessScopedID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
		want Sender
	}{
		{"phone and BSUID", metafake.WhatsAppTextFromUser(phoneID, waUser, "US.13491208655302741918", "", "Zoë", "wamid.1", "hi"),
			Sender{ID: "US.13491208655302741918", Phone: waUser, UserID: "US.13491208655302741918", Name: "Zoë"}},
		{"username user without a phone", metafake.WhatsAppTextFromUser(phoneID, "", "HR.8812", "zoe_h", "Zoë", "wamid.1", "hi"),
			Sender{ID: "HR.8812", UserID: "HR.8812", Username: "zoe_h", Name: "Zoë"}},
		{"phone only, before BSUIDs", metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "hi"),
			Sender{ID: waUser, Phone: waUser, Name: "Zoë"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := parse(t, tt.body).Messages[0].From; got != tt.want {
				t.Errorf("From = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func fb(platform, account, typ, text string) Inbound {
	user := psid
	if platform == PlatformInstagram {
		user = igsid
	}
	return Inbound{Platform: platform, AccountID: account, ProviderMessageID: "m_1", From: Sender{ID: user}, Timestamp: builtAt, Type: typ, Text: text}
}

func TestParseNotificationReadsEveryMessengerAndInstagramEvent(t *testing.T) {
	t.Parallel()
	ms := strconv.FormatInt(metafake.Timestamp*1000, 10)
	tests := []struct {
		name string
		body []byte
		want Inbound
	}{
		{"messenger text", metafake.MessengerText(pageID, psid, "m_1", "bonjour ☕"), fb(PlatformMessenger, pageID, TypeText, "bonjour ☕")},
		{"messenger image", metafake.MessengerAttachment(pageID, psid, "m_1", "image", "https://cdn.example/i.jpg"),
			withMedia(fb(PlatformMessenger, pageID, TypeImage, ""), Media{Type: TypeImage, URL: "https://cdn.example/i.jpg"})},
		{"messenger audio", metafake.MessengerAttachment(pageID, psid, "m_1", "audio", "https://cdn.example/a.mp4"),
			withMedia(fb(PlatformMessenger, pageID, TypeAudio, ""), Media{Type: TypeAudio, URL: "https://cdn.example/a.mp4"})},
		{"messenger video", metafake.MessengerAttachment(pageID, psid, "m_1", "video", "https://cdn.example/v.mp4"),
			withMedia(fb(PlatformMessenger, pageID, TypeVideo, ""), Media{Type: TypeVideo, URL: "https://cdn.example/v.mp4"})},
		{"messenger file is a document", metafake.MessengerAttachment(pageID, psid, "m_1", "file", "https://cdn.example/f.pdf"),
			withMedia(fb(PlatformMessenger, pageID, TypeDocument, ""), Media{Type: TypeDocument, URL: "https://cdn.example/f.pdf"})},
		{"messenger sticker", metafake.MessengerSticker(pageID, psid, "m_1", "https://cdn.example/like.png"),
			withMedia(fb(PlatformMessenger, pageID, TypeSticker, ""), Media{Type: TypeSticker, URL: "https://cdn.example/like.png"})},
		{"messenger link preview is unsupported but keeps its url", metafake.MessengerAttachment(pageID, psid, "m_1", "fallback", "https://example.com/post"),
			withMedia(fb(PlatformMessenger, pageID, TypeUnsupported, ""), Media{Type: TypeUnsupported, URL: "https://example.com/post"})},
		{"messenger several images in one message", metafake.MessengerImages(pageID, psid, "m_1", "https://cdn.example/1.jpg", "https://cdn.example/2.jpg"),
			withMedia(fb(PlatformMessenger, pageID, TypeImage, ""), Media{Type: TypeImage, URL: "https://cdn.example/1.jpg"}, Media{Type: TypeImage, URL: "https://cdn.example/2.jpg"})},
		{"messenger quick reply", metafake.MessengerQuickReply(pageID, psid, "m_1", "Red", "COLOR_RED"),
			func() Inbound {
				in := fb(PlatformMessenger, pageID, TypeQuickReply, "Red")
				in.Payload = "COLOR_RED"
				return in
			}()},
		{"messenger postback", metafake.MessengerPostback(pageID, psid, "m_1", "Get Started", "GET_STARTED"),
			func() Inbound {
				in := fb(PlatformMessenger, pageID, TypePostback, "Get Started")
				in.Payload = "GET_STARTED"
				return in
			}()},
		{"messenger postback without mid gets a stable synthetic id", metafake.MessengerPostback(pageID, psid, "", "Get Started", "GET_STARTED"),
			func() Inbound {
				in := fb(PlatformMessenger, pageID, TypePostback, "Get Started")
				in.Payload, in.ProviderMessageID = "GET_STARTED", "postback:"+psid+":"+ms
				return in
			}()},
		{"messenger reaction", metafake.MessengerReaction(pageID, psid, "m_OUT", "❤", "react"),
			func() Inbound {
				in := fb(PlatformMessenger, pageID, TypeReaction, "❤")
				in.ReactionTo, in.ProviderMessageID = "m_OUT", "reaction:m_OUT:"+psid+":react:"+ms
				return in
			}()},
		{"messenger reaction removed", metafake.MessengerReaction(pageID, psid, "m_OUT", "❤", "unreact"),
			func() Inbound {
				in := fb(PlatformMessenger, pageID, TypeReaction, "")
				in.ReactionTo, in.ProviderMessageID = "m_OUT", "reaction:m_OUT:"+psid+":unreact:"+ms
				return in
			}()},
		{"messenger reply", metafake.WithReplyTo(metafake.MessengerText(pageID, psid, "m_1", "that"), "m_OUT"),
			func() Inbound {
				in := fb(PlatformMessenger, pageID, TypeText, "that")
				in.ReplyToID = "m_OUT"
				return in
			}()},
		{"instagram text", metafake.InstagramText(igID, igsid, "m_1", "hey"), fb(PlatformInstagram, igID, TypeText, "hey")},
		{"instagram image", metafake.InstagramAttachment(igID, igsid, "m_1", "image", "https://cdn.example/ig.jpg"),
			withMedia(fb(PlatformInstagram, igID, TypeImage, ""), Media{Type: TypeImage, URL: "https://cdn.example/ig.jpg"})},
		{"instagram shared reel is unsupported", metafake.InstagramAttachment(igID, igsid, "m_1", "ig_reel", "https://cdn.example/reel"),
			withMedia(fb(PlatformInstagram, igID, TypeUnsupported, ""), Media{Type: TypeUnsupported, URL: "https://cdn.example/reel"})},
		{"instagram unsupported message", metafake.InstagramUnsupported(igID, igsid, "m_1"), fb(PlatformInstagram, igID, TypeUnsupported, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := parse(t, tt.body)
			if len(n.Messages) != 1 || len(n.Statuses) != 0 || len(n.Unreadable) != 0 {
				t.Fatalf("got %d messages, %d statuses, %d unreadable; want one message", len(n.Messages), len(n.Statuses), len(n.Unreadable))
			}
			if !json.Valid(n.Messages[0].Raw) {
				t.Errorf("Raw is not the original event JSON: %s", n.Messages[0].Raw)
			}
			if got := comparable(n.Messages[0]); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("message\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseNotificationSkipsEchoesDeletionsAndStandby(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
	}{
		{"messenger echo", metafake.MessengerEcho(pageID, psid, "m_OUT", "our reply", "1234567890")},
		{"instagram echo", metafake.InstagramEcho(igID, igsid, "m_OUT", "our reply")},
		{"instagram unsent message", metafake.InstagramDeleted(igID, igsid, "m_1")},
		{"standby while another app owns the thread", metafake.MessengerStandby(pageID, psid, "m_1", "hi")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := parse(t, tt.body)
			if len(n.Messages)+len(n.Statuses)+len(n.Unreadable) != 0 {
				t.Errorf("got %+v; want nothing", n)
			}
		})
	}
}

func TestParseNotificationReadsDeliveryStatuses(t *testing.T) {
	t.Parallel()
	watermark := (metafake.Timestamp + 60) * 1000
	tests := []struct {
		name string
		body []byte
		want []Status
	}{
		{"whatsapp delivered with pricing", metafake.WhatsAppStatus(phoneID, "wamid.OUT", waUser, "delivered", metafake.Timestamp+5),
			[]Status{{Platform: PlatformWhatsApp, AccountID: phoneID, ProviderMessageID: "wamid.OUT", RecipientID: waUser, Status: StatusDelivered, Timestamp: builtAt.Add(5 * time.Second),
				Pricing: &Pricing{Billable: true, Model: "PMP", Type: "free_customer_service", Category: "service"}}}},
		{"whatsapp failed with its error", metafake.WhatsAppFailedStatus(phoneID, "wamid.OUT", waUser, metafake.Timestamp, 131047, "Re-engagement message", "more than 24 hours"),
			[]Status{{Platform: PlatformWhatsApp, AccountID: phoneID, ProviderMessageID: "wamid.OUT", RecipientID: waUser, Status: StatusFailed, Timestamp: builtAt,
				Errors: []APIErrorDetail{{Code: 131047, Title: "Re-engagement message", Message: "Re-engagement message", Details: "more than 24 hours", Href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}}}}},
		{"messenger delivery names each message", metafake.MessengerDelivery(pageID, psid, watermark, "m_A", "m_B"),
			[]Status{
				{Platform: PlatformMessenger, AccountID: pageID, ProviderMessageID: "m_A", RecipientID: psid, Status: StatusDelivered, Timestamp: builtAt, Watermark: time.UnixMilli(watermark).UTC()},
				{Platform: PlatformMessenger, AccountID: pageID, ProviderMessageID: "m_B", RecipientID: psid, Status: StatusDelivered, Timestamp: builtAt, Watermark: time.UnixMilli(watermark).UTC()},
			}},
		{"messenger delivery with only a watermark", metafake.MessengerDelivery(pageID, psid, watermark),
			[]Status{{Platform: PlatformMessenger, AccountID: pageID, RecipientID: psid, Status: StatusDelivered, Timestamp: builtAt, Watermark: time.UnixMilli(watermark).UTC()}}},
		{"messenger read watermark", metafake.MessengerRead(pageID, psid, watermark),
			[]Status{{Platform: PlatformMessenger, AccountID: pageID, RecipientID: psid, Status: StatusRead, Timestamp: builtAt, Watermark: time.UnixMilli(watermark).UTC()}}},
		{"instagram seen names the message", metafake.InstagramSeen(igID, igsid, "m_OUT"),
			[]Status{{Platform: PlatformInstagram, AccountID: igID, ProviderMessageID: "m_OUT", RecipientID: igsid, Status: StatusRead, Timestamp: builtAt}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := parse(t, tt.body)
			if len(n.Messages) != 0 {
				t.Errorf("got %d messages from a statuses-only notification", len(n.Messages))
			}
			got := n.Statuses
			for i := range got {
				if !json.Valid(got[i].Raw) {
					t.Errorf("status %d Raw is not JSON: %s", i, got[i].Raw)
				}
				got[i].Raw = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("statuses\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func ids(n Notification) (messages, statuses []string) {
	for _, m := range n.Messages {
		messages = append(messages, m.AccountID+"/"+m.ProviderMessageID)
	}
	for _, s := range n.Statuses {
		statuses = append(statuses, s.AccountID+"/"+s.ProviderMessageID+"/"+s.Status)
	}
	return messages, statuses
}

func TestParseNotificationReturnsEveryItemOfABatch(t *testing.T) {
	t.Parallel()
	const otherPhone = "200000000000002"
	tests := []struct {
		name         string
		body         []byte
		wantMessages []string
		wantStatuses []string
	}{
		{"several entries",
			metafake.Batch(
				metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "one"),
				metafake.WhatsAppStatus(otherPhone, "wamid.OUT", waUser, "read", metafake.Timestamp),
				metafake.WhatsAppImage(otherPhone, waUser, "Zoë", "wamid.2", "img", "image/png", ""),
			),
			[]string{phoneID + "/wamid.1", otherPhone + "/wamid.2"}, []string{otherPhone + "/wamid.OUT/read"}},
		{"several changes in one entry",
			metafake.SameEntry(
				metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "one"),
				metafake.WhatsAppText(otherPhone, waUser, "Zoë", "wamid.2", "two"),
				metafake.WhatsAppStatus(phoneID, "wamid.OUT", waUser, "sent", metafake.Timestamp),
			),
			[]string{phoneID + "/wamid.1", otherPhone + "/wamid.2"}, []string{phoneID + "/wamid.OUT/sent"}},
		{"several entries of several changes of several messages",
			metafake.Batch(
				metafake.SameEntry(
					metafake.SameChange(
						metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "one"),
						metafake.WhatsAppText(phoneID, "447700900123", "Ian", "wamid.2", "two"),
						metafake.WhatsAppStatus(phoneID, "wamid.OUT1", waUser, "delivered", metafake.Timestamp),
					),
					metafake.WhatsAppReaction(phoneID, waUser, "Zoë", "wamid.3", "wamid.OUT1", "👍"),
				),
				metafake.SameChange(
					metafake.WhatsAppStatus(otherPhone, "wamid.OUT2", waUser, "sent", metafake.Timestamp),
					metafake.WhatsAppStatus(otherPhone, "wamid.OUT2", waUser, "read", metafake.Timestamp+9),
				),
			),
			[]string{phoneID + "/wamid.1", phoneID + "/wamid.2", phoneID + "/wamid.3"},
			[]string{phoneID + "/wamid.OUT1/delivered", otherPhone + "/wamid.OUT2/sent", otherPhone + "/wamid.OUT2/read"}},
		{"messenger events of two pages, echoes dropped",
			metafake.Batch(
				metafake.SameEntry(
					metafake.MessengerText(pageID, psid, "m_1", "one"),
					metafake.MessengerEcho(pageID, psid, "m_OUT", "reply", "42"),
					metafake.MessengerPostback(pageID, psid, "m_2", "Menu", "MENU"),
					metafake.MessengerDelivery(pageID, psid, metafake.Timestamp*1000, "m_OUT"),
				),
				metafake.MessengerText("999", "111", "m_3", "other page"),
			),
			[]string{pageID + "/m_1", pageID + "/m_2", "999/m_3"}, []string{pageID + "/m_OUT/delivered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gotM, gotS := ids(parse(t, tt.body))
			if !reflect.DeepEqual(gotM, tt.wantMessages) || !reflect.DeepEqual(gotS, tt.wantStatuses) {
				t.Errorf("got messages %v statuses %v\nwant messages %v statuses %v", gotM, gotS, tt.wantMessages, tt.wantStatuses)
			}
		})
	}
}

func TestParseNotificationMatchesEachMessageToItsContact(t *testing.T) {
	t.Parallel()
	n := parse(t, metafake.SameChange(
		metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "one"),
		metafake.WhatsAppText(phoneID, "447700900123", "Ian", "wamid.2", "two"),
	))
	if got := []string{n.Messages[0].From.Name, n.Messages[1].From.Name}; !reflect.DeepEqual(got, []string{"Zoë", "Ian"}) {
		t.Errorf("names = %v, want [Zoë Ian]", got)
	}
}

func TestParseNotificationToleratesWhatItDoesNotUnderstand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		body           string
		wantMessages   int
		wantUnreadable int
		wantErrors     int
	}{
		{"unknown object", `{"object":"user","entry":[{"id":"1","changes":[{"field":"feed","value":{}}]}]}`, 0, 0, 0},
		{"unknown whatsapp field", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}`, 0, 0, 0},
		{"message without id is unreadable, the rest survives",
			`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"messages":[{"from":"1","type":"text","text":{"body":"no id"}},{"from":"1","id":"wamid.ok","timestamp":"1","type":"text","text":{"body":"fine"}}]}}]}]}`, 1, 1, 0},
		{"message with a wrongly typed field is unreadable",
			`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"messages":[{"from":"1","id":"wamid.x","timestamp":"1","type":"text","text":{"body":5}}]}}]}]}`, 0, 1, 0},
		{"numeric ids and timestamps are accepted",
			`{"object":"whatsapp_business_account","entry":[{"id":1,"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":106540352242922},"messages":[{"from":16505551234,"id":"wamid.n","timestamp":1749416383,"type":"text","text":{"body":"n"}}]}}]}]}`, 1, 0, 0},
		{"value-level errors are reported",
			`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"errors":[{"code":131051,"title":"Message type unknown","error_data":{"details":"x"}}]}}]}]}`, 0, 0, 1},
		{"messenger event of an unknown kind is skipped", `{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"optin":{"ref":"x"}}]}]}`, 0, 0, 0},
		{"messenger message without mid is unreadable", `{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"message":{"text":"x"}}]}]}`, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := parse(t, []byte(tt.body))
			if len(n.Messages) != tt.wantMessages || len(n.Unreadable) != tt.wantUnreadable || len(n.Errors) != tt.wantErrors {
				t.Errorf("got %d messages, %d unreadable, %d errors; want %d, %d, %d", len(n.Messages), len(n.Unreadable), len(n.Errors), tt.wantMessages, tt.wantUnreadable, tt.wantErrors)
			}
		})
	}
}

func TestParseNotificationRejectsMalformedPayloads(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``,
		`{"object":"page",`,
		`[1,2]`,
		`{"object":"whatsapp_business_account","entry":{"id":"1"}}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":[]}]}]}`,
		`{"object":"page","entry":[{"messaging":{"sender":{}}}]}`,
	} {
		if _, err := ParseNotification([]byte(body)); err == nil {
			t.Errorf("ParseNotification(%s) succeeded; want an error", body)
		}
	}
}

func TestParseNotificationReadsAWhatsAppFlowAnswer(t *testing.T) {
	t.Parallel()
	body := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"` + phoneID + `"},
		"contacts":[{"profile":{"name":"Zoë"},"wa_id":"` + waUser + `"}],
		"messages":[{"context":{"from":"1555","id":"wamid.FLOW"},"from":"` + waUser + `","id":"wamid.1","timestamp":"1749416383","type":"interactive",
		"interactive":{"type":"nfm_reply","nfm_reply":{"response_json":"{\"date\":\"2026-03-01\"}","body":"Sent","name":"flow"}}}]}}]}]}`
	got := comparable(parse(t, []byte(body)).Messages[0])
	want := wa(TypeInteractive, "Sent")
	want.Payload, want.ReplyToID = `{"date":"2026-03-01"}`, "wamid.FLOW"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flow answer\n got %+v\nwant %+v", got, want)
	}
}
