package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/airlockhq/airlock/identity"
)

// maxSessions bounds the MCP sessions of all principals together; past
// it a new session is refused with 503 until one ends.
const maxSessions = 10000

// sessionOwner is who opened an MCP session: only the same issuer and
// subject may use it afterwards. Protocol sessions are not identities
// (every call is still authenticated by its own token), but a session
// routes responses and notifications, and names calls in the journal.
type sessionOwner struct{ issuer, subject string }

func ownerOf(p *identity.Principal) (sessionOwner, bool) {
	if p == nil || p.Subject == "" {
		return sessionOwner{}, false
	}
	return sessionOwner{p.Issuer, p.Subject}, true
}

// mcpSession is one session the gateway issued.
type mcpSession struct {
	id    string
	owner sessionOwner
	kind  string // "streamable-http" or "sse"
	last  time.Time
	// streams cancels the session's open streams (an SSE connection, a
	// streamable HTTP GET), so ending the session also ends them.
	streams map[int]context.CancelFunc
	next    int
}

var errSessionsFull = errors.New("the gateway has too many open MCP sessions; retry later")

// sessionTable tracks the MCP sessions this gateway issued, with their
// owners: a session id it did not issue, or one used by someone else,
// is refused. Sessions end after an idle timeout, and a principal holds
// at most perOwner of them (its least recently used one is closed to
// admit a new one). It is safe for concurrent use.
type sessionTable struct {
	idle     time.Duration
	perOwner int
	max      int
	// end releases what the transport keeps for a session that the table
	// has already forgotten; called without the lock held.
	end func(*mcpSession)

	mu    sync.Mutex
	byID  map[string]*mcpSession
	count map[sessionOwner]int
}

func newSessionTable(idle time.Duration, perOwner, max int, end func(*mcpSession)) *sessionTable {
	return &sessionTable{idle: idle, perOwner: perOwner, max: max, end: end,
		byID: map[string]*mcpSession{}, count: map[sessionOwner]int{}}
}

// newSessionID is 192 random bits, hex: unguessable, and safe in a header
// and a URL query.
func newSessionID() string {
	b := make([]byte, 24)
	rand.Read(b) // crypto/rand.Read never returns an error
	return "airlock-" + hex.EncodeToString(b)
}

// admit makes room for one more session of o: expired sessions go, then
// o's least recently used ones beyond its bound. errSessionsFull when the
// gateway as a whole is full.
func (t *sessionTable) admit(o sessionOwner) error {
	var ended []*mcpSession
	defer func() { t.endAll(ended) }()
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if len(t.byID) >= t.max {
		ended = t.expireLocked(now)
	}
	if len(t.byID) >= t.max {
		return errSessionsFull
	}
	for t.count[o] >= t.perOwner {
		var lru *mcpSession
		for _, s := range t.byID {
			if s.owner == o && (lru == nil || s.last.Before(lru.last)) {
				lru = s
			}
		}
		if lru == nil {
			break
		}
		t.removeLocked(lru)
		ended = append(ended, lru)
	}
	return nil
}

// add records a session the transport just issued.
func (t *sessionTable) add(id string, o sessionOwner, kind string) *mcpSession {
	s := &mcpSession{id: id, owner: o, kind: kind, last: time.Now()}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID[id] = s
	t.count[o]++
	return s
}

// use returns the session id names for a request by o and marks it used;
// false when the gateway did not issue it, it ended, or o does not own it.
func (t *sessionTable) use(id string, o sessionOwner) (*mcpSession, bool) {
	var ended []*mcpSession
	defer func() { t.endAll(ended) }()
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[id]
	if !ok {
		return nil, false
	}
	now := time.Now()
	if now.Sub(s.last) >= t.idle {
		t.removeLocked(s)
		ended = append(ended, s)
		return nil, false
	}
	if s.owner != o {
		return nil, false
	}
	s.last = now
	return s, true
}

// openStream registers a stream of s that ending the session cancels; the
// returned func unregisters it.
func (t *sessionTable) openStream(s *mcpSession, cancel context.CancelFunc) func() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.streams == nil {
		s.streams = map[int]context.CancelFunc{}
	}
	n := s.next
	s.next++
	s.streams[n] = cancel
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(s.streams, n)
	}
}

// remove forgets session id, if present, and cancels its streams. It does
// not call end: the transport is already ending it.
func (t *sessionTable) remove(id string) {
	t.mu.Lock()
	s, ok := t.byID[id]
	if ok {
		t.removeLocked(s)
	}
	t.mu.Unlock()
}

func (t *sessionTable) removeLocked(s *mcpSession) {
	if t.byID[s.id] != s {
		return
	}
	delete(t.byID, s.id)
	if t.count[s.owner]--; t.count[s.owner] <= 0 {
		delete(t.count, s.owner)
	}
	for _, cancel := range s.streams {
		cancel()
	}
	s.streams = nil
}

func (t *sessionTable) expireLocked(now time.Time) []*mcpSession {
	var ended []*mcpSession
	for _, s := range t.byID {
		if now.Sub(s.last) >= t.idle {
			t.removeLocked(s)
			ended = append(ended, s)
		}
	}
	return ended
}

// sweep ends every idle session.
func (t *sessionTable) sweep() {
	t.mu.Lock()
	ended := t.expireLocked(time.Now())
	t.mu.Unlock()
	t.endAll(ended)
}

func (t *sessionTable) endAll(ss []*mcpSession) {
	if t.end == nil {
		return
	}
	for _, s := range ss {
		t.end(s)
	}
}

// len is the number of open sessions.
func (t *sessionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// run sweeps idle sessions until ctx ends.
func (t *sessionTable) run(ctx context.Context) {
	tick := time.NewTicker(min(max(t.idle/4, 50*time.Millisecond), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.sweep()
		}
	}
}

// sessionManagers gives mcp-go's streamable HTTP transport a session id
// manager bound to the principal of each request: ids come from the
// table, and only their owner's requests validate.
type sessionManagers struct{ t *sessionTable }

func (m sessionManagers) ResolveSessionIdManager(r *http.Request) mcpserver.SessionIdManager {
	bm := boundManager{t: m.t}
	if r != nil {
		bm.owner, bm.ok = ownerOf(identity.FromContext(r.Context()))
	}
	return bm
}

type boundManager struct {
	t     *sessionTable
	owner sessionOwner
	ok    bool
}

var errUnknownSession = errors.New("unknown MCP session")

// Generate issues a session id owned by the request's principal. Without
// one (never on an authenticated request) the id is not recorded, so no
// request can use it.
func (m boundManager) Generate() string {
	id := newSessionID()
	if m.ok {
		m.t.add(id, m.owner, "streamable-http")
	}
	return id
}

func (m boundManager) Validate(id string) (bool, error) {
	if !m.ok {
		return false, errUnknownSession
	}
	if _, ok := m.t.use(id, m.owner); !ok {
		return false, errUnknownSession
	}
	return false, nil
}

// Terminate forgets the session; the HTTP guard has already checked that
// the request's principal owns it.
func (m boundManager) Terminate(id string) (bool, error) {
	m.t.remove(id)
	return false, nil
}

// guardStreamable binds streamable HTTP sessions to their owner. A
// request naming a session must come from its owner and name a session
// the gateway issued and that has not ended; else 404, which tells an MCP
// client to initialize a new session. Requests of protocol 2026-07-28 and
// later have no sessions (mcp-go ignores the header) and pass.
func (g *Gateway) guardStreamable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := ownerOf(identity.FromContext(r.Context()))
		if !ok {
			g.unauthorized(w, "", "")
			return
		}
		if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get(mcpserver.HeaderKeySessionID)
		if id == "" {
			switch r.Method {
			case http.MethodGet, http.MethodDelete:
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Mcp-Session-Id header required: initialize a session first"})
				return
			case http.MethodPost:
				// A POST without a session initializes one.
				if err := g.sessions.admit(o); err != nil {
					retryLater(w, http.StatusServiceUnavailable, err.Error())
					return
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		s, ok := g.sessions.use(id, o)
		if !ok {
			dropBody(w)
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown or expired MCP session: initialize a new session"})
			return
		}
		if r.Method == http.MethodGet {
			ctx, cancel := streamContext(r)
			defer cancel()
			defer g.sessions.openStream(s, cancel)()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// streamContext is the context of a long-lived stream (SSE, streamable
// HTTP GET): it ends when the session ends or when the token that opened
// the stream expires, so no stream outlives its credential.
func streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	if p := identity.FromContext(r.Context()); p != nil && !p.Expiry.IsZero() {
		return context.WithDeadline(r.Context(), p.Expiry)
	}
	return context.WithCancel(r.Context())
}

type sseStreamKey struct{}

// sseStream is what the SSE guard shares with the session id generator
// for one /sse connection.
type sseStream struct {
	owner  sessionOwner
	cancel context.CancelFunc
	id     string
}

// guardSSE admits a new SSE connection within the principal's bound and
// forgets its session when the connection ends.
func (g *Gateway) guardSSE(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := ownerOf(identity.FromContext(r.Context()))
		if !ok {
			g.unauthorized(w, "", "")
			return
		}
		if err := g.sessions.admit(o); err != nil {
			retryLater(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		ctx, cancel := streamContext(r)
		defer cancel()
		st := &sseStream{owner: o, cancel: cancel}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, sseStreamKey{}, st)))
		if st.id != "" {
			g.sessions.remove(st.id)
		}
	})
}

// sseSessionID issues the id of a new SSE session, owned by the
// connection's principal.
func (g *Gateway) sseSessionID(ctx context.Context, _ *http.Request) (string, error) {
	st, _ := ctx.Value(sseStreamKey{}).(*sseStream)
	if st == nil {
		return "", errUnknownSession
	}
	st.id = newSessionID()
	s := g.sessions.add(st.id, st.owner, "sse")
	g.sessions.openStream(s, st.cancel)
	return st.id, nil
}

// guardSSEMessage admits a message only to a session its principal owns.
func (g *Gateway) guardSSEMessage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := ownerOf(identity.FromContext(r.Context()))
		if !ok {
			g.unauthorized(w, "", "")
			return
		}
		if _, ok := g.sessions.use(r.URL.Query().Get("sessionId"), o); !ok {
			dropBody(w)
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown or expired MCP session: open a new SSE connection"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// endSession releases mcp-go's state for a session the table ended (idle
// or evicted): a streamable HTTP session through the transport's own
// DELETE handling; an SSE session ends with its connection, which the
// table has already cancelled.
func (g *Gateway) endSession(s *mcpSession) {
	if s.kind != "streamable-http" || g.streamable == nil {
		return
	}
	r, err := http.NewRequestWithContext(context.Background(), http.MethodDelete, PathMCP, nil)
	if err != nil {
		return
	}
	r.Header.Set(mcpserver.HeaderKeySessionID, s.id)
	g.streamable.ServeHTTP(discardResponse{h: http.Header{}}, r)
}

type discardResponse struct{ h http.Header }

func (d discardResponse) Header() http.Header         { return d.h }
func (d discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (d discardResponse) WriteHeader(int)             {}

// registeredSessions counts the sessions mcp-go holds, through its
// register/unregister hooks: what the session bounds must keep bounded.
type registeredSessions struct{ n atomic.Int64 }

func (c *registeredSessions) hook(h *mcpserver.Hooks) {
	h.AddOnRegisterSession(func(context.Context, mcpserver.ClientSession) { c.n.Add(1) })
	h.AddOnUnregisterSession(func(context.Context, mcpserver.ClientSession) { c.n.Add(-1) })
}

// SessionCounts reports the MCP sessions the gateway tracks and those the
// MCP library holds (for tests and operators).
func (g *Gateway) SessionCounts() (tracked, registered int) {
	return g.sessions.len(), int(g.registered.n.Load())
}

// retryLater refuses a request the gateway has no room for now.
func retryLater(w http.ResponseWriter, status int, msg string) {
	dropBody(w)
	w.Header().Set("Retry-After", "1")
	writeJSON(w, status, map[string]string{"error": msg})
}
