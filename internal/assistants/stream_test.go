package assistants

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metachat/metachat/internal/realtime"
)

// The streaming side of a reply: how streamed text is gathered into fewer
// pieces (deltaStream) and how a streaming reply learns that a person took
// the conversation over (takeoverGuard).
//
// Timing: these tests run on loaded CI machines under -race. They assert
// lower bounds on time freely, never tight upper bounds; where a check
// only holds if the test itself ran quickly (pieces added within
// deltaCoalesce, a guard asked within a recheck interval), the attempt is
// measured and repeated if the machine was too slow for it to mean
// anything.

// sentPieces records what a deltaStream sends, from any goroutine (the
// gathering timer sends from its own).
type sentPieces struct {
	mu    sync.Mutex
	texts []string
	at    []time.Time
}

func (s *sentPieces) send(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.texts = append(s.texts, text)
	s.at = append(s.at, time.Now())
}

func (s *sentPieces) sent() ([]string, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...), append([]time.Time(nil), s.at...)
}

func (s *sentPieces) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.texts)
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a bound on a hung test, not on how fast the code is).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quickly runs attempt until one finishes within budget (the attempt's
// own measure of the time that mattered), so a check that only means
// something when the test ran fast is not failed by a stalled machine.
// attempt reports how long the timing-sensitive part took.
func quickly(t *testing.T, budget time.Duration, attempt func() (took time.Duration, check func())) {
	t.Helper()
	const attempts = 10
	for i := 0; i < attempts; i++ {
		took, check := attempt()
		if took < budget {
			check()
			return
		}
		t.Logf("attempt %d took %v (budget %v); the machine is slow, trying again", i+1, took, budget)
	}
	t.Skipf("no attempt of %d ran within %v: the machine is too slow for this check", attempts, budget)
}

func TestTheFirstStreamedPieceGoesOutAtOnceAndQuickOnesAreGathered(t *testing.T) {
	t.Parallel()
	pieces := []string{"Hel", "lo", ", ", "how ", "can ", "I ", "help ", "you ", "to", "day?"}
	quickly(t, deltaCoalesce, func() (time.Duration, func()) {
		var rec sentPieces
		d := &deltaStream{send: rec.send}
		start := time.Now()
		d.add(pieces[0])
		// Sent from inside add, before it returns: no waiting at all.
		first, _ := rec.sent()
		for _, p := range pieces[1:] {
			d.add(p)
		}
		beforeFinish, _ := rec.sent()
		d.finish(true)
		took := time.Since(start)
		return took, func() {
			if len(first) != 1 || first[0] != pieces[0] {
				t.Fatalf("right after the first add, sent = %q; want the first piece %q at once", first, pieces[0])
			}
			if len(beforeFinish) != 1 {
				t.Errorf("before finish, %d pieces were sent (%q); the %d quick ones after the first must wait to be gathered",
					len(beforeFinish), beforeFinish, len(pieces)-1)
			}
			got, _ := rec.sent()
			if len(got) != 2 {
				t.Errorf("%d pieces added within %v went out as %d sends (%q); want the first alone and the rest gathered into one",
					len(pieces), deltaCoalesce, len(got), got)
			}
			if strings.Join(got, "") != strings.Join(pieces, "") {
				t.Errorf("sent pieces add up to %q, want %q", strings.Join(got, ""), strings.Join(pieces, ""))
			}
		}
	})
}

func TestAGatheredPieceGoesOutWhenTheModelPauses(t *testing.T) {
	t.Parallel()
	var rec sentPieces
	d := &deltaStream{send: rec.send}
	d.add("Hello")
	d.add(", ")
	d.add("world")
	// The model says nothing more for a while, and finish is not called:
	// the gathered text must go out on its own.
	waitFor(t, "the gathered piece to go out without another add or finish", func() bool { return rec.count() >= 2 })
	got, at := rec.sent()
	if len(got) != 2 || got[0] != "Hello" || got[1] != ", world" {
		t.Fatalf("sent %q, want [\"Hello\" \", world\"]", got)
	}
	if gap := at[1].Sub(at[0]); gap < deltaCoalesce {
		t.Errorf("the gathered piece went out %v after the first; it must wait at least %v", gap, deltaCoalesce)
	}
	d.finish(true)
	if got, _ := rec.sent(); len(got) != 2 {
		t.Errorf("finish with nothing pending sent again: %q", got)
	}
}

func TestFinishSendsWhatIsPendingSoThePiecesAddUpToTheText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		pieces []string
		// pauseAfter is the index of a piece after which the model pauses
		// long enough for the gathered text to go out (-1: no pause).
		pauseAfter int
	}{
		{name: "one piece", pieces: []string{"Hi!"}, pauseAfter: -1},
		{name: "many quick pieces", pieces: strings.SplitAfter("We are open from nine to five, Monday to Friday.", " "), pauseAfter: -1},
		{name: "multi-byte text", pieces: []string{"Dostava ", "traje ", "dva ", "dana — ", "hvala! ", "😊"}, pauseAfter: -1},
		{name: "empty pieces among them", pieces: []string{"", "a", "", "b", "c", ""}, pauseAfter: -1},
		{name: "a pause in the middle", pieces: []string{"First ", "part. ", "Second ", "part."}, pauseAfter: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rec sentPieces
			d := &deltaStream{send: rec.send}
			for i, p := range tc.pieces {
				d.add(p)
				if i == tc.pauseAfter {
					before := rec.count()
					waitFor(t, "the piece gathered before the pause to go out", func() bool { return rec.count() > before })
				}
			}
			d.finish(true)
			// Checked as soon as finish returns: what was pending went out
			// from finish itself, not later from a timer.
			got, _ := rec.sent()
			want := strings.Join(tc.pieces, "")
			if strings.Join(got, "") != want {
				t.Errorf("sent %q, adding up to %q; want %q", got, strings.Join(got, ""), want)
			}
			for _, g := range got {
				if g == "" {
					t.Errorf("an empty piece was sent: %q", got)
				}
			}
			if tc.pauseAfter >= 0 && len(got) < 3 {
				t.Errorf("sent %q: with a pause, the text before it must go out before finish", got)
			}
		})
	}
}

func TestFinishWithoutSendingDropsThePendingText(t *testing.T) {
	t.Parallel()
	quickly(t, deltaCoalesce, func() (time.Duration, func()) {
		var rec sentPieces
		d := &deltaStream{send: rec.send}
		start := time.Now()
		d.add("Sure, ")
		d.add("your order ")
		d.add("ships today")
		d.finish(false)
		took := time.Since(start)
		return took, func() {
			// Longer than the gathering timer would have waited.
			time.Sleep(3 * deltaCoalesce)
			if got, _ := rec.sent(); len(got) != 1 || got[0] != "Sure, " {
				t.Errorf("sent %q; want only the first piece, the pending text dropped by finish(false)", got)
			}
		}
	})
}

func TestNothingIsSentAfterTheStreamFinished(t *testing.T) {
	t.Parallel()
	for _, send := range []bool{true, false} {
		name := map[bool]string{true: "finished sending", false: "finished dropping"}[send]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var rec sentPieces
			d := &deltaStream{send: rec.send}
			d.add("one")
			d.finish(send)
			before, _ := rec.sent()
			// After a long gap an add would otherwise go out at once; a
			// quick one would otherwise start the gathering timer.
			time.Sleep(2 * deltaCoalesce)
			d.add("late")
			d.add("later")
			time.Sleep(3 * deltaCoalesce)
			d.finish(true)
			if got, _ := rec.sent(); len(got) != len(before) {
				t.Errorf("sent %q after finish (before it: %q); nothing may go out once the stream is finished", got[len(before):], before)
			}
		})
	}
}

// fakeStatus stands in for the database read of whether the conversation
// is still with the bot, counting how often it is asked.
type fakeStatus struct {
	mu      sync.Mutex
	calls   int
	withBot bool
	err     error
}

func (f *fakeStatus) read() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.withBot, f.err
}

func (f *fakeStatus) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

const (
	testTenant = "tenant-1"
	testConv   = "conversation-1"
)

func event(typ, data string) realtime.Event {
	e := realtime.Event{TenantID: testTenant, ConversationID: testConv, Type: typ}
	if data != "" {
		e.Data = json.RawMessage(data)
	}
	return e
}

func TestAStatusEventOtherThanBotStopsTheStream(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		data string
	}{
		{name: "an agent took over", data: `{"status":"human"}`},
		{name: "the conversation was resolved", data: `{"status":"resolved","assignee_id":"u1"}`},
		{name: "an unreadable status", data: `not json`},
		{name: "a status event without a status", data: `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hub := realtime.NewHub()
			watch := hub.Subscribe(testTenant, testConv, watchBuffer)
			defer watch.Close()
			db := &fakeStatus{withBot: true}
			g := &takeoverGuard{watch: watch, lastCheck: time.Now(), withBot: db.read}
			if g.takenOver() {
				t.Fatal("taken over before any event")
			}
			hub.Deliver(event("delta", `{"text":"Hel"}`))
			hub.Deliver(event("status", tc.data))
			if !g.takenOver() {
				t.Fatalf("status event %s did not stop the stream", tc.data)
			}
			// It stays stopped, and the event was enough: no database read.
			if !g.takenOver() || !g.gone {
				t.Error("the guard forgot the takeover")
			}
			if n := db.asked(); n != 0 {
				t.Errorf("the database was asked %d times; the status event alone must stop the stream", n)
			}
		})
	}
}

func TestOwnDeltaAndMessageEventsDoNotStopTheStream(t *testing.T) {
	t.Parallel()
	hub := realtime.NewHub()
	watch := hub.Subscribe(testTenant, testConv, watchBuffer)
	defer watch.Close()
	db := &fakeStatus{withBot: true}
	g := &takeoverGuard{watch: watch, lastCheck: time.Now(), withBot: db.read}
	// More events than the buffer holds, over several streamed pieces: the
	// guard must drain them so the watch never overflows.
	for round := 0; round < 3; round++ {
		for i := 0; i < watchBuffer/2; i++ {
			hub.Deliver(event("delta", `{"reply_id":"r1","text":"x"}`))
		}
		hub.Deliver(event("message", `{"role":"user","text":"and another thing"}`))
		hub.Deliver(event("typing", `{"typing":true}`))
		hub.Deliver(event("status", `{"status":"bot"}`))
		if g.takenOver() {
			t.Fatalf("round %d: the reply's own deltas, messages, typing or a status of bot stopped the stream", round)
		}
		if n := len(watch.C); n != 0 {
			t.Fatalf("round %d: %d events left unread; the guard must drain the watch", round, n)
		}
	}
	select {
	case <-watch.Overflowed:
		t.Error("the watch overflowed: the guard did not keep up with the conversation's events")
	default:
	}
	if n := db.asked(); n != 0 {
		t.Errorf("the database was asked %d times while the watch was fresh and healthy", n)
	}
	// The same watch does see a takeover, so the above is not vacuous.
	hub.Deliver(event("status", `{"status":"human"}`))
	if !g.takenOver() {
		t.Error("a takeover after those events was missed")
	}
}

func TestAWatchedReplyDoesNotAskTheDatabaseWhileFresh(t *testing.T) {
	t.Parallel()
	hub := realtime.NewHub()
	quickly(t, watchedRecheck, func() (time.Duration, func()) {
		watch := hub.Subscribe(testTenant, testConv, watchBuffer)
		t.Cleanup(watch.Close)
		db := &fakeStatus{withBot: false}
		start := time.Now()
		g := &takeoverGuard{watch: watch, lastCheck: start, withBot: db.read}
		// Well past deltaRecheck, when an unwatched reply would have asked.
		stopped := false
		for time.Since(start) < 3*deltaRecheck {
			stopped = stopped || g.takenOver()
			time.Sleep(5 * time.Millisecond)
		}
		stopped = stopped || g.takenOver()
		took := time.Since(start)
		asked := db.asked()
		return took, func() {
			if asked != 0 || stopped {
				t.Errorf("over %v a watched reply asked the database %d times (stopped: %v); want none before %v", took, asked, stopped, watchedRecheck)
			}
			// Once the last read is watchedRecheck old, it asks all the
			// same (an event may have been lost), once.
			g.lastCheck = time.Now().Add(-watchedRecheck)
			if !g.takenOver() {
				t.Error("the database says the bot no longer has the conversation, but the stream goes on")
			}
			if n := db.asked(); n != 1 {
				t.Errorf("after %v the database was asked %d times, want once", watchedRecheck, n)
			}
		}
	})
}

func TestAnOverflowedWatchFallsBackToAskingTheDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		overflow func(hub *realtime.Hub)
	}{
		{name: "events were dropped from a full buffer", overflow: func(hub *realtime.Hub) {
			for i := 0; i < watchBuffer+1; i++ {
				hub.Deliver(event("delta", `{"text":"x"}`))
			}
		}},
		{name: "the hub asked every subscriber to resynchronise", overflow: func(hub *realtime.Hub) { hub.ResyncAll() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The last read is older than deltaRecheck but fresh for a
			// healthy watch: only the overflow makes the guard ask.
			age := 2 * deltaRecheck
			quickly(t, watchedRecheck-age, func() (time.Duration, func()) {
				hub := realtime.NewHub()
				watch := hub.Subscribe(testTenant, testConv, watchBuffer)
				defer watch.Close()
				db := &fakeStatus{withBot: false}
				start := time.Now()
				g := &takeoverGuard{watch: watch, lastCheck: start.Add(-age), withBot: db.read}
				healthy := g.takenOver()
				askedHealthy := db.asked()
				took := time.Since(start)
				tc.overflow(hub)
				select {
				case <-watch.Overflowed:
				default:
					t.Fatal("the test did not overflow the watch")
				}
				overflowed := g.takenOver()
				askedOverflowed := db.asked()
				return took, func() {
					if healthy || askedHealthy != 0 {
						t.Fatalf("a healthy watch with a %v old read asked the database %d times (stopped: %v); want none", age, askedHealthy, healthy)
					}
					if !overflowed || askedOverflowed != 1 {
						t.Errorf("after the overflow the database was asked %d times (stopped: %v); want once, and the stream stopped", askedOverflowed, overflowed)
					}
				}
			})
		})
	}
}

func TestWithoutAWatchTheDatabaseIsAskedEveryRecheck(t *testing.T) {
	t.Parallel()
	db := &fakeStatus{withBot: true}
	g := &takeoverGuard{lastCheck: time.Now(), withBot: db.read}
	start := time.Now()
	calls := 0
	for time.Since(start) < 5*deltaRecheck {
		if g.takenOver() {
			t.Fatal("stopped while the database says the bot has the conversation")
		}
		calls++
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	asked := db.asked()
	if asked < 1 {
		t.Errorf("over %v without a watch the database was never asked; want every %v", took, deltaRecheck)
	}
	// At most once per deltaRecheck of the time that passed: the guard is
	// called for every streamed piece, the database is not.
	if limit := int(took/deltaRecheck) + 1; asked > limit {
		t.Errorf("over %v (%d guard calls) the database was asked %d times; want at most %d, once every %v", took, calls, asked, limit, deltaRecheck)
	}
	// Once it is overdue, the very next piece asks.
	g.lastCheck = time.Now().Add(-deltaRecheck)
	before := db.asked()
	g.takenOver()
	if db.asked() != before+1 {
		t.Errorf("a read %v old was not refreshed", deltaRecheck)
	}
}

func TestWhatTheDatabaseSaysDecidesAnUnwatchedStream(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		withBot bool
		err     error
		stopped bool
	}{
		{name: "still with the bot", withBot: true, stopped: false},
		{name: "taken over", withBot: false, stopped: true},
		{name: "the read failed", withBot: false, err: errors.New("connection reset"), stopped: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := &fakeStatus{withBot: tc.withBot, err: tc.err}
			// A zero lastCheck: the first piece always asks.
			g := &takeoverGuard{withBot: db.read}
			if got := g.takenOver(); got != tc.stopped {
				t.Errorf("takenOver = %v, want %v", got, tc.stopped)
			}
			if n := db.asked(); n != 1 {
				t.Errorf("the database was asked %d times, want once", n)
			}
			if g.lastCheck.IsZero() {
				t.Error("the read's time was not recorded, so the next piece would ask again")
			}
			// Once the read is overdue again, a stream still going asks
			// again; a stopped one stays stopped without asking.
			g.lastCheck = time.Time{}
			wantAsked := 2
			if tc.stopped {
				wantAsked = 1
			}
			if got := g.takenOver(); got != tc.stopped {
				t.Errorf("the next piece: takenOver = %v, want %v", got, tc.stopped)
			}
			if n := db.asked(); n != wantAsked {
				t.Errorf("by the next piece the database was asked %d times, want %d", n, wantAsked)
			}
		})
	}
}
