package assistants

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/metachat/metachat/internal/realtime"
)

const (
	// deltaRecheck bounds how long a reply may keep streaming after a
	// person took over, when it must ask the database to know.
	deltaRecheck = 150 * time.Millisecond
	// watchedRecheck is how often a reply that watches the conversation's
	// events asks the database all the same, in case an event was lost.
	watchedRecheck = time.Second
	// watchBuffer holds a watched conversation's events between two
	// streamed pieces (the reply's own deltas among them).
	watchBuffer = 64
	// deltaCoalesce is how long streamed text may wait to go out with the
	// text after it. A model sends a piece every few milliseconds, and
	// each piece sent costs a NOTIFY between processes and a frame to
	// every client; a reader sees no difference at 20 updates a second.
	deltaCoalesce = 50 * time.Millisecond
)

// takeoverGuard tells a streaming reply when the conversation has left
// the bot. With a watch it reads the conversation's status events and
// asks the database only every watchedRecheck (or every deltaRecheck once
// the watch fell behind); without one it asks every deltaRecheck.
type takeoverGuard struct {
	watch     *realtime.Subscription // nil: no live events to watch
	lastCheck time.Time              // when the status was last read from the database
	withBot   func() (bool, error)
	gone      bool
}

func (g *takeoverGuard) takenOver() bool {
	if g.gone {
		return true
	}
	every := deltaRecheck
	if g.watch != nil {
		for drained := false; !drained; {
			select {
			case e := <-g.watch.C:
				if e.Type == "status" && statusOf(e) != "bot" {
					g.gone = true
					return true
				}
			default:
				drained = true
			}
		}
		select {
		case <-g.watch.Overflowed:
		default:
			every = watchedRecheck
		}
	}
	if time.Since(g.lastCheck) >= every {
		g.lastCheck = time.Now()
		if withBot, err := g.withBot(); err == nil && !withBot {
			g.gone = true
		}
	}
	return g.gone
}

// statusOf reads a status event's new status ("" if unreadable, which
// counts as leaving the bot: better silent than talking over a person).
func statusOf(e realtime.Event) string {
	var s struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(e.Data, &s)
	return s.Status
}

// deltaStream sends a reply's streamed text in pieces at most every
// deltaCoalesce: the first at once, later ones gathered.
type deltaStream struct {
	send    func(text string)
	mu      sync.Mutex
	pending strings.Builder
	last    time.Time // when a piece last went out
	timer   *time.Timer
	done    bool
}

func (d *deltaStream) add(text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return
	}
	d.pending.WriteString(text)
	wait := deltaCoalesce - time.Since(d.last)
	if wait <= 0 {
		d.flush()
		return
	}
	if d.timer == nil {
		// A model may pause after a piece: it still goes out in time. A
		// timer that fired while a piece went out is stale: it must not
		// send the next piece early.
		var t *time.Timer
		t = time.AfterFunc(wait, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.timer == t {
				d.flush()
			}
		})
		d.timer = t
	}
}

// flush sends what is pending; d.mu is held.
func (d *deltaStream) flush() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.done || d.pending.Len() == 0 {
		return
	}
	d.send(d.pending.String())
	d.pending.Reset()
	d.last = time.Now()
}

// finish ends the stream, sending what is pending when send is set.
func (d *deltaStream) finish(send bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if send {
		d.flush()
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.done = true
}
