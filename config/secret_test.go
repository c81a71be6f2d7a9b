package config

import (
	"strings"
	"testing"
)

// A secret written where a reference belongs never appears in an error,
// whichever way it is wrong, and the error says how to give it.
func TestInlineSecretsNeverEchoed(t *testing.T) {
	const secret = "ro-secret-Hunter2xyz"
	pg := "  pg:\n    kind: postgres\n    dsn: postgres://app@h/db\n"
	ssh := "  box:\n    kind: ssh\n    address: 127.0.0.1\n    user: ops\n    host_key: x\n"
	cases := []struct {
		name, yaml, field string
		hint              bool // the error should say {env: NAME} / {file: PATH}
	}{
		{"password inline", minimal + pg + "    password: " + secret + "\n", "connections.pg.password", true},
		{"password quoted", minimal + pg + "    password: \"" + secret + "\"\n", "connections.pg.password", true},
		{"password number", minimal + pg + "    password: 12345678901234\n", "connections.pg.password", true},
		{"password list", minimal + pg + "    password: [" + secret + "]\n", "connections.pg.password", true},
		{"password value key", minimal + pg + "    password: {value: " + secret + "}\n", "connections.pg.password.value", true},
		{"password env list", minimal + pg + "    password: {env: [" + secret + "]}\n", "connections.pg.password.env", false},
		{"password env bad name", minimal + pg + "    password: {env: \"" + secret + "\"}\n", "connections.pg.password.env", false},
		{"password env reference", minimal + pg + "    password: {env: \"${" + secret + "}\"}\n", "connections.pg.password.env", false},
		{"password inline reference", minimal + pg + "    password: \"${" + secret + "}\"\n", "connections.pg.password", true},
		{"password block", minimal + pg + "    password: |\n      " + secret + "\n", "connections.pg.password", true},
		{"private key inline", minimal + ssh + "    private_key: " + secret + "\n", "connections.box.private_key", true},
		{"passphrase inline", minimal + ssh + "    passphrase: " + secret + "\n", "connections.box.passphrase", true},
		{"hash key inline", minimal + "masking:\n  hash_key: " + secret + "\n", "masking.hash_key", true},
		{"webhook secret inline", minimal + "approvals:\n  webhook_url: http://127.0.0.1:9/x\n  webhook_secret: " + secret + "\n", "approvals.webhook_secret", true},
		// A secret pasted into a field of another type is still not quoted.
		{"secret in an int", minimal + pg + "    max_conns: " + secret + "\n", "connections.pg.max_conns", false},
		{"secret in a bool", "identity:\n  dev_issuer: {enabled: " + secret + "}\n", "identity.dev_issuer.enabled", false},
		{"secret in a list", minimal + "admin:\n  groups: " + secret + "\n", "admin.groups", false},
		{"secret in a duration", minimal + "limits:\n  call_timeout: " + secret + "\n", "limits.call_timeout", false},
		{"secret as a variable name", minimal + "server:\n  listen: \"${" + secret + "}\"\n", "server.listen", false},
		{"secret in a dsn", minimal + "  pg:\n    kind: postgres\n    dsn: postgres://app:" + secret + "@h/db\n", "connections.pg.dsn", true},
		{"secret in a dsn query", minimal + "  pg:\n    kind: postgres\n    dsn: postgres://app@h/db?password=" + secret + "\n", "connections.pg.dsn", true},
		{"secret in a bad dsn", minimal + "  pg:\n    kind: postgres\n    dsn: mysql://app:" + secret + "@h/db\n", "connections.pg.dsn", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, map[string]string{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, part := range []string{secret, secret[:7], "Hunter2", "12345678"} {
				if strings.Contains(msg, part) {
					t.Fatalf("error quotes the secret (%q): %s", part, msg)
				}
			}
			if !strings.Contains(msg, tc.field+":") {
				t.Errorf("error %q should name %s", msg, tc.field)
			}
			if tc.hint && (!strings.Contains(msg, "{env: NAME}") || !strings.Contains(msg, "{file: PATH}")) {
				t.Errorf("error %q should say to use {env: NAME} or {file: PATH}", msg)
			}
		})
	}
}

// FuzzInlineSecretNeverEchoed puts any value where a secret or a typed
// field belongs and checks the error never quotes it.
func FuzzInlineSecretNeverEchoed(f *testing.F) {
	for _, s := range []string{"ro-secret-Hunter2xyz", "\"quoted secret\"", "[a, b]", "{value: s3cr3tvalue}", "${not a name}", "12345678901234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		secret = strings.TrimSpace(secret)
		if len(secret) < 8 || strings.ContainsAny(secret, "\n\r#:{}[],&*!|>'\"%@`-?") ||
			strings.ContainsFunc(secret, func(r rune) bool { return r < ' ' || r > '~' }) {
			return // keep the value one plain printable scalar, long enough to be distinctive
		}
		if strings.Contains(minimal+"postgres pg kind dsn password max_conns", secret) {
			return
		}
		for _, field := range []string{"password", "max_conns", "description"} {
			yaml := minimal + "  pg:\n    kind: postgres\n    dsn: postgres://app@h/db\n    " + field + ": " + secret + "\n"
			if _, err := load(t, yaml, nil); err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: error quotes the value: %v", field, err)
			}
		}
	})
}

func BenchmarkParseSecretError(b *testing.B) {
	data := []byte(minimal + "  pg:\n    kind: postgres\n    dsn: postgres://app@h/db\n    password: ro-secret\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, env(nil)); err == nil {
			b.Fatal("no error")
		}
	}
}
