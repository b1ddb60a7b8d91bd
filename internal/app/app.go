// Package app assembles metachat's services and their job queue: the one
// wiring `metachat serve`, `metachat worker` and the test harnesses share,
// so a service's collaborators are connected in one place.
package app

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/riverqueue/river"

	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/channels"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/knowledge/fetch"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/messaging"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/secrets"
	"github.com/metachat/metachat/internal/store"
	"github.com/metachat/metachat/internal/telegram"
)

// Options are what the services need from the configuration.
type Options struct {
	BaseURL string // public URL (webhook URLs, links)
	Keys    *secrets.Keyring
	// Bus publishes live events: the hub itself in one process, the
	// LISTEN/NOTIFY bus over PostgreSQL.
	Bus realtime.Publisher
	// Hub is the local fan-out when it hears every process's events (a
	// serving process; nil in a worker): replies watch it for takeovers.
	Hub *realtime.Hub
	// LLM is the server's default model for replies.
	LLM llm.Config
	// Embedder gives documents vectors (nil: keyword retrieval only).
	Embedder       knowledge.Embedder
	Fetch          fetch.Options
	MaxUploadBytes int64
	// ChunkWords and ChunkOverlapWords size knowledge chunks (0: the
	// defaults; a negative overlap: none).
	ChunkWords, ChunkOverlapWords int
	// GraphURL and TelegramURL are the providers' APIs; ProviderHTTP
	// makes their calls.
	GraphURL, TelegramURL string
	ProviderHTTP          *http.Client
	// Work runs the job workers (false: `serve --no-workers` only
	// enqueues); Periodic adds the periodic jobs (daily analytics).
	Work, Periodic bool
	// Workers bounds the replies and deliveries a process works at once
	// (0: jobs.DefaultWorkers).
	Workers int
	Log     *slog.Logger
}

// Services are the assembled services.
type Services struct {
	Assistants    *assistants.Service
	Channels      *channels.Service
	Conversations *conversations.Service
	Knowledge     *knowledge.Service
	Messaging     *messaging.Service
	Replier       *assistants.Replier
	// Queue is the job queue the services enqueue on; Start it to work.
	Queue *jobs.Client

	st *store.Store
	o  Options
}

// New builds the services over st and connects them to one job queue.
func New(st *store.Store, o Options) (*Services, error) {
	s := &Services{st: st, o: o}
	s.Channels = channels.NewService(st, o.Keys, o.BaseURL)
	s.Conversations = conversations.NewService(st, o.Bus, o.Log)
	s.Assistants = assistants.NewService(st, o.Keys)
	s.Knowledge = knowledge.NewService(st, o.Bus, fetch.New(o.Fetch), o.Embedder, knowledge.Options{MaxUploadBytes: o.MaxUploadBytes,
		ChunkWords: o.ChunkWords, OverlapWords: o.ChunkOverlapWords}, o.Log)
	tg := &telegram.Client{BaseURL: o.TelegramURL, HTTP: o.ProviderHTTP}
	s.Channels.SetTelegram(tg)
	s.Messaging = messaging.New(st, s.Channels, s.Conversations, o.Bus, messaging.GraphClient(o.GraphURL, o.ProviderHTTP), tg, o.Log)
	s.Replier = assistants.NewReplier(st, s.Assistants, s.Conversations, s.Knowledge, o.LLM, nil, o.Log)
	if o.Hub != nil {
		s.Replier.SetWatcher(o.Hub)
	}
	q, err := s.NewQueue(o.Work)
	if err != nil {
		return nil, err
	}
	s.Queue = q
	s.Conversations.SetReplies(q)
	s.Conversations.SetDeliverer(q)
	s.Knowledge.SetIngest(q)
	s.Messaging.SetMediaQueue(q)
	s.Messaging.SetWebhookQueue(q)
	return s, nil
}

// NewQueue returns another job client over the same services (a second
// worker, as a test that kills one needs). The services keep enqueuing
// through Queue; any client works what is queued.
func (s *Services) NewQueue(work bool) (*jobs.Client, error) {
	workers := river.NewWorkers()
	jobs.AddReplyWorker(workers, s.Replier, s.o.Log)
	jobs.AddIngestWorker(workers, s.Knowledge, s.o.Log)
	jobs.AddMessagingWorkers(workers, s.Messaging)
	var periodic []*river.PeriodicJob
	if s.o.Periodic {
		periodic = append(jobs.AddAnalytics(workers, s.st, s.o.Log), jobs.WebhookSweep())
	}
	q, err := jobs.New(s.st, jobs.Options{Work: work, Workers: workers, Concurrency: s.o.Workers, Log: s.o.Log, Periodic: periodic})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return q, nil
}
