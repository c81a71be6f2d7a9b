package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/airlockhq/airlock/store"
)

// broker tells open console pages that requests changed: at once for
// changes made in this process (Publish), within pollEvery for changes
// made by other processes sharing the store. A notice carries only the
// event type; each page then fetches what its viewer may see, so nothing
// leaks through the stream.
type broker struct {
	changes Changes
	log     *slog.Logger

	// closing ends every stream (gateway shutdown).
	closing   chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	subs map[chan string]struct{}
	// seen holds each recently changed request's status and vote count,
	// so a change announced in-process is not announced again by the poll.
	seen map[string]mark
}

type mark struct {
	sig  string
	when time.Time
}

func signature(r *store.Request) string { return fmt.Sprintf("%s/%d", r.Status, len(r.Votes)) }

// fresh records r's state and reports whether it is news.
func (b *broker) fresh(r *store.Request, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) >= maxSeenMarks {
		// The poll forgets marks only while someone listens: forget
		// here too, so requests made while no page is open do not
		// accumulate.
		for id, m := range b.seen {
			if m.when.Before(now.Add(-markTTL)) {
				delete(b.seen, id)
			}
		}
	}
	sig := signature(r)
	m, ok := b.seen[r.ID]
	b.seen[r.ID] = mark{sig, now}
	return !ok || m.sig != sig
}

const (
	pollEvery      = time.Second
	keepAliveEvery = 20 * time.Second
	maxSubscribers = 1000
	// markTTL is how long a request's mark is kept (the poll window is
	// far shorter); maxSeenMarks is the table size at which stale marks
	// are dropped on the spot.
	markTTL      = time.Minute
	maxSeenMarks = 4096
)

func newBroker(ch Changes, log *slog.Logger) *broker {
	return &broker{changes: ch, log: log, subs: map[chan string]struct{}{}, seen: map[string]mark{}, closing: make(chan struct{})}
}

func (b *broker) subscribe() (chan string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) >= maxSubscribers {
		return nil, false
	}
	ch := make(chan string, 8)
	b.subs[ch] = struct{}{}
	return ch, true
}

func (b *broker) unsubscribe(ch chan string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, ch)
}

// announce tells listeners of an in-process change to r.
func (b *broker) announce(typ string, r *store.Request) {
	if r != nil {
		b.fresh(r, time.Now())
	}
	b.notify(typ)
}

func (b *broker) notify(typ string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- typ:
		default: // a page with notices queued will refresh anyway
		}
	}
}

func (b *broker) listeners() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// forget drops marks older than t (the poll window is far shorter).
func (b *broker) forget(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, m := range b.seen {
		if m.when.Before(t) {
			delete(b.seen, id)
		}
	}
}

// run polls the store for changes while someone listens.
func (b *broker) run(ctx context.Context) {
	if b.changes == nil {
		return
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	since := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b.listeners() == 0 {
			since = time.Now()
			continue
		}
		now := time.Now()
		// Overlap windows so a change committed just before the last poll
		// is not missed; seen drops the repeats.
		changed, err := b.changes.ChangedSince(ctx, since.Add(-2*time.Second))
		if err != nil {
			b.log.Warn("console: watching for changes", "err", err)
			continue
		}
		news := false
		for _, r := range changed {
			if b.fresh(r, now) {
				news = true
			}
		}
		b.forget(now.Add(-markTTL))
		since = now
		if news {
			b.notify("changed")
		}
	}
}

// handleEvents streams change notices (text/event-stream) until the
// client goes away.
func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request, _ *session) {
	rc := http.NewResponseController(w)
	select {
	case <-c.broker.closing:
		http.Error(w, "the gateway is shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	ch, ok := c.broker.subscribe()
	if !ok {
		http.Error(w, "too many open console pages", http.StatusServiceUnavailable)
		return
	}
	defer c.broker.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	keep := time.NewTicker(keepAliveEvery)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.broker.closing:
			return // the browser reconnects to whichever gateway is up
		case typ := <-ch:
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", typ)
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
