package store_test

import (
	"context"
	"testing"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// The inbox part of the conformance suite: per-user unread counts, read
// marks that never move back, filters, and canned responses kept per
// tenant.
func TestInboxCountsUnreadPerUserAndFilters(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		var ana, bob store.User
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			if ana, err = tx.CreateUser(ctx, "ana@inbox.test", "Ana", "h", false); err != nil {
				return err
			}
			bob, err = tx.CreateUser(ctx, "bob@inbox.test", "Bob", "h", false)
			return err
		})
		web := newWebChannel(t, st, a.ID, "web")
		_, c1 := newThread(t, st, a.ID, web.ID, "v1")
		_, c2 := newThread(t, st, a.ID, web.ID, "v2")
		appendMessages(t, st, a.ID, c1.ID, "user", "assistant", "user", "note")
		appendMessages(t, st, a.ID, c2.ID, "user")
		bweb := newWebChannel(t, st, b.ID, "web")
		_, bc := newThread(t, st, b.ID, bweb.ID, "v1")
		appendMessages(t, st, b.ID, bc.ID, "user")

		list := func(tenantID string, f store.InboxFilter, user string) map[string]store.InboxRow {
			t.Helper()
			out := map[string]store.InboxRow{}
			write(t, st, store.TenantScope(tenantID), func(tx *store.Tx) error {
				rows, err := tx.ListInbox(ctx, f, user, 0)
				for _, r := range rows {
					out[r.ID] = r
				}
				return err
			})
			return out
		}
		rows := list(a.ID, store.InboxFilter{}, ana.ID)
		if len(rows) != 2 || rows[c1.ID].Unread != 2 || rows[c2.ID].Unread != 1 || rows[c1.ID].LastText != "note 3" {
			t.Fatalf("rows %+v", rows)
		}
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			if err := tx.MarkRead(ctx, c1.ID, ana.ID, 3); err != nil {
				return err
			}
			return tx.MarkRead(ctx, c1.ID, ana.ID, 1) // never back
		})
		if r := list(a.ID, store.InboxFilter{}, ana.ID); r[c1.ID].Unread != 0 {
			t.Errorf("ana's unread after reading: %d", r[c1.ID].Unread)
		}
		if r := list(a.ID, store.InboxFilter{}, bob.ID); r[c1.ID].Unread != 2 {
			t.Errorf("bob's unread moved with ana's: %d", r[c1.ID].Unread)
		}
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			return tx.SetConversationAssignee(ctx, c2.ID, bob.ID)
		})
		for name, tc := range map[string]struct {
			f    store.InboxFilter
			want []string
		}{
			"assignee":   {store.InboxFilter{AssigneeID: bob.ID}, []string{c2.ID}},
			"unassigned": {store.InboxFilter{Unassigned: true}, []string{c1.ID}},
			"text":       {store.InboxFilter{Query: "ASSISTANT 1"}, []string{c1.ID}},
			"wildcards":  {store.InboxFilter{Query: "%"}, nil},
			"status":     {store.InboxFilter{Status: "human"}, nil},
			"channel":    {store.InboxFilter{ChannelID: web.ID}, []string{c1.ID, c2.ID}},
		} {
			got := list(a.ID, tc.f, ana.ID)
			if len(got) != len(tc.want) {
				t.Errorf("%s: %d rows, want %v", name, len(got), tc.want)
			}
			for _, id := range tc.want {
				if _, ok := got[id]; !ok {
					t.Errorf("%s: lacks %s", name, id)
				}
			}
		}
		if r := list(b.ID, store.InboxFilter{}, ana.ID); len(r) != 1 || r[bc.ID].ID == "" {
			t.Errorf("tenant B's inbox: %+v", r)
		}
	})
}

func TestCannedResponsesArePerTenantWithUniqueTitles(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		var hello store.CannedResponse
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			var err error
			hello, err = tx.CreateCannedResponse(ctx, "Hello", "Hi there")
			return err
		})
		err := st.Write(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
			_, err := tx.CreateCannedResponse(ctx, "Hello", "again")
			return err
		})
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("a second Hello: %v, want a conflict", err)
		}
		write(t, st, store.TenantScope(b.ID), func(tx *store.Tx) error {
			if _, err := tx.CreateCannedResponse(ctx, "Hello", "B's own"); err != nil {
				return err
			}
			if err := tx.DeleteCannedResponse(ctx, hello.ID); !apperr.Is(err, apperr.NotFound) {
				t.Errorf("B deleting A's: %v, want not found", err)
			}
			return nil
		})
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			list, err := tx.ListCannedResponses(ctx)
			if err != nil || len(list) != 1 || list[0].Text != "Hi there" {
				t.Errorf("A's list %+v %v", list, err)
			}
			return tx.DeleteCannedResponse(ctx, hello.ID)
		})
	})
}
