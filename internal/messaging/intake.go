package messaging

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/groupcommit"
	"github.com/metachat/metachat/internal/store"
)

// WebhookQueue enqueues the job that processes stored webhook events, in
// the transaction that stores them.
type WebhookQueue interface {
	// EnqueueWebhookEvents queues a job that processes ids (and drains
	// whatever else is waiting).
	EnqueueWebhookEvents(ctx context.Context, tx *store.Tx, ids []string) error
	// WaitingDrainJob is a query that returns a row when a webhook job is
	// waiting to start, and holds it so that it starts only after the
	// query's transaction ends: it will drain the events stored there.
	WaitingDrainJob(d store.Dialect) string
}

// intake stores verified webhook bodies, many concurrent webhooks in one
// transaction (group commit), each batch with the job that processes it.
type intake struct {
	st    *store.Store
	queue WebhookQueue
	log   *slog.Logger
	group groupcommit.Group[intakeItem]
}

func newIntake(st *store.Store, q WebhookQueue, log *slog.Logger) *intake {
	in := &intake{st: st, queue: q, log: log}
	in.group = groupcommit.Group[intakeItem]{Max: store.MaxWebhookEventBatch, Write: in.write, Linger: intakeLinger}
	return in
}

type intakeItem struct {
	ev store.WebhookEvent
	// version is the channel's updated_at as the signature was checked
	// against it.
	version time.Time
}

// intakeLinger: under load, how long a batch may wait for the senders of
// the last batch to come back (groupcommit.Group.Linger). A provider
// delivering over many connections is answered a little later, in a batch
// twice as large.
var intakeLinger = 2 * time.Millisecond

// errStaleChannel: the channel changed since the webhook was checked
// against its cached copy.
var errStaleChannel = errors.New("channel changed since it was cached")

// intakeTimeout bounds one batch's transaction: a webhook waits at most
// this long for a slow database, then answers an error and the provider
// redelivers.
const intakeTimeout = 10 * time.Second

// submit stores one event and returns once it is committed (or was
// already waiting: a byte-identical resend).
func (in *intake) submit(ctx context.Context, ch channels.ProviderChannel, requestID string, body []byte) error {
	sum := sha256.Sum256(body)
	return in.group.Do(ctx, intakeItem{
		ev:      store.WebhookEvent{ID: store.NewID(), TenantID: ch.TenantID, ChannelID: ch.ID, BodyHash: sum[:], Body: body, RequestID: requestID},
		version: ch.UpdatedAt,
	})
}

// write commits a batch; when the batch fails as a whole, each event is
// tried alone so one cannot fail the others.
func (in *intake) write(batch []intakeItem) []error {
	errs, err := in.commit(batch)
	if err == nil {
		return errs
	}
	if len(batch) == 1 {
		return []error{err}
	}
	in.log.Warn("webhook batch failed; storing its events one by one", "events", len(batch), "error", err)
	for i := range batch {
		e, err := in.commit(batch[i : i+1])
		errs[i] = cmp.Or(err, e[0])
	}
	return errs
}

// commit stores the batch's events whose channel is still live and
// unchanged (the signature was checked against a cached copy) and enqueues
// their job; errs holds each event's own outcome.
func (in *intake) commit(batch []intakeItem) (errs []error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), intakeTimeout)
	defer cancel()
	err = in.st.WriteSystemSession(ctx, func(tx *store.Tx) error {
		evs := make([]store.WebhookEvent, len(batch))
		versions := make([]time.Time, len(batch))
		for i, it := range batch {
			evs[i], versions[i] = it.ev, it.version
		}
		live, stored, pending, err := tx.InsertLiveWebhookEvents(ctx, evs, versions, in.queue.WaitingDrainJob(tx.Dialect()))
		if err != nil {
			return err
		}
		errs = make([]error, len(batch))
		ids := make([]string, 0, len(stored))
		for i, it := range batch {
			at, ok := live[it.ev.ChannelID]
			switch {
			case !ok:
				errs[i] = errUnknownChannel
			case !at.Equal(it.version):
				errs[i] = errStaleChannel
			case stored[it.ev.ID]:
				ids = append(ids, it.ev.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		// Under load a job is nearly always waiting already; inserting one
		// per batch was the largest part of the intake's work.
		if pending {
			return nil
		}
		if err := in.queue.EnqueueWebhookEvents(ctx, tx, ids); err != nil {
			return fmt.Errorf("enqueue webhook events: %w", err)
		}
		return nil
	})
	if err != nil {
		return make([]error, len(batch)), err
	}
	return errs, nil
}
