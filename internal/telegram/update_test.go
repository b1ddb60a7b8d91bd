package telegram

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/meta"
	"github.com/metachat/metachat/internal/telegram/telegramfake"
)

const chat int64 = 5544332211

var (
	sentAt = time.Unix(telegramfake.Date, 0).UTC()
	ana    = User{ID: chat, FirstName: telegramfake.FirstName, LastName: telegramfake.LastName, Username: telegramfake.Username, LanguageCode: telegramfake.LanguageCode}
)

func msg(typ, text string) *Message {
	return &Message{MessageID: 42, ChatID: chat, ChatType: "private", From: ana, Date: sentAt, Type: typ, Text: text}
}

func withFile(m *Message, id, name, mime string, size int64) *Message {
	m.FileID, m.FileUniqueID, m.FileName, m.MimeType, m.FileSize = id, "AQAD"+id, name, mime, size
	return m
}

func TestParseUpdateReadsEveryMessageType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     []byte
		wantKind string
		want     *Message
	}{
		{"text", telegramfake.Text(1, chat, 42, "Bok! 👋"), KindMessage, msg(TypeText, "Bok! 👋")},
		{"reply", telegramfake.Reply(1, chat, 42, 40, "this"), KindMessage,
			func() *Message { m := msg(TypeText, "this"); m.ReplyToMessageID = 40; return m }()},
		{"edited text", telegramfake.Edited(1, chat, 42, "fixed typo"), KindEditedMessage,
			func() *Message {
				m := msg(TypeText, "fixed typo")
				m.Edited, m.EditDate = true, sentAt.Add(30*time.Second)
				return m
			}()},
		{"photo keeps the largest size and the caption", telegramfake.Photo(1, chat, 42, "AgACph", "my cat"), KindMessage,
			withFile(msg(TypePhoto, "my cat"), "AgACph", "", "", 80000)},
		{"document", telegramfake.Document(1, chat, 42, "BQACdoc", "invoice.pdf", "application/pdf", ""), KindMessage,
			withFile(msg(TypeDocument, ""), "BQACdoc", "invoice.pdf", "application/pdf", 52000)},
		{"audio", telegramfake.Audio(1, chat, 42, "CQACaud", "audio/mpeg"), KindMessage,
			withFile(msg(TypeAudio, ""), "CQACaud", "", "audio/mpeg", 3000000)},
		{"voice", telegramfake.Voice(1, chat, 42, "AwACvoi"), KindMessage,
			withFile(msg(TypeVoice, ""), "AwACvoi", "", "audio/ogg", 9000)},
		{"video", telegramfake.Video(1, chat, 42, "BAACvid", "look"), KindMessage,
			withFile(msg(TypeVideo, "look"), "BAACvid", "", "video/mp4", 900000)},
		{"animation is a video, not its document twin", telegramfake.Animation(1, chat, 42, "CgACgif"), KindMessage,
			withFile(msg(TypeVideo, ""), "CgACgif", "funny.mp4", "video/mp4", 200000)},
		{"sticker carries its emoji", telegramfake.Sticker(1, chat, 42, "CAACstk", "😂"), KindMessage,
			withFile(msg(TypeSticker, "😂"), "CAACstk", "", "", 20000)},
		{"location", telegramfake.Location(1, chat, 42, 45.815, 15.9819), KindMessage,
			func() *Message {
				m := msg(TypeLocation, "(45.815,15.9819)")
				m.Location = &meta.Location{Latitude: 45.815, Longitude: 15.9819}
				return m
			}()},
		{"venue", telegramfake.Venue(1, chat, 42, 45.813, 15.977, "Trg bana Jelačića", "Zagreb"), KindMessage,
			func() *Message {
				m := msg(TypeLocation, "Trg bana Jelačića, Zagreb (45.813,15.977)")
				m.Location = &meta.Location{Latitude: 45.813, Longitude: 15.977, Name: "Trg bana Jelačića", Address: "Zagreb"}
				return m
			}()},
		{"contact", telegramfake.Contact(1, chat, 42, "+385911112222", "Ivo", "Ivić"), KindMessage,
			func() *Message {
				m := msg(TypeContact, "Ivo Ivić (+385911112222)")
				m.Contact = &Contact{PhoneNumber: "+385911112222", FirstName: "Ivo", LastName: "Ivić", UserID: 777000111}
				return m
			}()},
		{"dice is unsupported", telegramfake.Dice(1, chat, 42), KindMessage, msg(TypeUnsupported, "")},
		{"callback query", telegramfake.Callback(1, chat, 42, "4382bfdwdsb323b2d9", "plan:pro"), KindCallbackQuery,
			&Message{MessageID: 42, ChatID: chat, ChatType: "private", From: ana, Type: TypeCallback, Payload: "plan:pro", CallbackQueryID: "4382bfdwdsb323b2d9"}},
		{"group message", telegramfake.GroupText(1, -1001234567890, chat, 42, "hello group"), KindMessage,
			func() *Message {
				m := msg(TypeText, "hello group")
				m.ChatID, m.ChatType, m.ChatTitle = -1001234567890, "supergroup", "Support group"
				return m
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := ParseUpdate(tt.body)
			if err != nil {
				t.Fatalf("ParseUpdate: %v", err)
			}
			if u.UpdateID != 1 || u.Kind != tt.wantKind || !json.Valid(u.Raw) {
				t.Errorf("update id %d, kind %q, raw valid %v; want 1, %q, true", u.UpdateID, u.Kind, json.Valid(u.Raw), tt.wantKind)
			}
			if !reflect.DeepEqual(u.Message, tt.want) {
				t.Errorf("message\n got %+v\nwant %+v", u.Message, tt.want)
			}
		})
	}
}

func TestParseUpdateReportsTheBotBeingBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		body          []byte
		wantOld, want string
	}{
		{"blocked", telegramfake.Blocked(9, chat), "member", "kicked"},
		{"unblocked", telegramfake.Unblocked(9, chat), "kicked", "member"},
	}
	for _, tt := range tests {
		u, err := ParseUpdate(tt.body)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := &BotStatus{ChatID: chat, From: ana, OldStatus: tt.wantOld, NewStatus: tt.want, Date: sentAt}
		if u.Kind != KindMyChatMember || u.Message != nil || !reflect.DeepEqual(u.BotStatus, want) {
			t.Errorf("%s: kind %q, message %v, status %+v; want %+v", tt.name, u.Kind, u.Message, u.BotStatus, want)
		}
	}
}

func TestParseUpdateLeavesOtherKindsUndecodedButKnown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantKind string
	}{
		{"channel post", string(telegramfake.ChannelPost(3, -1009876, 5, "news")), "channel_post"},
		{"inline query", `{"update_id":3,"inline_query":{"id":"1","from":{"id":1,"is_bot":false,"first_name":"A"},"query":"x","offset":""}}`, "inline_query"},
		{"poll", `{"update_id":3,"poll":{"id":"1","question":"?","options":[]}}`, "poll"},
		{"nothing but the id", `{"update_id":3}`, ""},
	}
	for _, tt := range tests {
		u, err := ParseUpdate([]byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if u.UpdateID != 3 || u.Kind != tt.wantKind || u.Message != nil || u.BotStatus != nil {
			t.Errorf("%s: %+v; want id 3, kind %q, nothing decoded", tt.name, u, tt.wantKind)
		}
	}
}

func TestParseUpdateRejectsMalformedUpdates(t *testing.T) {
	t.Parallel()
	for _, body := range []string{``, `{`, `[]`, `{"message":{"text":"no update id"}}`, `{"update_id":"7"}`, `{"update_id":1,"message":{"chat":{"id":"x"}}}`} {
		if _, err := ParseUpdate([]byte(body)); err == nil {
			t.Errorf("ParseUpdate(%s) succeeded; want an error", body)
		}
	}
}

func TestParseUpdateHandlesIDsBeyondThirtyTwoBits(t *testing.T) {
	t.Parallel()
	u, err := ParseUpdate(telegramfake.Text(9_000_000_000, -1001987654321, 3_000_000_000, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if u.UpdateID != 9_000_000_000 || u.Message.ChatID != -1001987654321 || u.Message.MessageID != 3_000_000_000 {
		t.Errorf("ids %d/%d/%d lost precision", u.UpdateID, u.Message.ChatID, u.Message.MessageID)
	}
}
