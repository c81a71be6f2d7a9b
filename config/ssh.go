package config

import (
	"time"

	"github.com/airlockhq/airlock/policy/shell"
)

// SSHSettings configure a connection of kind ssh. The gateway holds the
// key; host key verification is mandatory and cannot be switched off.
type SSHSettings struct {
	// Address is host:port (port 22 when omitted).
	Address string `yaml:"address"`
	User    string `yaml:"user"`
	// PrivateKey is the gateway's key (PEM), by reference; Passphrase
	// unlocks it when encrypted. The connection's `password` is used only
	// when no key is configured.
	PrivateKey *SecretRef `yaml:"private_key"`
	Passphrase *SecretRef `yaml:"passphrase"`
	// KnownHosts is an OpenSSH known_hosts file; HostKey pins one key in
	// authorized_keys format ("ssh-ed25519 AAAA..."). One is required.
	KnownHosts string `yaml:"known_hosts"`
	HostKey    string `yaml:"host_key"`

	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// MaxOutputBytes caps each of stdout and stderr.
	MaxOutputBytes int `yaml:"max_output_bytes"`
	// Commands are the argv templates agents may run.
	Commands []shell.Template `yaml:"commands"`
}

func (s *SSHSettings) isZero() bool {
	return s.Address == "" && s.User == "" && s.PrivateKey == nil && s.Passphrase == nil && s.KnownHosts == "" &&
		s.HostKey == "" && s.ConnectTimeout == 0 && s.CommandTimeout == 0 && s.MaxOutputBytes == 0 && len(s.Commands) == 0
}

// setDefaults is filled in by the ssh kind's owner.
func (s *SSHSettings) setDefaults(c *Config) {}

// validate is filled in by the ssh kind's owner.
func (s *SSHSettings) validate(field string, conn *Connection) error { return nil }
