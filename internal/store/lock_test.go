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
