package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/telemetry"
	"github.com/airlockhq/airlock/tools"
)

// Paths served on the HTTP listener.
const (
	PathMCP            = "/mcp"
	PathSSE            = "/sse"
	PathMessage        = "/message"
	PathHealth         = "/healthz"
	PathReady          = "/readyz"
	PathResourceMeta   = "/.well-known/oauth-protected-resource"
	maxRequestBodySize = 4 << 20
	// maxHeaderBytes bounds request headers; a bearer token is at most
	// 64 KiB (identity.maxTokenBytes).
	maxHeaderBytes = 128 << 10
)

// ready answers 503 while the gateway should not take traffic: today,
// while its journal fails verification (no checkpoint is signed until an
// operator acts). /healthz stays a liveness check. The body says what
// failed and what to do, never a record's content.
func (g *Gateway) ready(w http.ResponseWriter, r *http.Request) {
	j := g.JournalIntegrity()
	journal := map[string]any{"ok": j.OK, "fully_verified": j.FullyVerified}
	if !j.OK {
		journal["failed_at"], journal["problems"], journal["action"] = j.FailedAt, j.Problems, j.Action
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "journal": journal})
		return
	}
	if st := g.storeReady(r.Context()); st != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "journal": journal, "store": st})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "journal": journal, "store": map[string]any{"ok": true}})
}

// storeReadyTimeout bounds the store probe of one readiness check.
const storeReadyTimeout = 2 * time.Second

// storeReady returns nil when the store answers and the journal takes
// writes; otherwise what failed and what to do. Calls are refused (fail
// closed) in that state anyway; readiness tells the load balancer.
func (g *Gateway) storeReady(ctx context.Context) map[string]any {
	ctx, cancel := context.WithTimeout(ctx, storeReadyTimeout)
	defer cancel()
	if err := g.store.Ready(ctx); err != nil {
		return map[string]any{"ok": false, "error": storeProblem(err),
			"action": "calls are refused until the store answers again; check the store's server and the network to it (no restart needed)"}
	}
	if n := g.journal.Recorder().LatePending(); n > 0 {
		return map[string]any{"ok": false, "error": fmt.Sprintf("%d finished journal record(s) could not be written yet", n),
			"action": "the gateway retries every second; calls are refused until the journal takes writes"}
	}
	return nil
}

// storeProblem names the failure without echoing driver detail that
// could hold an address or user name.
func storeProblem(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the store did not answer within " + storeReadyTimeout.String()
	case strings.Contains(err.Error(), "standby"):
		return "the store is a read-only standby"
	case strings.Contains(err.Error(), "journal disabled"):
		return "the journal is disabled after an I/O error; restart the gateway once the storage is healthy"
	}
	return "the store is unreachable"
}

// Handler returns the gateway's HTTP handler: streamable HTTP at /mcp, SSE
// at /sse (+ /message), health, RFC 9728 metadata and, when enabled, the
// dev issuer under /oidc/.
func (g *Gateway) Handler() http.Handler {
	g.handlerOnce.Do(func() { g.handler = g.buildHandler() })
	return g.handler
}

func (g *Gateway) buildHandler() http.Handler {
	mux := http.NewServeMux()
	withTransport := func(name string) func(context.Context, *http.Request) context.Context {
		return func(ctx context.Context, r *http.Request) context.Context {
			ctx = tools.WithTransport(ctx, name)
			if p := identity.FromContext(r.Context()); p != nil {
				ctx = identity.NewContext(ctx, p)
			}
			return ctx
		}
	}
	streamable := mcpserver.NewStreamableHTTPServer(g.mcp,
		mcpserver.WithEndpointPath(PathMCP),
		mcpserver.WithHTTPContextFunc(withTransport("streamable-http")),
		mcpserver.WithStreamableHTTPLogger(telemetry.LibraryLogger(g.log, "mcp-go")),
		mcpserver.WithSessionIdManagerResolver(sessionManagers{g.sessions}),
	)
	sse := mcpserver.NewSSEServer(g.mcp,
		mcpserver.WithSSEEndpoint(PathSSE),
		mcpserver.WithMessageEndpoint(PathMessage),
		mcpserver.WithUseFullURLForMessageEndpoint(false),
		mcpserver.WithSSEContextFunc(withTransport("sse")),
		mcpserver.WithSessionIDGenerator(g.sseSessionID),
	)
	g.sse, g.streamable = sse, streamable
	mux.Handle(PathMCP, g.authenticate(g.admitBody(g.guardStreamable(streamable))))
	mux.Handle(PathSSE, g.authenticate(g.guardSSE(sse.SSEHandler())))
	mux.Handle(PathMessage, g.authenticate(g.admitBody(g.guardSSEMessage(sse.MessageHandler()))))
	mux.Handle(PathAdminAPI, g.authenticate(g.admitBody(g.adminHandler())))
	if g.slack != nil {
		// Slack signs its callbacks; there is no bearer token to check.
		mux.Handle("POST "+PathSlackInteractions, g.slack)
	}
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET "+PathReady, g.ready)
	mux.HandleFunc("GET "+PathResourceMeta, g.resourceMetadata)
	mux.HandleFunc("GET "+PathResourceMeta+PathMCP, g.resourceMetadata)
	mux.HandleFunc("OPTIONS "+PathResourceMeta, g.resourceMetadata)
	mux.HandleFunc("OPTIONS "+PathResourceMeta+PathMCP, g.resourceMetadata)
	mux.HandleFunc("GET "+PathResourceMeta+PathSSE, g.resourceMetadata)
	mux.HandleFunc("OPTIONS "+PathResourceMeta+PathSSE, g.resourceMetadata)
	if g.dev != nil {
		mux.Handle("/oidc/", g.dev.Handler())
		// RFC 8414 metadata lives outside the issuer's path.
		mux.Handle(g.dev.AuthorizationServerMetadataPath(), g.dev.Handler())
	}
	g.mountConsole(mux)
	return boundBodies(mux)
}

// boundBodies keeps a request body that is never sent from holding a
// connection: every body gets a read deadline (admitBody lifts it once an
// authenticated body has been read), and a body sent where none is read
// (health, metadata, the dev issuer, unknown paths) closes the connection
// after the answer instead of being drained.
func boundBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			switch {
			case r.URL.Path == PathMCP, r.URL.Path == PathMessage, strings.HasPrefix(r.URL.Path, PathAdminAPI),
				strings.HasPrefix(r.URL.Path, consolePostPrefix), r.URL.Path == PathSlackInteractions:
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
			case strings.HasPrefix(r.URL.Path, config.DevIssuerPath+"/"):
				// The dev issuer's login form, token and registration
				// endpoints read small bounded bodies themselves.
				rc := http.NewResponseController(w)
				if rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) == nil {
					r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
				}
			default:
				dropBody(w)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// resourceMetadata serves RFC 9728 protected resource metadata. Browser
// MCP clients (the MCP Inspector) fetch it from another origin, without
// credentials, so any origin may read it.
func (g *Gateway) resourceMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "MCP-Protocol-Version")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// RFC 9728 §3.3: the resource is the URL the client dialed, so the
	// SSE endpoint has its own document (named in its 401s).
	resource := g.cfg.Server.PublicURL + PathMCP
	if strings.HasSuffix(r.URL.Path, PathSSE) {
		resource = g.cfg.Server.PublicURL + PathSSE
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":                 resource,
		"authorization_servers":    []string{g.cfg.Identity.Issuer},
		"bearer_methods_supported": []string{"header"},
		"resource_name":            "Airlock",
	})
}

// authenticate admits a request only with a verified bearer token in the
// Authorization header and an acceptable Origin.
func (g *Gateway) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !g.originAllowed(o) {
			dropBody(w)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "origin_not_allowed"})
			return
		}
		// A token in a URL ends up in logs and browser history: refuse it
		// even if a valid header is present too.
		if q := r.URL.Query(); q.Has("access_token") || q.Has("token") {
			g.unauthorizedFor(w, r.URL.Path, "invalid_request", "bearer tokens are accepted only in the Authorization header")
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			g.unauthorizedFor(w, r.URL.Path, "", "")
			return
		}
		p, err := g.verifier.Verify(r.Context(), strings.TrimSpace(token))
		if err != nil {
			g.logAuthRefusal("token refused", err, r.RemoteAddr)
			g.unauthorizedFor(w, r.URL.Path, "invalid_token", authReason(err))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBodySize)
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), p)))
	})
}

// authReason is what may be said of a refused credential: the verifier's
// short reason, never its cause (a parser's error can quote the token).
func authReason(err error) string {
	var ae *identity.AuthError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	if errors.Is(err, errNoStdioIdentity) {
		return err.Error()
	}
	return "token verification failed"
}

// dropBody marks a request whose body will not be read: its connection
// closes after the answer. Go's server would otherwise drain up to 256 KiB
// of the body first, and a body that never comes would hold the
// connection; a read deadline in the past makes that drain fail at once.
func dropBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// logAuthRefusal logs a refused credential for operators: the reason and,
// where the verifier has one, the detail (expected vs received audience or
// issuer). Never the token, nor the verifier's wrapped cause.
func (g *Gateway) logAuthRefusal(msg string, err error, remote string) {
	attrs := []any{"reason", authReason(err)}
	var ae *identity.AuthError
	if errors.As(err, &ae) && ae.Detail != "" {
		attrs = append(attrs, "detail", ae.Detail)
	}
	if remote != "" {
		attrs = append(attrs, "remote", remote)
	}
	g.log.Warn(msg, attrs...)
}

func (g *Gateway) unauthorized(w http.ResponseWriter, code, desc string) {
	g.unauthorizedFor(w, PathMCP, code, desc)
}

// unauthorizedFor answers 401 for a request to path: the SSE endpoints
// name the SSE resource's metadata, everything else the root document
// (whose resource is /mcp).
func (g *Gateway) unauthorizedFor(w http.ResponseWriter, path, code, desc string) {
	meta := g.cfg.Server.PublicURL + PathResourceMeta
	if path == PathSSE || path == PathMessage {
		meta += PathSSE
	}
	v := `Bearer resource_metadata="` + meta + `"`
	if code != "" {
		v += `, error="` + code + `"`
	}
	if desc != "" {
		v += `, error_description="` + strings.ReplaceAll(desc, `"`, `'`) + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	dropBody(w)
	// The description says "Unauthorized" in words: MCP Inspector
	// versions up to 0.21, behind their proxy, see only this body and
	// start their OAuth login when it contains that word.
	body := map[string]string{"error": "unauthorized", "error_description": "Unauthorized: send Authorization: Bearer <token>; " +
		"MCP clients find where to log in from the resource_metadata URL in WWW-Authenticate"}
	if code != "" {
		body["error"], body["error_description"] = code, desc
	}
	writeJSON(w, http.StatusUnauthorized, body)
}

// originAllowed admits the gateway's own origin, configured origins, and
// loopback origins when the gateway itself is on loopback.
func (g *Gateway) originAllowed(origin string) bool {
	if slices.Contains(g.cfg.Server.AllowedOrigins, origin) {
		return true
	}
	self, err := url.Parse(g.cfg.Server.PublicURL)
	if err != nil {
		return false
	}
	return origin == self.Scheme+"://"+self.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP listens on addr and serves until ctx is done, then shuts down
// gracefully: stops accepting, lets requests and calls in flight finish,
// and waits for their journal records. ready, if non-nil, receives the
// bound address.
func (g *Gateway) ServeHTTP(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ln = limitListener{Listener: ln, l: g.limits}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish calls in flight (and their journal records) while their
	// streams are still open, then close long-lived streams and stop.
	srv.SetKeepAlivesEnabled(false)
	derr := g.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownGrace)
	defer cancel()
	g.sse.CloseSessions()
	g.streamable.CloseSessions(sctx)
	if g.console != nil {
		g.console.CloseStreams()
	}
	return errors.Join(derr, srv.Shutdown(sctx))
}
