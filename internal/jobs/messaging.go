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

// AddMessagingWorkers registers the delivery and media workers.
func AddMessagingWorkers(workers *river.Workers, m *messaging.Service) {
	river.AddWorker(workers, &deliverWorker{m: m})
	river.AddWorker(workers, &mediaWorker{m: m})
}

// EnqueueDelivery queues sending a message (conversations.Deliverer).
func (c *Client) EnqueueDelivery(ctx context.Context, tx *store.Tx, messageID string) error {
	return c.InsertTx(ctx, tx.SQL(), DeliverArgs{TenantID: tx.TenantID(), MessageID: messageID}, nil)
}

// EnqueueMedia queues downloading a message's files (messaging.MediaQueue).
func (c *Client) EnqueueMedia(ctx context.Context, tx *store.Tx, messageID string) error {
	return c.InsertTx(ctx, tx.SQL(), MediaArgs{TenantID: tx.TenantID(), MessageID: messageID}, nil)
}
