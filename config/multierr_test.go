package config

import (
	"errors"
	"strings"
	"testing"
)

// Every problem in one round: each error names its field, and errors.As
// still finds a *ValidationError.
func TestAllErrorsAtOnce(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // one field path per expected problem
	}{
		{"two unset variables", minimal + "  pg: {kind: postgres, dsn: 'postgres://${DB_USER}@${DB_HOST}/db'}\n",
			[]string{"connections.pg.dsn", "DB_USER", "DB_HOST"}},
		{"parse: unknown key and bad duration", minimal + "limits: {call_timout: 3s, statement_timeout: soon}\n",
			[]string{"limits.call_timout: unknown key", "limits.statement_timeout: invalid duration"}},
		{"validate: listen, rule, connection", minimal + "server: {listen: 'localhost:80a'}\n  \nrules:\n  - {name: r, groups: [g], connections: [nope], access: [read], effect: allow}\n",
			[]string{"server.listen", "rules[0].connections: unknown connection"}},
		{"listen without port", minimal + "server: {listen: '127.0.0.1'}\n", []string{"server.listen: want host:port"}},
		{"two bad connections", minimal + "  a: {kind: sqlite}\n  b: {kind: nosuch}\n",
			[]string{"connections.a.path: required", "connections.b.kind: unknown kind"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, map[string]string{})
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("errors.As finds no *ValidationError in %T", err)
			}
		})
	}
	_, err := load(t, minimal+"limits: {call_timout: 3s, statement_timeout: soon}\n", nil)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || !strings.HasPrefix(err.Error(), "config: 2 problems:\n  config: limits.") {
		t.Errorf("want two problems, one per line: %v", err)
	}
}

func TestCheckSecretsReportsEveryMissingSecret(t *testing.T) {
	const secret = "s3cr3t-value-never-shown"
	t.Setenv("FIRSTRUN_SET_PW", secret)
	cfg, err := load(t, minimal+`  a: {kind: postgres, dsn: 'postgres://u@h/db', password: {env: FIRSTRUN_UNSET_A}}
  b: {kind: postgres, dsn: 'postgres://u@h/db', password: {env: FIRSTRUN_UNSET_B}}
  c: {kind: postgres, dsn: 'postgres://u@h/db', password: {env: FIRSTRUN_SET_PW}}
  d: {kind: postgres, dsn: 'postgres://u@h/db', password: {file: /nonexistent/firstrun/pw}}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckSecrets()
	if err == nil {
		t.Fatal("unset secrets accepted")
	}
	msg := err.Error()
	for _, w := range []string{"3 problems", "connections.a.password: secret: environment variable FIRSTRUN_UNSET_A is not set",
		"connections.b.password", "FIRSTRUN_UNSET_B", "connections.d.password: secret: cannot read file"} {
		if !strings.Contains(msg, w) {
			t.Errorf("lacks %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "connections.c") || strings.Contains(msg, secret) {
		t.Errorf("a set secret is reported or shown:\n%s", msg)
	}
}
