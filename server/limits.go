package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
)

// HTTP server timeouts. There is no server-wide read or write timeout:
// SSE and streamable HTTP GET streams live for as long as a session, and a
// read deadline that fires under a stream cancels it. Bodies get their own
// deadline (bodyReadTimeout) once the caller is authenticated.
const (
	readHeaderTimeout = 10 * time.Second
	bodyReadTimeout   = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

// httpLimits bounds what callers can make the gateway hold at once: bytes
// of request bodies across everyone, requests and tool calls per
// principal, connections per client address.
type httpLimits struct {
	maxBytes     int64
	perPrincipal int
	perClient    int

	bytes atomic.Int64

	mu    sync.Mutex
	reqs  map[sessionOwner]int // HTTP requests in flight
	calls map[sessionOwner]int // tool calls in flight, every transport
	conns map[string]int       // open connections per client IP
}

func newHTTPLimits(c config.Server) *httpLimits {
	return &httpLimits{maxBytes: c.MaxInflightBytes, perPrincipal: c.MaxCallsPerPrincipal, perClient: c.MaxConnsPerClient,
		reqs: map[sessionOwner]int{}, calls: map[sessionOwner]int{}, conns: map[string]int{}}
}

// acquire takes one slot of m[k] if fewer than n are taken.
func (l *httpLimits) acquire(m map[string]int, k string, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m[k] >= n {
		return false
	}
	m[k]++
	return true
}

func (l *httpLimits) release(m map[string]int, k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

func (l *httpLimits) acquireOwner(m map[sessionOwner]int, o sessionOwner) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m[o] >= l.perPrincipal {
		return false
	}
	m[o]++
	return true
}

func (l *httpLimits) releaseOwner(m map[sessionOwner]int, o sessionOwner) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m[o]--; m[o] <= 0 {
		delete(m, o)
	}
}

// reserveBytes takes n bytes of the in-flight budget, or reports false.
func (l *httpLimits) reserveBytes(n int64) bool {
	for range 1000 { // bounded CAS retries; contention beyond this is refusal
		cur := l.bytes.Load()
		if cur+n > l.maxBytes {
			return false
		}
		if l.bytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
	return false
}

// admitBody runs after authentication, so no body is read for a caller
// who is not one. A request with a body must fit in the in-flight byte
// budget (503 otherwise) and within its principal's requests in flight
// (429), and must arrive within bodyReadTimeout.
func (g *Gateway) admitBody(next http.Handler) http.Handler {
	l := g.limits
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		o, _ := ownerOf(identity.FromContext(r.Context()))
		if r.ContentLength > maxRequestBodySize {
			dropBody(w)
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("request body over %d bytes", maxRequestBodySize)})
			return
		}
		n := r.ContentLength
		if n < 0 {
			n = maxRequestBodySize // chunked: assume the most it may be
		}
		if !l.acquireOwner(l.reqs, o) {
			dropBody(w)
			retryLater(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests in flight for %s (max %d): wait for some to finish", o.subject, l.perPrincipal))
			return
		}
		defer l.releaseOwner(l.reqs, o)
		if !l.reserveBytes(n) {
			dropBody(w)
			retryLater(w, http.StatusServiceUnavailable, "the gateway is handling too many large requests; retry shortly")
			return
		}
		defer l.bytes.Add(-n)
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) == nil {
			// Streams that follow the body must not inherit the deadline.
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody clears the connection's read deadline once the body has
// been read to its end or closed.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	if !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return b.ReadCloser.Close()
}

// limitCalls bounds a principal's tool calls in flight on every
// transport, including SSE, whose messages run after their HTTP request
// has returned.
func (g *Gateway) limitCalls(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	l := g.limits
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		o, ok := ownerOf(identity.FromContext(ctx))
		if !ok {
			return next(ctx, req) // identify refuses it, journaled
		}
		if !l.acquireOwner(l.calls, o) {
			return mcp.NewToolResultError(fmt.Sprintf("too many calls in flight for you (max %d): wait for one to finish, then retry", l.perPrincipal)), nil
		}
		defer l.releaseOwner(l.calls, o)
		return next(ctx, req)
	}
}

// limitListener bounds open connections per client IP. A connection over
// the bound gets a 503 and is closed at once, before any of it is read.
type limitListener struct {
	net.Listener
	l *httpLimits
}

func (ln limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		if ln.l.acquire(ln.l.conns, host, ln.l.perClient) {
			return &limitConn{Conn: c, release: func() { ln.l.release(ln.l.conns, host) }}, nil
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, tooManyConns)
		_ = c.Close()
	}
}

var tooManyConns = func() string {
	body := "too many connections from your address; close some and retry\n"
	return fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
