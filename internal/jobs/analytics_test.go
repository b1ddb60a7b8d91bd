package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// TestAnalyticsJobComputesDailyRows: the periodic job runs at start and
// stores today's figures for every active tenant, and none for a
// suspended one.
func TestAnalyticsJobComputesDailyRows(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, st); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		tn := storetest.NewTenant(t, st, "analytics")
		f := storetest.SeedAnalytics(t, st, tn, now)
		gone := storetest.NewTenant(t, st, "suspended")
		storetest.SeedAnalytics(t, st, gone, now)
		if err := st.Write(ctx, store.SystemScope, func(tx *store.Tx) error { return tx.SetTenantStatus(ctx, gone, "suspended") }); err != nil {
			t.Fatal(err)
		}

		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		workers := river.NewWorkers()
		c, err := jobs.New(st, jobs.Options{Work: true, Workers: workers, Log: log, Periodic: jobs.AddAnalytics(workers, st, log)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(ctx)

		days := func(tenantID string) []store.DailyStats {
			var out []store.DailyStats
			if err := st.Read(ctx, store.TenantScope(tenantID), func(tx *store.Tx) error {
				var err error
				out, err = tx.AnalyticsDays(ctx, now.Add(-48*time.Hour).Format(store.DayFormat), now.Format(store.DayFormat))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return out
		}
		var got []store.DailyStats
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got = days(tn); len(got) == 2 {
				break
			}
		}
		if len(got) != 2 {
			t.Fatalf("after the job's first run: %d days, want yesterday and today", len(got))
		}
		today := got[1]
		if today.Day != f.Want.Day || today.Conversations != f.Want.Conversations || today.MessagesIn != f.Want.MessagesIn || today.KnowledgeMisses != f.Want.KnowledgeMisses {
			t.Errorf("today = %+v, want %+v", today, f.Want)
		}
		if n := len(days(gone)); n != 0 {
			t.Errorf("a suspended tenant got %d days computed", n)
		}

		// Run now: what tests (and an operator) call directly.
		if err := jobs.ComputeAnalytics(ctx, st, now, log); err != nil {
			t.Fatal(err)
		}
		if again := days(tn); len(again) != 2 || again[1].Conversations != f.Want.Conversations || !again[1].ComputedAt.After(today.ComputedAt.Add(-time.Microsecond)) {
			t.Errorf("after ComputeAnalytics: %+v", again)
		}
	})
}
