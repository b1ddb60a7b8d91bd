package telegram

import (
	"testing"

	"github.com/metachat/metachat/internal/telegram/telegramfake"
)

func FuzzParseUpdate(f *testing.F) {
	for _, seed := range [][]byte{
		telegramfake.Text(1, chat, 2, "hi"),
		telegramfake.Edited(1, chat, 2, "hi"),
		telegramfake.Photo(1, chat, 2, "f", "c"),
		telegramfake.Document(1, chat, 2, "f", "n", "m", ""),
		telegramfake.Voice(1, chat, 2, "f"),
		telegramfake.Animation(1, chat, 2, "f"),
		telegramfake.Sticker(1, chat, 2, "f", "😂"),
		telegramfake.Venue(1, chat, 2, 1, 2, "t", "a"),
		telegramfake.Contact(1, chat, 2, "+1", "A", ""),
		telegramfake.Callback(1, chat, 2, "q", "d"),
		telegramfake.Blocked(1, chat),
		telegramfake.ChannelPost(1, -100, 2, "x"),
		[]byte(`{"update_id":1,"callback_query":{"id":"q","from":{"id":1},"data":"x"}}`),
		[]byte(`{"update_id":1,"message":null}`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := ParseUpdate(body)
		if err != nil {
			return
		}
		if m := u.Message; m != nil && m.Type == "" {
			t.Fatalf("message without a type: %+v", m)
		}
	})
}
