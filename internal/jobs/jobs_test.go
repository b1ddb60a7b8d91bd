package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "test_ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done *atomic.Int64
}

func (w *pingWorker) Work(ctx context.Context, j *river.Job[pingArgs]) error {
	w.done.Add(int64(j.Args.N))
	return nil
}

func TestJobsInsertedInATransactionRunOnlyIfItCommits(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, st); err != nil {
			t.Fatal(err)
		}
		var done atomic.Int64
		workers := river.NewWorkers()
		river.AddWorker(workers, &pingWorker{done: &done})
		c, err := jobs.New(st, jobs.Options{Work: true, Workers: workers, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(ctx)
		tn := storetest.NewTenant(t, st, "jobs")
		if err := st.Write(ctx, store.TenantScope(tn), func(tx *store.Tx) error {
			return c.InsertTx(ctx, tx.SQL(), pingArgs{N: 1}, nil)
		}); err != nil {
			t.Fatal(err)
		}
		_ = st.Write(ctx, store.TenantScope(tn), func(tx *store.Tx) error {
			if err := c.InsertTx(ctx, tx.SQL(), pingArgs{N: 100}, nil); err != nil {
				t.Fatal(err)
			}
			return context.Canceled // roll back: this job must never run
		})
		deadline := time.Now().Add(10 * time.Second)
		for done.Load() != 1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		if got := done.Load(); got != 1 {
			t.Fatalf("work done = %d, want 1 (the committed job only)", got)
		}
	})
}
