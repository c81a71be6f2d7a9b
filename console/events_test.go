package console

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/store"
)

// changesFeed stands in for another gateway's writes to the shared store.
type changesFeed struct {
	mu   sync.Mutex
	reqs []*store.Request
}

func (c *changesFeed) ChangedSince(context.Context, time.Time, ...string) ([]*store.Request, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*store.Request, len(c.reqs))
	for i, r := range c.reqs {
		cp := *r
		out[i] = &cp
	}
	return out, nil
}

func (c *changesFeed) set(r *store.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = []*store.Request{r}
}

// TestBrokerHearsOtherGateways: a change written by another process
// reaches listeners once, and again only when the request changes again.
func TestBrokerHearsOtherGateways(t *testing.T) {
	feed := &changesFeed{}
	b := newBroker(feed, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.run(ctx)
	ch, ok := b.subscribe()
	if !ok {
		t.Fatal("subscribe")
	}
	defer b.unsubscribe(ch)
	expect := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * pollEvery):
			t.Fatalf("%s: no notice", what)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case n := <-ch:
			t.Fatalf("%s: unexpected notice %q", what, n)
		case <-time.After(3 * pollEvery):
		}
	}
	feed.set(&store.Request{ID: "gr_1", Status: store.StatusPending})
	expect("new request")
	quiet("same request again")
	feed.set(&store.Request{ID: "gr_1", Status: store.StatusPending, Votes: []store.Vote{{Approver: "dave", Approve: true}}})
	expect("a vote")
	feed.set(&store.Request{ID: "gr_1", Status: store.StatusActive, Votes: []store.Vote{{Approver: "dave", Approve: true}, {Approver: "erin", Approve: true}}})
	expect("approved")
}

func TestBrokerBoundsSubscribers(t *testing.T) {
	b := newBroker(nil, slog.New(slog.DiscardHandler))
	for range maxSubscribers {
		if _, ok := b.subscribe(); !ok {
			t.Fatal("refused below the bound")
		}
	}
	if _, ok := b.subscribe(); ok {
		t.Fatal("subscriber beyond the bound admitted")
	}
	// A slow subscriber never blocks a notice.
	done := make(chan struct{})
	go func() {
		for range 100 {
			b.notify("x")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("notify blocked on full subscribers")
	}
}

// TestBrokerMarksBounded: every access event marks its request, also
// while no console page is open (the poll, which used to be the only
// thing that forgot marks, skips its work then). An agent making many
// requests must not grow the gateway's memory without bound.
func TestBrokerMarksBounded(t *testing.T) {
	b := newBroker(&changesFeed{}, slog.New(slog.DiscardHandler))
	start := time.Now()
	const n = 3 * maxSeenMarks
	for i := range n {
		b.fresh(&store.Request{ID: fmt.Sprintf("ap_%d", i), Status: store.StatusPending}, start.Add(time.Duration(i)*time.Second))
	}
	b.mu.Lock()
	got := len(b.seen)
	b.mu.Unlock()
	if got > maxSeenMarks {
		t.Fatalf("%d marks kept after %d events an hour apart; want at most %d", got, n, maxSeenMarks)
	}
}
