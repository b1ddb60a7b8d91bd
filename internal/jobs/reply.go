package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/store"
)

// ReplyArgs asks the bot to answer one inbound message.
type ReplyArgs struct {
	TenantID  string `json:"tenant_id"`
	MessageID string `json:"message_id"`
	// ConversationID lets the reply watch the conversation for a takeover
	// from the start (absent from jobs queued by earlier releases).
	ConversationID string `json:"conversation_id,omitempty"`
	RequestID      string `json:"request_id,omitempty"`
}

// Kind names the job.
func (ReplyArgs) Kind() string { return "reply" }

// InsertOpts: a reply is worth a few attempts, not a day of them.
func (ReplyArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

type replyWorker struct {
	river.WorkerDefaults[ReplyArgs]
	replier *assistants.Replier
	log     *slog.Logger
}

// Timeout bounds one attempt: a stuck model call is abandoned and retried.
func (w *replyWorker) Timeout(*river.Job[ReplyArgs]) time.Duration { return 3 * time.Minute }

// Work answers the message. At-least-once delivery becomes effectively
// once: the reply's unique reply_to means a retried job stores nothing new.
func (w *replyWorker) Work(ctx context.Context, job *river.Job[ReplyArgs]) error {
	a := job.Args
	last := job.Attempt >= job.MaxAttempts
	err := w.replier.Reply(ctx, a.TenantID, a.ConversationID, a.MessageID, last)
	if err != nil {
		w.log.Warn("reply attempt failed", "error", err, "tenant_id", a.TenantID, "message_id", a.MessageID, "request_id", a.RequestID, "attempt", job.Attempt)
		var p assistants.Permanent
		if errors.As(err, &p) {
			return river.JobCancel(err)
		}
	}
	return err
}

// AddReplyWorker registers the reply job's worker.
func AddReplyWorker(workers *river.Workers, r *assistants.Replier, log *slog.Logger) {
	river.AddWorker(workers, &replyWorker{replier: r, log: log})
}

// EnqueueReplies queues the replies to inbound messages in the
// transaction that stores them (conversations.Enqueuer), with one insert
// for all of them.
func (c *Client) EnqueueReplies(ctx context.Context, tx *store.Tx, rs []conversations.ReplyRequest) error {
	if len(rs) == 0 {
		return nil
	}
	ps := make([]river.InsertManyParams, len(rs))
	for i, r := range rs {
		ps[i] = river.InsertManyParams{Args: ReplyArgs{TenantID: tx.TenantID(), MessageID: r.Message.ID, ConversationID: r.Message.ConversationID, RequestID: r.RequestID}}
	}
	_, err := c.river.InsertManyFastTx(ctx, tx.SQL(), ps)
	return err
}
