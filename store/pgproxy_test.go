package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// FaultPoint is where a FaultProxy cuts the journal's COMMIT.
type FaultPoint int

const (
	// FaultNone forwards everything.
	FaultNone FaultPoint = iota
	// FaultBeforeCommit forwards what the client sent before its COMMIT,
	// then closes both sides: the server never sees the COMMIT (it rolls
	// the transaction back when the connection ends).
	FaultBeforeCommit
	// FaultAfterCommit forwards the COMMIT, and closes both sides when the
	// server answers it (CommandComplete "COMMIT"), without forwarding
	// that answer: the transaction is committed, the client never hears.
	FaultAfterCommit
	// FaultStallBeforeCommit forwards what the client sent before its
	// COMMIT, then forwards nothing more either way and keeps both sides
	// open (a peer gone silent mid-transaction) until the proxy closes.
	FaultStallBeforeCommit
)

// FaultProxy is a loopback TCP proxy between pgx and PostgreSQL that reads
// the wire protocol (v3, no TLS) to cut a connection at a chosen point of
// the next COMMIT, on whichever connection sends it first. It is exported
// for the store_test package's recorder-level tests.
type FaultProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu     sync.Mutex
	point  FaultPoint
	fired  chan struct{}
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// NewFaultProxy listens on 127.0.0.1 and forwards to dsn's host; it
// returns the proxy and dsn rewritten to go through it. It closes when t
// ends.
func NewFaultProxy(t testing.TB, dsn string) (*FaultProxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		t.Fatalf("fault proxy: loopback PostgreSQL only, not %q", h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{t: t, ln: ln, target: u.Host, fired: make(chan struct{})}
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable") // the proxy reads plain protocol v3
	u.RawQuery = q.Encode()
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p, u.String()
}

// Arm makes the next COMMIT (on any connection) fail at point, and
// returns a channel closed once it has.
func (p *FaultProxy) Arm(point FaultPoint) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.point = point
	p.fired = make(chan struct{})
	return p.fired
}

// take disarms the proxy and reports the point it was armed with.
func (p *FaultProxy) take(want FaultPoint) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.point != want {
		return false
	}
	p.point = FaultNone
	close(p.fired)
	return true
}

func (p *FaultProxy) armedWith() FaultPoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.point
}

// Close stops the proxy and closes every connection through it.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

func (p *FaultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c) || !p.track(s) {
			c.Close()
			s.Close()
			return
		}
		pc := &proxyConn{p: p, client: c, server: s, stmts: map[string]string{}, stall: make(chan struct{})}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); pc.clientToServer() }()
		go func() { defer p.wg.Done(); pc.serverToClient() }()
	}
}

type proxyConn struct {
	p              *FaultProxy
	client, server net.Conn
	stmts          map[string]string // prepared statement name → SQL (client side only)
	unnamed        string
	stallOnce      sync.Once
	stall          chan struct{} // closed: forward nothing more, either way
}

func (c *proxyConn) cut() {
	c.client.Close()
	c.server.Close()
}

func (c *proxyConn) stalled() bool {
	select {
	case <-c.stall:
		return true
	default:
		return false
	}
}

// readMsg reads one message: a type byte (none for the startup packet)
// and a big-endian int32 length that counts itself.
func readMsg(r io.Reader, typed bool) ([]byte, error) {
	hl := 4
	if typed {
		hl = 5
	}
	hdr := make([]byte, hl)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[hl-4:]))
	if n < 4 || n > 1<<30 {
		return nil, errors.New("fault proxy: bad message length")
	}
	msg := make([]byte, hl+n-4)
	copy(msg, hdr)
	if _, err := io.ReadFull(r, msg[hl:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func cstring(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), b[i+1:]
}

func isCommit(q string) bool {
	return strings.EqualFold(strings.TrimRight(strings.TrimSpace(q), ";"), "COMMIT")
}

// commitMsg reports whether msg (from the client) runs a COMMIT: a simple
// query, or a Bind of a statement whose text is COMMIT. It records the
// statements the client prepares.
func (c *proxyConn) commitMsg(msg []byte) bool {
	body := msg[5:]
	switch msg[0] {
	case 'Q':
		q, _ := cstring(body)
		return isCommit(q)
	case 'P':
		name, rest := cstring(body)
		q, _ := cstring(rest)
		if name == "" {
			c.unnamed = q
		} else {
			c.stmts[name] = q
		}
	case 'B':
		_, rest := cstring(body) // portal
		name, _ := cstring(rest)
		q := c.unnamed
		if name != "" {
			q = c.stmts[name]
		}
		return isCommit(q)
	}
	return false
}

func (c *proxyConn) clientToServer() {
	defer func() {
		if !c.stalled() {
			c.cut()
		}
	}()
	startup, err := readMsg(c.client, false)
	if err != nil {
		return
	}
	if _, err := c.server.Write(startup); err != nil {
		return
	}
	for {
		msg, err := readMsg(c.client, true)
		if err != nil {
			return
		}
		if c.stalled() {
			continue // swallow
		}
		if c.commitMsg(msg) {
			switch c.p.armedWith() {
			case FaultBeforeCommit:
				if c.p.take(FaultBeforeCommit) {
					return // cut: the COMMIT is never sent
				}
			case FaultStallBeforeCommit:
				if c.p.take(FaultStallBeforeCommit) {
					c.stallOnce.Do(func() { close(c.stall) })
					continue
				}
			}
		}
		if _, err := c.server.Write(msg); err != nil {
			return
		}
	}
}

func (c *proxyConn) serverToClient() {
	defer func() {
		if !c.stalled() {
			c.cut()
		}
	}()
	for {
		msg, err := readMsg(c.server, true)
		if err != nil {
			return
		}
		if c.stalled() {
			continue
		}
		if msg[0] == 'C' {
			if tag, _ := cstring(msg[5:]); tag == "COMMIT" && c.p.armedWith() == FaultAfterCommit && c.p.take(FaultAfterCommit) {
				return // cut: committed, the answer is never delivered
			}
		}
		if _, err := c.client.Write(msg); err != nil {
			return
		}
	}
}
