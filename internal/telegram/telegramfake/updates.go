package telegramfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// Fixed values the builders use, so tests can assert them.
const (
	// Date is when every built message was sent (Unix seconds).
	Date int64 = 1749416383
	// The private-chat user of the builders; their user id is the chat id.
	FirstName    = "Ana"
	LastName     = "Horvat"
	Username     = "ana_horvat"
	LanguageCode = "hr"
)

type obj = map[string]any

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("telegramfake: encode update: %v", err))
	}
	return b
}

// NewWebhookRequest is an update POST carrying the secret header, for an
// http.Handler under test (httptest.NewRequest: pass it to ServeHTTP).
func NewWebhookRequest(target, secretToken string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if secretToken != "" {
		r.Header.Set("X-Telegram-Bot-Api-Secret-Token", secretToken)
	}
	return r
}

func user(id int64) obj {
	return obj{"id": id, "is_bot": false, "first_name": FirstName, "last_name": LastName, "username": Username, "language_code": LanguageCode}
}

func privateChat(id int64) obj {
	return obj{"id": id, "first_name": FirstName, "last_name": LastName, "username": Username, "type": "private"}
}

// message is a private-chat message with the given content fields.
func message(chatID, messageID int64, content obj) obj {
	m := obj{"message_id": messageID, "from": user(chatID), "chat": privateChat(chatID), "date": Date}
	for k, v := range content {
		m[k] = v
	}
	return m
}

func update(updateID int64, kind string, payload obj) []byte {
	return encode(obj{"update_id": updateID, kind: payload})
}

// Text is a private text message.
func Text(updateID, chatID, messageID int64, text string) []byte {
	return update(updateID, "message", message(chatID, messageID, obj{"text": text}))
}

// Reply is a private text message replying to the message replyTo.
func Reply(updateID, chatID, messageID, replyTo int64, text string) []byte {
	return update(updateID, "message", message(chatID, messageID, obj{
		"text":             text,
		"reply_to_message": obj{"message_id": replyTo, "chat": privateChat(chatID), "date": Date - 60, "text": "earlier"},
	}))
}

// Edited is an edit of an earlier text message.
func Edited(updateID, chatID, messageID int64, text string) []byte {
	return update(updateID, "edited_message", message(chatID, messageID, obj{"text": text, "edit_date": Date + 30}))
}

func fileObj(fileID string, extra obj) obj {
	f := obj{"file_id": fileID, "file_unique_id": "AQAD" + fileID}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// Photo is a photo in three sizes; the largest has fileID, the others
// fileID+"-s" and fileID+"-m". caption may be empty.
func Photo(updateID, chatID, messageID int64, fileID, caption string) []byte {
	content := obj{"photo": []any{
		fileObj(fileID+"-s", obj{"file_size": 1200, "width": 90, "height": 60}),
		fileObj(fileID+"-m", obj{"file_size": 15000, "width": 320, "height": 213}),
		fileObj(fileID, obj{"file_size": 80000, "width": 1280, "height": 853}),
	}}
	if caption != "" {
		content["caption"] = caption
	}
	return update(updateID, "message", message(chatID, messageID, content))
}

// Document is a file; caption may be empty.
func Document(updateID, chatID, messageID int64, fileID, fileName, mimeType, caption string) []byte {
	content := obj{"document": fileObj(fileID, obj{"file_name": fileName, "mime_type": mimeType, "file_size": 52000})}
	if caption != "" {
		content["caption"] = caption
	}
	return update(updateID, "message", message(chatID, messageID, content))
}

// Audio is a music file.
func Audio(updateID, chatID, messageID int64, fileID, mimeType string) []byte {
	return update(updateID, "message", message(chatID, messageID, obj{"audio": fileObj(fileID, obj{"duration": 185, "mime_type": mimeType, "file_size": 3000000, "title": "Song"})}))
}

// Voice is a recorded voice note (OGG/Opus).
func Voice(updateID, chatID, messageID int64, fileID string) []byte {
	return update(updateID, "message", message(chatID, messageID, obj{"voice": fileObj(fileID, obj{"duration": 4, "mime_type": "audio/ogg", "file_size": 9000})}))
}

// Video is a video; caption may be empty.
func Video(updateID, chatID, messageID int64, fileID, caption string) []byte {
	content := obj{"video": fileObj(fileID, obj{"width": 640, "height": 360, "duration": 12, "mime_type": "video/mp4", "file_size": 900000})}
	if caption != "" {
		content["caption"] = caption
	}
	return update(updateID, "message", message(chatID, messageID, content))
}

// Animation is a GIF, which Telegram sends as MP4 and also fills
// "document" for older clients.
func Animation(updateID, chatID, messageID int64, fileID string) []byte {
	anim := fileObj(fileID, obj{"width": 320, "height": 240, "duration": 3, "file_name": "funny.mp4", "mime_type": "video/mp4", "file_size": 200000})
	return update(updateID, "message", message(chatID, messageID, obj{"animation": anim, "document": anim}))
}

// Sticker is a static sticker with its emoji.
func Sticker(updateID, chatID, messageID int64, fileID, emoji string) []byte {
	return update(updateID, "message", message(chatID, messageID, obj{"sticker": fileObj(fileID, obj{
		"type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": emoji, "set_name": "HotCherry", "file_size": 20000,
	})}))
}

// Location is a shared location.
func Location(updateID, chatID, messageID int64, lat, long float64) []byte {
	return update(updateID, "message", message(chatID, messageID, obj{"location": obj{"latitude": lat, "longitude": long}}))
}

// Venue is a shared place; Telegram fills "location" too.
func Venue(updateID, chatID, messageID int64, lat, long float64, title, address string) []byte {
	loc := obj{"latitude": lat, "longitude": long}
	return update(updateID, "message", message(chatID, messageID, obj{"location": loc, "venue": obj{"location": loc, "title": title, "address": address}}))
}

// Contact is a shared contact card of a Telegram user.
func Contact(updateID, chatID, messageID int64, phone, firstName, lastName string) []byte {
	c := obj{"phone_number": phone, "first_name": firstName, "user_id": 777000111}
	if lastName != "" {
		c["last_name"] = lastName
	}
	return update(updateID, "message", message(chatID, messageID, obj{"contact": c}))
}

// Dice is a message kind the platform does not handle (a dice roll).
func Dice(updateID, chatID, messageID int64) []byte {
	return update(updateID, "message", message(chatID, messageID, obj{"dice": obj{"emoji": "🎲", "value": 4}}))
}

// Callback is a tap on an inline keyboard button of the bot's message
// messageID.
func Callback(updateID, chatID, messageID int64, queryID, data string) []byte {
	return update(updateID, "callback_query", obj{
		"id":            queryID,
		"from":          user(chatID),
		"chat_instance": "-3148429758432498765",
		"data":          data,
		"message": obj{
			"message_id": messageID,
			"from":       obj{"id": 7000000001, "is_bot": true, "first_name": "MetaChat Test Bot", "username": "metachat_test_bot"},
			"chat":       privateChat(chatID),
			"date":       Date - 120,
			"text":       "Pick one",
		},
	})
}

// GroupText is a text message from user fromID in a supergroup.
func GroupText(updateID, groupID, fromID, messageID int64, text string) []byte {
	return update(updateID, "message", obj{
		"message_id": messageID, "from": user(fromID), "date": Date, "text": text,
		"chat": obj{"id": groupID, "title": "Support group", "type": "supergroup"},
	})
}

// ChannelPost is a post in a channel the bot administers.
func ChannelPost(updateID, channelID, messageID int64, text string) []byte {
	return update(updateID, "channel_post", obj{
		"message_id": messageID, "date": Date, "text": text,
		"sender_chat": obj{"id": channelID, "title": "News", "type": "channel"},
		"chat":        obj{"id": channelID, "title": "News", "type": "channel"},
	})
}

// Blocked is the my_chat_member update Telegram sends when the user of a
// private chat blocks the bot.
func Blocked(updateID, chatID int64) []byte {
	return chatMember(updateID, chatID, "member", "kicked")
}

// Unblocked is the my_chat_member update for the user unblocking the bot.
func Unblocked(updateID, chatID int64) []byte {
	return chatMember(updateID, chatID, "kicked", "member")
}

func chatMember(updateID, chatID int64, from, to string) []byte {
	bot := obj{"id": 7000000001, "is_bot": true, "first_name": "MetaChat Test Bot", "username": "metachat_test_bot"}
	member := func(status string) obj {
		m := obj{"user": bot, "status": status}
		if status == "kicked" {
			m["until_date"] = 0
		}
		return m
	}
	return update(updateID, "my_chat_member", obj{
		"chat": privateChat(chatID), "from": user(chatID), "date": Date,
		"old_chat_member": member(from), "new_chat_member": member(to),
	})
}
