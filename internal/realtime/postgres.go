package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/metachat/metachat/internal/groupcommit"
)

// channelName is the NOTIFY channel all processes listen on.
const channelName = "metachat_events"

// maxPayload keeps NOTIFY payloads under PostgreSQL's 8000-byte limit;
// larger message events travel without Data and are fetched.
const maxPayload = 7000

// PGBus publishes through NOTIFY and delivers what LISTEN hears to the
// local hub, so every process's subscribers see every process's events.
// Concurrent publishers share NOTIFYs: each carries a JSON array of as
// many events as fit (NOTIFY commits serialise on one lock in PostgreSQL,
// and a reply publishes several events).
type PGBus struct {
	hub   *Hub
	dsn   string
	log   *slog.Logger
	exec  func(ctx context.Context, sql string, args ...any) error
	group groupcommit.Group[[]byte]
}

// NewPGBus returns a bus over PostgreSQL; exec runs a statement on the
// application's pool (for NOTIFY). Call Listen to start receiving.
func NewPGBus(hub *Hub, dsn string, log *slog.Logger, exec func(ctx context.Context, sql string, args ...any) error) *PGBus {
	b := &PGBus{hub: hub, dsn: dsn, log: log, exec: exec}
	b.group = groupcommit.Group[[]byte]{Max: 256, Write: b.notify}
	return b
}

// publishTimeout bounds one NOTIFY.
const publishTimeout = 10 * time.Second

// Publish sends e to every process (including this one, via LISTEN), and
// returns once it is sent; events published one after another arrive in
// that order.
func (b *PGBus) Publish(ctx context.Context, e Event) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if len(payload) > maxPayload-2 {
		e.Data = nil
		if payload, err = json.Marshal(e); err != nil {
			return err
		}
	}
	if err := b.group.Do(ctx, payload); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	return nil
}

// notify sends events as JSON arrays of at most maxPayload bytes, in
// order.
func (b *PGBus) notify(events [][]byte) []error {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	errs := make([]error, len(events))
	for start := 0; start < len(events); {
		buf := append(make([]byte, 0, maxPayload), '[')
		end := start
		for end < len(events) && (end == start || len(buf)+1+len(events[end])+1 <= maxPayload) {
			if end > start {
				buf = append(buf, ',')
			}
			buf = append(buf, events[end]...)
			end++
		}
		buf = append(buf, ']')
		if err := b.exec(ctx, `SELECT pg_notify($1, $2)`, channelName, string(buf)); err != nil {
			for i := start; i < end; i++ {
				errs[i] = err
			}
		}
		start = end
	}
	return errs
}

// Listen receives notifications until ctx ends, reconnecting with backoff.
// ready is closed once the first LISTEN is in place.
func (b *PGBus) Listen(ctx context.Context, ready chan<- struct{}) {
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		err := b.listenOnce(ctx, func() {
			if first {
				first = false
				close(ready)
			} else {
				b.hub.ResyncAll() // events may have been missed while away
			}
			backoff = 100 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("event listener lost its connection; reconnecting", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (b *PGBus) listenOnce(ctx context.Context, listening func()) error {
	conn, err := pgx.Connect(ctx, b.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+channelName); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var events []Event
		if strings.HasPrefix(n.Payload, "[") {
			err = json.Unmarshal([]byte(n.Payload), &events)
		} else { // one event: a process of the previous release
			events = make([]Event, 1)
			err = json.Unmarshal([]byte(n.Payload), &events[0])
		}
		if err != nil {
			b.log.Warn("ignoring malformed event", "error", err)
			continue
		}
		for _, e := range events {
			b.hub.Deliver(e)
		}
	}
}
