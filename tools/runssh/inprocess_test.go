package runssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testUser is the account the in-process server accepts.
const testUser = "deploy-bot"

// execFunc plays a command on the in-process server: it writes output and
// returns the exit status. signals carries signal names the client sends;
// closed is closed when the client closes the session.
type execFunc func(cmd string, stdout, stderr io.Writer, signals <-chan string, closed <-chan struct{}) int

// testServer is an in-process SSH server on 127.0.0.1:0 that plays
// commands with a handler instead of running them, and records everything
// the client asked for.
type testServer struct {
	addr     string
	hostKey  ssh.Signer
	userKey  ssh.Signer
	userPriv ed25519.PrivateKey
	keyFile  string // the gateway's private key
	known    string // known_hosts with the host key for addr
	password string // accepted when set

	mu       sync.Mutex
	handler  execFunc
	execs    []string
	requests []string // session request types other than exec and signal
	signals  []string
	sessions int
	closedBy []string // "client" when the client closed a session first
	conns    []*ssh.ServerConn
	accepted int
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{hostKey: newSigner(t)}
	s.userKey, s.userPriv = newKeyPair(t)
	dir := t.TempDir()
	s.keyFile = filepath.Join(dir, "gateway_key")
	writePrivateKey(t, s.keyFile, s.userPriv, "")
	s.handler = func(cmd string, stdout, _ io.Writer, _ <-chan string, _ <-chan struct{}) int {
		fmt.Fprintf(stdout, "ran: %s\n", cmd)
		return 0
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.known = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.known, []byte(knownhosts.Line([]string{s.addr}, s.hostKey.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == testUser && bytes.Equal(key.Marshal(), s.userKey.PublicKey().Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if s.password != "" && c.User() == testUser && string(pw) == s.password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
	}
	cfg.AddHostKey(s.hostKey)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(nc, cfg, &wg)
			}()
		}
	}()
	return s
}

func (s *testServer) setHandler(h execFunc) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

func (s *testServer) serve(nc net.Conn, cfg *ssh.ServerConfig, wg *sync.WaitGroup) {
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		nc.Close()
		return
	}
	s.mu.Lock()
	s.conns = append(s.conns, sc)
	s.accepted++
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ch, creqs)
		}()
	}
}

func (s *testServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	signals := make(chan string, 4)
	closed := make(chan struct{})
	finished := make(chan struct{})
	started := false
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if started || ssh.Unmarshal(req.Payload, &p) != nil {
				req.Reply(false, nil)
				continue
			}
			started = true
			s.mu.Lock()
			s.execs = append(s.execs, p.Command)
			h := s.handler
			s.mu.Unlock()
			req.Reply(true, nil)
			go func() {
				defer close(finished)
				code := h(p.Command, ch, ch.Stderr(), signals, closed)
				var st [4]byte
				binary.BigEndian.PutUint32(st[:], uint32(code))
				ch.SendRequest("exit-status", false, st[:])
				ch.CloseWrite()
				ch.Close()
			}()
		case "signal":
			var p struct{ Signal string }
			ssh.Unmarshal(req.Payload, &p)
			s.mu.Lock()
			s.signals = append(s.signals, p.Signal)
			s.mu.Unlock()
			select {
			case signals <- p.Signal:
			default:
			}
			if req.WantReply {
				req.Reply(true, nil)
			}
		default:
			// pty-req, env, shell, x11-req, auth-agent-req@openssh.com:
			// recorded so tests can prove the client never asks.
			s.mu.Lock()
			s.requests = append(s.requests, req.Type)
			s.mu.Unlock()
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
	// The request channel ends when the channel is closed.
	select {
	case <-finished:
	default:
		s.mu.Lock()
		s.closedBy = append(s.closedBy, "client")
		s.mu.Unlock()
	}
	close(closed)
	ch.Close()
}

// dropConnections closes every connection, as a restarted host would.
func (s *testServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

type serverState struct {
	execs, requests, signals, closedBy []string
	sessions, accepted                 int
}

func (s *testServer) state() serverState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return serverState{
		execs: append([]string(nil), s.execs...), requests: append([]string(nil), s.requests...),
		signals: append([]string(nil), s.signals...), closedBy: append([]string(nil), s.closedBy...),
		sessions: s.sessions, accepted: s.accepted,
	}
}

func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	sg, _ := newKeyPair(t)
	return sg
}

func newKeyPair(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return sg, priv
}

// writePrivateKey writes priv in OpenSSH format, encrypted when
// passphrase is set.
func writePrivateKey(t testing.TB, path string, priv ed25519.PrivateKey, passphrase string) {
	t.Helper()
	var (
		block *pem.Block
		err   error
	)
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sleepUntilClosed plays a long command that outlives a signal: it ends
// only when the client closes the session, or after d.
func sleepUntilClosed(d time.Duration) execFunc {
	return func(_ string, _, _ io.Writer, _ <-chan string, closed <-chan struct{}) int {
		select {
		case <-closed:
			return 137
		case <-time.After(d):
			return 0
		}
	}
}
