package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/store"
)

// AnalyticsFixture is what SeedAnalytics stored: a tenant-day with known
// figures (Want) for the analytics computation.
type AnalyticsFixture struct {
	Day        time.Time // midnight UTC of the seeded day
	DocumentID string    // an existing document ("Returns policy"), cited twice
	GoneID     string    // a document cited once and never stored ("Old prices")
	Question   string    // the unanswered question, asked twice
	Want       store.DailyStats
}

// SeedAnalytics writes, for tenantID, conversations and messages on day
// (UTC) with these figures:
//
//   - c1 (09:00): two questions answered from the knowledge (2 s and 3 s),
//     then resolved by the bot: citations Returns policy ×2, Old prices ×1;
//   - c2 (10:00): no passage found (10 s, decision no_answer), then an
//     agent replied: a handoff and a knowledge miss;
//   - c3 (11:00): the visitor asked for a person (4 s, decision handoff,
//     no search), then the same question as c2 found nothing: a miss;
//   - c4 started the day before, its contact wrote again at 00:01 (counted
//     in messages, not conversations); a note is never counted.
func SeedAnalytics(t testing.TB, st *store.Store, tenantID string, day time.Time) AnalyticsFixture {
	t.Helper()
	ctx := context.Background()
	day = day.UTC().Truncate(24 * time.Hour)
	f := AnalyticsFixture{Day: day, GoneID: store.NewID(), Question: "Where is my parcel?"}
	at := func(h, m, s int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
	}
	w := func(when time.Time, fn func(tx *store.Tx) error) {
		t.Helper()
		err := st.Write(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
			tx.Now = when
			return fn(tx)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var ch store.Channel
	w(day.Add(-48*time.Hour), func(tx *store.Tx) error {
		var err error
		if ch, err = tx.CreateChannel(ctx, store.Channel{Type: "web", Name: "Site", Config: json.RawMessage(`{}`), PublicKey: "pk_" + store.NewID()}); err != nil {
			return err
		}
		d, err := tx.CreateDocument(ctx, store.Document{Title: "Returns policy", Source: "text"}, []byte("Returns within 30 days."))
		f.DocumentID = d.ID
		return err
	})
	open := func(when time.Time, ext string) string {
		var id string
		w(when, func(tx *store.Tx) error {
			ct, err := tx.UpsertContact(ctx, ch.ID, ext, "")
			if err != nil {
				return err
			}
			c, err := tx.CreateConversation(ctx, ch.ID, ct.ID)
			id = c.ID
			return err
		})
		return id
	}
	add := func(when time.Time, m store.Message) string {
		var id string
		w(when, func(tx *store.Tx) error {
			got, err := tx.AppendMessage(ctx, m)
			id = got.ID
			return err
		})
		return id
	}
	meta := func(decision, reason string, passages int) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"provider": "extractive", "decision": decision, "reason": reason, "passages": passages})
		return b
	}
	cite := func(ids ...string) json.RawMessage {
		var cs []map[string]string
		for _, id := range ids {
			title := "Returns policy"
			if id == f.GoneID {
				title = "Old prices"
			}
			cs = append(cs, map[string]string{"document_id": id, "chunk_id": store.NewID(), "title": title, "snippet": "…"})
		}
		b, _ := json.Marshal(cs)
		return b
	}
	status := func(when time.Time, conv, s string) {
		w(when, func(tx *store.Tx) error { return tx.SetConversationStatus(ctx, conv, s, "") })
	}

	c1 := open(at(9, 0, 0), "v1")
	q := add(at(9, 0, 0), store.Message{ConversationID: c1, Role: "user", Text: "How do returns work?"})
	add(at(9, 0, 2), store.Message{ConversationID: c1, Role: "assistant", Text: "Within 30 days.", ReplyTo: q, Meta: meta("answered", "", 2), Citations: cite(f.DocumentID, f.GoneID, f.DocumentID)})
	q = add(at(9, 1, 0), store.Message{ConversationID: c1, Role: "user", Text: "And refunds?"})
	add(at(9, 1, 3), store.Message{ConversationID: c1, Role: "assistant", Text: "Also.", ReplyTo: q, Meta: meta("answered", "", 1), Citations: cite(f.DocumentID)})
	status(at(9, 2, 0), c1, "resolved")

	c2 := open(at(10, 0, 0), "v2")
	q = add(at(10, 0, 0), store.Message{ConversationID: c2, Role: "user", Text: "Where  is my\nparcel?"})
	add(at(10, 0, 10), store.Message{ConversationID: c2, Role: "assistant", Text: "I do not know.", ReplyTo: q, Meta: meta("no_answer", "nothing relevant in the knowledge base", 0)})
	add(at(10, 5, 0), store.Message{ConversationID: c2, Role: "agent", Text: "Let me check."})
	add(at(10, 6, 0), store.Message{ConversationID: c2, Role: "note", Text: "courier issue"})
	status(at(10, 6, 0), c2, "human")

	c3 := open(at(11, 0, 0), "v3")
	q = add(at(11, 0, 0), store.Message{ConversationID: c3, Role: "user", Text: "A person please"})
	add(at(11, 0, 4), store.Message{ConversationID: c3, Role: "assistant", Text: "Someone will come.", ReplyTo: q, Meta: meta("handoff", "visitor asked for a person", 0)})
	q = add(at(11, 1, 0), store.Message{ConversationID: c3, Role: "user", Text: "where is my parcel?"})
	add(at(11, 1, 2), store.Message{ConversationID: c3, Role: "assistant", Text: "Sorry.", ReplyTo: q, Meta: meta("fallback", "", 0)})

	c4 := open(day.Add(-time.Minute), "v4")
	add(day.Add(-time.Minute), store.Message{ConversationID: c4, Role: "user", Text: "late"})
	add(at(0, 1, 0), store.Message{ConversationID: c4, Role: "user", Text: "still there?"})
	// Another day's traffic is not counted.
	add(day.Add(25*time.Hour), store.Message{ConversationID: c4, Role: "user", Text: "tomorrow"})

	f.Want = store.DailyStats{
		Day: day.Format(store.DayFormat), Conversations: 3, MessagesIn: 6, MessagesOut: 6,
		ResolvedByBot: 1, Handoffs: 2, FirstResponses: 3,
		FirstResponseP50: 4 * time.Second, FirstResponseP95: 10 * time.Second,
		KnowledgeHits: 2, KnowledgeMisses: 2,
	}
	return f
}
