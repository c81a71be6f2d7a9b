// Package jit runs just-in-time access: grants scoped to a subject,
// connection and access class that expire on their own, human approval of
// grant requests and of single calls, revocation that cancels calls in
// flight, and the events that announce each of these.
//
// State lives in the store, so several gateway processes sharing one store
// see each other's grants and decisions; each process polls for changes
// and cancels its own calls under a revoked grant within a second.
package jit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/store"
)

// Store is the persistence the service needs.
type Store interface {
	InsertRequest(ctx context.Context, r *store.Request) error
	GetRequest(ctx context.Context, id string) (*store.Request, error)
	ListRequests(ctx context.Context, f store.RequestFilter) ([]*store.Request, error)
	UpdateRequest(ctx context.Context, id string, vote *store.Vote, fn store.UpdateFunc) (*store.Request, error)
	ChangedSince(ctx context.Context, t time.Time, statuses ...string) ([]*store.Request, error)
}

var (
	_ Store          = (*store.SQLite)(nil)
	_ Store          = (*store.Postgres)(nil)
	_ ChangeNotifier = (*store.Postgres)(nil)
)

// ChangeNotifier is implemented by a store that announces changes made
// by any process sharing it (PostgreSQL: LISTEN/NOTIFY). The service then
// wakes at once instead of at its next poll; polling remains the fallback.
type ChangeNotifier interface {
	// Changes returns a counter that grows with every change (and when
	// changes may have been missed), and whether announcements arrive now.
	Changes() (gen uint64, live bool)
	// ChangeWait returns a channel closed at the next change.
	ChangeWait() <-chan struct{}
}

// changeWait is the store's next-change channel, or nil (never ready).
func (s *Service) changeWait() <-chan struct{} {
	if cn, ok := s.st.(ChangeNotifier); ok {
		return cn.ChangeWait()
	}
	return nil
}

// Error is a refusal the caller can act on; its message is safe to show.
type Error struct {
	Msg string
	// NotFound marks a request or grant that does not exist (or that the
	// caller may not see: the two are not told apart).
	NotFound bool
}

func (e *Error) Error() string { return e.Msg }

func refuse(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

func notFound(id string) error {
	return &Error{Msg: fmt.Sprintf("no request or grant %q", id), NotFound: true}
}

// ErrRevoked is the cancellation cause of calls whose grant was revoked.
var ErrRevoked = errors.New("the grant this call ran under was revoked")

// Config tunes the service.
type Config struct {
	// Wait bounds how long a held request waits for a decision.
	Wait time.Duration
	// TTL bounds how long a request may stay pending, and how long an
	// approved call stays usable.
	TTL time.Duration
	// AdminGroups may list everything and revoke any grant.
	AdminGroups []string
	// Poll is how often the service looks for changes made elsewhere.
	Poll time.Duration
}

// Service is the just-in-time access service. It is safe for concurrent
// use.
type Service struct {
	st    Store
	eng   *policy.Engine
	cfg   Config
	sinks []Sink
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	tracked map[string]map[*trackedCall]struct{}

	grants grantCache // see grantcache.go
}

type trackedCall struct{ cancel context.CancelCauseFunc }

// New returns a service. Call Run to start its background loop.
func New(st Store, eng *policy.Engine, cfg Config, log *slog.Logger, sinks ...Sink) *Service {
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, eng: eng, cfg: cfg, sinks: sinks, log: log, now: time.Now,
		tracked: map[string]map[*trackedCall]struct{}{}}
}

func newID(prefix string) string {
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return prefix + strings.ReplaceAll(id.String(), "-", "")
}

// IsAdmin reports whether p may administer every grant and request.
func (s *Service) IsAdmin(p *identity.Principal) bool {
	return slices.ContainsFunc(s.cfg.AdminGroups, p.InGroup)
}

// CanDecide reports whether p may approve or deny r (self-approval aside).
func CanDecide(p *identity.Principal, r *store.Request) bool {
	return slices.ContainsFunc(r.Approvers, p.InGroup)
}

// RequestGrant handles request_access: an active grant at once in auto
// mode, a pending request in approval mode. A pending request for the same
// subject, connection and access is reused rather than duplicated.
func (s *Service) RequestGrant(ctx context.Context, p *identity.Principal, connection string, access policy.Access, duration time.Duration, reason string) (*store.Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, refuse("reason is required: say briefly why you need %s access to %s", access, connection)
	}
	if len(reason) > 500 {
		return nil, refuse("reason is too long (at most 500 characters)")
	}
	d := s.eng.Decide(policy.Request{Subject: p.Subject, Groups: p.Groups, Connection: connection, Access: access})
	if d.Effect == policy.Deny {
		return nil, refuse("cannot grant: %s", d.Reason)
	}
	spec := d.Grant
	if spec.Mode == policy.GrantDeny {
		return nil, refuse("%s access to %s is not requestable (rule %s); ask an operator", access, connection, d.Rule)
	}
	if duration <= 0 {
		duration = min(policy.DefaultGrantDuration, spec.MaxDuration)
	}
	duration = min(duration, spec.MaxDuration)
	now := s.now().UTC()
	r := &store.Request{
		ID: newID("gr_"), Kind: store.KindGrant, Subject: p.Subject, Groups: p.Groups, Connection: connection,
		Access: string(access), Reason: reason, Rule: d.Rule, Approvers: spec.Approvers, MinApprovals: spec.MinApprovals,
		Duration: duration, CreatedAt: now,
	}
	if spec.Mode == policy.GrantAuto {
		r.Status, r.DecidedAt, r.ExpiresAt = store.StatusActive, now, now.Add(duration)
		if err := s.st.InsertRequest(ctx, r); err != nil {
			return nil, err
		}
		s.publish(ctx, Event{Type: EventGrantIssued, Request: r, Actor: p.Subject})
		return r, nil
	}
	pending, err := s.st.ListRequests(ctx, store.RequestFilter{Kind: store.KindGrant, Subject: p.Subject,
		Connection: connection, Statuses: []string{store.StatusPending}})
	if err != nil {
		return nil, err
	}
	for _, old := range pending {
		if old.Access == string(access) && old.DecideBy.After(now) {
			return old, nil
		}
	}
	r.Status, r.DecideBy = store.StatusPending, now.Add(s.cfg.TTL)
	if err := s.st.InsertRequest(ctx, r); err != nil {
		return nil, err
	}
	s.publish(ctx, Event{Type: EventRequestCreated, Request: r, Actor: p.Subject})
	return r, nil
}

// Progress is told how long a held request has waited so far.
type Progress func(waited, total time.Duration)

// Wait polls request id until it leaves pending, wait elapses or ctx ends,
// calling progress about once a second. It returns the latest state.
func (s *Service) Wait(ctx context.Context, id string, wait time.Duration, progress Progress) (*store.Request, error) {
	start := s.now()
	deadline := start.Add(wait)
	lastReport := time.Time{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		changed := s.changeWait() // before reading: a change after the read wakes us
		r, err := s.st.GetRequest(ctx, id)
		if err != nil {
			return nil, err
		}
		now := s.now()
		if r.Status != store.StatusPending || !now.Before(deadline) {
			return r, nil
		}
		if progress != nil && now.Sub(lastReport) >= time.Second {
			progress(now.Sub(start), wait)
			lastReport = now
		}
		select {
		case <-ctx.Done():
			return r, nil
		case <-tick.C:
		case <-changed:
		}
	}
}

// Get returns request id if p may see it: its own, one p may decide, or
// any for an admin.
func (s *Service) Get(ctx context.Context, p *identity.Principal, id string) (*store.Request, error) {
	r, err := s.st.GetRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	if r.Subject != p.Subject && !CanDecide(p, r) && !s.IsAdmin(p) {
		return nil, notFound(id)
	}
	return r, nil
}

// ActiveGrant returns the subject's active, unexpired grant that covers
// access on connection (the one expiring last), or nil. It reads the
// store on every call: expiry and revocation are never cached.
func (s *Service) ActiveGrant(ctx context.Context, subject, connection string, access policy.Access) (*store.Request, error) {
	grants, err := s.st.ListRequests(ctx, store.RequestFilter{Kind: store.KindGrant, Subject: subject,
		Connection: connection, Statuses: []string{store.StatusActive}})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var best *store.Request
	for _, g := range grants {
		if g.ExpiresAt.After(now) && policy.Covers(policy.Access(g.Access), access) &&
			(best == nil || g.ExpiresAt.After(best.ExpiresAt)) {
			best = g
		}
	}
	return best, nil
}

// RevokedGrant returns the subject's grant covering access on connection
// that was revoked while it would otherwise still be active (the one
// revoked last), or nil. The pipeline reads it only when a call finds no
// active grant, to tell the agent its grant was revoked (by whom, why)
// rather than that it never had one.
func (s *Service) RevokedGrant(ctx context.Context, subject, connection string, access policy.Access) (*store.Request, error) {
	grants, err := s.st.ListRequests(ctx, store.RequestFilter{Kind: store.KindGrant, Subject: subject,
		Connection: connection, Statuses: []string{store.StatusRevoked}, Limit: 50})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var best *store.Request
	for _, g := range grants {
		if g.ExpiresAt.After(now) && policy.Covers(policy.Access(g.Access), access) &&
			(best == nil || g.RevokedAt.After(best.RevokedAt)) {
			best = g
		}
	}
	return best, nil
}

// Hold describes a call that needs a human's approval.
type Hold struct {
	Principal  *identity.Principal
	Tool       string
	Connection string
	Access     policy.Access
	// Digest binds the approval to the subject, tool, connection and
	// canonical arguments.
	Digest string
	// Arguments are the masked arguments shown to approvers.
	Arguments []byte
	Rule      string
	Spec      policy.GrantSpec
	Reason    string
}

// HoldCall returns an approval the call may run under, consumed so it can
// never be used again; or the pending (or denied) request when no approval
// arrived within the wait. The returned request's Status says which.
func (s *Service) HoldCall(ctx context.Context, h Hold, progress Progress) (*store.Request, error) {
	if r, err := s.consumeApproved(ctx, h); r != nil || err != nil {
		return r, err
	}
	now := s.now().UTC()
	pending, err := s.st.ListRequests(ctx, store.RequestFilter{Kind: store.KindApproval, Subject: h.Principal.Subject,
		Digest: h.Digest, Statuses: []string{store.StatusPending}})
	if err != nil {
		return nil, err
	}
	var r *store.Request
	for _, p := range pending {
		if p.DecideBy.After(now) {
			r = p
			break
		}
	}
	if r == nil {
		r = &store.Request{
			ID: newID("ap_"), Kind: store.KindApproval, Subject: h.Principal.Subject, Groups: h.Principal.Groups,
			Connection: h.Connection, Access: string(h.Access), Reason: h.Reason, Status: store.StatusPending, Rule: h.Rule,
			Approvers: h.Spec.Approvers, MinApprovals: h.Spec.MinApprovals, Tool: h.Tool, Digest: h.Digest,
			Arguments: h.Arguments, CreatedAt: now, DecideBy: now.Add(s.cfg.TTL),
		}
		if err := s.st.InsertRequest(ctx, r); err != nil {
			return nil, err
		}
		s.publish(ctx, Event{Type: EventRequestCreated, Request: r, Actor: h.Principal.Subject})
	}
	r, err = s.Wait(ctx, r.ID, s.cfg.Wait, progress)
	if err != nil {
		return nil, err
	}
	if r.Status == store.StatusApproved {
		if used, err := s.consumeApproved(ctx, h); used != nil || err != nil {
			return used, err
		}
	}
	return r, nil
}

// consumeApproved finds an approved, unused, unexpired approval for the
// exact call and marks it used, atomically: of two identical calls racing
// for one approval, exactly one wins.
func (s *Service) consumeApproved(ctx context.Context, h Hold) (*store.Request, error) {
	approved, err := s.st.ListRequests(ctx, store.RequestFilter{Kind: store.KindApproval, Subject: h.Principal.Subject,
		Digest: h.Digest, Statuses: []string{store.StatusApproved}})
	if err != nil {
		return nil, err
	}
	for _, a := range approved {
		won := false
		used, err := s.st.UpdateRequest(ctx, a.ID, nil, func(r *store.Request) (bool, error) {
			now := s.now().UTC()
			if r.Status != store.StatusApproved || !r.ExpiresAt.After(now) || r.Digest != h.Digest || r.Subject != h.Principal.Subject {
				return false, nil
			}
			r.Status, r.UsedAt, won = store.StatusUsed, now, true
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		// Only the caller whose transaction moved it from approved to used
		// may run; everyone else saw it already used.
		if won {
			s.publish(ctx, Event{Type: EventApprovalUsed, Request: used, Actor: h.Principal.Subject})
			return used, nil
		}
	}
	return nil, nil
}

// ReleaseApproval gives back an approval that HoldCall consumed for a call
// that then failed without reaching its target: used becomes approved
// again, for an identical retry before the approval expires. Only the
// reservation r itself is released (same used time, same subject), so a
// release can never make an approval run twice.
func (s *Service) ReleaseApproval(ctx context.Context, r *store.Request, subject string) (bool, error) {
	released := false
	got, err := s.st.UpdateRequest(ctx, r.ID, nil, func(x *store.Request) (bool, error) {
		if x.Kind != store.KindApproval || x.Status != store.StatusUsed || x.UsedAt.UnixMilli() != r.UsedAt.UnixMilli() || x.Subject != subject {
			return false, nil
		}
		x.Status, x.UsedAt, released = store.StatusApproved, time.Time{}, true
		return true, nil
	})
	if err != nil || !released {
		return false, err
	}
	s.publish(ctx, Event{Type: EventApprovalReleased, Request: got, Actor: subject})
	return true, nil
}

// Decide records approver's vote on a pending request. Denial is final at
// once; approval takes effect when MinApprovals distinct approvers agree.
// Nobody may decide their own request.
func (s *Service) Decide(ctx context.Context, approver *identity.Principal, id string, approve bool, reason string) (*store.Request, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 {
		return nil, refuse("reason is too long (at most 500 characters)")
	}
	now := s.now().UTC()
	vote := &store.Vote{Approver: approver.Subject, Approve: approve, Reason: reason, Time: now}
	final := false
	r, err := s.st.UpdateRequest(ctx, id, vote, func(r *store.Request) (bool, error) {
		switch {
		case r.Status != store.StatusPending:
			return false, refuse("request %s is %s, not pending", id, r.Status)
		case !r.DecideBy.After(now):
			return false, refuse("request %s has expired", id)
		case r.Subject == approver.Subject:
			return false, refuse("you cannot decide your own request")
		case !CanDecide(approver, r):
			return false, refuse("you are not an approver for request %s (approver groups: %s)", id, strings.Join(r.Approvers, ", "))
		}
		for _, v := range r.Votes[:len(r.Votes)-1] {
			if v.Approver == approver.Subject {
				return false, refuse("you have already decided request %s", id)
			}
		}
		if !approve {
			r.Status, r.DecidedAt, r.Note, final = store.StatusDenied, now, reason, true
			return true, nil
		}
		yes := 0
		for _, v := range r.Votes {
			if v.Approve {
				yes++
			}
		}
		if yes >= r.MinApprovals {
			final = true
			r.DecidedAt, r.Note = now, reason
			if r.Kind == store.KindGrant {
				r.Status, r.ExpiresAt = store.StatusActive, now.Add(r.Duration)
			} else {
				r.Status, r.ExpiresAt = store.StatusApproved, now.Add(s.cfg.TTL)
			}
		}
		return true, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	ev := EventRequestVoted
	switch {
	case final && approve:
		ev = EventRequestApproved
	case final:
		ev = EventRequestDenied
	}
	s.publish(ctx, Event{Type: ev, Request: r, Actor: approver.Subject, Reason: reason})
	return r, nil
}

// Revoke ends an active grant and cancels calls running under it. Admins
// may revoke any grant; a subject may give up its own.
func (s *Service) Revoke(ctx context.Context, actor *identity.Principal, id, reason string) (*store.Request, error) {
	now := s.now().UTC()
	r, err := s.st.UpdateRequest(ctx, id, nil, func(r *store.Request) (bool, error) {
		if r.Kind != store.KindGrant {
			return false, refuse("%s is not a grant", id)
		}
		if !s.IsAdmin(actor) && r.Subject != actor.Subject {
			return false, refuse("only an admin or the grant's holder may revoke it")
		}
		if r.Status != store.StatusActive {
			return false, refuse("grant %s is %s, not active", id, r.Status)
		}
		r.Status, r.RevokedAt, r.RevokedBy, r.Note = store.StatusRevoked, now, actor.Subject, strings.TrimSpace(reason)
		return true, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	s.cancelGrant(id)
	s.publish(ctx, Event{Type: EventGrantRevoked, Request: r, Actor: actor.Subject, Reason: reason})
	return r, nil
}

// List returns requests p may see: all for an admin; otherwise the ones p
// may decide plus p's own.
func (s *Service) List(ctx context.Context, p *identity.Principal, f store.RequestFilter) ([]*store.Request, error) {
	all, err := s.st.ListRequests(ctx, f)
	if err != nil {
		return nil, err
	}
	if s.IsAdmin(p) {
		return all, nil
	}
	out := all[:0]
	for _, r := range all {
		if r.Subject == p.Subject || CanDecide(p, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Track ties a call's context to its grant: revoking the grant cancels it
// with cause ErrRevoked. Call the returned func when the call ends.
func (s *Service) Track(ctx context.Context, grantID string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	tc := &trackedCall{cancel: cancel}
	s.mu.Lock()
	if s.tracked[grantID] == nil {
		s.tracked[grantID] = map[*trackedCall]struct{}{}
	}
	s.tracked[grantID][tc] = struct{}{}
	s.mu.Unlock()
	return ctx, func() {
		s.mu.Lock()
		delete(s.tracked[grantID], tc)
		if len(s.tracked[grantID]) == 0 {
			delete(s.tracked, grantID)
		}
		s.mu.Unlock()
		cancel(nil)
	}
}

func (s *Service) cancelGrant(id string) {
	s.mu.Lock()
	calls := s.tracked[id]
	delete(s.tracked, id)
	s.mu.Unlock()
	for tc := range calls {
		tc.cancel(ErrRevoked)
	}
}

func (s *Service) trackedGrants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tracked))
	for id := range s.tracked {
		out = append(out, id)
	}
	return out
}

// Run watches the store until ctx ends: it cancels calls under grants
// revoked by another process and expires grants and requests whose time is
// up, announcing each expiry once.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	since := s.now()
	for {
		changed := s.changeWait()
		ticked := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			ticked = true
		case <-changed:
			// Another process changed a request: look for revocations
			// now rather than at the next tick.
		}
		now := s.now()
		if len(s.trackedGrants()) > 0 {
			// Overlap windows so a change committed just before the last
			// poll is not missed; cancelling twice is harmless.
			changed, err := s.st.ChangedSince(ctx, since.Add(-2*time.Second), store.StatusRevoked)
			if err != nil {
				s.log.Warn("jit: watching for revocations", "err", err)
			}
			for _, r := range changed {
				s.cancelGrant(r.ID)
			}
		}
		since = now
		if !ticked {
			continue // woken early: expiry keeps its own pace
		}
		if err := s.expire(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("jit: expiring requests", "err", err)
		}
	}
}

// expire moves grants, approvals and pending requests past their time to
// expired.
func (s *Service) expire(ctx context.Context) error {
	live, err := s.st.ListRequests(ctx, store.RequestFilter{
		Statuses: []string{store.StatusActive, store.StatusPending, store.StatusApproved}})
	if err != nil {
		return err
	}
	now := s.now().UTC()
	for _, r := range live {
		if !due(r, now) {
			continue
		}
		var was string
		updated, err := s.st.UpdateRequest(ctx, r.ID, nil, func(r *store.Request) (bool, error) {
			if !due(r, now) {
				return false, nil
			}
			was, r.Status = r.Status, store.StatusExpired
			return true, nil
		})
		if err != nil {
			return err
		}
		if was == "" {
			continue // another process got there first
		}
		if was == store.StatusActive {
			s.cancelGrant(r.ID)
		}
		s.publish(ctx, Event{Type: EventExpired, Request: updated})
	}
	return nil
}

func due(r *store.Request, now time.Time) bool {
	switch r.Status {
	case store.StatusPending:
		return !r.DecideBy.After(now)
	case store.StatusActive, store.StatusApproved:
		return !r.ExpiresAt.After(now)
	}
	return false
}
