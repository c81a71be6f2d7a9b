package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/telemetry"
)

// Restart backoff after an upstream fails.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// session is one MCP client session with the upstream: for a stdio server,
// one process.
type session struct {
	conn *Conn
	key  string

	mu       chan struct{} // a lock that a waiting caller can give up on
	cl       *client.Client
	hashes   map[string]string // definitions this session's upstream offers
	failures int
	nextTry  time.Time
	closed   bool
	timer    *time.Timer
	// inflight and lastUsed (unix nanoseconds) let an idle per-principal
	// process be stopped.
	inflight atomic.Int64
	lastUsed atomic.Int64
}

// use marks the session busy until the returned func runs.
func (s *session) use() func() {
	s.inflight.Add(1)
	s.lastUsed.Store(time.Now().UnixNano())
	return func() {
		s.lastUsed.Store(time.Now().UnixNano())
		s.inflight.Add(-1)
	}
}

func (s *session) lock(ctx context.Context) error {
	if s.mu == nil {
		panic("upstream: session used before init")
	}
	select {
	case s.mu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *session) unlock() { <-s.mu }

// ErrUnavailable is an upstream that could not be started or reached.
var ErrUnavailable = errors.New("upstream unavailable")

// client returns the session's live client, starting the upstream (again)
// when it is not running; after a failure it waits out the backoff.
func (s *session) client(ctx context.Context) (*client.Client, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: the gateway is shutting down", ErrUnavailable)
	}
	if s.cl != nil {
		return s.cl, nil
	}
	if wait := time.Until(s.nextTry); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: it is being restarted after a failure", ErrUnavailable)
		}
	}
	cl, hashes, err := s.start(ctx)
	if err != nil {
		s.failed()
		return nil, err
	}
	s.cl, s.hashes = cl, hashes
	return cl, nil
}

// failed schedules the next start with exponential backoff, in the
// background, so a dead upstream comes back without waiting for a call.
// Called with the lock held.
func (s *session) failed() {
	s.failures++
	d := min(minBackoff<<min(s.failures-1, 16), maxBackoff)
	s.nextTry = time.Now().Add(d)
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.closed {
		return
	}
	s.timer = time.AfterFunc(d, func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.conn.cfg.StartTimeout)
		defer cancel()
		if _, err := s.client(ctx); err == nil {
			s.conn.mu.Lock()
			s.conn.restarts++
			s.conn.mu.Unlock()
			s.conn.log.Info("upstream restarted")
		}
	})
}

// broken drops cl after a transport failure (the process died, the
// connection broke) and schedules a restart.
func (s *session) broken(cl *client.Client) {
	if s.lock(context.Background()) != nil {
		return
	}
	defer s.unlock()
	if s.cl != cl || cl == nil {
		return
	}
	s.cl = nil
	go cl.Close()
	s.conn.log.Warn("upstream connection lost; restarting with backoff")
	s.failed()
}

// healthy resets the backoff after a call the upstream answered.
func (s *session) healthy() {
	if s.lock(context.Background()) != nil {
		return
	}
	s.failures = 0
	s.unlock()
}

func (s *session) close() {
	if s.lock(context.Background()) != nil {
		return
	}
	defer s.unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.cl != nil {
		_ = s.cl.Close()
		s.cl = nil
	}
}

// start starts and initialises the upstream and lists its tools.
func (s *session) start(ctx context.Context) (*client.Client, map[string]string, error) {
	c := s.conn
	tr, err := c.transport()
	if err != nil {
		return nil, nil, err
	}
	cl := client.NewClient(tr)
	// The transport lives until Close, not until ctx ends.
	if err := cl.Start(context.Background()); err != nil {
		_ = cl.Close()
		return nil, nil, fmt.Errorf("%w: starting it failed: %s", ErrUnavailable, transportCause(err))
	}
	var relists atomic.Int32
	cl.OnNotification(func(n mcp.JSONRPCNotification) {
		switch n.Method {
		case string(mcp.MethodNotificationProgress):
			c.relayProgress(n)
		case string(mcp.MethodNotificationToolsListChanged):
			coalesce(&relists, func() { s.relist(cl) })
		}
	})
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "airlock", Version: "1"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		_ = cl.Close()
		return nil, nil, fmt.Errorf("%w: initialize failed: %s", ErrUnavailable, transportCause(err))
	}
	hashes, err := s.list(ctx, cl)
	if err != nil {
		_ = cl.Close()
		return nil, nil, err
	}
	return cl, hashes, nil
}

// list lists the upstream's tools and records them.
func (s *session) list(ctx context.Context, cl *client.Client) (map[string]string, error) {
	lt, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return nil, fmt.Errorf("%w: tools/list failed: %s", ErrUnavailable, transportCause(err))
	}
	return s.conn.observe(ctx, lt.Tools, s.key == "")
}

// coalesce runs run in the background, one run at a time: a call while
// one runs makes (with any others) exactly one more run after it. n counts
// the calls not yet served. An upstream may send tools/list_changed as
// fast as it can write; one relist each would pile up tools/list calls
// and pin writes until they hold every store connection.
func coalesce(n *atomic.Int32, run func()) {
	if n.Add(1) > 1 {
		return
	}
	go func() {
		for {
			run()
			if n.Add(-1) == 0 {
				return
			}
			n.Store(1) // every call so far is served by the next run
		}
	}()
}

// relist reads the tools again after the upstream said they changed.
func (s *session) relist(cl *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), s.conn.cfg.StartTimeout)
	defer cancel()
	hashes, err := s.list(ctx, cl)
	if err != nil {
		s.conn.log.Warn("upstream tools could not be listed again after a change", "err", err)
		return
	}
	if s.lock(ctx) != nil {
		return
	}
	if s.cl == cl {
		s.hashes = hashes
	}
	s.unlock()
}

// hash is the hash of tool as this session's upstream offers it.
func (s *session) hash(tool string) string {
	if s.lock(context.Background()) != nil {
		return ""
	}
	defer s.unlock()
	return s.hashes[tool]
}

// transport builds the connection's transport: a process the gateway
// starts, or a remote server with the gateway's own credential.
func (c *Conn) transport() (transport.Interface, error) {
	m := c.cfg
	// mcp-go's own lines (stream errors, listener restarts) go to the
	// gateway's log, lowered and redacted, never to slog.Default.
	lib := telemetry.LibraryLogger(c.log, "mcp-go")
	if len(m.Command) > 0 {
		env := []string{}
		for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
		for k, ref := range m.Env {
			v, err := ref.Resolve()
			if err != nil {
				return nil, fmt.Errorf("%w: env %s: %v", ErrUnavailable, k, err)
			}
			env = append(env, k+"="+v)
		}
		return transport.NewStdioWithOptions(m.Command[0], nil, m.Command[1:], transport.WithCommandFunc(
			func(_ context.Context, command string, _ []string, args []string) (*exec.Cmd, error) {
				// Not CommandContext: the process outlives the start's context.
				cmd := exec.Command(command, args...)
				cmd.Env, cmd.Dir = env, m.Dir
				detach(cmd)
				return cmd, nil
			}), transport.WithCommandLogger(lib)), nil
	}
	hc := &http.Client{}
	headers := map[string]string{}
	switch {
	case m.Bearer != nil:
		tok, err := m.Bearer.Resolve()
		if err != nil {
			return nil, fmt.Errorf("%w: bearer: %v", ErrUnavailable, err)
		}
		headers["Authorization"] = "Bearer " + tok
	case m.OAuth != nil:
		secret, err := m.OAuth.ClientSecret.Resolve()
		if err != nil {
			return nil, fmt.Errorf("%w: oauth.client_secret: %v", ErrUnavailable, err)
		}
		cc := &clientcredentials.Config{ClientID: m.OAuth.ClientID, ClientSecret: secret, TokenURL: m.OAuth.TokenURL, Scopes: m.OAuth.Scopes}
		hc = cc.Client(context.Background())
	}
	if m.Transport == config.MCPSSE {
		return transport.NewSSE(m.URL, transport.WithHTTPClient(hc), transport.WithHeaders(headers), transport.WithSSELogger(lib))
	}
	return transport.NewStreamableHTTP(m.URL, transport.WithHTTPBasicClient(hc), transport.WithHTTPHeaders(headers),
		transport.WithHTTPLogger(lib))
}

// transportCause says what went wrong without the transport's own text,
// which may quote a URL, an address or the upstream's output.
func transportCause(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "it did not answer in time"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return "the command was not found"
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return "the connection to it failed or it exited"
	}
	return "it answered with an error"
}
