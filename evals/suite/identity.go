package suite

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/identity"
)

// craftToken builds a token case's token.
func (e *env) craftToken(c *Case) (string, error) {
	if c.Raw != "" {
		return c.Raw, nil
	}
	now := time.Now().Unix()
	payload := strings.NewReplacer(
		"{{issuer}}", e.dev.Issuer(), "{{audience}}", e.audience,
		"{{now}}", strconv.FormatInt(now, 10), "{{exp}}", strconv.FormatInt(now+600, 10),
		"{{past}}", strconv.FormatInt(now-600, 10),
	).Replace(c.Payload)
	b64 := base64.RawURLEncoding.EncodeToString
	switch c.Alg {
	case "", "RS256":
		return e.dev.SignRaw([]byte(payload))
	case "none":
		return b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(payload)) + ".", nil
	case "RS256-foreign", "RS256-jku":
		// Signed by a key the issuer never published, naming the issuer's
		// own key id, or pointing at a key set the attacker serves.
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", err
		}
		hdr := map[string]any{"alg": "RS256", "typ": "JWT", "kid": e.devKID()}
		if c.Alg == "RS256-jku" {
			hdr["kid"] = "attacker"
			hdr["jku"] = e.honeyURL() + "/jwks.json"
			hdr["x5u"] = e.honeyURL() + "/cert.pem"
		}
		hb, _ := json.Marshal(hdr)
		signing := b64(hb) + "." + b64([]byte(payload))
		sum := sha256.Sum256([]byte(signing))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			return "", err
		}
		return signing + "." + b64(sig), nil
	case "HS256-public":
		pub, err := e.dev.PublicKeyPEM()
		if err != nil {
			return "", err
		}
		signing := b64([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64([]byte(payload))
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(signing))
		return signing + "." + b64(m.Sum(nil)), nil
	}
	return "", fmt.Errorf("unknown alg %q", c.Alg)
}

// devKID is the key id in the dev issuer's tokens.
func (e *env) devKID() string {
	h, _, _ := strings.Cut(e.token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	var hdr struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(b, &hdr)
	return hdr.Kid
}

// initializeBody is a JSON-RPC initialize request.
const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"airlock-eval","version":"1"}}}`

// runToken: over HTTP the token must get a 401 at once; over stdio every
// call made with it must be refused.
func (e *env) runToken(ctx context.Context, c *Case, tr string) (refused bool, answer string, err error) {
	tok, err := e.craftToken(c)
	if err != nil {
		return false, "", err
	}
	switch tr {
	case TransportHTTP, TransportSSE:
		path := "/mcp"
		method, body := http.MethodPost, initializeBody
		if tr == TransportSSE {
			path, method, body = "/sse", http.MethodGet, ""
		}
		req, err := http.NewRequestWithContext(ctx, method, e.base+path, strings.NewReader(body))
		if err != nil {
			return false, "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return false, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode == http.StatusUnauthorized, fmt.Sprintf("HTTP %d %s", resp.StatusCode, b), nil
	default:
		cl, err := e.newClient(ctx, tr, tok)
		if err != nil {
			return true, "refused at initialize: " + err.Error(), nil
		}
		defer cl.Close()
		return e.callWith(ctx, cl, c)
	}
}

// callWith makes the case's call on cl.
func (e *env) callWith(ctx context.Context, cl interface {
	CallTool(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error)
}, c *Case) (refused bool, answer string, err error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = c.Tool
	req.Params.Arguments = e.expand(c.Args)
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := cl.CallTool(cctx, req)
	if err != nil {
		return true, err.Error(), nil
	}
	return res.IsError, answerText(res), nil
}

// runExpiry: one session, a token that lives 3 s; the call after expiry
// must be refused. On a machine too loaded to start a stdio gateway and
// make the first call within the token's life, it retries with a longer
// one (bounded) rather than judge the wrong phase.
func (e *env) runExpiry(ctx context.Context, c *Case, tr string) (refused bool, answer string, err error) {
	for _, ttl := range []time.Duration{3 * time.Second, 8 * time.Second, 20 * time.Second} {
		tok, err := e.mint("eval-agent", ttl)
		if err != nil {
			return false, "", err
		}
		issued := time.Now()
		// exp is whole seconds (truncated): surely valid for ttl-1s only.
		valid := ttl - time.Second
		cl, err := e.newClient(ctx, tr, tok)
		if err != nil {
			if time.Since(issued) < valid {
				return false, "", fmt.Errorf("before expiry: %w", err)
			}
			continue
		}
		refused, answer, _ := e.callWith(ctx, cl, c)
		if refused {
			cl.Close()
			if time.Since(issued) < valid {
				return false, "", fmt.Errorf("the call before expiry was refused: %s", oneLine(answer))
			}
			continue
		}
		// Wait past exp by a margin, then call again on the same session.
		select {
		case <-time.After(time.Until(issued.Add(ttl + 1500*time.Millisecond))):
		case <-ctx.Done():
			cl.Close()
			return false, "", ctx.Err()
		}
		refused, answer, err = e.callWith(ctx, cl, c)
		cl.Close()
		return refused, answer, err
	}
	return false, "", fmt.Errorf("could not make a call within even a 20 s token's life")
}

// runHijack: the eval agent opens a session; another principal uses its
// id. Anything but a refusal (403 or 404) is an escape.
func (e *env) runHijack(ctx context.Context, c *Case, tr string) (refused bool, answer string, err error) {
	intruder, err := e.mint("eval-intruder", 10*time.Minute)
	if err != nil {
		return false, "", err
	}
	var target string
	switch tr {
	case TransportHTTP:
		// A session of the protocol versions that have them, opened by
		// the eval agent.
		id, err := e.openSession(ctx, e.token)
		if err != nil {
			return false, "", err
		}
		target = e.base + "/mcp"
		return e.hijackRequest(ctx, c.Method, target, intruder, map[string]string{"Mcp-Session-Id": id})
	case TransportSSE:
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		endpoint, err := e.openSSE(sctx, e.token)
		if err != nil {
			return false, "", err
		}
		method := c.Method
		if method != http.MethodPost {
			method = http.MethodPost // SSE has one endpoint for messages
		}
		return e.hijackRequest(ctx, method, e.base+endpoint, intruder, nil)
	}
	return false, "", fmt.Errorf("hijack over %s is not supported", tr)
}

func (e *env) hijackRequest(ctx context.Context, method, target, token string, headers map[string]string) (bool, string, error) {
	body := ""
	if method == http.MethodPost {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call",
			"params": map[string]any{"name": "query_db", "arguments": map[string]any{"connection": "pg", "sql": "SELECT 'hijacked'"}}})
		body = string(b)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, target, strings.NewReader(body))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// A GET stream the gateway holds open until the timeout was
		// accepted: that is an escape, not a refusal.
		return false, "request: " + err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	refused := resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound
	return refused, fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(b)), nil
}

// openSession initializes a streamable HTTP session as token and returns
// its id.
func (e *env) openSession(ctx context.Context, token string) (string, error) {
	post := func(body, session string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/mcp", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		}
		return (&http.Client{Timeout: 10 * time.Second}).Do(req)
	}
	resp, err := post(initializeBody, "")
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		return "", fmt.Errorf("initialize: HTTP %d, session id %q", resp.StatusCode, id)
	}
	resp, err = post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, id)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return id, nil
}

// openSSE opens an SSE stream as token and returns its message endpoint.
func (e *env) openSSE(ctx context.Context, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/sse", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return "", fmt.Errorf("SSE stream: HTTP %d", resp.StatusCode)
	}
	go func() { <-ctx.Done(); resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(v, "sessionId=") {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("the SSE stream sent no endpoint")
}

var pendingID = regexp.MustCompile(`pending: this call needs a human approval \(request (\S+?),`)

// runApproval: the call is held, an approver approves it, it runs once;
// the replayed or swapped call that follows must be held again. Only that
// last call is judged (its refusal, and the evidence around it).
func (e *env) runApprovalSetup(ctx context.Context, cl interface {
	CallTool(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error)
}, c *Case) error {
	refused, answer, err := e.callWith(ctx, cl, c)
	if err != nil {
		return err
	}
	m := pendingID.FindStringSubmatch(answer)
	if !refused || m == nil {
		return fmt.Errorf("the first call was not held for approval: %s", oneLine(answer))
	}
	approver, err := e.dev.Mint(identity.MintOptions{Subject: "eval-dba", Groups: []string{"dba"}, Audience: e.audience, TTL: 10 * time.Minute})
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, e.o.Binary, "approvals", "approve", m[1], "--server", e.base, "--token", approver, "--reason", "eval")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("approve %s: %v: %s", m[1], err, oneLine(string(out)))
	}
	if refused, answer, err := e.callWith(ctx, cl, c); err != nil || refused {
		return fmt.Errorf("the approved call did not run: %v %s", err, oneLine(answer))
	}
	return nil
}

// flood holds c.Count hostile connections open against the gateway (only
// on loopback, bounded) and returns a function that closes them.
func (e *env) flood(ctx context.Context, c *Case) (func(), error) {
	var conns []net.Conn
	stop := func() {
		for _, cn := range conns {
			cn.Close()
		}
	}
	host := strings.TrimPrefix(e.base, "http://")
	switch c.Method {
	case "sessions":
		// Sessions cost state, not connections: initialize and drop them.
		tok, err := e.mint("eval-flooder", 10*time.Minute)
		if err != nil {
			return stop, err
		}
		for range c.Count {
			if _, err := e.openSession(ctx, tok); err != nil && ctx.Err() != nil {
				return stop, err
			}
		}
	case "slow-bodies":
		// Unauthenticated requests that promise a body and never send it,
		// from another loopback address than the eval agent's.
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		for range c.Count {
			cn, err := d.DialContext(ctx, "tcp", host)
			if err != nil {
				break // refused past the per-address bound: that is the point
			}
			conns = append(conns, cn)
			fmt.Fprintf(cn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{", host)
		}
	}
	return stop, nil
}
