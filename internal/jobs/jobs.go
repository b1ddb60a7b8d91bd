// Package jobs runs background work on River, over SQLite (embedded) or
// PostgreSQL (scale-out) through database/sql, so a job is inserted in the
// same transaction as the data that needs it.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/metachat/metachat/internal/store"
)

// Client is the job queue.
type Client struct {
	river   *river.Client[*sql.Tx]
	working bool
}

// Migrate brings River's own tables up to date (run with the store's).
func Migrate(ctx context.Context, st *store.Store) error {
	var drv riverdriver.Driver[*sql.Tx]
	if st.Dialect() == store.SQLite {
		drv = riversqlite.New(st.DB())
	} else {
		// The owner connection creates River's tables; the application
		// role is granted them afterwards.
		drv = riverdatabasesql.New(st.MigratorDB())
	}
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return st.GrantAppRole(ctx)
}

// DefaultWorkers is how many jobs of the default queue (replies,
// deliveries) a process runs at once. A reply holds its worker for the
// whole model call, which is mostly waiting: with 20 workers, a model
// that takes 2 s capped a process at 10 replies a second.
const DefaultWorkers = 100

// Options configure the queue.
type Options struct {
	// Work starts workers; without it the client only inserts jobs
	// (`serve --no-workers`).
	Work    bool
	Workers *river.Workers
	// Concurrency bounds the default queue's jobs at once (0:
	// DefaultWorkers).
	Concurrency int
	Periodic    []*river.PeriodicJob
	Log         *slog.Logger
}

// New returns the queue over st.
func New(st *store.Store, o Options) (*Client, error) {
	cfg := &river.Config{
		Logger:       o.Log,
		MaxAttempts:  8,
		JobTimeout:   2 * time.Minute,
		PeriodicJobs: o.Periodic,
		// Poll briskly: on SQLite (and through database/sql on PostgreSQL)
		// River has no LISTEN-based wake-up.
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		PollOnly:          true,
	}
	if o.Work {
		if o.Concurrency == 0 {
			o.Concurrency = DefaultWorkers
		}
		// Ingest has its own few workers: a burst of uploads (each
		// CPU-heavy) must not take the workers replies need.
		cfg.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: o.Concurrency},
			QueueIngest:        {MaxWorkers: max(2, runtime.NumCPU())},
			// One at a time, in the order they were stored: a customer's
			// quick successive messages must keep their order. The work is
			// database writes only (media and callbacks go elsewhere).
			QueueWebhooks: {MaxWorkers: 1},
		}
		cfg.Workers = o.Workers
	}
	rc, err := river.NewClient(driverFor(st), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return &Client{river: rc, working: o.Work}, nil
}

func driverFor(st *store.Store) riverdriver.Driver[*sql.Tx] {
	if st.Dialect() == store.SQLite {
		return riversqlite.New(st.DB())
	}
	return riverdatabasesql.New(st.DB())
}

// Start runs the workers (a no-op for an insert-only client).
func (c *Client) Start(ctx context.Context) error {
	if !c.working {
		return nil
	}
	return c.river.Start(ctx)
}

// Stop lets running jobs finish (up to ctx's deadline), then cancels the
// rest; River returns cancelled jobs to the queue for another worker.
func (c *Client) Stop(ctx context.Context) error {
	if !c.working {
		return nil
	}
	err := c.river.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return c.river.StopAndCancel(context.Background())
	}
	return err
}

// InsertTx enqueues a job in the caller's transaction.
func (c *Client) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := c.river.InsertTx(ctx, tx, args, opts)
	return err
}
