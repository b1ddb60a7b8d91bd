package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/store/storetest"
)

// The analytics part of the conformance suite: one tenant-day computed
// from a fixture with known figures, stored, read back, recomputed.

func TestAnalyticsDayComputedFromMessages(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tn, other := newTenant(t, st, "A"), newTenant(t, st, "B")
		f := storetest.SeedAnalytics(t, st, tn.ID, time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC))
		var got store.DailyStats
		write(t, st, store.TenantScope(tn.ID), func(tx *store.Tx) error {
			var err error
			got, err = tx.ComputeAnalyticsDay(ctx, f.Day.Add(13*time.Hour))
			return err
		})
		ignore := cmpopts.IgnoreFields(store.DailyStats{}, "ComputedAt", "FirstResponseHist")
		if d := cmp.Diff(f.Want, got, ignore); d != "" {
			t.Errorf("computed day (-want +got):\n%s", d)
		}
		// Recomputing is idempotent; the stored row reads back the same.
		var days []store.DailyStats
		var docs []store.CitedDocument
		var qs []store.UnansweredQuestion
		write(t, st, store.TenantScope(tn.ID), func(tx *store.Tx) error {
			if _, err := tx.ComputeAnalyticsDay(ctx, f.Day); err != nil {
				return err
			}
			if _, err := tx.ComputeAnalyticsDay(ctx, f.Day.Add(-24*time.Hour)); err != nil {
				return err
			}
			var err error
			if days, err = tx.AnalyticsDays(ctx, "2026-03-01", "2026-03-31"); err != nil {
				return err
			}
			if docs, err = tx.TopCitedDocuments(ctx, "2026-03-01", "2026-03-31", 10); err != nil {
				return err
			}
			qs, err = tx.TopUnanswered(ctx, "2026-03-01", "2026-03-31", 10)
			return err
		})
		if len(days) != 2 || days[0].Day != "2026-03-09" || days[1].Day != "2026-03-10" {
			t.Fatalf("days = %+v, want 2026-03-09 and 2026-03-10", days)
		}
		if d := cmp.Diff(f.Want, days[1], ignore); d != "" {
			t.Errorf("stored day (-want +got):\n%s", d)
		}
		if days[0].Conversations != 1 || days[0].MessagesIn != 1 {
			t.Errorf("the day before = %+v, want c4 and its first message", days[0])
		}
		if days[1].ComputedAt.IsZero() || store.FirstResponsePercentile(days[1].FirstResponseHist, 100) < 8*time.Second {
			t.Errorf("stored hist %v computed %v", days[1].FirstResponseHist, days[1].ComputedAt)
		}
		wantDocs := []store.CitedDocument{
			{DocumentID: f.DocumentID, Title: "Returns policy", Exists: true, Citations: 2},
			{DocumentID: f.GoneID, Title: "Old prices", Citations: 1},
		}
		if d := cmp.Diff(wantDocs, docs); d != "" {
			t.Errorf("cited documents (-want +got):\n%s", d)
		}
		if len(qs) != 1 || !strings.EqualFold(qs[0].Question, f.Question) || qs[0].Count != 2 {
			t.Errorf("unanswered = %+v, want %q ×2", qs, f.Question)
		}
		// Another tenant sees none of it.
		write(t, st, store.TenantScope(other.ID), func(tx *store.Tx) error {
			var err error
			days, err = tx.AnalyticsDays(ctx, "2026-03-01", "2026-03-31")
			if err == nil && len(days) != 0 {
				t.Errorf("tenant B reads %d of A's days", len(days))
			}
			return err
		})
	})
}

func TestFirstResponsePercentileFromHistogram(t *testing.T) {
	t.Parallel()
	hist := make([]int64, len(store.FirstResponseBuckets)+1)
	if got := store.FirstResponsePercentile(hist, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
	hist[0], hist[3] = 1, 1 // ≤1s and 3–5s
	if got := store.FirstResponsePercentile(hist, 50); got != time.Second {
		t.Errorf("p50 = %v, want 1s", got)
	}
	if got := store.FirstResponsePercentile(hist, 95); got <= 3*time.Second || got > 5*time.Second {
		t.Errorf("p95 = %v, want in (3s, 5s]", got)
	}
	hist[len(hist)-1] = 10
	if got := store.FirstResponsePercentile(hist, 95); got != 24*time.Hour {
		t.Errorf("p95 in the open bucket = %v, want its lower bound", got)
	}
}
