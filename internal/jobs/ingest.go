package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/store"
)

// IngestArgs asks for one generation of a document to be processed.
type IngestArgs struct {
	TenantID   string `json:"tenant_id"`
	DocumentID string `json:"document_id"`
	Generation int    `json:"generation"`
}

// Kind names the job.
func (IngestArgs) Kind() string { return "ingest" }

// InsertOpts: a separate queue keeps a large upload from delaying replies.
func (IngestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, Queue: QueueIngest}
}

// QueueIngest is the queue document ingest runs on.
const QueueIngest = "ingest"

type ingestWorker struct {
	river.WorkerDefaults[IngestArgs]
	kb  *knowledge.Service
	log *slog.Logger
}

// Timeout bounds one attempt: a huge document with embeddings is slow, a
// stuck fetch is not.
func (w *ingestWorker) Timeout(*river.Job[IngestArgs]) time.Duration { return 15 * time.Minute }

// Work ingests the document. A generation already done or superseded is a
// no-op, so a job delivered twice changes nothing.
func (w *ingestWorker) Work(ctx context.Context, job *river.Job[IngestArgs]) error {
	a := job.Args
	return w.kb.Ingest(ctx, a.TenantID, a.DocumentID, a.Generation, job.Attempt >= job.MaxAttempts)
}

// AddIngestWorker registers the ingest job's worker.
func AddIngestWorker(workers *river.Workers, kb *knowledge.Service, log *slog.Logger) {
	river.AddWorker(workers, &ingestWorker{kb: kb, log: log})
}

// EnqueueIngest queues a document's ingest in the transaction that
// creates or re-queues it (knowledge.Enqueuer).
func (c *Client) EnqueueIngest(ctx context.Context, tx *store.Tx, documentID string, generation int) error {
	return c.InsertTx(ctx, tx.SQL(), IngestArgs{TenantID: tx.TenantID(), DocumentID: documentID, Generation: generation}, nil)
}
