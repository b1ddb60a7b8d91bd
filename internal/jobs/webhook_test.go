package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

func TestAWaitingWebhookJobIsFoundAndHeldUntilTheTransactionEnds(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, st); err != nil {
			t.Fatal(err)
		}
		// An insert-only client: nothing works the job, it stays available.
		c, err := jobs.New(st, jobs.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		pending := func() bool {
			t.Helper()
			var p bool
			if err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
				var err error
				p, err = tx.Exists(ctx, c.WaitingDrainJob(st.Dialect()))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if pending() {
			t.Fatal("a webhook job is pending before any was queued")
		}
		if err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			return c.EnqueueWebhookEvents(ctx, tx, []string{store.NewID()})
		}); err != nil {
			t.Fatal(err)
		}
		if !pending() {
			t.Fatal("the queued webhook job is not found")
		}
		// The intake asks in the statement that stores its batch.
		tn := storetest.NewTenant(t, st, "wh")
		var ch store.Channel
		if err := st.Write(ctx, store.TenantScope(tn), func(tx *store.Tx) error {
			var err error
			ch, err = tx.CreateChannel(ctx, store.Channel{Type: "web", Name: "w", Config: json.RawMessage(`{}`), PublicKey: "pk_" + store.NewID()})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		event := func(body string) []store.WebhookEvent {
			sum := sha256.Sum256([]byte(body))
			return []store.WebhookEvent{{ID: store.NewID(), TenantID: tn, ChannelID: ch.ID, BodyHash: sum[:], Body: []byte(body)}}
		}
		if st.Dialect() == store.Postgres {
			// While a transaction relies on the job, a fetch (River's
			// FOR UPDATE SKIP LOCKED) must pass over it.
			err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
				_, stored, found, err := tx.InsertLiveWebhookEvents(ctx, event("one"), []time.Time{ch.UpdatedAt}, c.WaitingDrainJob(st.Dialect()))
				if err != nil || !found || len(stored) != 1 {
					t.Fatalf("stored %v, found a waiting job %v, %v", stored, found, err)
				}
				conn, err := st.DB().Conn(ctx)
				if err != nil {
					return err
				}
				defer conn.Close()
				var n int
				if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT id FROM river_job WHERE state = 'available' AND kind = 'webhook' FOR UPDATE SKIP LOCKED) j`).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					t.Errorf("a fetch took the webhook job while a transaction relied on it")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Once the job runs it can no longer drain a later batch.
		if err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			_, err := tx.SQL().ExecContext(ctx, `UPDATE river_job SET state = 'running' WHERE kind = 'webhook'`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if pending() {
			t.Fatal("a running webhook job counts as waiting to start")
		}
		if err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
			_, _, found, err := tx.InsertLiveWebhookEvents(ctx, event("two"), []time.Time{ch.UpdatedAt}, c.WaitingDrainJob(st.Dialect()))
			if found {
				t.Error("the intake found a running job waiting to start")
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})
}
