// Package sshdtest starts a real OpenSSH sshd for tests: on a loopback
// port, with a generated host key, a generated key for the gateway and a
// throwaway sshd_config (public key only, no root login, no forwarding, no
// TTY), logging in as an unprivileged account.
//
// The sshd binary is AIRLOCK_TEST_SSHD, else /usr/sbin/sshd. As root the
// tests log in as airlock-sshtest (AIRLOCK_TEST_SSH_USER overrides it);
// otherwise as the current user. `make test` provisions both through
// scripts/test-sshd.sh. When either is missing the test fails with that
// instruction; it never skips.
package sshdtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/airlockhq/airlock/internal/syncbuf"
)

// T is the part of testing.TB this package uses: tests pass their
// *testing.T; programs (airlock eval) use StartProgram.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
}

// DefaultUser is the account tests log in as when they run as root.
const DefaultUser = "airlock-sshtest"

const provision = "run `make test`, which provisions it, or `bash scripts/test-sshd.sh` as root " +
	"(installs Debian's openssh-server and creates the test user)"

// Options change the sshd a test gets.
type Options struct {
	// AuthorizedKeyOptions prefix the gateway's key in authorized_keys,
	// e.g. `restrict,command="/usr/local/bin/airlock-only"`.
	AuthorizedKeyOptions string
}

// Server is a running sshd.
type Server struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	// User is the account the gateway's key logs in as; UID and GID are
	// its ids.
	User     string
	UID, GID int
	// KeyFile holds the gateway's private key (OpenSSH format).
	KeyFile string
	// KnownHosts is a known_hosts file with the host key for Addr.
	KnownHosts string
	// HostKey is the host's public key in authorized_keys format.
	HostKey string
	// HostPublicKey is the same key, parsed.
	HostPublicKey ssh.PublicKey

	dir string
	log *syncbuf.Buffer
}

// Start runs an sshd for the rest of the test.
func Start(t T, opts Options) *Server {
	t.Helper()
	bin := os.Getenv("AIRLOCK_TEST_SSHD")
	if bin == "" {
		bin = "/usr/sbin/sshd"
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("OpenSSH sshd is required for the run_ssh integration tests and %s is missing: %s", bin, provision)
	}
	s := &Server{log: &syncbuf.Buffer{}}
	s.login(t)

	dir, err := os.MkdirTemp("", "airlock-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// sshd reads authorized_keys as the login user.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.dir = dir

	hostSigner := writeKey(t, filepath.Join(dir, "ssh_host_ed25519_key"))
	userSigner := writeKey(t, filepath.Join(dir, "gateway_key"))
	s.KeyFile = filepath.Join(dir, "gateway_key")
	s.HostPublicKey = hostSigner.PublicKey()
	s.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostPublicKey)))
	authorized := string(ssh.MarshalAuthorizedKey(userSigner.PublicKey()))
	if opts.AuthorizedKeyOptions != "" {
		authorized = opts.AuthorizedKeyOptions + " " + authorized
	}
	write(t, filepath.Join(dir, "authorized_keys"), authorized, 0o644)

	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		port := freePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		write(t, filepath.Join(dir, "sshd_config"), s.config(port), 0o644)
		write(t, filepath.Join(dir, "known_hosts"), knownhosts.Line([]string{s.Addr}, s.HostPublicKey)+"\n", 0o644)
		s.KnownHosts = filepath.Join(dir, "known_hosts")
		if lastErr = s.run(t, bin); lastErr == nil {
			return s
		}
	}
	t.Fatalf("sshd did not start: %v\n%s", lastErr, s.log.String())
	return nil
}

// login picks the account to log in as.
func (s *Server) login(t T) {
	t.Helper()
	name := os.Getenv("AIRLOCK_TEST_SSH_USER")
	var (
		u   *user.User
		err error
	)
	switch {
	case name != "":
		u, err = user.Lookup(name)
	case os.Geteuid() == 0:
		u, err = user.Lookup(DefaultUser)
		// sshd refuses root here (PermitRootLogin no), as it should.
	default:
		u, err = user.Current()
	}
	if err != nil {
		t.Fatalf("the SSH test account is missing (%v): %s", err, provision)
	}
	s.User = u.Username
	s.UID, _ = strconv.Atoi(u.Uid)
	s.GID, _ = strconv.Atoi(u.Gid)
}

func (s *Server) config(port int) string {
	lines := []string{
		"ListenAddress 127.0.0.1:" + strconv.Itoa(port),
		"HostKey " + filepath.Join(s.dir, "ssh_host_ed25519_key"),
		"PidFile none",
		"AuthorizedKeysFile " + filepath.Join(s.dir, "authorized_keys"),
		"AllowUsers " + s.User,
		"PermitRootLogin no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		// The keys live under /tmp, which is world-writable.
		"StrictModes no",
		"AllowTcpForwarding no",
		"AllowStreamLocalForwarding no",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PermitTTY no",
		"PermitUserEnvironment no",
		"PermitTunnel no",
		"PrintMotd no",
		"UseDNS no",
		"LogLevel DEBUG1",
	}
	return strings.Join(lines, "\n") + "\n"
}

// run starts sshd and waits until it greets.
func (s *Server) run(t T, bin string) error {
	t.Helper()
	if os.Geteuid() == 0 {
		// Debian's sshd refuses to start without its privilege separation
		// directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return err
		}
	}
	cmd := exec.Command(bin, "-D", "-e", "-f", filepath.Join(s.dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("sshd exited: %v", err)
		default:
		}
		if greets(s.Addr) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("sshd did not answer on %s", s.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.String())
		}
	})
	return nil
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string { return s.log.String() }

// SentinelDir makes a fresh directory that the login account can write
// to, for files a command would create if it ran.
func (s *Server) SentinelDir(t T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "airlock-sentinel-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(d, s.UID, s.GID); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// OtherHostKey returns a freshly generated host public key, for tests of a
// host that presents an unexpected key.
func OtherHostKey(t T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 8)
	n, _ := c.Read(buf)
	return bytes.HasPrefix(buf[:n], []byte("SSH-2.0-"))
}

func freePort(t T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeKey generates an ed25519 key, writes it in OpenSSH format with mode
// 0600 and returns its signer.
func writeKey(t T, path string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(pem.EncodeToMemory(block)), 0o600)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func write(t T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// RefusedCommands are command strings that run_ssh must refuse without
// reaching the host: the list of the run_ssh issue, with each command's
// side effect pointed at dir so a test can prove it never happened. The
// templates they are checked against allow `df [-h]`, `tail -n <1..500>
// <path under dir/log>`, `systemctl status nginx`, `touch <path under
// dir>` and `env`-free forms only; dir/keep is expected to exist and
// must survive.
func RefusedCommands(dir string) []string {
	logDir := dir + "/log"
	return []string{
		"df -h; rm -rf " + dir + "/keep",
		"df -h; touch " + dir + "/s1",
		"df -h && touch " + dir + "/s2",
		"df -h || touch " + dir + "/s3",
		"df -h | nc 127.0.0.1 9",
		"df -h | tee " + dir + "/s4",
		"systemctl status nginx$(touch " + dir + "/s5)",
		"systemctl status `touch " + dir + "/s6`",
		"df -h\ntouch " + dir + "/s7",
		"df -h\r\ntouch " + dir + "/s7b",
		"tail -n 5 " + logDir + "/app.log > " + dir + "/s8",
		"tail -n 5 " + logDir + "/app.log >> " + dir + "/s8b",
		"LD_PRELOAD=/tmp/x.so df -h",
		"LD_PRELOAD=/tmp/x.so touch " + dir + "/s9",
		"env sh -c id",
		"env touch " + dir + "/s10",
		"tail -n 5 " + logDir + "/../../../etc/shadow",
		"tail -n 5 " + logDir + "/../keep",
		"systemctl status $'nginx\\ntouch " + dir + "/s11'",
		"df -h${IFS}-a",
		"{df,-h}",
		"df -h &",
		"touch " + dir + "/s12 &",
		"tail -n 5 " + logDir + "/*",
		"\u0455ystemctl status nginx", // Cyrillic ѕ
		"t\u043euch " + dir + "/s13",  // Cyrillic о
		"(touch " + dir + "/s14)",
		"touch " + dir + "/s15 # comment",
		"exec touch " + dir + "/s16",
		"touch -- " + dir + "/s17",
	}
}

// StartProgram runs an sshd for a program rather than a test: it returns
// the server and a stop function that ends sshd and removes its files.
func StartProgram(opts Options) (s *Server, stop func(), err error) {
	p := &programT{}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(programFatal)
			if !ok {
				panic(r)
			}
			p.cleanup()
			s, stop, err = nil, nil, errors.New(string(f))
		}
	}()
	s = Start(p, opts)
	return s, p.cleanup, nil
}

// SentinelDirProgram is SentinelDir for a program: the directory is
// removed by stop.
func (s *Server) SentinelDirProgram() (dir string, stop func(), err error) {
	p := &programT{}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(programFatal)
			if !ok {
				panic(r)
			}
			p.cleanup()
			dir, stop, err = "", nil, errors.New(string(f))
		}
	}()
	return s.SentinelDir(p), p.cleanup, nil
}

type programFatal string

// programT implements T outside a test: Fatal unwinds to StartProgram,
// cleanups run when the program stops the server.
type programT struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (p *programT) Helper()                           {}
func (p *programT) Logf(format string, args ...any)   {}
func (p *programT) Fatal(args ...any)                 { p.fail(fmt.Sprint(args...)) }
func (p *programT) Fatalf(format string, args ...any) { p.fail(fmt.Sprintf(format, args...)) }
func (p *programT) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

func (p *programT) fail(msg string) {
	p.mu.Lock()
	p.failed = true
	p.mu.Unlock()
	panic(programFatal(msg))
}

func (p *programT) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}

func (p *programT) cleanup() {
	p.mu.Lock()
	fs := p.cleanups
	p.cleanups = nil
	p.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
