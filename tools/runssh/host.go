package runssh

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy/shell"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// host is one ssh connection: its verified client configuration and the
// one SSH client shared by every call, dialled on first use and again
// after it breaks. Each call opens its own session on it.
type host struct {
	name           string
	addr           string
	cfg            *ssh.ClientConfig
	verify         ssh.HostKeyCallback
	connectTimeout time.Duration
	commandTimeout time.Duration
	maxOutput      int
	templates      []shell.Template
	log            *slog.Logger

	// dialing admits one dial at a time; waiting for it honours the
	// caller's context, unlike a mutex.
	dialing chan struct{}
	mu      sync.Mutex // guards client and closed
	client  *ssh.Client
	closed  bool
	dials   atomic.Int64 // connections made, for tests
}

// errHostKey replaces every host key verification error, so that nothing
// about the keys involved reaches an error message.
var errHostKey = errors.New("host key verification failed")

func newHost(name string, c *config.Connection, log *slog.Logger) (*host, error) {
	s := &c.SSH
	h := &host{
		name: name, addr: s.Address, connectTimeout: s.ConnectTimeout, commandTimeout: s.CommandTimeout,
		maxOutput: s.MaxOutputBytes, log: log, dialing: make(chan struct{}, 1),
	}
	h.templates = make([]shell.Template, len(s.Commands))
	copy(h.templates, s.Commands)
	for i := range h.templates {
		if err := h.templates[i].Validate(); err != nil {
			return nil, fmt.Errorf("commands[%d]: %w", i, err)
		}
	}
	auth, err := authMethod(s, c.Password)
	if err != nil {
		return nil, err
	}
	algos, err := h.hostKeyCheck(s)
	if err != nil {
		return nil, err
	}
	h.cfg = &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{auth},
		HostKeyAlgorithms: algos,
		Timeout:           s.ConnectTimeout,
		// A banner is text from the host before authentication: neither
		// the agent nor the journal needs it.
		BannerCallback: func(string) error { return nil },
	}
	return h, nil
}

// authMethod loads the gateway's credential: the private key (with its
// passphrase) or, when no key is configured, the password. Errors name the
// field, never the value.
func authMethod(s *config.SSHSettings, password *config.SecretRef) (ssh.AuthMethod, error) {
	if s.PrivateKey == nil {
		if password == nil {
			return nil, errors.New("no credential: give private_key or password")
		}
		pw, err := password.Resolve()
		if err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		return ssh.Password(pw), nil
	}
	pem, err := s.PrivateKey.Resolve()
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	var signer ssh.Signer
	if s.Passphrase != nil {
		pass, err := s.Passphrase.Resolve()
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(pem), []byte(pass))
		if err != nil {
			return nil, errors.New("private_key: cannot decrypt or parse the key with the given passphrase")
		}
	} else {
		signer, err = ssh.ParsePrivateKey([]byte(pem))
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return nil, errors.New("private_key: the key is encrypted; give its passphrase by reference")
		case err != nil:
			return nil, errors.New("private_key: not a private key in OpenSSH or PEM format")
		}
	}
	return ssh.PublicKeys(signer), nil
}

// hostKeyCheck sets h.verify from known_hosts or the pinned key and returns
// the host key algorithms to offer: those of the keys on record, so that a
// host with several keys presents one that can be verified.
func (h *host) hostKeyCheck(s *config.SSHSettings) ([]string, error) {
	if s.HostKey != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.HostKey))
		if err != nil {
			return nil, errors.New("host_key: not a public key in authorized_keys format")
		}
		h.verify = ssh.FixedHostKey(key)
		return algorithmsFor([]ssh.PublicKey{key}), nil
	}
	cb, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	h.verify = cb
	// Asking about a key the file cannot hold lists the keys it has for
	// this address in the KeyError. None means certificates only (or an
	// unknown host, refused when connecting): offer the defaults.
	var keyErr *knownhosts.KeyError
	if err := cb(s.Address, probeAddr, probeKey); errors.As(err, &keyErr) {
		keys := make([]ssh.PublicKey, len(keyErr.Want))
		for i, k := range keyErr.Want {
			keys[i] = k.Key
		}
		return algorithmsFor(keys), nil
	}
	return nil, nil
}

var (
	probeAddr = &net.TCPAddr{IP: net.IPv4zero}
	probeKey  = func() ssh.PublicKey {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			panic(err)
		}
		k, err := ssh.NewPublicKey(pub)
		if err != nil {
			panic(err)
		}
		return k
	}()
)

// algorithmsFor lists the host key algorithms that verify with keys; an
// RSA key verifies the SHA-2 signature algorithms too.
func algorithmsFor(keys []ssh.PublicKey) []string {
	var out []string
	add := func(algos ...string) {
		for _, a := range algos {
			dup := false
			for _, o := range out {
				dup = dup || o == a
			}
			if !dup {
				out = append(out, a)
			}
		}
	}
	for _, k := range keys {
		if k.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
			continue
		}
		add(k.Type())
	}
	return out
}

// refuse builds an agent error about this connection. Its text names the
// connection only: never the address, the user, the key or a host key.
func (h *host) refuse(format string, args ...any) error {
	return tools.Refuse(recorder.OutcomeError, "connection %q: "+format, append([]any{h.name}, args...)...)
}

func (h *host) current() *ssh.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.client
}

// forget drops c as the shared client if it still is.
func (h *host) forget(c *ssh.Client) {
	h.mu.Lock()
	if h.client == c {
		h.client = nil
	}
	h.mu.Unlock()
}

// getClient returns the shared client, dialling it when there is none.
// fresh reports a client dialled by this call.
func (h *host) getClient(ctx context.Context) (c *ssh.Client, fresh bool, err error) {
	if c := h.current(); c != nil {
		return c, false, nil
	}
	select {
	case h.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	defer func() { <-h.dialing }()
	if c := h.current(); c != nil {
		return c, false, nil // another call dialled while this one waited
	}
	c, err = h.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		c.Close()
		return nil, false, h.refuse("the gateway is shutting down; nothing was run")
	}
	h.client = c
	h.mu.Unlock()
	go func() {
		_ = c.Wait()
		h.forget(c)
	}()
	return c, true, nil
}

// dial connects, verifies the host key and authenticates, within the
// connect timeout.
func (h *host) dial(ctx context.Context) (*ssh.Client, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, h.connectTimeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, h.dialError(parent, ctx, err)
	}
	h.dials.Add(1)
	// The handshake shares the connect budget; cancelling ctx ends it.
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	var verifyFailed atomic.Bool
	cfg := *h.cfg
	cfg.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := h.verify(hostname, remote, key); err != nil {
			verifyFailed.Store(true)
			return errHostKey
		}
		return nil
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, h.addr, &cfg)
	if !stop() && err == nil {
		// The deadline may be cut short at any moment now: start over.
		sc.Close()
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		switch {
		case parent.Err() != nil:
			return nil, parent.Err()
		case verifyFailed.Load() || errors.Is(err, errHostKey):
			h.log.WarnContext(parent, "ssh host key verification failed", "connection", h.name)
			return nil, tools.Refuse(recorder.OutcomeError, "host key verification failed for connection %q; nothing was run. "+
				"The host did not present the key the gateway has on record; an operator must check the host before anything runs there.", h.name)
		case ctx.Err() != nil:
			return nil, h.refuse("the SSH handshake did not finish within %s; nothing was run. Try again later.", h.connectTimeout)
		}
		// The cause goes to the operator's log only: handshake errors
		// quote algorithms and server messages.
		h.log.WarnContext(parent, "ssh handshake failed", "connection", h.name, "err", err)
		if isAuthError(err) {
			return nil, h.refuse("authentication failed: the host did not accept the gateway's credential; nothing was run. An operator must check the connection's key and the host's authorized_keys.")
		}
		return nil, h.refuse("the SSH handshake failed; nothing was run. An operator can find the cause in the gateway's log.")
	}
	_ = nc.SetDeadline(time.Time{})
	go refuseChannels(chans)
	go ssh.DiscardRequests(reqs)
	return ssh.NewClient(sc, closedChannels(), closedRequests()), nil
}

// isAuthError reports a failed authentication; x/crypto/ssh gives it no
// type of its own.
func isAuthError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain")
}

// dialError describes a failed dial without the address.
func (h *host) dialError(parent, ctx context.Context, err error) error {
	var dnsErr *net.DNSError
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case ctx.Err() != nil:
		return h.refuse("the host did not answer within %s; nothing was run. Try again later.", h.connectTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return h.refuse("the host refused the connection (is its SSH server running?); nothing was run.")
	case errors.As(err, &dnsErr):
		return h.refuse("the host name does not resolve; nothing was run. An operator must check the connection's address.")
	}
	return h.refuse("cannot reach the host; nothing was run. Try again later.")
}

// refuseChannels turns down every channel the host tries to open towards
// the gateway: forwarded ports, agent and X11 requests alike.
func refuseChannels(chans <-chan ssh.NewChannel) {
	for nc := range chans {
		_ = nc.Reject(ssh.Prohibited, "the gateway accepts no channels")
	}
}

func closedChannels() <-chan ssh.NewChannel {
	c := make(chan ssh.NewChannel)
	close(c)
	return c
}

func closedRequests() <-chan *ssh.Request {
	c := make(chan *ssh.Request)
	close(c)
	return c
}

// session opens a session on the shared client. A client that cannot open
// one is broken (the host restarted, the network dropped it): it is closed
// and, if it was not new, dialled once more.
func (h *host) session(ctx context.Context) (*ssh.Session, error) {
	for attempt := 0; ; attempt++ {
		c, fresh, err := h.getClient(ctx)
		if err != nil {
			return nil, err
		}
		s, err := h.newSession(ctx, c)
		if err == nil {
			return s, nil
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			// The connection works; the host declined another session
			// (OpenSSH allows MaxSessions, 10 by default, at a time).
			return nil, h.refuse("the host refused a new session (too many commands at once?); nothing was run. Try again shortly.")
		}
		c.Close()
		h.forget(c)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if fresh || attempt > 0 {
			h.log.WarnContext(ctx, "ssh session could not be opened", "connection", h.name, "err", err)
			return nil, h.refuse("could not open a session on the host; nothing was run. Try again later.")
		}
	}
}

// newSession opens a session, giving up after the connect timeout: on a
// connection that died silently, opening would wait for TCP to notice.
func (h *host) newSession(ctx context.Context, c *ssh.Client) (*ssh.Session, error) {
	type result struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.NewSession()
		ch <- result{s, err}
	}()
	t := time.NewTimer(h.connectTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-t.C:
	case <-ctx.Done():
	}
	c.Close() // unblocks NewSession
	if r := <-ch; r.s != nil {
		r.s.Close()
	}
	return nil, errors.New("opening a session timed out")
}

// check connects (verifying the host key and authenticating) and opens
// and closes a session without running anything.
func (h *host) check(ctx context.Context) error {
	s, err := h.session(ctx)
	if err != nil {
		return err
	}
	s.Close()
	return nil
}

func (h *host) close() {
	h.mu.Lock()
	h.closed = true
	c := h.client
	h.client = nil
	h.mu.Unlock()
	if c != nil {
		c.Close()
	}
}
