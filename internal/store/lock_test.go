package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

func TestANamedLockIsHeldByOneCallerAtATimeAndFreedAfter(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ran := 0
		err := st.TryExclusive(ctx, "drain", func(ctx context.Context) error {
			ran++
			// On PostgreSQL the second try comes from another connection,
			// as another process's would.
			if err := st.TryExclusive(ctx, "drain", func(context.Context) error { ran += 100; return nil }); !errors.Is(err, store.ErrLockBusy) {
				t.Errorf("second holder of a held lock: %v, want ErrLockBusy", err)
			}
			return st.TryExclusive(ctx, "other", func(context.Context) error { ran++; return nil })
		})
		if err != nil || ran != 2 {
			t.Fatalf("err %v, ran %d; want the holder and the other lock to run", err, ran)
		}
		boom := errors.New("boom")
		if err := st.TryExclusive(ctx, "drain", func(context.Context) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("fn's error: %v", err)
		}
		if err := st.TryExclusive(ctx, "drain", func(context.Context) error { return nil }); err != nil {
			t.Fatalf("the lock was not freed: %v", err)
		}
	})
}

func TestTheSystemSessionSeesEveryTenantAndItsScopeNeverReachesThePool(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, b := newTenant(t, st, "A"), newTenant(t, st, "B")
		ca, cb := newWebChannel(t, st, a.ID, "a"), newWebChannel(t, st, b.ID, "b")
		for range 3 {
			err := st.WriteSystemSession(ctx, func(tx *store.Tx) error {
				live, err := tx.LiveChannels(ctx, []string{ca.ID, cb.ID})
				if len(live) != 2 {
					t.Errorf("the system session sees %d of the two tenants' channels", len(live))
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// A failed transaction ends the session; the next one opens another.
		boom := errors.New("boom")
		if err := st.WriteSystemSession(ctx, func(*store.Tx) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("fn's error: %v", err)
		}
		if err := st.WriteSystemSession(ctx, func(*store.Tx) error { return nil }); err != nil {
			t.Fatalf("after a failure: %v", err)
		}
		if st.Dialect() != store.Postgres {
			return // no sessions, no row security: the tenant comes from each query
		}
		// Pooled transactions still see one tenant only: each sets its own
		// scope, and the session connection is never pooled.
		for range 20 {
			err := st.Read(ctx, store.TenantScope(a.ID), func(tx *store.Tx) error {
				live, err := tx.LiveChannels(ctx, []string{ca.ID, cb.ID})
				if len(live) > 1 {
					t.Errorf("a tenant's transaction saw another tenant's channel: %v", live)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
