package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// countingQueue records the jobs the intake enqueues; fail makes the next
// enqueue fail.
type countingQueue struct {
	mu   sync.Mutex
	jobs [][]string
	fail int
}

func (q *countingQueue) EnqueueWebhookEvents(_ context.Context, _ *store.Tx, ids []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail > 0 {
		q.fail--
		return errors.New("queue unavailable")
	}
	q.jobs = append(q.jobs, ids)
	return nil
}

func providerChannel(t *testing.T, st *store.Store) channels.ProviderChannel {
	t.Helper()
	tenant := storetest.NewTenant(t, st, "Intake")
	var c store.Channel
	err := st.Write(context.Background(), store.TenantScope(tenant), func(tx *store.Tx) error {
		var err error
		c, err = tx.CreateChannel(context.Background(), store.Channel{Type: "web", Name: "w", Config: json.RawMessage(`{}`), PublicKey: "pk_" + store.NewID()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return channels.ProviderChannel{Channel: c}
}

func TestConcurrentWebhooksShareTransactionsAndEachIsStoredOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ch := providerChannel(t, st)
		q := &countingQueue{}
		in := newIntake(st, q, slog.New(slog.NewTextHandler(io.Discard, nil)))
		const n = 200
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				// Every tenth body is sent twice.
				errs[i] = in.submit(context.Background(), ch, "req", fmt.Appendf(nil, `{"n":%d}`, i))
				if i%10 == 0 {
					if err := in.submit(context.Background(), ch, "req", fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
						errs[i] = err
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("webhook %d: %v", i, err)
			}
		}
		seen := map[string]bool{}
		for _, ids := range q.jobs {
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("event %s enqueued twice", id)
				}
				seen[id] = true
			}
		}
		if len(seen) != n {
			t.Errorf("%d events enqueued, want %d (a resent body once)", len(seen), n)
		}
		if len(q.jobs) >= n {
			t.Errorf("%d jobs for %d concurrent webhooks: no batch was shared", len(q.jobs), n)
		}
		t.Logf("%d webhooks (+%d resent) in %d transactions", n, n/10, len(q.jobs))
	})
}

func TestAFailedBatchIsRetriedEventByEventAndAGoneChannelIsRefused(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ch := providerChannel(t, st)
		q := &countingQueue{fail: 1}
		in := newIntake(st, q, slog.New(slog.NewTextHandler(io.Discard, nil)))
		// The first transaction fails (the queue refuses); a lone webhook
		// has no batch to retry from and reports the error.
		if err := in.submit(ctx, ch, "req", []byte(`{"a":1}`)); err == nil {
			t.Fatal("a webhook whose transaction failed was acknowledged")
		}
		if err := in.submit(ctx, ch, "req", []byte(`{"a":1}`)); err != nil {
			t.Fatalf("the provider's redelivery: %v", err)
		}
		// A changed channel must be checked again; a deleted one is gone.
		stale := ch
		stale.UpdatedAt = stale.UpdatedAt.Add(-1)
		if err := in.submit(ctx, stale, "req", []byte(`{"a":2}`)); !errors.Is(err, errStaleChannel) {
			t.Errorf("a webhook checked against an old copy of the channel: %v, want errStaleChannel", err)
		}
		if err := st.Write(ctx, store.TenantScope(ch.TenantID), func(tx *store.Tx) error { return tx.DeleteChannel(ctx, ch.ID) }); err != nil {
			t.Fatal(err)
		}
		if err := in.submit(ctx, ch, "req", []byte(`{"a":3}`)); !errors.Is(err, errUnknownChannel) {
			t.Errorf("a webhook for a deleted channel: %v, want errUnknownChannel", err)
		}
	})
}
