package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// The reply part of the store conformance suite: what a reply job reads in
// one statement (ReplyContext, ConversationForWrite), on both dialects.

// newAssistant stores an assistant for the tenant.
func newAssistant(t *testing.T, st *store.Store, tenantID, name, settings string) store.Assistant {
	t.Helper()
	var a store.Assistant
	write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		a, err = tx.CreateAssistant(context.Background(), store.Assistant{Name: name, Settings: json.RawMessage(settings), Credentials: "sealed:" + name})
		return err
	})
	return a
}

// newChannelOf stores a channel of the given type answered by assistantID
// ("" for none).
func newChannelOf(t *testing.T, st *store.Store, tenantID, typ, assistantID string) store.Channel {
	t.Helper()
	var c store.Channel
	write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		ch := store.Channel{Type: typ, Name: typ + " channel", AssistantID: assistantID, Config: json.RawMessage(`{}`)}
		if typ == "web" {
			ch.PublicKey = "pk_" + store.NewID()
		}
		c, err = tx.CreateChannel(context.Background(), ch)
		return err
	})
	return c
}

// appendOne stores one message and returns it as stored.
func appendOne(t *testing.T, st *store.Store, tenantID string, m store.Message) store.Message {
	t.Helper()
	write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		m, err = tx.AppendMessage(context.Background(), m)
		return err
	})
	return m
}

// replyContext reads the reply context of a message in the tenant's scope.
func replyContext(t *testing.T, st *store.Store, tenantID, inboundID string) (store.ReplyContext, error) {
	t.Helper()
	var rc store.ReplyContext
	err := st.Read(context.Background(), store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		rc, err = tx.ReplyContext(context.Background(), inboundID)
		return err
	})
	return rc, err
}

// bumpKnowledge changes the tenant's searchable set the way indexing does:
// a document's chunks are stored.
func bumpKnowledge(t *testing.T, st *store.Store, tenantID string) {
	t.Helper()
	ctx := context.Background()
	write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
		d, err := tx.CreateDocument(ctx, store.Document{Title: "Opening hours", Source: "text", Kind: "txt"}, []byte("We open at nine."))
		if err != nil {
			return err
		}
		return tx.ReplaceChunks(ctx, d.ID, d.Generation, []store.Chunk{{Position: 0, Text: "We open at nine.", Embedding: []float32{1, 0}}})
	})
}

func TestAFreshInboundMessageComesWithItsConversationAndTheChannelsAssistant(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := storetest.NewTenant(t, st, "A")
		settings := `{"instructions":"Be brief.","model":{"temperature":0.2},"knowledge":{"only_from_knowledge":true}}`
		asst := newAssistant(t, st, a, "Helper", settings)
		ch := newChannelOf(t, st, a, "web", asst.ID)
		_, cv := newThread(t, st, a, ch.ID, "visitor")
		appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "earlier"})
		in := appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "When do you open?", ClientID: "c2"})

		rc, err := replyContext(t, st, a, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		var wantIn store.Message
		var wantConv store.Conversation
		var wantAsst store.Assistant
		_ = st.Read(ctx, store.TenantScope(a), func(tx *store.Tx) error {
			var err error
			if wantIn, err = tx.GetMessage(ctx, in.ID); err != nil {
				t.Fatal(err)
			}
			if wantConv, err = tx.GetConversation(ctx, cv.ID); err != nil {
				t.Fatal(err)
			}
			if wantAsst, err = tx.GetAssistant(ctx, asst.ID); err != nil {
				t.Fatal(err)
			}
			return nil
		})
		if !reflect.DeepEqual(rc.Inbound, wantIn) {
			t.Errorf("Inbound = %+v\nwant (GetMessage) %+v", rc.Inbound, wantIn)
		}
		if rc.Inbound.Text != "When do you open?" || rc.Inbound.Seq != 2 || rc.Inbound.ClientID != "c2" {
			t.Errorf("Inbound = %+v, want the second message", rc.Inbound)
		}
		if rc.Answered {
			t.Error("a message nobody answered is Answered")
		}
		if !reflect.DeepEqual(rc.Conversation, wantConv) {
			t.Errorf("Conversation = %+v\nwant (GetConversation) %+v", rc.Conversation, wantConv)
		}
		if rc.Conversation.ID != cv.ID || rc.Conversation.Status != "bot" || rc.Conversation.LastSeq != 2 {
			t.Errorf("Conversation = %+v, want %s with the bot at seq 2", rc.Conversation, cv.ID)
		}
		if rc.AssistantID != asst.ID || !rc.HasAssistant {
			t.Fatalf("AssistantID = %q, HasAssistant = %v; want %q, true", rc.AssistantID, rc.HasAssistant, asst.ID)
		}
		got := rc.Assistant
		if got.ID != wantAsst.ID || got.Name != "Helper" || string(got.Settings) != settings || got.Credentials != "sealed:Helper" ||
			!got.CreatedAt.Equal(wantAsst.CreatedAt) || !got.UpdatedAt.Equal(wantAsst.UpdatedAt) {
			t.Errorf("Assistant = %+v\nwant (GetAssistant) %+v", got, wantAsst)
		}
		if rc.KnowledgeVersion != 0 {
			t.Errorf("KnowledgeVersion = %d before anything was indexed, want 0", rc.KnowledgeVersion)
		}
	})
}

func TestAMessageIsAnsweredOnceAReplyToItIsStored(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		a := storetest.NewTenant(t, st, "A")
		ch := newChannelOf(t, st, a, "web", "")
		_, cv := newThread(t, st, a, ch.ID, "visitor")
		first := appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "first"})
		second := appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "second"})
		// A person's message in the same conversation answers nothing.
		appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "agent", Text: "hello from a person"})
		for _, m := range []store.Message{first, second} {
			if rc, err := replyContext(t, st, a, m.ID); err != nil || rc.Answered {
				t.Fatalf("%q before any reply: Answered = %v, %v; want false", m.Text, rc.Answered, err)
			}
		}
		appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "assistant", Text: "answer to the first", ReplyTo: first.ID})
		for _, tc := range []struct {
			m    store.Message
			want bool
		}{{first, true}, {second, false}} {
			rc, err := replyContext(t, st, a, tc.m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rc.Answered != tc.want {
				t.Errorf("%q after a reply to the first: Answered = %v, want %v", tc.m.Text, rc.Answered, tc.want)
			}
			if rc.Conversation.LastSeq != 4 {
				t.Errorf("%q: the conversation's LastSeq = %d, want 4 (read in the same statement, after the reply)", tc.m.Text, rc.Conversation.LastSeq)
			}
		}
	})
}

func TestTheChannelsAssistantIsReportedOnlyWhenItExists(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := storetest.NewTenant(t, st, "A")
		cases := []struct {
			name string
			// channel makes the channel and returns the assistant id
			// ReplyContext must report.
			channel          func() (store.Channel, string)
			wantHasAssistant bool
		}{
			{name: "an assistant", channel: func() (store.Channel, string) {
				asst := newAssistant(t, st, a, "Kept", `{}`)
				return newChannelOf(t, st, a, "web", asst.ID), asst.ID
			}, wantHasAssistant: true},
			{name: "no assistant", channel: func() (store.Channel, string) {
				return newChannelOf(t, st, a, "web", ""), ""
			}},
			{name: "an assistant since deleted", channel: func() (store.Channel, string) {
				// Deleting an assistant detaches it from its channels.
				asst := newAssistant(t, st, a, "Deleted", `{}`)
				ch := newChannelOf(t, st, a, "web", asst.ID)
				write(t, st, store.TenantScope(a), func(tx *store.Tx) error { return tx.DeleteAssistant(ctx, asst.ID) })
				return ch, ""
			}},
			{name: "an assistant deleted while the channel was being edited", channel: func() (store.Channel, string) {
				// An edit that read the channel before the deletion writes
				// the old id back: the channel points at no assistant.
				asst := newAssistant(t, st, a, "Gone", `{}`)
				ch := newChannelOf(t, st, a, "web", "")
				write(t, st, store.TenantScope(a), func(tx *store.Tx) error { return tx.DeleteAssistant(ctx, asst.ID) })
				ch.AssistantID = asst.ID
				write(t, st, store.TenantScope(a), func(tx *store.Tx) error { return tx.UpdateChannel(ctx, ch) })
				return ch, asst.ID
			}},
		}
		for _, tc := range cases {
			ch, wantID := tc.channel()
			_, cv := newThread(t, st, a, ch.ID, "visitor")
			in := appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi"})
			rc, err := replyContext(t, st, a, in.ID)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if rc.AssistantID != wantID || rc.HasAssistant != tc.wantHasAssistant {
				t.Errorf("%s: AssistantID = %q, HasAssistant = %v; want %q, %v", tc.name, rc.AssistantID, rc.HasAssistant, wantID, tc.wantHasAssistant)
			}
			if !tc.wantHasAssistant && !reflect.DeepEqual(rc.Assistant, store.Assistant{}) {
				t.Errorf("%s: Assistant = %+v, want the zero value", tc.name, rc.Assistant)
			}
			if tc.wantHasAssistant && rc.Assistant.ID != wantID {
				t.Errorf("%s: Assistant.ID = %q, want %q", tc.name, rc.Assistant.ID, wantID)
			}
			if rc.Inbound.ID != in.ID || rc.Conversation.ID != cv.ID {
				t.Errorf("%s: read message %s of conversation %s, want %s of %s", tc.name, rc.Inbound.ID, rc.Conversation.ID, in.ID, cv.ID)
			}
		}
	})
}

func TestTheKnowledgeVersionIsTheTenantsOwnAndFollowsIndexing(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := storetest.NewTenant(t, st, "A"), storetest.NewTenant(t, st, "B")
		ch := newChannelOf(t, st, a, "web", "")
		_, cv := newThread(t, st, a, ch.ID, "visitor")
		in := appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi"})

		// Another tenant's indexing is not this tenant's version.
		bumpKnowledge(t, st, b)
		bumpKnowledge(t, st, b)
		if rc, err := replyContext(t, st, a, in.ID); err != nil || rc.KnowledgeVersion != 0 {
			t.Fatalf("after tenant B indexed: KnowledgeVersion = %d, %v; want 0", rc.KnowledgeVersion, err)
		}
		bumpKnowledge(t, st, a)
		rc, err := replyContext(t, st, a, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		_ = st.Read(ctx, store.TenantScope(a), func(tx *store.Tx) error {
			want, err = tx.KnowledgeVersion(ctx)
			return err
		})
		if rc.KnowledgeVersion <= 0 || rc.KnowledgeVersion != want {
			t.Errorf("after indexing: KnowledgeVersion = %d, want %d (KnowledgeVersion), above 0", rc.KnowledgeVersion, want)
		}
		bumpKnowledge(t, st, a)
		if again, err := replyContext(t, st, a, in.ID); err != nil || again.KnowledgeVersion <= rc.KnowledgeVersion {
			t.Errorf("after indexing again: KnowledgeVersion = %d, %v; want above %d", again.KnowledgeVersion, err, rc.KnowledgeVersion)
		}
	})
}

func TestReplyContextIsNotFoundForAnUnknownMessageOrAnotherTenants(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		a, b := storetest.NewTenant(t, st, "A"), storetest.NewTenant(t, st, "B")
		asst := newAssistant(t, st, a, "A's helper", `{"instructions":"secret"}`)
		ch := newChannelOf(t, st, a, "web", asst.ID)
		_, cv := newThread(t, st, a, ch.ID, "visitor")
		in := appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "A's private question"})
		// B has data of its own, so B's scope is not simply empty.
		chB := newChannelOf(t, st, b, "web", newAssistant(t, st, b, "B's helper", `{}`).ID)
		_, cvB := newThread(t, st, b, chB.ID, "visitor")
		inB := appendOne(t, st, b, store.Message{ConversationID: cvB.ID, Role: "user", Text: "B's question"})

		cases := []struct {
			name      string
			tenant    string
			inboundID string
		}{
			{name: "tenant B reading A's message", tenant: b, inboundID: in.ID},
			{name: "tenant A reading B's message", tenant: a, inboundID: inB.ID},
			{name: "an unknown message", tenant: a, inboundID: store.NewID()},
		}
		for _, tc := range cases {
			rc, err := replyContext(t, st, tc.tenant, tc.inboundID)
			if !apperr.Is(err, apperr.NotFound) {
				t.Errorf("%s: %v, want NotFound", tc.name, err)
			}
			if !reflect.DeepEqual(rc, store.ReplyContext{}) {
				t.Errorf("%s: returned %+v alongside the error, want nothing", tc.name, rc)
			}
		}
		// Each tenant still reads its own.
		if rc, err := replyContext(t, st, a, in.ID); err != nil || rc.Inbound.Text != "A's private question" {
			t.Errorf("A's own message: %+v, %v", rc.Inbound, err)
		}
		if rc, err := replyContext(t, st, b, inB.ID); err != nil || rc.Inbound.Text != "B's question" {
			t.Errorf("B's own message: %+v, %v", rc.Inbound, err)
		}
	})
}

func TestConversationForWriteReturnsTheChannelsTypeAndAssistant(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := storetest.NewTenant(t, st, "A")
		asst := newAssistant(t, st, a, "Helper", `{}`)
		cases := []struct {
			name        string
			typ         string
			assistantID string
		}{
			{name: "a web channel with an assistant", typ: "web", assistantID: asst.ID},
			{name: "a telegram channel without one", typ: "telegram", assistantID: ""},
		}
		for _, tc := range cases {
			ch := newChannelOf(t, st, a, tc.typ, tc.assistantID)
			_, cv := newThread(t, st, a, ch.ID, "visitor")
			appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi"})
			_ = st.Read(ctx, store.TenantScope(a), func(tx *store.Tx) error {
				w, err := tx.ConversationForWrite(ctx, cv.ID, "")
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
					return nil
				}
				want, err := tx.GetConversation(ctx, cv.ID)
				if err != nil {
					t.Errorf("%s: GetConversation: %v", tc.name, err)
					return nil
				}
				if !reflect.DeepEqual(w.Conversation, want) {
					t.Errorf("%s: conversation = %+v\nwant (GetConversation) %+v", tc.name, w.Conversation, want)
				}
				if w.Conversation.ID != cv.ID || w.Conversation.ChannelID != ch.ID || w.Conversation.LastSeq != 1 {
					t.Errorf("%s: conversation = %+v, want %s on channel %s at seq 1", tc.name, w.Conversation, cv.ID, ch.ID)
				}
				if w.Channel != (store.ChannelOf{Type: tc.typ, AssistantID: tc.assistantID}) {
					t.Errorf("%s: Channel = %+v, want type %q and assistant %q", tc.name, w.Channel, tc.typ, tc.assistantID)
				}
				return nil
			})
		}
	})
}

func TestConversationForWriteTellsWhetherTheClientIDWasUsedInThatConversation(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := storetest.NewTenant(t, st, "A")
		ch := newChannelOf(t, st, a, "web", "")
		_, cv := newThread(t, st, a, ch.ID, "visitor")
		_, other := newThread(t, st, a, ch.ID, "someone else")
		appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi", ClientID: "c1"})
		appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "no client id"})
		appendOne(t, st, a, store.Message{ConversationID: other.ID, Role: "user", Text: "elsewhere", ClientID: "c9"})
		cases := []struct {
			name           string
			conversationID string
			clientID       string
			want           bool
		}{
			{name: "a client id stored in it", conversationID: cv.ID, clientID: "c1", want: true},
			{name: "a new client id", conversationID: cv.ID, clientID: "c2", want: false},
			{name: "no client id", conversationID: cv.ID, clientID: "", want: false},
			{name: "a client id stored only in another conversation", conversationID: cv.ID, clientID: "c9", want: false},
			{name: "that client id in its own conversation", conversationID: other.ID, clientID: "c9", want: true},
		}
		for _, tc := range cases {
			_ = st.Read(ctx, store.TenantScope(a), func(tx *store.Tx) error {
				w, err := tx.ConversationForWrite(ctx, tc.conversationID, tc.clientID)
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
					return nil
				}
				if w.ClientIDTaken != tc.want {
					t.Errorf("%s: ClientIDTaken = %v, want %v", tc.name, w.ClientIDTaken, tc.want)
				}
				if w.Conversation.ID != tc.conversationID {
					t.Errorf("%s: read conversation %s, want %s", tc.name, w.Conversation.ID, tc.conversationID)
				}
				return nil
			})
		}
	})
}

func TestConversationForWriteIsNotFoundForAnUnknownIDOrAnotherTenants(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := storetest.NewTenant(t, st, "A"), storetest.NewTenant(t, st, "B")
		ch := newChannelOf(t, st, a, "web", newAssistant(t, st, a, "Helper", `{}`).ID)
		_, cv := newThread(t, st, a, ch.ID, "visitor")
		appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi", ClientID: "c1"})
		_, cvB := newThread(t, st, b, newChannelOf(t, st, b, "web", "").ID, "visitor")
		cases := []struct {
			name   string
			tenant string
			id     string
		}{
			{name: "an unknown conversation", tenant: a, id: store.NewID()},
			{name: "tenant B writing to A's conversation", tenant: b, id: cv.ID},
			{name: "tenant A writing to B's conversation", tenant: a, id: cvB.ID},
		}
		for _, tc := range cases {
			err := st.Write(ctx, store.TenantScope(tc.tenant), func(tx *store.Tx) error {
				w, err := tx.ConversationForWrite(ctx, tc.id, "c1")
				if err == nil || !reflect.DeepEqual(w, store.WriteTarget{}) {
					t.Errorf("%s: returned %+v alongside %v; want nothing", tc.name, w, err)
				}
				return err
			})
			if !apperr.Is(err, apperr.NotFound) {
				t.Errorf("%s: %v, want NotFound", tc.name, err)
			}
		}
	})
}

func TestAppendingToAConversationThatDoesNotExistIsNotFoundAndStoresNothing(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := storetest.NewTenant(t, st, "A")
		ch := newChannelOf(t, st, a, "web", "")
		_, cv := newThread(t, st, a, ch.ID, "visitor")
		scope := store.TenantScope(a)
		var appendErr error
		// The transaction commits: a failed append must leave nothing
		// behind even when the caller carries on.
		write(t, st, scope, func(tx *store.Tx) error {
			m, err := tx.AppendMessage(ctx, store.Message{ConversationID: store.NewID(), Role: "user", Text: "into the void", ClientID: "c1"})
			appendErr = err
			if err == nil {
				t.Errorf("appended %+v to a conversation that does not exist", m)
			}
			return nil
		})
		if !apperr.Is(appendErr, apperr.NotFound) {
			t.Errorf("AppendMessage to an unknown conversation: %v, want NotFound", appendErr)
		}
		_ = st.Read(ctx, scope, func(tx *store.Tx) error {
			if n, err := tx.CountRows(ctx, "messages"); err != nil || n != 0 {
				t.Errorf("messages stored: %d, %v; want none", n, err)
			}
			if n, err := tx.CountRows(ctx, "conversations"); err != nil || n != 1 {
				t.Errorf("conversations: %d, %v; want only the real one", n, err)
			}
			got, err := tx.GetConversation(ctx, cv.ID)
			if err != nil || got.LastSeq != 0 {
				t.Errorf("the tenant's real conversation = %+v, %v; want it untouched at seq 0", got, err)
			}
			return nil
		})
		// The real conversation still takes messages from seq 1.
		if m := appendOne(t, st, a, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi", ClientID: "c1"}); m.Seq != 1 {
			t.Errorf("the next real message has seq %d, want 1", m.Seq)
		}
	})
}
