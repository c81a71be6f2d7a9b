package shell

import (
	"path"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/airlockhq/airlock/policy"
)

// exampleYAML is the shape of `commands:` under an ssh connection.
const exampleYAML = `
commands:
  - name: disk-usage
    argv: [df, -h]
    description: Disk usage of mounted file systems.
  - name: service-status
    argv: [systemctl, status, {enum: [nginx, postgresql]}]
  - name: tail-app-log
    argv: [tail, {flag: -n, value: {int: {min: 1, max: 500}}}, {path: {under: /var/log/app}}]
  - name: unit-logs
    argv:
      - journalctl
      - {flag: -u, value: {regex: "[a-z0-9@.-]{1,60}"}}
      - {flag: --since, value: {enum: [1h, 1d]}, optional: true}
      - {literal: --no-pager, optional: true}
  - name: restart
    argv: [/usr/bin/systemctl, restart, {enum: [nginx]}]
    access: write
    approve: true
`

func loadExample(t *testing.T) []Template {
	t.Helper()
	var cfg struct {
		Commands []Template `yaml:"commands"`
	}
	if err := yaml.Unmarshal([]byte(exampleYAML), &cfg); err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Commands {
		if err := cfg.Commands[i].Validate(); err != nil {
			t.Fatal(err)
		}
	}
	return cfg.Commands
}

func TestYAMLTemplates(t *testing.T) {
	ts := loadExample(t)
	if len(ts) != 5 {
		t.Fatalf("got %d templates", len(ts))
	}
	tail := ts[2]
	if tail.Argv[0].Literal != "tail" || tail.Argv[1].Flag != "-n" ||
		*tail.Argv[1].Value.Int != (IntRange{Min: 1, Max: 500}) ||
		tail.Argv[2].Path.Under != "/var/log/app" {
		t.Errorf("tail template decoded as %+v", tail.Argv)
	}
	if ts[0].Access != policy.Read || ts[4].Access != policy.Write || !ts[4].Approve {
		t.Errorf("access/approve: %q %q %v", ts[0].Access, ts[4].Access, ts[4].Approve)
	}
	if got := ts[2].form(); got != "tail -n <integer 1..500> <path under /var/log/app>" {
		t.Errorf("form %q", got)
	}
	if got := ts[3].form(); got != "journalctl -u <text matching ^(?:[a-z0-9@.-]{1,60})$> [--since <1h|1d>] [--no-pager]" {
		t.Errorf("form %q", got)
	}

	// The YAML templates behave like the ones built in Go.
	for _, cmd := range []string{"df -h", "systemctl status postgresql", "tail -n 5 /var/log/app/app.log"} {
		if _, _, err := check(cmd, ts); err != nil {
			t.Errorf("%q: %v", cmd, err)
		}
	}
}

func TestOptionalArguments(t *testing.T) {
	ts := loadExample(t)
	accepted := []string{
		"journalctl -u nginx",
		"journalctl -u nginx --no-pager",
		"journalctl -u nginx --since 1h",
		"journalctl -u sshd@1.service --since 1d --no-pager",
		"/usr/bin/systemctl restart nginx",
	}
	for _, cmd := range accepted {
		if _, _, err := check(cmd, ts); err != nil {
			t.Errorf("%q: refused: %v", cmd, err)
		}
	}
	refused := map[string]string{
		"journalctl -u nginx --no-pager --since 1h": `argument 4 ("--since") is out of place; arguments must come in the order shown`,
		"journalctl -u nginx --since 2h":            `argument 4 must be one of "1h", "1d" (the value of --since)`,
		"journalctl -u --all":                       `argument 2 must not start with "-" (options that the command does not list are refused) (the value of -u)`,
		"journalctl -u 'a b'":                       "must match the pattern ^(?:[a-z0-9@.-]{1,60})$",
		"journalctl -u nginx -f":                    `argument 3 ("-f") is not allowed here: expected [--since <1h|1d>] or [--no-pager]`,
		"journalctl --no-pager -u nginx":            `argument 1 must be "-u"`,
		"journalctl":                                "argument 1 is missing: expected -u <text matching",
		"systemctl restart nginx":                   `argument 1 must be "status"`,
	}
	ts = append(ts, testTemplates(t)...)
	for cmd, want := range refused {
		_, _, err := check(cmd, ts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got  %v\n want …%s…", cmd, err, want)
		}
	}
}

func TestManyOptionalArguments(t *testing.T) {
	// Twenty optional flags would be a million paths to a naive search.
	tmpl := Template{Name: "many", Argv: []Arg{{Literal: "prog"}}}
	for i := 0; i < 20; i++ {
		tmpl.Argv = append(tmpl.Argv, Arg{Flag: "-x", Value: &Arg{Int: &IntRange{Max: 9}}, Optional: true})
	}
	tmpl.Argv = append(tmpl.Argv, Arg{Literal: "end"})
	if err := tmpl.Validate(); err != nil {
		t.Fatal(err)
	}
	argv := []string{"prog"}
	for i := 0; i < 19; i++ {
		argv = append(argv, "-x", "1")
	}
	argv = append(argv, "nope")
	_, err := Match(argv, []Template{tmpl})
	if err == nil || !strings.Contains(err.Error(), "argument 39") {
		t.Fatalf("got %v", err)
	}
	argv[len(argv)-1] = "end"
	if _, err := Match(argv, []Template{tmpl}); err != nil {
		t.Fatal(err)
	}
}

func TestMatchLeavesArgvAloneOnFailure(t *testing.T) {
	ts := testTemplates(t)
	argv := []string{"tail", "-n", "0", "/var/log/app/x/../y"}
	if _, err := Match(argv, ts); err == nil {
		t.Fatal("accepted")
	}
	if argv[3] != "/var/log/app/x/../y" {
		t.Fatalf("argv changed to %q", argv)
	}
}

func TestMatchNeedsValidate(t *testing.T) {
	ts := []Template{{Name: "df", Argv: []Arg{{Literal: "df"}}}}
	if _, err := Match([]string{"df"}, ts); err == nil || !strings.Contains(err.Error(), "has not been validated") {
		t.Fatalf("got %v", err)
	}
	if _, err := Match([]string{"df"}, nil); err == nil || !strings.Contains(err.Error(), "allows no commands") {
		t.Fatalf("got %v", err)
	}
	if _, err := Match(nil, nil); err == nil {
		t.Fatal("empty argv accepted")
	}
	if _, err := Match([]string{"df", "a\nb"}, ts); err == nil || !strings.Contains(err.Error(), "argument 1 contains a control") {
		t.Fatalf("got %v", err)
	}
}

func TestYAMLErrors(t *testing.T) {
	cases := map[string]string{
		`argv: [df, {optinal: true, literal: -h}]`:                `unknown key "optinal"`,
		`argv: [df, {enum: [a], regex: b}]`:                       "exactly one of",
		`argv: [df, {}]`:                                          "exactly one of",
		`argv: [df, {enum: [a], value: {int: {min: 1, max: 2}}}]`: "value is only allowed together with flag",
		`argv: [df, {int: {min: 1}}]`:                             "int needs both min and max",
		`argv: [df, {int: {min: 1, max: 2, step: 1}}]`:            `unknown key "step"`,
		`argv: [df, {path: {under: /x, follow: true}}]`:           `unknown key "follow"`,
		`argv: [df, {path: /x}]`:                                  "expected a mapping",
		`argv: [df, ~]`:                                           "argument 1 of argv is empty",
		"argv:\n  - tail\n  -\n  - /x":                            "line 3: argument 1 of argv is empty",
		`argv: df`:                                                "argv must be a list",
		`aprove: true`:                                            `unknown key "aprove"`,
		`argv: [df, {flag: -n, value: }]`:                         "value has no value",
		`argv: [df, {flag: -n, value: ~}]`:                        "value has no value",
		`argv: [df, {enum: [a, ~]}]`:                              "enum has an empty entry",
		`argv: [df, {enum: [a, ""]}]`:                             "enum value is empty",
		`argv: [df, {literal: ""}]`:                               "the argument is empty",
		`argv: [df, ""]`:                                          "the argument is empty",
		`argv: [df, {int: ~}]`:                                    "int has no value",
		`argv: [df, [a, b]]`:                                      "must be a word or a mapping",
		`argv: [df, {flag: -n, value: {bogus: 1}}]`:               `unknown key "bogus"`,
		`argv: [df, {int: {min: x, max: 2}}]`:                     "cannot unmarshal",
	}
	for doc, want := range cases {
		tmpl := Template{Name: "x"}
		err := yaml.Unmarshal([]byte(doc), &tmpl)
		if err == nil {
			err = tmpl.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got  %v\n want …%s…", doc, err, want)
		}
	}

	// Scalars of any type are literal words, exactly as written.
	var tmpl Template
	if err := yaml.Unmarshal([]byte(`argv: [sleep, 5, 1.50, true, "-n"]`), &tmpl); err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, a := range tmpl.Argv {
		words = append(words, a.Literal)
	}
	if !slices.Equal(words, []string{"sleep", "5", "1.50", "true", "-n"}) {
		t.Errorf("literals %q", words)
	}
}

func TestValidate(t *testing.T) {
	lit := func(s string) Arg { return Arg{Literal: s} }
	cases := []struct {
		t    Template
		want string
	}{
		{Template{Argv: []Arg{lit("df")}}, "name is required"},
		{Template{Name: "x"}, "argv must name at least the program"},
		{Template{Name: "x", Argv: []Arg{{Enum: []string{"df"}}}}, "argument 0 must be the program name"},
		{Template{Name: "x", Argv: []Arg{{Literal: "df", Optional: true}}}, "argument 0 must be the program name"},
		{Template{Name: "x", Argv: []Arg{lit("ѕystemctl")}}, "printable ASCII"},
		{Template{Name: "x", Argv: []Arg{lit("my prog")}}, "printable ASCII"},
		{Template{Name: "x", Argv: []Arg{lit("df")}, Access: policy.Admin}, "access must be read or write"},
		{Template{Name: "x", Argv: []Arg{lit("df")}, Access: "root"}, "access must be read or write"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {}}}, "argument 1: the argument is empty"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Literal: "a", Enum: []string{"b"}}}}, "argument 1: needs exactly one"},
		{Template{Name: "x", Argv: []Arg{lit("df"), lit("a"), {Regex: "("}}}, "argument 2: regex \"(\""},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Enum: []string{}}}}, "argument 1: enum needs at least one value"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Enum: []string{"a", ""}}}}, "argument 1: enum value is empty"},
		{Template{Name: "x", Argv: []Arg{lit("df"), lit("a\nb")}}, "argument 1: literal \"a\\nb\" contains a control"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Int: &IntRange{Min: 5, Max: 1}}}}, "argument 1: int: min 5 is greater than max 1"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Path: &PathRule{Under: "var/log"}}}}, "argument 1: path under \"var/log\" must be an absolute, clean path"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Path: &PathRule{Under: "/var/log/"}}}}, "must be an absolute, clean path"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Path: &PathRule{Under: "/var/log/../etc"}}}}, "must be an absolute, clean path"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Flag: "n"}}}, "argument 1: flag \"n\" must start with -"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Flag: "-n", Value: &Arg{Int: &IntRange{}, Optional: true}}}}, "cannot be optional"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Flag: "-n", Value: &Arg{Flag: "-m"}}}}, "cannot be another flag"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Flag: "-n", Value: &Arg{Regex: "["}}}}, "argument 1: value of flag -n: regex"},
		{Template{Name: "x", Argv: []Arg{lit("df"), {Literal: "a", Value: &Arg{Literal: "b"}}}}, "value is only allowed together with flag"},
	}
	for _, c := range cases {
		err := c.t.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v:\n got  %v\n want …%s…", c.t, err, c.want)
		}
		if c.t.validated {
			t.Errorf("%+v: marked valid", c.t)
		}
	}
}

func TestRegexAnchored(t *testing.T) {
	ts := []Template{{Name: "s", Argv: []Arg{{Literal: "systemctl"}, {Literal: "status"}, {Regex: "[a-z]+"}}}}
	if err := ts[0].Validate(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"nginx1", "1nginx", "ng inx", "NGINX"} {
		if _, err := Match([]string{"systemctl", "status", w}, ts); err == nil {
			t.Errorf("%q matched an anchored [a-z]+", w)
		}
	}
	if _, err := Match([]string{"systemctl", "status", "nginx"}, ts); err != nil {
		t.Error(err)
	}
}

func TestPathRuleConfine(t *testing.T) {
	r := &PathRule{Under: "/var/log/app"}
	for _, tc := range []struct{ in, want, err string }{
		{"/var/log/app/a.log", "/var/log/app/a.log", ""},
		{"/var/log/app", "/var/log/app", ""},
		{"/var/log/app/./x//y/../z", "/var/log/app/x/z", ""},
		{"/var/log/app/../../../etc/passwd", "", `resolves to "/etc/passwd"`},
		{"/var/log/app/..", "", `resolves to "/var/log"`},
		{"/var/log/apple", "", "must be a path under /var/log/app"},
		{"var/log/app/a", "", "absolute path"},
		{"../etc/passwd", "", "absolute path"},
		{"", "", "absolute path"},
		{"/var/log/app/a\x00b", "", "must be a path under"},
	} {
		got, err := r.Confine(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Confine(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Confine(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
	root := &PathRule{Under: "/"}
	if got, err := root.Confine("/../etc"); err != nil || got != "/etc" {
		t.Errorf("under /: %q, %v", got, err)
	}
}

func FuzzPathRuleConfine(f *testing.F) {
	for _, s := range []string{"/var/log/app/a", "/var/log/app/../x", "/var/log/apple", "x", "/var/log/app/\x00"} {
		f.Add(s)
	}
	r := &PathRule{Under: "/var/log/app"}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := r.Confine(p)
		if err != nil {
			return
		}
		if path.Clean(got) != got || (got != r.Under && !strings.HasPrefix(got, r.Under+"/")) || strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("Confine(%q) = %q", p, got)
		}
	})
}

func BenchmarkPathRuleConfine(b *testing.B) {
	r := &PathRule{Under: "/var/log/app"}
	in := "/var/log/app/./nginx//../app/2026/12/01/app.log"
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := r.Confine(in); err != nil {
			b.Fatal(err)
		}
	}
}
