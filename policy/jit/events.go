package jit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/store"
)

// Event types.
const (
	EventGrantIssued     = "grant.issued"     // an auto-mode grant became active
	EventRequestCreated  = "request.created"  // a grant request or call approval awaits a decision
	EventRequestVoted    = "request.voted"    // one approval of several needed
	EventRequestApproved = "request.approved" // approved: the grant is active or the call may run once
	EventRequestDenied   = "request.denied"
	EventApprovalUsed    = "approval.used" // the approved call ran
	// EventApprovalReleased: the call failed without reaching its target,
	// so its approval is usable again.
	EventApprovalReleased = "approval.released"
	EventGrantRevoked     = "grant.revoked"
	EventExpired          = "request.expired" // a grant, approval or pending request ran out of time
)

// Event announces a change to a grant or request.
type Event struct {
	Type    string
	Request *store.Request
	// Actor is the subject that caused the event; empty for the gateway.
	Actor  string
	Reason string
	Time   time.Time
}

// Text is a one-line, human-readable summary (Slack's "text").
func (e Event) Text() string {
	r := e.Request
	what := fmt.Sprintf("%s access to %s", r.Access, r.Connection)
	if r.Kind == store.KindApproval {
		what = fmt.Sprintf("a %s call of %s on %s", r.Access, r.Tool, r.Connection)
	}
	switch e.Type {
	case EventGrantIssued:
		return fmt.Sprintf("Airlock: %s was granted %s until %s (%s).", r.Subject, what, r.ExpiresAt.Format(time.RFC3339), r.ID)
	case EventRequestCreated:
		return fmt.Sprintf("Airlock: %s asks for %s — %q. Approvers: %s. Approve with `airlock approvals approve %s`.",
			r.Subject, what, r.Reason, strings.Join(r.Approvers, ", "), r.ID)
	case EventRequestVoted:
		return fmt.Sprintf("Airlock: %s approved %s for %s (%d of %d approvals, %s).", e.Actor, what, r.Subject, approvals(r), r.MinApprovals, r.ID)
	case EventRequestApproved:
		return fmt.Sprintf("Airlock: %s approved %s for %s (%s).", e.Actor, what, r.Subject, r.ID)
	case EventRequestDenied:
		return fmt.Sprintf("Airlock: %s denied %s for %s (%s).", e.Actor, what, r.Subject, r.ID)
	case EventApprovalUsed:
		return fmt.Sprintf("Airlock: %s ran the approved %s (%s).", r.Subject, what, r.ID)
	case EventApprovalReleased:
		return fmt.Sprintf("Airlock: the approved %s of %s failed without changing anything; the approval stays usable (%s).", what, r.Subject, r.ID)
	case EventGrantRevoked:
		return fmt.Sprintf("Airlock: %s revoked %s's %s (%s).", e.Actor, r.Subject, what, r.ID)
	case EventExpired:
		return fmt.Sprintf("Airlock: %s's %s expired (%s).", r.Subject, what, r.ID)
	}
	return fmt.Sprintf("Airlock: %s %s (%s)", e.Type, what, r.ID)
}

func approvals(r *store.Request) int {
	n := 0
	for _, v := range r.Votes {
		if v.Approve {
			n++
		}
	}
	return n
}

// Sink receives events. Publish must not block the call path for long.
type Sink interface {
	Publish(ctx context.Context, e Event)
}

func (s *Service) publish(ctx context.Context, e Event) {
	s.grantChanged(e) // every change publishes: the grant view hears of it here
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	for _, sink := range s.sinks {
		sink.Publish(ctx, e)
	}
}

// WebhookPayload is what the webhook receives. Field names are stable.
type WebhookPayload struct {
	Text       string    `json:"text"` // Slack-compatible
	Event      string    `json:"event"`
	RequestID  string    `json:"request_id"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Subject    string    `json:"subject"`
	Connection string    `json:"connection"`
	Access     string    `json:"access"`
	Tool       string    `json:"tool,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Approvers  []string  `json:"approvers,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	Time       time.Time `json:"time"`
}

// Webhook posts events to a URL from a bounded queue with retries and
// backoff. A slow or dead endpoint never slows a call: when the queue is
// full, events are dropped (and logged); the journal, not the webhook, is
// the record.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	queue  chan WebhookPayload
	log    *slog.Logger
	// Backoff is the first retry delay, doubled per attempt.
	backoff  time.Duration
	attempts int

	stop chan struct{}
	done sync.WaitGroup
}

// NewWebhook starts a webhook poster that signs every POST with secret
// (see SignWebhook). Close stops it.
func NewWebhook(url string, secret []byte, log *slog.Logger) *Webhook {
	w := &Webhook{url: url, secret: secret, client: &http.Client{Timeout: 5 * time.Second}, queue: make(chan WebhookPayload, 1024),
		log: log, backoff: 500 * time.Millisecond, attempts: 5, stop: make(chan struct{})}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.done.Add(1)
	go w.run()
	return w
}

// Publish implements Sink without blocking.
func (w *Webhook) Publish(_ context.Context, e Event) {
	if e.Type == EventApprovalUsed || e.Type == EventApprovalReleased {
		return // routine: the journal has it
	}
	r := e.Request
	p := WebhookPayload{Text: e.Text(), Event: e.Type, RequestID: r.ID, Kind: r.Kind, Status: r.Status,
		Subject: r.Subject, Connection: r.Connection, Access: r.Access, Tool: r.Tool, Reason: r.Reason,
		Approvers: r.Approvers, Actor: e.Actor, Time: e.Time}
	select {
	case w.queue <- p:
	default:
		w.log.Warn("webhook queue full; event dropped", "event", e.Type, "request_id", r.ID)
	}
}

// Close stops the poster; queued events not yet sent are dropped.
func (w *Webhook) Close() {
	close(w.stop)
	w.done.Wait()
}

func (w *Webhook) run() {
	defer w.done.Done()
	for {
		select {
		case <-w.stop:
			return
		case p := <-w.queue:
			w.send(p)
		}
	}
}

func (w *Webhook) send(p WebhookPayload) {
	body, _ := json.Marshal(p)
	delay := w.backoff
	for attempt := 1; attempt <= w.attempts; attempt++ {
		// Signed per attempt: a retry carries a fresh timestamp, so a
		// receiver's freshness window never rejects it.
		req, err := http.NewRequest(http.MethodPost, w.url, bytes.NewReader(body))
		if err != nil {
			w.log.Warn("webhook request cannot be built; event dropped", "event", p.Event)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, SignWebhook(w.secret, time.Now(), body))
		resp, err := w.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				w.log.Warn("webhook refused event", "status", resp.StatusCode, "event", p.Event)
				return
			}
		}
		select {
		case <-w.stop:
			return
		case <-time.After(delay):
		}
		delay *= 2
	}
	w.log.Warn("webhook unreachable; event dropped", "event", p.Event, "request_id", p.RequestID)
}
