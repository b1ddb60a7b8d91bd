package meta

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/meta/metafake"
)

// seedPayloads is one of every payload shape the builders make.
func seedPayloads() [][]byte {
	return [][]byte{
		metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "hi 👋"),
		metafake.WhatsAppTextFromUser(phoneID, "", "US.1", "zoe", "Zoë", "wamid.1", "hi"),
		metafake.WhatsAppImage(phoneID, waUser, "Zoë", "wamid.1", "m", "image/jpeg", "c"),
		metafake.WhatsAppAudio(phoneID, waUser, "Zoë", "wamid.1", "m", "audio/ogg", true),
		metafake.WhatsAppDocument(phoneID, waUser, "Zoë", "wamid.1", "m", "application/pdf", "f.pdf", ""),
		metafake.WhatsAppLocation(phoneID, waUser, "Zoë", "wamid.1", 1.5, -2.5, "n", "a"),
		metafake.WhatsAppContacts(phoneID, waUser, "Zoë", "wamid.1", "Ana", "+1"),
		metafake.WhatsAppButtonReply(phoneID, waUser, "Zoë", "wamid.1", "wamid.0", "id", "t"),
		metafake.WhatsAppListReply(phoneID, waUser, "Zoë", "wamid.1", "wamid.0", "id", "t", "d"),
		metafake.WhatsAppButton(phoneID, waUser, "Zoë", "wamid.1", "wamid.0", "p", "t"),
		metafake.WhatsAppReaction(phoneID, waUser, "Zoë", "wamid.1", "wamid.0", "👍"),
		metafake.WhatsAppUnsupported(phoneID, waUser, "Zoë", "wamid.1"),
		metafake.WhatsAppStatus(phoneID, "wamid.0", waUser, "read", 1),
		metafake.WhatsAppFailedStatus(phoneID, "wamid.0", waUser, 1, 131047, "t", "d"),
		metafake.MessengerText(pageID, psid, "m_1", "hi"),
		metafake.MessengerImages(pageID, psid, "m_1", "https://a", "https://b"),
		metafake.MessengerQuickReply(pageID, psid, "m_1", "t", "p"),
		metafake.MessengerPostback(pageID, psid, "", "t", "p"),
		metafake.MessengerReaction(pageID, psid, "m_0", "❤", "react"),
		metafake.MessengerEcho(pageID, psid, "m_0", "t", "1"),
		metafake.MessengerDelivery(pageID, psid, 5, "m_0"),
		metafake.MessengerRead(pageID, psid, 5),
		metafake.InstagramText(igID, igsid, "m_1", "hi"),
		metafake.InstagramSeen(igID, igsid, "m_0"),
		metafake.Batch(metafake.WhatsAppText(phoneID, waUser, "Zoë", "wamid.1", "a"), metafake.WhatsAppStatus(phoneID, "wamid.0", waUser, "sent", 1)),
		[]byte(`{"object":"page","entry":[{"messaging":[{"message":{"mid":5}}]}]}`),
		[]byte(`{"object":"whatsapp_business_account","entry":[null,{"changes":[null]}]}`),
	}
}

var knownTypes = map[string]bool{
	TypeText: true, TypeImage: true, TypeAudio: true, TypeVideo: true, TypeDocument: true, TypeSticker: true,
	TypeLocation: true, TypeContacts: true, TypeInteractive: true, TypeButton: true, TypeReaction: true,
	TypePostback: true, TypeQuickReply: true, TypeUnsupported: true,
}

func FuzzParseNotification(f *testing.F) {
	for _, p := range seedPayloads() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil {
			return
		}
		for _, m := range n.Messages {
			if m.ProviderMessageID == "" || !knownTypes[m.Type] || !json.Valid(m.Raw) {
				t.Fatalf("bad message %+v", m)
			}
			if m.Media != nil && (len(m.Attachments) == 0 || *m.Media != m.Attachments[0]) {
				t.Fatalf("Media is not the first attachment: %+v", m)
			}
		}
		for _, s := range n.Statuses {
			if s.Status == "" || !json.Valid(s.Raw) {
				t.Fatalf("bad status %+v", s)
			}
		}
	})
}

func FuzzVerifySignature(f *testing.F) {
	for _, p := range seedPayloads()[:5] {
		f.Add("app-secret", p, metafake.Sign("app-secret", p))
	}
	f.Add("s", []byte("{}"), "sha256=")
	f.Add("s", []byte(""), "sha256=zz")
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		_ = VerifySignature(secret, body, header) // must not panic
		if secret != "" && !VerifySignature(secret, body, metafake.Sign(secret, body)) {
			t.Fatal("a correct signature was rejected")
		}
		if VerifySignature(secret, append(body, 'x'), metafake.Sign(secret, body)) {
			t.Fatal("a signature verified a different body")
		}
	})
}

func FuzzSplitText(f *testing.F) {
	f.Add("Hello there. How are you?\n\nFine 👍🏽 thanks", 7)
	f.Add("👨‍👩‍👧👨‍👩‍👧", 3)
	f.Add("e\u0301e\u0301e\u0301", 1)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 1 || limit > 5000 || !utf8.ValidString(text) {
			return
		}
		checkPieces(t, text, limit, SplitText(text, limit), utf16Len)
		checkPieces(t, text, limit, SplitTextBytes(text, limit), utf8.RuneLen)
	})
}
