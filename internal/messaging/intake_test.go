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
	"time"

	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// countingQueue records the jobs the intake enqueues; fail makes the next
// enqueue fail; pending says a job is waiting to start.
type countingQueue struct {
	mu      sync.Mutex
	jobs    [][]string
	fail    int
	pending bool
}

func (q *countingQueue) WaitingDrainJob(store.Dialect) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending {
		return `SELECT 1`
	}
	return `SELECT 1 WHERE false`
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

// waitingEvents lists the stored events still waiting, with their errors.
func waitingEvents(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := st.Read(context.Background(), store.SystemScope, func(tx *store.Tx) error {
		rows, err := tx.SQL().QueryContext(context.Background(), `SELECT id, error FROM webhook_events`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, e string
			if err := rows.Scan(&id, &e); err != nil {
				return err
			}
			out[id] = e
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestABatchStoredWhileAJobWaitsToStartGetsNoJobOfItsOwn(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ch := providerChannel(t, st)
		q := &countingQueue{pending: true}
		in := newIntake(st, q, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for i := range 3 {
			if err := in.submit(context.Background(), ch, "req", fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
		if len(q.jobs) != 0 {
			t.Errorf("%d jobs queued beside a waiting one", len(q.jobs))
		}
		if got := waitingEvents(t, st); len(got) != 3 {
			t.Errorf("%d events stored, want 3", len(got))
		}
	})
}

func TestADrainLeavesNothingBehindItsDeadlineOrItsFailures(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := New(st, channels.NewService(st, nil, ""), nil, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		q := &countingQueue{}
		s.SetWebhookQueue(q)
		// A web channel's events are dropped as not a provider's (done);
		// a WhatsApp channel whose config cannot be read fails them.
		web := providerChannel(t, st)
		var broken store.Channel
		if err := st.Write(ctx, store.TenantScope(web.TenantID), func(tx *store.Tx) error {
			var err error
			broken, err = tx.CreateChannel(ctx, store.Channel{Type: "whatsapp", Name: "wa", Config: json.RawMessage(`[]`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.intake.submit(ctx, web, "req", fmt.Appendf(nil, `{"web":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if err := s.intake.submit(ctx, channels.ProviderChannel{Channel: broken}, "req", fmt.Appendf(nil, `{"wa":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
		var own, other string
		for id := range waitingEvents(t, st) {
			err := st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
				evs, err := tx.WebhookEventsByID(ctx, []string{id})
				if err == nil && evs[0].ChannelID == broken.ID {
					if own == "" {
						own = id
					} else {
						other = id
					}
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		q.jobs = nil

		// Time is up before anything is done: a job to go on is queued.
		s.drainFor = 0
		if err := s.DrainWebhookEvents(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if len(q.jobs) != 1 || len(q.jobs[0]) != 0 {
			t.Fatalf("after a drain out of time the queue got %v, want one job to go on", q.jobs)
		}
		if got := waitingEvents(t, st); len(got) != 5 {
			t.Fatalf("%d events waiting, want all 5", len(got))
		}

		// A drain does the web events; the failed event it does not own
		// gets a job of its own, the job's own failure is its error.
		q.jobs = nil
		s.drainFor = time.Minute
		if err := s.DrainWebhookEvents(ctx, []string{own}); err == nil {
			t.Error("the job's own event failed, but the job reports success")
		}
		got := waitingEvents(t, st)
		if len(got) != 2 || got[own] == "" || got[other] == "" {
			t.Fatalf("waiting after the drain: %v, want the two failed events with their errors", got)
		}
		if len(q.jobs) != 1 || len(q.jobs[0]) != 1 || q.jobs[0][0] != other {
			t.Fatalf("jobs queued %v, want one for the failed event %s only", q.jobs, other)
		}
	})
}

func TestOneDrainAtATimeSoACustomersMessagesKeepTheirOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := New(st, channels.NewService(st, nil, ""), nil, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		s.SetWebhookQueue(&countingQueue{})
		web := providerChannel(t, st)
		if err := s.intake.submit(ctx, web, "req", []byte(`{"web":1}`)); err != nil {
			t.Fatal(err)
		}
		// Another drain (on PostgreSQL: another connection, as another
		// process's would be) holds the turn.
		err := st.TryExclusive(ctx, "webhook-drain", func(context.Context) error {
			if err := s.DrainWebhookEvents(ctx, nil); !errors.Is(err, store.ErrLockBusy) {
				t.Errorf("a drain beside another: %v, want ErrLockBusy", err)
			}
			if got := waitingEvents(t, st); len(got) != 1 {
				t.Errorf("%d events waiting during the other drain, want 1 untouched", len(got))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DrainWebhookEvents(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if got := waitingEvents(t, st); len(got) != 0 {
			t.Errorf("%d events waiting after the drain, want none", len(got))
		}
	})
}
