package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/airlockhq/airlock/policy/shell"
)

// SSHSettings configure a connection of kind ssh. The gateway holds the
// key; host key verification is mandatory and cannot be switched off.
type SSHSettings struct {
	// Address is host:port (port 22 when omitted).
	Address string `yaml:"address"`
	User    string `yaml:"user"`
	// PrivateKey is the gateway's key (OpenSSH or PEM format), by
	// reference; Passphrase unlocks it when encrypted. Give either a key
	// or the connection's `password`, not both.
	PrivateKey *SecretRef `yaml:"private_key"`
	Passphrase *SecretRef `yaml:"passphrase"`
	// KnownHosts is an OpenSSH known_hosts file; HostKey pins one key in
	// authorized_keys format ("ssh-ed25519 AAAA..."). Exactly one is
	// required.
	KnownHosts string `yaml:"known_hosts"`
	HostKey    string `yaml:"host_key"`

	// ConnectTimeout bounds dialling plus the SSH handshake.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// CommandTimeout bounds one command; past it the command is killed on
	// the host and the call reported as a timeout.
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// MaxOutputBytes caps each of stdout and stderr.
	MaxOutputBytes int `yaml:"max_output_bytes"`
	// Commands are the argv templates agents may run.
	Commands []shell.Template `yaml:"commands"`
}

// SSH connection defaults and bounds.
const (
	DefaultSSHPort           = "22"
	DefaultSSHConnectTimeout = 10 * time.Second
	DefaultSSHCommandTimeout = 30 * time.Second
	DefaultSSHMaxOutputBytes = 1 << 20
	// MaxSSHOutputBytes bounds max_output_bytes: output is held in memory.
	MaxSSHOutputBytes = 64 << 20
)

func (s *SSHSettings) isZero() bool {
	return s.Address == "" && s.User == "" && s.PrivateKey == nil && s.Passphrase == nil && s.KnownHosts == "" &&
		s.HostKey == "" && s.ConnectTimeout == 0 && s.CommandTimeout == 0 && s.MaxOutputBytes == 0 && len(s.Commands) == 0
}

// setDefaults adds the default port, fills timeouts and the output cap, and
// resolves file paths against the config's folder.
func (s *SSHSettings) setDefaults(c *Config) {
	s.Address = withSSHPort(s.Address)
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = DefaultSSHConnectTimeout
	}
	if s.CommandTimeout == 0 {
		s.CommandTimeout = DefaultSSHCommandTimeout
	}
	if s.MaxOutputBytes == 0 {
		s.MaxOutputBytes = DefaultSSHMaxOutputBytes
	}
	s.KnownHosts = c.Resolve(s.KnownHosts)
	for _, ref := range []*SecretRef{s.PrivateKey, s.Passphrase} {
		if ref != nil && ref.File != "" {
			ref.File = c.Resolve(ref.File)
		}
	}
}

// withSSHPort adds port 22 to an address without one: "web1" becomes
// "web1:22", "::1" and "[::1]" become "[::1]:22".
func withSSHPort(addr string) string {
	if addr == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	host := addr
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, DefaultSSHPort)
}

// validate checks an ssh connection; field is "connections.NAME".
func (s *SSHSettings) validate(field string, conn *Connection) error {
	if conn.DSN != "" || conn.Path != "" || conn.Seed != "" {
		return invalid(field, "dsn, path and seed do not apply to kind ssh")
	}
	if err := checkSSHAddress(s.Address); err != nil {
		return invalid(field+".address", "%v", err)
	}
	if s.User == "" {
		return invalid(field+".user", "required for kind ssh (the account the gateway logs in as)")
	}
	if strings.ContainsFunc(s.User, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '@' || r == ':' }) {
		return invalid(field+".user", "must be a plain user name (no spaces, control characters, '@' or ':')")
	}
	if err := s.validateHostKey(field); err != nil {
		return err
	}
	if err := s.validateCredential(field, conn); err != nil {
		return err
	}
	if s.ConnectTimeout <= 0 {
		return invalid(field+".connect_timeout", "must be positive")
	}
	if s.CommandTimeout <= 0 {
		return invalid(field+".command_timeout", "must be positive")
	}
	if s.MaxOutputBytes <= 0 || s.MaxOutputBytes > MaxSSHOutputBytes {
		return invalid(field+".max_output_bytes", "must be between 1 and %d", MaxSSHOutputBytes)
	}
	if len(s.Commands) == 0 {
		return invalid(field+".commands", "at least one command template is required: agents can run only the commands listed here")
	}
	names := map[string]int{}
	for i := range s.Commands {
		cf := fmt.Sprintf("%s.commands[%d]", field, i)
		t := &s.Commands[i]
		if err := t.Validate(); err != nil {
			return invalid(cf, "%v", err)
		}
		if j, dup := names[t.Name]; dup {
			return invalid(cf+".name", "%q is already the name of commands[%d]; names identify commands in the journal", t.Name, j)
		}
		names[t.Name] = i
	}
	return nil
}

// checkSSHAddress accepts host:port with a port from 1 to 65535; defaults
// have added the port when it was left out.
func checkSSHAddress(addr string) error {
	if addr == "" {
		return fmt.Errorf("required for kind ssh (host or host:port)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host or host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be a number from 1 to 65535")
	}
	if host == "" || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("@/[]", r) }) {
		return fmt.Errorf("must be host or host:port (the user goes in user)")
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("must be host or host:port; write IPv6 addresses in brackets, e.g. [2001:db8::1]:22")
		}
	}
	return nil
}

// validateHostKey requires exactly one of known_hosts and host_key: there
// is deliberately no way to skip host key verification.
func (s *SSHSettings) validateHostKey(field string) error {
	switch {
	case s.KnownHosts != "" && s.HostKey != "":
		return invalid(field+".host_key", "give known_hosts or host_key, not both")
	case s.KnownHosts == "" && s.HostKey == "":
		return invalid(field+".known_hosts", "required for kind ssh: a known_hosts file, or host_key with the host's public key "+
			"(host key verification is mandatory and cannot be switched off)")
	case s.KnownHosts != "":
		if _, err := knownhosts.New(s.KnownHosts); err != nil {
			if os.IsNotExist(err) {
				return invalid(field+".known_hosts", "cannot read file %s", s.KnownHosts)
			}
			return invalid(field+".known_hosts", "%v", err)
		}
	default:
		key, _, opts, rest, err := ssh.ParseAuthorizedKey([]byte(s.HostKey))
		if err != nil || len(opts) > 0 || strings.TrimSpace(string(rest)) != "" {
			return invalid(field+".host_key", "must be one public key in authorized_keys format, e.g. the contents of the host's "+
				"/etc/ssh/ssh_host_ed25519_key.pub (\"ssh-ed25519 AAAA...\")")
		}
		if _, isCert := key.(*ssh.Certificate); isCert {
			return invalid(field+".host_key", "must be a plain public key, not a certificate")
		}
	}
	return nil
}

// validateCredential requires the gateway's key or a password, by
// reference.
func (s *SSHSettings) validateCredential(field string, conn *Connection) error {
	for _, r := range []struct {
		name string
		ref  *SecretRef
	}{{"private_key", s.PrivateKey}, {"passphrase", s.Passphrase}} {
		if r.ref == nil {
			continue
		}
		if err := r.ref.check(field + "." + r.name); err != nil {
			return err
		}
		if r.ref.File != "" {
			if st, err := os.Stat(r.ref.File); err != nil || st.IsDir() {
				return invalid(field+"."+r.name, "cannot read file %s", r.ref.File)
			}
		}
	}
	switch {
	case s.PrivateKey != nil && conn.Password != nil:
		return invalid(field+".password", "give private_key or password, not both")
	case s.PrivateKey == nil && conn.Password == nil:
		return invalid(field+".private_key", "required for kind ssh: the gateway's key by reference ({file: PATH} or {env: NAME}), "+
			"or a password by reference")
	case s.Passphrase != nil && s.PrivateKey == nil:
		return invalid(field+".passphrase", "applies only together with private_key")
	}
	return nil
}
