package store_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

func webhookEvent(tenantID, channelID, body string) store.WebhookEvent {
	sum := sha256.Sum256([]byte(body))
	return store.WebhookEvent{ID: store.NewID(), TenantID: tenantID, ChannelID: channelID, BodyHash: sum[:], Body: []byte(body), RequestID: "req-" + body}
}

func TestWebhookEventsOfSeveralTenantsAreStoredInOneBatchAndAResentBodyOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		ca, cb := newWebChannel(t, st, a.ID, "a"), newWebChannel(t, st, b.ID, "b")
		first := []store.WebhookEvent{webhookEvent(a.ID, ca.ID, "one"), webhookEvent(b.ID, cb.ID, "one"), webhookEvent(a.ID, ca.ID, "two")}
		var stored map[string]bool
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			stored, err = tx.InsertWebhookEvents(ctx, first)
			return err
		})
		if len(stored) != 3 {
			t.Fatalf("stored %v, want all three (the same body on two channels is two events)", stored)
		}
		// A resend of a body still waiting is left out; a new one is not.
		again := []store.WebhookEvent{webhookEvent(a.ID, ca.ID, "two"), webhookEvent(a.ID, ca.ID, "three")}
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			stored, err = tx.InsertWebhookEvents(ctx, again)
			return err
		})
		if stored[again[0].ID] || !stored[again[1].ID] {
			t.Fatalf("stored %v, want only the new body %s", stored, again[1].ID)
		}
		// Each tenant sees only its own; the system scope reads them all.
		write(t, st, store.TenantScope(b.ID), func(tx *store.Tx) error {
			n, _, err := tx.PendingWebhookEvents(ctx, ca.ID)
			if n != 0 {
				t.Errorf("tenant B counts %d of tenant A's events", n)
			}
			return err
		})
		var evs []store.WebhookEvent
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			evs, err = tx.WebhookEventsByID(ctx, []string{first[0].ID, first[1].ID, again[1].ID})
			return err
		})
		if len(evs) != 3 {
			t.Fatalf("read %d events, want 3", len(evs))
		}
		for _, e := range evs {
			if string(e.Body) == "" || e.RequestID != "req-"+string(e.Body) || e.ReceivedAt.IsZero() {
				t.Errorf("event read back as %+v", e)
			}
		}
		// Processed events go; the body can then be stored again (the
		// message-level key deduplicates what it carries).
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			return tx.DeleteWebhookEvents(ctx, []string{first[2].ID})
		})
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			stored, err = tx.InsertWebhookEvents(ctx, []store.WebhookEvent{webhookEvent(a.ID, ca.ID, "two")})
			return err
		})
		if len(stored) != 1 {
			t.Errorf("a processed body resent was not stored again: %v", stored)
		}
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			return tx.SetWebhookEventError(ctx, first[0].ID, "database was down")
		})
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			n, last, err := tx.PendingWebhookEvents(ctx, ca.ID)
			if n != 3 || last != "database was down" {
				t.Errorf("channel A: %d waiting, last error %q; want 3 and the recorded error", n, last)
			}
			return err
		})
	})
}

func TestLiveChannelsLeaveOutDeletedChannelsAndSuspendedTenants(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		keep, gone, suspended := newWebChannel(t, st, a.ID, "keep"), newWebChannel(t, st, a.ID, "gone"), newWebChannel(t, st, b.ID, "b")
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error { return tx.DeleteChannel(ctx, gone.ID) })
		write(t, st, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, b.ID, "suspended") })
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			live, err := tx.LiveChannels(ctx, []string{keep.ID, gone.ID, suspended.ID})
			if err != nil {
				return err
			}
			if len(live) != 1 || !live[keep.ID].Equal(keep.UpdatedAt) {
				t.Errorf("live channels %v, want only %s changed at %s", live, keep.ID, keep.UpdatedAt)
			}
			return nil
		})
	})
}

func TestAnEarlyStatusKeepsTheHighestReportUntilClaimedOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := newTenant(t, st, "A")
		ch := newWebChannel(t, st, a.ID, "wa")
		for _, s := range []store.EarlyStatus{{Status: "delivered", Rank: 3}, {Status: "sent", Rank: 1}, {Status: "failed", Rank: 2, Error: "131047", WindowClosed: true}} {
			write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error { return tx.StashEarlyStatus(ctx, ch.ID, "wamid.1", s) })
		}
		var got store.EarlyStatus
		var ok bool
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			var err error
			got, ok, err = tx.ClaimEarlyStatus(ctx, ch.ID, "wamid.1")
			return err
		})
		if !ok || got.Status != "delivered" || got.Rank != 3 || got.WindowClosed {
			t.Fatalf("claimed %+v (%v), want the delivered report", got, ok)
		}
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			var err error
			_, ok, err = tx.ClaimEarlyStatus(ctx, ch.ID, "wamid.1")
			return err
		})
		if ok {
			t.Error("an early status was claimed twice")
		}
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			return tx.StashEarlyStatus(ctx, ch.ID, "wamid.2", store.EarlyStatus{Status: "failed", Rank: 2, Error: "131047", WindowClosed: true})
		})
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			var err error
			got, ok, err = tx.ClaimEarlyStatus(ctx, ch.ID, "wamid.2")
			return err
		})
		if !ok || !got.WindowClosed || got.Error != "131047" {
			t.Errorf("claimed %+v, want the failure with its reason", got)
		}
	})
}

func TestOnlyEventsOfLiveUnchangedChannelsAreStoredAndEachChannelsVersionComesBack(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "Suspended")
		ca, cb := newWebChannel(t, st, a.ID, "a"), newWebChannel(t, st, b.ID, "b")
		write(t, st, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, b.ID, "suspended") })
		gone := store.NewID()
		evs := []store.WebhookEvent{
			webhookEvent(a.ID, ca.ID, "fresh"),
			webhookEvent(a.ID, ca.ID, "checked against an old copy"),
			webhookEvent(b.ID, cb.ID, "suspended tenant"),
			webhookEvent(a.ID, gone, "no such channel"),
			webhookEvent(a.ID, ca.ID, "fresh"), // the same body twice in one batch
		}
		versions := []time.Time{ca.UpdatedAt, ca.UpdatedAt.Add(-time.Second), cb.UpdatedAt, ca.UpdatedAt, ca.UpdatedAt}
		var live map[string]time.Time
		var stored map[string]bool
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			live, stored, _, err = tx.InsertLiveWebhookEvents(ctx, evs, versions, "")
			return err
		})
		if len(live) != 1 || !live[ca.ID].Equal(ca.UpdatedAt) {
			t.Errorf("live channels %v, want only %s at %v", live, ca.ID, ca.UpdatedAt)
		}
		if len(stored) != 1 || !stored[evs[0].ID] {
			t.Errorf("stored %v, want only the first fresh event %s", stored, evs[0].ID)
		}
		// A resend while it waits is not stored again.
		again := webhookEvent(a.ID, ca.ID, "fresh")
		write(t, st, store.SystemScope, func(tx *store.Tx) error {
			var err error
			live, stored, _, err = tx.InsertLiveWebhookEvents(ctx, []store.WebhookEvent{again}, []time.Time{ca.UpdatedAt}, "")
			return err
		})
		if len(stored) != 0 || len(live) != 1 {
			t.Errorf("a resend: stored %v, live %v; want nothing stored, the channel live", stored, live)
		}
		write(t, st, store.TenantScope(a.ID), func(tx *store.Tx) error {
			_, _, _, err := tx.InsertLiveWebhookEvents(ctx, evs[:1], versions[:1], "")
			if err == nil {
				t.Error("a tenant scope stored webhook events")
			}
			return nil
		})
	})
}
