package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// The conversation part of the store conformance suite: channels,
// contacts, conversations and messages, on both dialects.

// newWebChannel stores a web channel for the tenant.
func newWebChannel(t *testing.T, st *store.Store, tenantID, name string) store.Channel {
	t.Helper()
	var c store.Channel
	write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		c, err = tx.CreateChannel(context.Background(), store.Channel{Type: "web", Name: name, Config: json.RawMessage(`{}`), PublicKey: "pk_" + store.NewID()})
		return err
	})
	return c
}

// newThread stores a contact on the channel and opens a conversation.
func newThread(t *testing.T, st *store.Store, tenantID, channelID, externalID string) (store.Contact, store.Conversation) {
	t.Helper()
	ctx := context.Background()
	var ct store.Contact
	var cv store.Conversation
	write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
		var err error
		if ct, err = tx.UpsertContact(ctx, channelID, externalID, ""); err != nil {
			return err
		}
		cv, err = tx.CreateConversation(ctx, channelID, ct.ID)
		return err
	})
	return ct, cv
}

// appendMessages writes messages with the given roles, in order.
func appendMessages(t *testing.T, st *store.Store, tenantID, conversationID string, roles ...string) []store.Message {
	t.Helper()
	var out []store.Message
	for i, role := range roles {
		write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
			m, err := tx.AppendMessage(context.Background(), store.Message{ConversationID: conversationID, Role: role, Text: fmt.Sprintf("%s %d", role, i)})
			out = append(out, m)
			return err
		})
	}
	return out
}

func seqsOf(ms []store.Message) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func TestUpsertingAContactIsIdempotentPerChannelAndExternalID(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		web, other := newWebChannel(t, st, a.ID, "web"), newWebChannel(t, st, a.ID, "other")
		scope := store.TenantScope(a.ID)
		var first, again, named, unnamed, elsewhere store.Contact
		write(t, st, scope, func(tx *store.Tx) error {
			var err error
			if first, err = tx.UpsertContact(ctx, web.ID, "visitor-1", ""); err != nil {
				return err
			}
			if again, err = tx.UpsertContact(ctx, web.ID, "visitor-1", ""); err != nil {
				return err
			}
			if named, err = tx.UpsertContact(ctx, web.ID, "visitor-1", "Ana"); err != nil {
				return err
			}
			if unnamed, err = tx.UpsertContact(ctx, web.ID, "visitor-1", ""); err != nil {
				return err
			}
			elsewhere, err = tx.UpsertContact(ctx, other.ID, "visitor-1", "")
			return err
		})
		for name, c := range map[string]store.Contact{"again": again, "named": named, "unnamed": unnamed} {
			if c.ID != first.ID {
				t.Errorf("upsert %s made contact %s, want the first one %s", name, c.ID, first.ID)
			}
		}
		if named.Name != "Ana" || unnamed.Name != "Ana" {
			t.Errorf("names = %q then %q; an empty name must not erase a known one", named.Name, unnamed.Name)
		}
		if elsewhere.ID == first.ID {
			t.Errorf("the same external id on another channel is the same contact")
		}
		_ = st.Read(ctx, scope, func(tx *store.Tx) error {
			got, err := tx.ContactByExternalID(ctx, web.ID, "visitor-1")
			if err != nil || got.ID != first.ID || got.ChannelID != web.ID || got.ExternalID != "visitor-1" {
				t.Errorf("ContactByExternalID = %+v, %v", got, err)
			}
			if _, err := tx.ContactByExternalID(ctx, web.ID, "nobody"); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("unknown external id: %v, want NotFound", err)
			}
			return nil
		})
	})
}

func TestAppendMessageNumbersTwentyConcurrentWritersWithoutGaps(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		ch := newWebChannel(t, st, a.ID, "web")
		_, cv := newThread(t, st, a.ID, ch.ID, "v")
		const writers = 20
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				errs <- st.Write(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
					_, err := tx.AppendMessage(ctx, store.Message{ConversationID: cv.ID, Role: "user", Text: fmt.Sprint("message ", i), ClientID: fmt.Sprint("c", i)})
					return err
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		_ = st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			ms, err := tx.ListMessages(ctx, cv.ID, 0, 100, true)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int64, writers)
			for i := range want {
				want[i] = int64(i + 1)
			}
			if got := seqsOf(ms); !slices.Equal(got, want) {
				t.Errorf("seqs = %v, want 1…%d with no gaps or repeats", got, writers)
			}
			got, err := tx.GetConversation(ctx, cv.ID)
			if err != nil || got.LastSeq != writers {
				t.Errorf("conversation last_seq = %d, %v; want %d", got.LastSeq, err, writers)
			}
			return nil
		})
	})
}

func TestADuplicateClientIDIsErrDuplicateAndConsumesNoSeq(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		ch := newWebChannel(t, st, a.ID, "web")
		_, cv := newThread(t, st, a.ID, ch.ID, "v")
		_, other := newThread(t, st, a.ID, ch.ID, "w")
		scope := store.TenantScope(a.ID)
		var first store.Message
		write(t, st, scope, func(tx *store.Tx) error {
			var err error
			first, err = tx.AppendMessage(ctx, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi", ClientID: "c1"})
			return err
		})
		err := st.Write(ctx, scope, func(tx *store.Tx) error {
			_, err := tx.AppendMessage(ctx, store.Message{ConversationID: cv.ID, Role: "user", Text: "hi again", ClientID: "c1"})
			return err
		})
		if !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("second c1: %v, want store.ErrDuplicate", err)
		}
		// The same client id in another conversation is not a duplicate.
		write(t, st, scope, func(tx *store.Tx) error {
			_, err := tx.AppendMessage(ctx, store.Message{ConversationID: other.ID, Role: "user", Text: "hi", ClientID: "c1"})
			return err
		})
		_ = st.Read(ctx, scope, func(tx *store.Tx) error {
			m, err := tx.MessageByClientID(ctx, cv.ID, "c1")
			if err != nil || m.ID != first.ID || m.Text != "hi" || m.Seq != 1 {
				t.Errorf("MessageByClientID = %+v, %v; want the first message", m, err)
			}
			got, err := tx.GetConversation(ctx, cv.ID)
			if err != nil || got.LastSeq != 1 {
				t.Errorf("last_seq after a refused duplicate = %d, %v; want 1", got.LastSeq, err)
			}
			if _, err := tx.MessageByClientID(ctx, cv.ID, "c2"); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("unknown client id: %v, want NotFound", err)
			}
			return nil
		})
		write(t, st, scope, func(tx *store.Tx) error {
			m, err := tx.AppendMessage(ctx, store.Message{ConversationID: cv.ID, Role: "user", Text: "next", ClientID: "c2"})
			if err == nil && m.Seq != 2 {
				t.Errorf("the message after a refused duplicate has seq %d, want 2", m.Seq)
			}
			return err
		})
	})
}

func TestListMessagesReturnsTheMessagesAfterASeqWithOrWithoutNotes(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		ch := newWebChannel(t, st, a.ID, "web")
		_, cv := newThread(t, st, a.ID, ch.ID, "v")
		// seq:               1       2        3       4        5
		appendMessages(t, st, a.ID, cv.ID, "user", "assistant", "note", "agent", "user")
		for _, tc := range []struct {
			name      string
			after     int64
			limit     int
			withNotes bool
			want      []int64
		}{
			{"everything for agents", 0, 100, true, []int64{1, 2, 3, 4, 5}},
			{"everything for visitors", 0, 100, false, []int64{1, 2, 4, 5}},
			{"after 2 for agents", 2, 100, true, []int64{3, 4, 5}},
			{"after 2 for visitors", 2, 100, false, []int64{4, 5}},
			{"after the last", 5, 100, true, []int64{}},
			{"beyond the last", 99, 100, true, []int64{}},
			{"a limited page", 1, 2, true, []int64{2, 3}},
			{"a limited page without notes", 1, 2, false, []int64{2, 4}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_ = st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
					ms, err := tx.ListMessages(ctx, cv.ID, tc.after, tc.limit, tc.withNotes)
					if err != nil {
						t.Fatal(err)
					}
					if got := seqsOf(ms); !slices.Equal(got, tc.want) {
						t.Errorf("seqs = %v, want %v", got, tc.want)
					}
					for _, m := range ms {
						if m.ConversationID != cv.ID || m.ChannelID != ch.ID || m.ID == "" || m.CreatedAt.IsZero() || string(m.Citations) != "[]" {
							t.Errorf("message not filled in: %+v", m)
						}
					}
					return nil
				})
			})
		}
	})
}

func TestListConversationsFiltersAndPagesNewestFirst(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		web, other := newWebChannel(t, st, a.ID, "web"), newWebChannel(t, st, a.ID, "other")
		agent := store.NewID()
		scope := store.TenantScope(a.ID)
		// Five conversations, oldest first: statuses and channels vary.
		type made struct {
			id, channel, status, assignee string
		}
		var all []made
		for i, spec := range []made{
			{channel: web.ID, status: "bot"},
			{channel: web.ID, status: "human", assignee: agent},
			{channel: other.ID, status: "resolved"},
			{channel: other.ID, status: "human", assignee: agent},
			{channel: web.ID, status: "human"},
		} {
			_, cv := newThread(t, st, a.ID, spec.channel, fmt.Sprint("visitor-", i))
			if spec.status != "bot" {
				write(t, st, scope, func(tx *store.Tx) error { return tx.SetConversationStatus(ctx, cv.ID, spec.status, spec.assignee) })
			}
			spec.id = cv.ID
			all = append(all, spec)
		}
		newestFirst := func(keep func(made) bool) []string {
			out := []string{}
			for i := len(all) - 1; i >= 0; i-- {
				if keep(all[i]) {
					out = append(out, all[i].id)
				}
			}
			return out
		}
		list := func(f store.ConversationFilter, p store.Page) []store.Conversation {
			var cs []store.Conversation
			if err := st.Read(ctx, scope, func(tx *store.Tx) error {
				var err error
				cs, err = tx.ListConversations(ctx, f, p)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return cs
		}
		idsOf := func(cs []store.Conversation) []string {
			out := []string{}
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    store.ConversationFilter
			keep func(made) bool
		}{
			{"no filter", store.ConversationFilter{}, func(made) bool { return true }},
			{"status human", store.ConversationFilter{Status: "human"}, func(m made) bool { return m.status == "human" }},
			{"status resolved", store.ConversationFilter{Status: "resolved"}, func(m made) bool { return m.status == "resolved" }},
			{"channel other", store.ConversationFilter{ChannelID: other.ID}, func(m made) bool { return m.channel == other.ID }},
			{"assignee", store.ConversationFilter{AssigneeID: agent}, func(m made) bool { return m.assignee == agent }},
			{"status and channel", store.ConversationFilter{Status: "human", ChannelID: web.ID}, func(m made) bool { return m.status == "human" && m.channel == web.ID }},
			{"all three", store.ConversationFilter{Status: "human", ChannelID: other.ID, AssigneeID: agent}, func(m made) bool {
				return m.status == "human" && m.channel == other.ID && m.assignee == agent
			}},
			{"nothing matches", store.ConversationFilter{Status: "bot", ChannelID: other.ID}, func(made) bool { return false }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got, want := idsOf(list(tc.f, store.Page{Limit: 50})), newestFirst(tc.keep); !slices.Equal(got, want) {
					t.Errorf("ids = %v, want newest first %v", got, want)
				}
			})
		}
		t.Run("keyset pages walk every conversation once, newest first", func(t *testing.T) {
			var walked []string
			p := store.Page{Limit: 2}
			for range 10 {
				page := list(store.ConversationFilter{}, p)
				walked = append(walked, idsOf(page)...)
				if len(page) < p.Limit {
					break
				}
				p.After = page[len(page)-1].ID
			}
			if want := newestFirst(func(made) bool { return true }); !slices.Equal(walked, want) {
				t.Errorf("walked %v, want %v", walked, want)
			}
		})
		t.Run("keyset pages honour filters", func(t *testing.T) {
			f := store.ConversationFilter{Status: "human"}
			first := list(f, store.Page{Limit: 2})
			rest := list(f, store.Page{Limit: 2, After: first[len(first)-1].ID})
			got := append(idsOf(first), idsOf(rest)...)
			if want := newestFirst(func(m made) bool { return m.status == "human" }); !slices.Equal(got, want) {
				t.Errorf("walked %v, want %v", got, want)
			}
		})
		t.Run("the listed rows carry status and assignee", func(t *testing.T) {
			for _, c := range list(store.ConversationFilter{AssigneeID: agent}, store.Page{Limit: 50}) {
				if c.Status != "human" || c.AssigneeID != agent || c.ContactID == "" || c.CreatedAt.IsZero() {
					t.Errorf("row = %+v", c)
				}
			}
		})
	})
}

func TestDeletingAChannelRemovesItsContactsConversationsAndMessages(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		doomed, kept := newWebChannel(t, st, a.ID, "doomed"), newWebChannel(t, st, a.ID, "kept")
		ct, cv := newThread(t, st, a.ID, doomed.ID, "v")
		appendMessages(t, st, a.ID, cv.ID, "user", "agent")
		_, keptConv := newThread(t, st, a.ID, kept.ID, "v")
		appendMessages(t, st, a.ID, keptConv.ID, "user")
		scope := store.TenantScope(a.ID)
		write(t, st, scope, func(tx *store.Tx) error { return tx.DeleteChannel(ctx, doomed.ID) })
		_ = st.Read(ctx, scope, func(tx *store.Tx) error {
			if _, err := tx.GetChannel(ctx, doomed.ID); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("deleted channel: %v, want NotFound", err)
			}
			if _, err := tx.GetContact(ctx, ct.ID); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("its contact: %v, want NotFound", err)
			}
			if _, err := tx.GetConversation(ctx, cv.ID); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("its conversation: %v, want NotFound", err)
			}
			if ms, err := tx.ListMessages(ctx, cv.ID, 0, 100, true); err != nil || len(ms) != 0 {
				t.Errorf("its messages: %d, %v; want none", len(ms), err)
			}
			for table, want := range map[string]int{"channels": 1, "contacts": 1, "conversations": 1, "messages": 1} {
				if n, err := tx.CountRows(ctx, table); err != nil || n != want {
					t.Errorf("%s rows left: %d, %v; want %d (the other channel's)", table, n, err, want)
				}
			}
			if ms, err := tx.ListMessages(ctx, keptConv.ID, 0, 100, true); err != nil || len(ms) != 1 {
				t.Errorf("the other channel's messages: %d, %v; want 1", len(ms), err)
			}
			return nil
		})
		err := st.Write(ctx, scope, func(tx *store.Tx) error { return tx.DeleteChannel(ctx, doomed.ID) })
		if !apperr.Is(err, apperr.NotFound) {
			t.Errorf("deleting it again: %v, want NotFound", err)
		}
	})
}

func TestTenantBCannotReachTenantAsConversationsMessagesOrChannels(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		ch := newWebChannel(t, st, a.ID, "A web")
		ct, cv := newThread(t, st, a.ID, ch.ID, "visitor-a")
		msgs := appendMessages(t, st, a.ID, cv.ID, "user")
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			_, err := tx.AppendMessage(ctx, store.Message{ConversationID: cv.ID, Role: "user", Text: "with id", ClientID: "c1"})
			return err
		})
		asB := store.TenantScope(b.ID)
		reads := map[string]func(tx *store.Tx) error{
			"GetChannel":          func(tx *store.Tx) error { _, err := tx.GetChannel(ctx, ch.ID); return err },
			"GetContact":          func(tx *store.Tx) error { _, err := tx.GetContact(ctx, ct.ID); return err },
			"ContactByExternalID": func(tx *store.Tx) error { _, err := tx.ContactByExternalID(ctx, ch.ID, "visitor-a"); return err },
			"GetConversation":     func(tx *store.Tx) error { _, err := tx.GetConversation(ctx, cv.ID); return err },
			"LatestConversation":  func(tx *store.Tx) error { _, err := tx.LatestConversation(ctx, ct.ID); return err },
			"MessageByClientID":   func(tx *store.Tx) error { _, err := tx.MessageByClientID(ctx, cv.ID, "c1"); return err },
		}
		for name, read := range reads {
			if err := st.Read(ctx, asB, read); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("B %s on A's row: %v, want NotFound", name, err)
			}
		}
		_ = st.Read(ctx, asB, func(tx *store.Tx) error {
			if ms, err := tx.ListMessages(ctx, cv.ID, 0, 100, true); err != nil || len(ms) != 0 {
				t.Errorf("B lists A's messages: %d, %v", len(ms), err)
			}
			if cs, err := tx.ListConversations(ctx, store.ConversationFilter{}, store.Page{Limit: 50}); err != nil || len(cs) != 0 {
				t.Errorf("B lists A's conversations: %d, %v", len(cs), err)
			}
			if cs, err := tx.ListChannels(ctx, store.Page{Limit: 50}); err != nil || len(cs) != 0 {
				t.Errorf("B lists A's channels: %d, %v", len(cs), err)
			}
			return nil
		})
		writes := map[string]func(tx *store.Tx) error{
			"AppendMessage": func(tx *store.Tx) error {
				_, err := tx.AppendMessage(ctx, store.Message{ConversationID: cv.ID, Role: "agent", Text: "injected"})
				return err
			},
			"SetConversationStatus": func(tx *store.Tx) error { return tx.SetConversationStatus(ctx, cv.ID, "resolved", "") },
			"UpdateChannel": func(tx *store.Tx) error {
				c := ch
				c.Name = "pwned"
				return tx.UpdateChannel(ctx, c)
			},
			"DeleteChannel": func(tx *store.Tx) error { return tx.DeleteChannel(ctx, ch.ID) },
		}
		for name, w := range writes {
			if err := st.Write(ctx, asB, w); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("B %s on A's row: %v, want NotFound", name, err)
			}
		}
		// A's data is exactly as it was.
		_ = st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			got, err := tx.GetConversation(ctx, cv.ID)
			if err != nil || got.Status != "bot" || got.LastSeq != 2 {
				t.Errorf("A's conversation = %+v, %v", got, err)
			}
			c, err := tx.GetChannel(ctx, ch.ID)
			if err != nil || c.Name != "A web" {
				t.Errorf("A's channel = %+v, %v", c, err)
			}
			ms, err := tx.ListMessages(ctx, cv.ID, 0, 100, true)
			if err != nil || len(ms) != 2 || ms[0].ID != msgs[0].ID {
				t.Errorf("A's messages = %+v, %v", ms, err)
			}
			return nil
		})
	})
}

func TestChannelByPublicKeyFindsAWebChannelButNotASuspendedTenants(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		chA, chB := newWebChannel(t, st, a.ID, "A web"), newWebChannel(t, st, b.ID, "B web")
		write(t, st, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, b.ID, "suspended") })
		lookup := func(key string) (store.Channel, error) {
			var c store.Channel
			err := st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
				var err error
				c, err = tx.ChannelByPublicKey(ctx, key)
				return err
			})
			return c, err
		}
		got, err := lookup(chA.PublicKey)
		if err != nil || got.ID != chA.ID || got.TenantID != a.ID || got.Type != "web" || got.PublicKey != chA.PublicKey || string(got.Config) != "{}" {
			t.Fatalf("A's key = %+v, %v", got, err)
		}
		for name, key := range map[string]string{"a suspended tenant's key": chB.PublicKey, "an unknown key": "pk_unknown", "an empty key": ""} {
			if _, err := lookup(key); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("%s: %v, want NotFound", name, err)
			}
		}
		write(t, st, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, b.ID, "active") })
		if got, err := lookup(chB.PublicKey); err != nil || got.ID != chB.ID {
			t.Errorf("after reactivation: %+v, %v", got, err)
		}
	})
}
