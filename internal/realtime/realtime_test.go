package realtime_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store/storetest"
)

func TestHubDeliversOnlyToTheConversationsSubscribers(t *testing.T) {
	t.Parallel()
	h := realtime.NewHub()
	a := h.Subscribe("t1", "c1", 4)
	b := h.Subscribe("t1", "c2", 4)
	other := h.Subscribe("t2", "c1", 4) // same conversation id, other tenant
	defer a.Close()
	defer b.Close()
	defer other.Close()
	h.Deliver(realtime.Event{TenantID: "t1", ConversationID: "c1", Type: "message", Seq: 1})
	select {
	case e := <-a.C:
		if e.Seq != 1 {
			t.Fatalf("got %+v", e)
		}
	case <-time.After(time.Second):
		t.Fatal("subscriber of c1 got nothing")
	}
	for name, s := range map[string]*realtime.Subscription{"c2": b, "other tenant": other} {
		select {
		case e := <-s.C:
			t.Fatalf("%s received %+v", name, e)
		default:
		}
	}
}

func TestAFullSubscriberIsToldToResyncInsteadOfBlockingTheHub(t *testing.T) {
	t.Parallel()
	h := realtime.NewHub()
	slow := h.Subscribe("t", "c", 2)
	defer slow.Close()
	done := make(chan struct{})
	go func() {
		for i := range 10 {
			h.Deliver(realtime.Event{TenantID: "t", ConversationID: "c", Seq: int64(i + 1)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Deliver blocked on a slow subscriber")
	}
	select {
	case <-slow.Overflowed:
	default:
		t.Fatal("the slow subscriber was not told it overflowed")
	}
}

func TestClosedSubscriptionsAreForgotten(t *testing.T) {
	t.Parallel()
	h := realtime.NewHub()
	s := h.Subscribe("t", "c", 1)
	if h.Subscribers() != 1 {
		t.Fatalf("subscribers = %d", h.Subscribers())
	}
	s.Close()
	s.Close() // twice is harmless
	if h.Subscribers() != 0 {
		t.Fatalf("subscribers after close = %d", h.Subscribers())
	}
	h.Deliver(realtime.Event{TenantID: "t", ConversationID: "c"})
}

// Two buses stand for two processes sharing one PostgreSQL: an event
// published by one reaches subscribers of the other, and an event too big
// for NOTIFY still arrives (without its data, to be fetched by seq).
func TestEventsCrossProcessesThroughPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	busA, hubB, _ := twoProcesses(t)
	tenant := "tenant-" + time.Now().Format("150405.000000000")
	sub := hubB.Subscribe(tenant, "conv", 8)
	defer sub.Close()

	small := json.RawMessage(`{"type":"message","seq":1}`)
	if err := busA.Publish(ctx, realtime.Event{TenantID: tenant, ConversationID: "conv", Type: "message", Seq: 1, Data: small}); err != nil {
		t.Fatal(err)
	}
	big := json.RawMessage(`{"text":"` + strings.Repeat("x", 9000) + `"}`)
	if err := busA.Publish(ctx, realtime.Event{TenantID: tenant, ConversationID: "conv", Type: "message", Seq: 2, Data: big}); err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 2; want++ {
		select {
		case e := <-sub.C:
			if e.Seq != want {
				t.Fatalf("got seq %d, want %d", e.Seq, want)
			}
			if want == 1 && string(e.Data) != string(small) {
				t.Fatalf("small event data = %s", e.Data)
			}
			if want == 2 && len(e.Data) != 0 {
				t.Fatalf("oversized event kept %d bytes of data", len(e.Data))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not cross to the other process", want)
		}
	}
}

func TestConcurrentPublishersShareNotifiesAndEachConversationKeepsItsOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	busA, hubB, notifies := twoProcesses(t)
	tenant := "tenant-" + time.Now().Format("150405.000000000")
	const convs, perConv = 20, 25
	subs := make([]*realtime.Subscription, convs)
	for c := range convs {
		subs[c] = hubB.Subscribe(tenant, fmt.Sprint("conv", c), perConv*2)
		defer subs[c].Close()
	}
	var wg sync.WaitGroup
	for c := range convs {
		wg.Go(func() {
			for seq := int64(1); seq <= perConv; seq++ {
				data := json.RawMessage(fmt.Sprintf(`{"text":%q}`, strings.Repeat("y", int(seq)*40)))
				if err := busA.Publish(ctx, realtime.Event{TenantID: tenant, ConversationID: fmt.Sprint("conv", c), Type: "message", Seq: seq, Data: data}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for c, sub := range subs {
		for want := int64(1); want <= perConv; want++ {
			select {
			case e := <-sub.C:
				if e.Seq != want || len(e.Data) == 0 {
					t.Fatalf("conversation %d: got seq %d (%d bytes), want %d in order", c, e.Seq, len(e.Data), want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("conversation %d: event %d never arrived", c, want)
			}
		}
	}
	if n := notifies.Load(); n >= convs*perConv {
		t.Errorf("%d NOTIFYs for %d events: none was shared", n, convs*perConv)
	}
	t.Logf("%d events in %d NOTIFYs", convs*perConv, notifies.Load())
}

func TestATenantSubscriptionHearsEveryConversationOfItsTenantOnly(t *testing.T) {
	t.Parallel()
	h := realtime.NewHub()
	all := h.SubscribeTenant("t1", 8)
	defer all.Close()
	one := h.Subscribe("t1", "c1", 8)
	defer one.Close()
	for _, e := range []realtime.Event{
		{TenantID: "t1", ConversationID: "c1", Type: "message", Seq: 1},
		{TenantID: "t1", ConversationID: "c2", Type: "message", Seq: 1},
		{TenantID: "t1", Type: "document"},
		{TenantID: "t2", ConversationID: "c1", Type: "message", Seq: 9},
	} {
		_ = h.Publish(context.Background(), e)
	}
	var got []string
	for len(all.C) > 0 {
		e := <-all.C
		got = append(got, e.ConversationID+"/"+e.Type)
	}
	if strings.Join(got, ",") != "c1/message,c2/message,/document" {
		t.Errorf("the tenant subscription heard %v", got)
	}
	if len(one.C) != 1 {
		t.Errorf("the conversation subscription heard %d events, want its own 1", len(one.C))
	}
}

// twoProcesses stands two buses on one PostgreSQL, both listening: bus A
// publishes, hub B is the other process's. notifies counts A's and B's
// NOTIFY statements.
func twoProcesses(t *testing.T) (busA *realtime.PGBus, hubB *realtime.Hub, notifies *atomic.Int32) {
	t.Helper()
	dsn := storetest.PostgresURL(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	notifies = new(atomic.Int32)
	exec := func(ctx context.Context, q string, args ...any) error {
		notifies.Add(1)
		_, err := db.ExecContext(ctx, q, args...)
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hubA := realtime.NewHub()
	hubB = realtime.NewHub()
	busA, busB := realtime.NewPGBus(hubA, dsn, log, exec), realtime.NewPGBus(hubB, dsn, log, exec)
	readyA, readyB := make(chan struct{}), make(chan struct{})
	go busA.Listen(ctx, readyA)
	go busB.Listen(ctx, readyB)
	<-readyA
	<-readyB
	return busA, hubB, notifies
}
