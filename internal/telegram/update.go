package telegram

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/metachat/metachat/internal/meta"
)

// Message types (Message.Type).
const (
	TypeText        = "text"
	TypePhoto       = "photo"
	TypeDocument    = "document"
	TypeAudio       = "audio"
	TypeVoice       = "voice"
	TypeVideo       = "video" // also animations (GIFs, sent as MP4) and round video notes
	TypeSticker     = "sticker"
	TypeLocation    = "location" // also venues
	TypeContact     = "contact"
	TypeCallback    = "callback" // a tap on an inline keyboard button
	TypeUnsupported = "unsupported"
)

// Update kinds (Update.Kind): the field of the update that was set.
const (
	KindMessage       = "message"
	KindEditedMessage = "edited_message"
	KindCallbackQuery = "callback_query"
	KindMyChatMember  = "my_chat_member"
)

// Update is one webhook POST.
type Update struct {
	UpdateID int64
	// Kind names the update's payload field: KindMessage,
	// KindEditedMessage, KindCallbackQuery, KindMyChatMember, or another
	// Bot API field ("channel_post", "inline_query", …) that is not decoded.
	Kind string
	// Message is set for messages, edited messages (Message.Edited) and
	// callback queries (Type TypeCallback). Channel posts are not
	// conversations with a person — they have no sender — and are left nil,
	// as are business messages, inline queries, polls and the rest.
	Message *Message
	// BotStatus is set for my_chat_member: the bot's own membership in a
	// chat changed (a private chat's user blocked the bot: "kicked";
	// unblocked: "member").
	BotStatus *BotStatus
	Raw       json.RawMessage
}

// User is a Telegram user or bot.
type User struct {
	ID           int64
	IsBot        bool
	FirstName    string
	LastName     string
	Username     string
	LanguageCode string
}

// Message is a message from a user, normalised.
type Message struct {
	MessageID int64 // unique per chat only
	ChatID    int64
	ChatType  string // private, group, supergroup, channel
	ChatTitle string // groups
	From      User   // zero for anonymous group admins
	// Date is when the message was sent; zero for callback queries, which
	// carry no time (use the time of receipt).
	Date     time.Time
	Edited   bool // from edited_message
	EditDate time.Time
	Type     string // one of the Type constants
	// Text is the text or the media caption; for a location or venue it is
	// rendered "title, address (lat,long)"; for a contact "Name (phone)";
	// for a sticker its emoji.
	Text string
	// Payload is a callback query's data.
	Payload string
	// CallbackQueryID must be answered (Client.AnswerCallbackQuery) or the
	// user's button keeps spinning.
	CallbackQueryID string
	// File fields describe the media, for Client.DownloadFile. For a photo
	// they are those of the largest size.
	FileID           string
	FileUniqueID     string
	FileName         string
	MimeType         string
	FileSize         int64
	Location         *meta.Location
	Contact          *Contact
	ReplyToMessageID int64
	// MediaGroupID ties together the messages of an album, which Telegram
	// delivers as separate updates.
	MediaGroupID string
}

// Contact is a shared contact card.
type Contact struct {
	PhoneNumber string
	FirstName   string
	LastName    string
	UserID      int64 // when the contact is a Telegram user
}

// BotStatus is a change of the bot's membership in a chat.
type BotStatus struct {
	ChatID    int64
	From      User   // who made the change
	OldStatus string // creator, administrator, member, restricted, left, kicked
	NewStatus string
	Date      time.Time
}

// --- wire types ---

type wireUser struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Username     string `json:"username"`
	LanguageCode string `json:"language_code"`
}

func (u *wireUser) user() User {
	if u == nil {
		return User{}
	}
	return User{ID: u.ID, IsBot: u.IsBot, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, LanguageCode: u.LanguageCode}
}

type wireFile struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name"`
	MimeType     string `json:"mime_type"`
	FileSize     int64  `json:"file_size"`
	Emoji        string `json:"emoji"` // stickers
}

type wireLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type wireMessage struct {
	MessageID int64     `json:"message_id"`
	From      *wireUser `json:"from"`
	Chat      struct {
		ID    int64  `json:"id"`
		Type  string `json:"type"`
		Title string `json:"title"`
	} `json:"chat"`
	Date           int64  `json:"date"`
	EditDate       int64  `json:"edit_date"`
	MediaGroupID   string `json:"media_group_id"`
	Text           string `json:"text"`
	Caption        string `json:"caption"`
	ReplyToMessage *struct {
		MessageID int64 `json:"message_id"`
	} `json:"reply_to_message"`
	Photo     []wireFile    `json:"photo"`
	Document  *wireFile     `json:"document"`
	Audio     *wireFile     `json:"audio"`
	Voice     *wireFile     `json:"voice"`
	Video     *wireFile     `json:"video"`
	VideoNote *wireFile     `json:"video_note"`
	Animation *wireFile     `json:"animation"`
	Sticker   *wireFile     `json:"sticker"`
	Location  *wireLocation `json:"location"`
	Venue     *struct {
		Location wireLocation `json:"location"`
		Title    string       `json:"title"`
		Address  string       `json:"address"`
	} `json:"venue"`
	Contact *struct {
		PhoneNumber string `json:"phone_number"`
		FirstName   string `json:"first_name"`
		LastName    string `json:"last_name"`
		UserID      int64  `json:"user_id"`
	} `json:"contact"`
}

type wireUpdate struct {
	UpdateID      *int64       `json:"update_id"`
	Message       *wireMessage `json:"message"`
	EditedMessage *wireMessage `json:"edited_message"`
	CallbackQuery *struct {
		ID      string       `json:"id"`
		From    *wireUser    `json:"from"`
		Message *wireMessage `json:"message"`
		Data    string       `json:"data"`
	} `json:"callback_query"`
	MyChatMember *struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		From          *wireUser `json:"from"`
		Date          int64     `json:"date"`
		OldChatMember struct {
			Status string `json:"status"`
		} `json:"old_chat_member"`
		NewChatMember struct {
			Status string `json:"status"`
		} `json:"new_chat_member"`
	} `json:"my_chat_member"`
}

// ParseUpdate reads a webhook POST body (check the secret header first).
// It fails on malformed JSON and on an update without update_id, which
// could not be deduplicated.
func ParseUpdate(body []byte) (Update, error) {
	var w wireUpdate
	if err := json.Unmarshal(body, &w); err != nil {
		return Update{}, fmt.Errorf("telegram: parse update: %w", err)
	}
	if w.UpdateID == nil {
		return Update{}, errors.New("telegram: parse update: no update_id")
	}
	u := Update{UpdateID: *w.UpdateID, Kind: updateKind(body), Raw: append(json.RawMessage(nil), body...)}
	switch {
	case w.Message != nil:
		u.Message = w.Message.normalise()
	case w.EditedMessage != nil:
		u.Message = w.EditedMessage.normalise()
		u.Message.Edited = true
	case w.CallbackQuery != nil:
		cq := w.CallbackQuery
		m := &Message{Type: TypeCallback, From: cq.From.user(), Payload: cq.Data, CallbackQueryID: cq.ID}
		// The message the button was on; it may be missing when too old.
		if cq.Message != nil {
			m.MessageID, m.ChatID, m.ChatType, m.ChatTitle = cq.Message.MessageID, cq.Message.Chat.ID, cq.Message.Chat.Type, cq.Message.Chat.Title
		} else {
			m.ChatID, m.ChatType = m.From.ID, "private"
		}
		u.Message = m
	case w.MyChatMember != nil:
		mc := w.MyChatMember
		u.BotStatus = &BotStatus{ChatID: mc.Chat.ID, From: mc.From.user(), OldStatus: mc.OldChatMember.Status, NewStatus: mc.NewChatMember.Status, Date: unix(mc.Date)}
	}
	return u, nil
}

// updateKind finds the payload field of an update; there is exactly one
// besides update_id.
func updateKind(body []byte) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return ""
	}
	for _, k := range []string{KindMessage, KindEditedMessage, KindCallbackQuery, KindMyChatMember} {
		if _, ok := fields[k]; ok {
			return k
		}
	}
	for k := range fields {
		if k != "update_id" {
			return k
		}
	}
	return ""
}

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func (w *wireMessage) normalise() *Message {
	m := &Message{
		MessageID:    w.MessageID,
		ChatID:       w.Chat.ID,
		ChatType:     w.Chat.Type,
		ChatTitle:    w.Chat.Title,
		From:         w.From.user(),
		Date:         unix(w.Date),
		EditDate:     unix(w.EditDate),
		MediaGroupID: w.MediaGroupID,
		Type:         TypeUnsupported,
		Text:         w.Caption,
	}
	if w.ReplyToMessage != nil {
		m.ReplyToMessageID = w.ReplyToMessage.MessageID
	}
	file := func(typ string, f *wireFile) {
		m.Type = typ
		m.FileID, m.FileUniqueID, m.FileName, m.MimeType, m.FileSize = f.FileID, f.FileUniqueID, f.FileName, f.MimeType, f.FileSize
	}
	// Order matters: an animation also fills "document", and a venue also
	// fills "location".
	switch {
	case w.Text != "":
		m.Type, m.Text = TypeText, w.Text
	case len(w.Photo) > 0:
		file(TypePhoto, &w.Photo[len(w.Photo)-1]) // sizes ascend; keep the largest
	case w.Animation != nil:
		file(TypeVideo, w.Animation)
	case w.VideoNote != nil:
		file(TypeVideo, w.VideoNote)
	case w.Video != nil:
		file(TypeVideo, w.Video)
	case w.Voice != nil:
		file(TypeVoice, w.Voice)
	case w.Audio != nil:
		file(TypeAudio, w.Audio)
	case w.Document != nil:
		file(TypeDocument, w.Document)
	case w.Sticker != nil:
		file(TypeSticker, w.Sticker)
		m.Text = w.Sticker.Emoji
	case w.Venue != nil:
		m.Type = TypeLocation
		m.Location = &meta.Location{Latitude: w.Venue.Location.Latitude, Longitude: w.Venue.Location.Longitude, Name: w.Venue.Title, Address: w.Venue.Address}
		m.Text = meta.FormatLocation(*m.Location)
	case w.Location != nil:
		m.Type = TypeLocation
		m.Location = &meta.Location{Latitude: w.Location.Latitude, Longitude: w.Location.Longitude}
		m.Text = meta.FormatLocation(*m.Location)
	case w.Contact != nil:
		c := w.Contact
		m.Type = TypeContact
		m.Contact = &Contact{PhoneNumber: c.PhoneNumber, FirstName: c.FirstName, LastName: c.LastName, UserID: c.UserID}
		name := c.FirstName
		if c.LastName != "" {
			name += " " + c.LastName
		}
		m.Text = name + " (" + c.PhoneNumber + ")"
	}
	return m
}
