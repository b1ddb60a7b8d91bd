package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/metachat/metachat/internal/store"
)

// AnalyticsInterval is how often the daily analytics are refreshed.
const AnalyticsInterval = 10 * time.Minute

// AnalyticsArgs asks for today's and yesterday's analytics of every
// active tenant to be recomputed (yesterday's, so late messages and the
// last minutes of a day are counted once the day is over).
type AnalyticsArgs struct{}

// Kind names the job.
func (AnalyticsArgs) Kind() string { return "analytics" }

// InsertOpts: a failed run is simply replaced by the next one.
func (AnalyticsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 2} }

type analyticsWorker struct {
	river.WorkerDefaults[AnalyticsArgs]
	st  *store.Store
	log *slog.Logger
}

// Timeout bounds one run over every tenant.
func (w *analyticsWorker) Timeout(*river.Job[AnalyticsArgs]) time.Duration { return 5 * time.Minute }

// Work recomputes the analytics.
func (w *analyticsWorker) Work(ctx context.Context, _ *river.Job[AnalyticsArgs]) error {
	return ComputeAnalytics(ctx, w.st, time.Now(), w.log)
}

// AddAnalytics registers the analytics worker and returns the periodic
// job that runs it every AnalyticsInterval and at start (for
// Options.Periodic).
func AddAnalytics(workers *river.Workers, st *store.Store, log *slog.Logger) []*river.PeriodicJob {
	river.AddWorker(workers, &analyticsWorker{st: st, log: log})
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(AnalyticsInterval),
		func() (river.JobArgs, *river.InsertOpts) { return AnalyticsArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// ComputeAnalytics recomputes the UTC day of now and the day before for
// every active tenant, each tenant in a transaction of its own: one
// tenant's failure is logged and reported, the others are still done.
func ComputeAnalytics(ctx context.Context, st *store.Store, now time.Time, log *slog.Logger) error {
	var active []string
	p := store.Page{Limit: store.MaxPageSize}
	for {
		var page []store.Tenant
		err := st.Read(ctx, store.SystemScope, func(tx *store.Tx) error {
			var err error
			page, err = tx.ListTenants(ctx, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("analytics: list tenants: %w", err)
		}
		for _, tn := range page {
			if tn.Status == "active" {
				active = append(active, tn.ID)
			}
		}
		if len(page) < p.Limit {
			break
		}
		p.After = page[len(page)-1].ID
	}
	var errs []error
	for _, id := range active {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := st.Write(ctx, store.TenantScope(id), func(tx *store.Tx) error {
			for _, day := range []time.Time{now.Add(-24 * time.Hour), now} {
				if _, err := tx.ComputeAnalyticsDay(ctx, day); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			if log != nil {
				log.Error("analytics: computing a tenant's days failed", "tenant_id", id, "error", err)
			}
			errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
