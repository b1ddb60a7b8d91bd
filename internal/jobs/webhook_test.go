package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

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
				p, err = c.WebhookDrainPending(ctx, tx)
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
		if st.Dialect() == store.Postgres {
			// While a transaction relies on the job, a fetch (River's
			// FOR UPDATE SKIP LOCKED) must pass over it.
			err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
				if p, err := c.WebhookDrainPending(ctx, tx); err != nil || !p {
					t.Fatalf("pending %v, %v", p, err)
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
	})
}
