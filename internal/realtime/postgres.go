package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// channelName is the NOTIFY channel all processes listen on.
const channelName = "metachat_events"

// maxPayload keeps NOTIFY payloads under PostgreSQL's 8000-byte limit;
// larger message events travel without Data and are fetched.
const maxPayload = 7000

// PGBus publishes through NOTIFY and delivers what LISTEN hears to the
// local hub, so every process's subscribers see every process's events.
type PGBus struct {
	hub  *Hub
	dsn  string
	log  *slog.Logger
	exec func(ctx context.Context, sql string, args ...any) error
}

// NewPGBus returns a bus over PostgreSQL; exec runs a statement on the
// application's pool (for NOTIFY). Call Listen to start receiving.
func NewPGBus(hub *Hub, dsn string, log *slog.Logger, exec func(ctx context.Context, sql string, args ...any) error) *PGBus {
	return &PGBus{hub: hub, dsn: dsn, log: log, exec: exec}
}

// Publish sends e to every process (including this one, via LISTEN).
func (b *PGBus) Publish(ctx context.Context, e Event) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if len(payload) > maxPayload {
		e.Data = nil
		if payload, err = json.Marshal(e); err != nil {
			return err
		}
	}
	if err := b.exec(ctx, `SELECT pg_notify($1, $2)`, channelName, string(payload)); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	return nil
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
		var e Event
		if err := json.Unmarshal([]byte(n.Payload), &e); err != nil {
			b.log.Warn("ignoring malformed event", "error", err)
			continue
		}
		b.hub.Deliver(e)
	}
}
