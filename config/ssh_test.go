package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// A throwaway public key: only its format matters here.
const testHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDqYm0BzbXUzAgk7MNsZIvWkw8yHL7SQpX0pM7p8x7VQ"

// loadSSH loads a config with one ssh connection "web1" whose settings are
// conn (YAML, indented under the connection), with Dir set to dir.
func loadSSH(t *testing.T, dir, conn string) (*Config, error) {
	t.Helper()
	y := "identity:\n  dev_issuer: {enabled: true}\nconnections:\n  web1:\n    kind: ssh\n" + conn
	cfg, err := Parse([]byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	cfg.setDefaults()
	return cfg, cfg.Validate()
}

func sshTestDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"known_hosts": "[web1.internal]:2222 " + testHostKey + "\n",
		"id_ed25519":  "not parsed by config\n",
		"passphrase":  "x\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const sshCommands = `
    commands:
      - name: disk-usage
        argv: [df, {literal: -h, optional: true}]
      - name: restart-nginx
        argv: [systemctl, restart, {enum: [nginx]}]
        access: write
        approve: true
`

func TestSSHConnection(t *testing.T) {
	dir := sshTestDir(t)
	cfg, err := loadSSH(t, dir, `
    address: web1.internal
    user: airlock
    private_key: {file: id_ed25519}
    passphrase: {env: KEY_PASSPHRASE}
    known_hosts: known_hosts
`+sshCommands)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Connections["web1"].SSH
	if s.Address != "web1.internal:22" {
		t.Errorf("address = %q, want the default port added", s.Address)
	}
	if s.ConnectTimeout != 10*time.Second || s.CommandTimeout != 30*time.Second || s.MaxOutputBytes != 1<<20 {
		t.Errorf("defaults: connect %v command %v output %d", s.ConnectTimeout, s.CommandTimeout, s.MaxOutputBytes)
	}
	if s.KnownHosts != filepath.Join(dir, "known_hosts") || s.PrivateKey.File != filepath.Join(dir, "id_ed25519") {
		t.Errorf("paths not resolved: %q %q", s.KnownHosts, s.PrivateKey.File)
	}
	if len(s.Commands) != 2 || s.Commands[0].Access != policy.Read || s.Commands[1].Access != policy.Write || !s.Commands[1].Approve {
		t.Errorf("commands: %+v", s.Commands)
	}

	// A pinned key and a password instead of known_hosts and a key.
	cfg, err = loadSSH(t, dir, `
    address: "[::1]"
    user: airlock
    password: {env: SSH_PASSWORD}
    host_key: `+testHostKey+`
    connect_timeout: 2s
    command_timeout: 1m
    max_output_bytes: 4096
`+sshCommands)
	if err != nil {
		t.Fatal(err)
	}
	s = cfg.Connections["web1"].SSH
	if s.Address != "[::1]:22" || s.CommandTimeout != time.Minute || s.MaxOutputBytes != 4096 {
		t.Errorf("settings: %+v", s)
	}
}

func TestSSHAddressDefaults(t *testing.T) {
	for in, want := range map[string]string{
		"web1": "web1:22", "web1:2222": "web1:2222", "10.0.0.5": "10.0.0.5:22",
		"::1": "[::1]:22", "[::1]": "[::1]:22", "[2001:db8::1]:2200": "[2001:db8::1]:2200",
	} {
		if got := withSSHPort(in); got != want {
			t.Errorf("withSSHPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSSHConnectionInvalid(t *testing.T) {
	base := func(skip string, extra string) string {
		lines := map[string]string{
			"address":     "    address: web1.internal:2222\n",
			"user":        "    user: airlock\n",
			"private_key": "    private_key: {file: id_ed25519}\n",
			"known_hosts": "    known_hosts: known_hosts\n",
			"commands":    sshCommands,
		}
		var b strings.Builder
		for _, k := range []string{"address", "user", "private_key", "known_hosts", "commands"} {
			if k != skip {
				b.WriteString(lines[k])
			}
		}
		return b.String() + extra
	}
	cases := []struct {
		name, conn, field, msg string
	}{
		{"no address", base("address", ""), "connections.web1.address", "required"},
		{"bad port", base("address", "    address: web1:99999\n"), "connections.web1.address", "port"},
		{"user in address", base("address", "    address: root@web1\n"), "connections.web1.address", "user"},
		{"bare ipv6 with port", base("address", "    address: 2001:db8::1:22:x\n"), "connections.web1.address", "IPv6"},
		{"no user", base("user", ""), "connections.web1.user", "required"},
		{"bad user", base("user", "    user: \"a b\"\n"), "connections.web1.user", "plain user name"},
		{"no host key", base("known_hosts", ""), "connections.web1.known_hosts", "host key verification is mandatory"},
		{"both host keys", base("", "    host_key: "+testHostKey+"\n"), "connections.web1.host_key", "not both"},
		{"missing known_hosts", base("known_hosts", "    known_hosts: nope\n"), "connections.web1.known_hosts", "cannot read"},
		{"bad host key", base("known_hosts", "    host_key: ssh-ed25519 nonsense\n"), "connections.web1.host_key", "authorized_keys format"},
		{"host key with options", base("known_hosts", "    host_key: 'restrict "+testHostKey+"'\n"), "connections.web1.host_key", "authorized_keys format"},
		{"no credential", base("private_key", ""), "connections.web1.private_key", "required"},
		{"key and password", base("", "    password: {env: P}\n"), "connections.web1.password", "not both"},
		{"key both refs", base("private_key", "    private_key: {env: K, file: id_ed25519}\n"), "connections.web1.private_key", "exactly one"},
		{"key file missing", base("private_key", "    private_key: {file: nope}\n"), "connections.web1.private_key", "cannot read"},
		{"passphrase without key", base("private_key", "    password: {env: P}\n    passphrase: {env: X}\n"), "connections.web1.passphrase", "only together"},
		{"zero connect timeout", base("", "    connect_timeout: -1s\n"), "connections.web1.connect_timeout", "positive"},
		{"negative command timeout", base("", "    command_timeout: -5s\n"), "connections.web1.command_timeout", "positive"},
		{"huge output cap", base("", "    max_output_bytes: 1000000000\n"), "connections.web1.max_output_bytes", "between"},
		{"no commands", base("commands", ""), "connections.web1.commands", "at least one"},
		{"bad template", base("commands", "    commands:\n      - {name: x, argv: [df, {int: {min: 5, max: 1}}]}\n"), "connections.web1.commands[0]", "min 5 is greater"},
		{"bad access", base("commands", "    commands:\n      - {name: x, argv: [df], access: admin}\n"), "connections.web1.commands[0]", "read or write"},
		{"no template name", base("commands", "    commands:\n      - {argv: [df]}\n"), "connections.web1.commands[0]", "name is required"},
		{"duplicate name", base("commands", "    commands:\n      - {name: x, argv: [df]}\n      - {name: x, argv: [du]}\n"), "connections.web1.commands[1].name", "already"},
		{"unknown template key", base("commands", "    commands:\n      - {name: x, argv: [df], aprove: true}\n"), "connections.web1.commands[0].aprove", "unknown key"},
		{"dsn on ssh", base("", "    dsn: postgres://x@y/z\n"), "connections.web1", "do not apply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadSSH(t, sshTestDir(t), tc.conn)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.field+":") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q should name %q and say %q", err, tc.field, tc.msg)
			}
		})
	}
}

func TestSSHSettingsOnOtherKinds(t *testing.T) {
	_, err := load(t, minimal+"  pg: {kind: postgres, dsn: 'postgres://u@h/db', known_hosts: /etc/ssh/known_hosts}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "connections.pg:") || !strings.Contains(err.Error(), "apply to kind ssh only") {
		t.Errorf("err = %v", err)
	}
}
