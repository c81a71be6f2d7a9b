package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/server"
)

// slowPost opens a connection from local (nil: any) to addr and sends the
// head of a POST whose body never comes.
func slowPost(t *testing.T, local net.IP, addr, token string, length int) net.Conn {
	t.Helper()
	return slowPostTo(t, local, addr, server.PathMCP, token, length)
}

// slowPostTo is slowPost to path; a path ending in "?origin" sends a
// foreign Origin instead.
func slowPostTo(t *testing.T, local net.IP, addr, path, token string, length int) net.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	head := "POST " + strings.TrimSuffix(path, "?origin") + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
	if strings.HasSuffix(path, "?origin") {
		head += "Origin: https://evil.example\r\n"
	}
	if token != "" {
		head += "Authorization: Bearer " + token + "\r\n"
	}
	head += fmt.Sprintf("Content-Length: %d\r\n\r\n{", length)
	if _, err := c.Write([]byte(head)); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// answer reads the status line and headers the server sent on c, or ""
// when nothing came within wait.
func answer(c net.Conn, wait time.Duration) (status int, header http.Header) {
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// Slow or never-sent bodies from one address cannot starve the gateway:
// an unauthenticated one is answered 401 and its connection closed, no
// body is read before authentication, connections per address are
// bounded, and /healthz and a real MCP call from another address still
// work. Runs against a real gateway process.
func TestSlowBodiesDoNotStarveGateway(t *testing.T) {
	e := newEnv(t)
	raw, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(raw), "server:\n", "server:\n  max_conns_per_client: 16\n", 1)
	if err := os.WriteFile(e.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startProc(t, e.cfgPath)
	addr := strings.TrimPrefix(g.base, "http://")
	attacker := net.ParseIP("127.0.0.2")

	// Unauthenticated, never-sent bodies: each is refused and closed.
	statuses := map[int]int{}
	start := time.Now()
	var conns []net.Conn
	for range 300 {
		conns = append(conns, slowPost(t, attacker, addr, "", 1<<20))
	}
	for _, c := range conns {
		code, _ := answer(c, 10*time.Second)
		statuses[code]++
		// The server closed the connection: a read ends at once.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
			t.Fatalf("connection of a refused request left open (err %v)", err)
		}
		c.Close()
	}
	t.Logf("300 unauthenticated slow bodies refused in %v", time.Since(start))
	if statuses[http.StatusUnauthorized] == 0 || statuses[0] > 0 {
		t.Errorf("answers to unauthenticated slow bodies: %v", statuses)
	}

	// Small bodies never sent (which Go would drain) where none is read:
	// unauthenticated, health, metadata, unknown paths, and a
	// refused Origin: answered and closed, never drained.
	for _, path := range []string{server.PathMCP, server.PathHealth, server.PathResourceMeta, "/nowhere", server.PathMCP + "?origin"} {
		c := slowPostTo(t, attacker, addr, path, "", 1000) // small: Go drains up to 256 KiB
		code, _ := answer(c, 10*time.Second)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); code == 0 || err == nil || os.IsTimeout(err) {
			t.Errorf("POST %s with a body never sent: status %d, connection left open (err %v)", path, code, err)
		}
		c.Close()
	}

	// Authenticated, never-sent bodies: held only up to the per-address
	// bound; the rest are refused with 503 at once.
	tok := e.token(t, "alice", "analysts")
	var held []net.Conn
	refused := 0
	for range 60 {
		c := slowPost(t, attacker, addr, tok, 1<<20)
		if code, h := answer(c, 300*time.Millisecond); code == http.StatusServiceUnavailable {
			if h.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			refused++
			c.Close()
			continue
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	if len(held) > 16 || refused < 60-16 {
		t.Errorf("held %d connections from one address (bound 16), refused %d", len(held), refused)
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", g.cmd.Process.Pid)); err == nil && len(fds) > 100 {
		t.Errorf("gateway holds %d file descriptors", len(fds))
	}

	// Meanwhile, from 127.0.0.1: health and a real call.
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(g.base + server.PathHealth)
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	c := httpClient(t, "streamable-http", g.base, e.token(t, "bob", "analysts"))
	if res := callTool(t, c, "list_connections", map[string]any{}); res.IsError {
		t.Fatalf("list_connections: %s", text(res))
	}
}

// Request bodies in flight are bounded across callers (503) and per
// principal (429), both with Retry-After; tool calls in flight are
// bounded per principal on every transport, SSE included.
func TestInflightBounds(t *testing.T) {
	e := newEnv(t)
	e.cfg.Server.MaxInflightBytes = 10 << 20
	e.cfg.Server.MaxCallsPerPrincipal = 2
	_, base := e.start(t, server.Options{})
	addr := strings.TrimPrefix(base, "http://")
	alice, bob, carol := e.token(t, "alice", "analysts"), e.token(t, "bob", "analysts"), e.token(t, "carol", "analysts")

	// alice holds two 4 MiB bodies that never finish.
	a1, a2 := slowPost(t, nil, addr, alice, 4<<20), slowPost(t, nil, addr, alice, 4<<20)
	time.Sleep(300 * time.Millisecond) // let both be admitted; the checks below retry anyway
	var code int
	var h http.Header
	for range 50 { // bounded: until both of alice's requests count
		c := slowPost(t, nil, addr, alice, 10)
		code, h = answer(c, 2*time.Second)
		c.Close()
		if code == http.StatusTooManyRequests {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("alice's third request in flight: %d %v, want 429 with Retry-After", code, h)
	}
	// bob's small request fits in the byte budget.
	initSession(t, base, bob)
	// carol's 4 MiB does not: 8 of 10 MiB are taken.
	c := slowPost(t, nil, addr, carol, 4<<20)
	code, h = answer(c, 5*time.Second)
	c.Close()
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("a large body past the budget: %d %v, want 503 with Retry-After", code, h)
	}
	a1.Close()
	a2.Close()
	var ok bool
	for range 100 { // bounded: until alice's requests are released
		r, _ := mcpHTTP(t, http.MethodPost, base+server.PathMCP, alice, "", initBody)
		if ok = r.StatusCode == http.StatusOK; ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Error("alice still refused after her requests ended")
	}

	// Tool calls over SSE: two block on a table lock, the third is refused.
	sse := httpClient(t, "sse", base, alice)
	grant(t, sse, "pg", "read")
	ctx := context.Background()
	tx, err := e.pg.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := query(t, sse, "pg", "SELECT count(*) AS n FROM t")
			results[i] = fmt.Sprint(res.IsError, text(res))
		}()
	}
	waiting := 0
	for range 200 { // bounded: until both calls wait on the lock
		if err := e.pg.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM t%'").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if waiting < 2 {
		t.Fatalf("calls waiting on the lock: %d", waiting)
	}
	res := query(t, sse, "pg", "SELECT 1 AS one")
	if !res.IsError || !strings.Contains(text(res), "too many calls in flight") {
		t.Errorf("third call in flight: error=%v %s", res.IsError, text(res))
	}
	tx.Rollback(ctx)
	wg.Wait()
	for _, r := range results {
		if strings.HasPrefix(r, "true") {
			t.Errorf("a call within the bound failed: %s", r)
		}
	}
}
