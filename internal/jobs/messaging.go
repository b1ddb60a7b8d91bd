package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/metachat/metachat/internal/messaging"
	"github.com/metachat/metachat/internal/store"
)

// DeliverArgs asks for one message to be sent through its provider channel.
type DeliverArgs struct {
	TenantID  string `json:"tenant_id"`
	MessageID string `json:"message_id"`
}

// Kind names the job.
func (DeliverArgs) Kind() string { return "deliver" }

// InsertOpts: providers' outages are retried for a while, not for days.
func (DeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 8} }

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	m *messaging.Service
}

func (w *deliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration { return time.Minute }

// Work sends the message; a provider's rate limit snoozes the job for the
// time the provider asked, other transient failures back off.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	err := w.m.Deliver(ctx, job.Args.TenantID, job.Args.MessageID, job.Attempt >= job.MaxAttempts)
	var ra *messaging.RetryAfter
	if errors.As(err, &ra) {
		return river.JobSnooze(ra.Wait)
	}
	return err
}

// MediaArgs asks for an inbound message's files to be downloaded.
type MediaArgs struct {
	TenantID  string `json:"tenant_id"`
	MessageID string `json:"message_id"`
}

// Kind names the job.
func (MediaArgs) Kind() string { return "media" }

// InsertOpts: provider media ids expire (WhatsApp: 7 days), so a few
// attempts soon matter more than many late ones.
func (MediaArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

type mediaWorker struct {
	river.WorkerDefaults[MediaArgs]
	m *messaging.Service
}

func (w *mediaWorker) Work(ctx context.Context, job *river.Job[MediaArgs]) error {
	return w.m.FetchMedia(ctx, job.Args.TenantID, job.Args.MessageID, job.Attempt >= job.MaxAttempts)
}

// WebhookArgs asks for stored webhooks to be processed: the events one
// intake transaction stored.
type WebhookArgs struct {
	EventIDs []string `json:"event_ids"`
}

// Kind names the job.
func (WebhookArgs) Kind() string { return "webhook" }

// QueueWebhooks is the queue inbound webhooks are processed on: slow model
// calls on the default queue must not delay storing what customers wrote.
const QueueWebhooks = "webhooks"

// InsertOpts: a database hiccup is retried for about an hour (River's
// backoff); the events stay stored, with their error, after the last try.
func (WebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 12, Queue: QueueWebhooks}
}

type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	m *messaging.Service
}

// Work processes every waiting event, its own last; one that fails does
// not stop the others, and a retry skips those already done. Drains run one
// at a time across processes (messaging.DrainWebhookEvents).
func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	err := w.m.DrainWebhookEvents(ctx, job.Args.EventIDs)
	if errors.Is(err, store.ErrLockBusy) {
		// Another process is draining; a snooze is not a failed attempt.
		return river.JobSnooze(time.Second)
	}
	return err
}

// AddMessagingWorkers registers the webhook, delivery and media workers.
func AddMessagingWorkers(workers *river.Workers, m *messaging.Service) {
	river.AddWorker(workers, &webhookWorker{m: m})
	river.AddWorker(workers, &deliverWorker{m: m})
	river.AddWorker(workers, &mediaWorker{m: m})
}

// EnqueueWebhookEvents queues processing stored webhooks
// (messaging.WebhookQueue).
//
// It is River's "fast" insert, which returns no row: on the webhook path
// decoding the inserted job back was a quarter of the server's CPU.
func (c *Client) EnqueueWebhookEvents(ctx context.Context, tx *store.Tx, ids []string) error {
	_, err := c.river.InsertManyFastTx(ctx, tx.SQL(), []river.InsertManyParams{{Args: WebhookArgs{EventIDs: ids}}})
	return err
}

// WaitingDrainJob is a query that returns a row when a webhook job is
// waiting to start (messaging.WebhookQueue): such a job drains every event
// stored before it runs, so a batch stored in the query's transaction needs
// no job of its own.
//
// Why that is safe: River moves a job from available to running with a
// write. On SQLite writes are serial, so none can happen while the
// transaction (begun IMMEDIATE) is open; on PostgreSQL the query holds the
// job's row FOR SHARE until the transaction ends, and River's fetch (FOR
// UPDATE SKIP LOCKED) passes over it until then. Either way the job starts
// only after the transaction's events are visible.
func (c *Client) WaitingDrainJob(d store.Dialect) string {
	if d == store.Postgres {
		return waitingDrainJob + ` FOR SHARE SKIP LOCKED`
	}
	return waitingDrainJob
}

const waitingDrainJob = `SELECT id FROM river_job WHERE state = 'available' AND queue = '` + QueueWebhooks + `' AND kind = 'webhook' LIMIT 1`

// WebhookSweepInterval: how often a periodic webhook job drains what is
// waiting. Every stored event has a job that will process it; the sweep
// bounds the delay should that ever fail to hold.
const WebhookSweepInterval = 5 * time.Minute

// WebhookSweep is the periodic job behind WebhookSweepInterval.
func WebhookSweep() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(WebhookSweepInterval),
		func() (river.JobArgs, *river.InsertOpts) { return WebhookArgs{}, nil }, nil)
}

// EnqueueDelivery queues sending a message (conversations.Deliverer).
func (c *Client) EnqueueDelivery(ctx context.Context, tx *store.Tx, messageID string) error {
	return c.InsertTx(ctx, tx.SQL(), DeliverArgs{TenantID: tx.TenantID(), MessageID: messageID}, nil)
}

// EnqueueMedia queues downloading a message's files (messaging.MediaQueue).
func (c *Client) EnqueueMedia(ctx context.Context, tx *store.Tx, messageID string) error {
	return c.InsertTx(ctx, tx.SQL(), MediaArgs{TenantID: tx.TenantID(), MessageID: messageID}, nil)
}
