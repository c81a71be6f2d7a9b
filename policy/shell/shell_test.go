package shell

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// testTemplates are the templates of the acceptance table: `df -h`,
// `systemctl status <nginx|postgresql>` and
// `tail -n <1..500> <path under /var/log/app>`.
func testTemplates(tb testing.TB) []Template {
	tb.Helper()
	ts := []Template{
		{Name: "disk-usage", Argv: []Arg{{Literal: "df"}, {Literal: "-h"}}},
		{Name: "service-status", Argv: []Arg{{Literal: "systemctl"}, {Literal: "status"}, {Enum: []string{"nginx", "postgresql"}}}},
		{Name: "tail-app-log", Argv: []Arg{
			{Literal: "tail"},
			{Flag: "-n", Value: &Arg{Int: &IntRange{Min: 1, Max: 500}}},
			{Path: &PathRule{Under: "/var/log/app"}},
		}},
	}
	for i := range ts {
		if err := ts[i].Validate(); err != nil {
			tb.Fatal(err)
		}
	}
	return ts
}

// check runs a command through Parse and Match as the SSH tool will.
func check(command string, ts []Template) ([]string, *Template, error) {
	argv, err := Parse(command)
	if err != nil {
		return nil, nil, err
	}
	t, err := Match(argv, ts)
	return argv, t, err
}

func TestRefused(t *testing.T) {
	ts := testTemplates(t)
	cases := []struct {
		cmd  string
		want string // a fragment of the error message
	}{
		// The acceptance table.
		{"df -h; rm -rf /tmp/x", "found `;`"},
		{"df -h && touch /tmp/x", "found `&&`"},
		{"df -h || touch /tmp/x", "found `||`"},
		{"df -h | nc 127.0.0.1 9", "found `|`"},
		{"systemctl status nginx$(touch /tmp/x)", "command substitution"},
		{"systemctl status `touch /tmp/x`", "backticks"},
		{"df -h\ntouch /tmp/x", "line break"},
		{"tail -n 5 /var/log/app/app.log > /tmp/x", "redirections"},
		{"LD_PRELOAD=/tmp/x.so df -h", "variable assignments such as `LD_PRELOAD=…`"},
		{"env sh -c id", `program "env" is not allowed on this connection; allowed programs: df, systemctl, tail`},
		{"tail -n 5 /var/log/app/../../../etc/shadow", `argument 3 must be a path under /var/log/app ("/var/log/app/../../../etc/shadow" resolves to "/etc/shadow")`},
		{"systemctl status $'nginx\\ntouch /tmp/x'", "`$'…'` strings are not allowed"},
		{"df -h${IFS}-a", "parameter expansion"},
		{"{df,-h}", "unquoted `{`"},
		{"df -h &", "background"},
		{"tail -n 5 /var/log/app/*", "glob characters"},
		{"ѕystemctl status nginx", `"\u0455ystemctl" contains non-ASCII`},
		{"df -h -a", `argument 2: option "-a" is not allowed by command "disk-usage"; allowed form: df -h`},
		{"tail -n 0 /var/log/app/a.log", "argument 2 must be an integer between 1 and 500 (the value of -n)"},
		{"tail -n 5 /var/log/apple/x", "argument 3 must be a path under /var/log/app"},
		{"tail -n 5 var/log/app/x", "argument 3 must be an absolute path under /var/log/app"},

		// Command lists, pipelines and background jobs in other spellings.
		{"df -h;", "found `;`"},
		{"df -h ; df -h", "found `;`"},
		{"df -h & df -h", "found `&`"},
		{"df -h |& cat", "found `|&`"},
		{"df -h\r", "line break"},
		{"df -h \\\n-a", "line break"},
		{"! df -h", "`!`"},
		{"df -h # comment", "comments"},
		{"# only a comment", "comments"},
		// Compound commands, keywords and builtins that the parser treats
		// specially.
		{"(df -h)", "subshells"},
		{"{ df -h; }", "command groups"},
		{"f() { df -h; }", "function declarations"},
		{"function f { df; }", "function declarations"},
		{"time df -h", "`time`"},
		{"coproc df -h", "`coproc`"},
		{"declare x=1", "`declare`"},
		{"export X=1", "`export`"},
		{"let x=1", "`let`"},
		{"[[ -f /etc/shadow ]]", "tests"},
		{"((x = 1))", "arithmetic commands"},
		{"if true; then df -h; fi", "control structures"},
		{"for x in a; do df -h; done", "control structures"},
		{"while true; do df -h; done", "control structures"},
		{"case x in x) df;; esac", "control structures"},
		{"X=1", "variable assignments"},
		// Redirections and here-documents.
		{"df -h 2>&1", "redirections"},
		{"df -h &> /tmp/x", "redirections"},
		{"df -h < /etc/shadow", "redirections"},
		{"df -h <<< x", "redirections"},
		{"df -h << EOF", "here-document"},
		{"cat <<EOF\nx\nEOF", "line break"},
		// Expansions.
		{`df "$HOME"`, "parameter expansion"},
		{"df $HOME", "parameter expansion"},
		{`df "-h$"`, "`$` inside double quotes"},
		{"df -h$", "unquoted `$`"},
		{`df "$(id)"`, "command substitution"},
		{"df \"`id`\"", "backticks"},
		{"df $((1+1))", "arithmetic expansion"},
		{"df $[1+1]", "arithmetic expansion"},
		{"df ${X:-$(id)}", "parameter expansion"},
		{"df \"$X\"'a'", "parameter expansion"},
		{"df 'a'$'b'", "`$'…'` strings"},
		{"df 'a\nb'", "line break"},
		{"df \"a\rb\"", "line break"},
		{`df "$((1+1))"`, "arithmetic expansion"},
		{"df <(id)", "process substitution"},
		{"df >(id)", "process substitution"},
		{"df @(x)", "glob patterns"},
		{"df !(x)", "glob patterns"},
		{`df $"x"`, "`$\"…\"` strings are not allowed"},
		{"df ~/x", "unquoted `~`"},
		{"df a=~", "unquoted `~`"},
		{"df a?", "glob characters"},
		{"df [ab]", "glob characters"},
		{"df {a..c}", "unquoted `{`"},
		{`df a\ b`, "backslash escapes"},
		{`df \-h`, "backslash escapes"},
		{"df !x", "unquoted `!`"},
		// Characters that are not plain text.
		{"df\t-h", "tab characters"},
		{"df -h\x00", "NUL bytes"},
		{"df '-h\x00'", "NUL bytes"},
		{"df '\x1b[2J'", "control or non-printable character U+001B"},
		{"df -h\u202e", "U+202E"},
		{"df '\u200b'", "U+200B"},
		{"df \x7f", "U+007F"},
		{"df \u0085", "U+0085"},
		{"df a\u00a0b", "U+00A0"},
		{"df \xff", "not valid UTF-8"},
		{"df \ufffd", "not valid UTF-8"},
		{"", "empty"},
		{"   ", "empty"},
		{strings.Repeat("a", maxCommandBytes+1), "bytes long"},
		// Syntax errors.
		{"df 'unterminated", "not valid shell syntax"},
		{"df )", "not valid shell syntax"},
		// Template mismatches.
		{"df", "argument 1 is missing: expected -h"},
		{"df -a", `argument 1 must be "-h"`},
		{"df -һ", `argument 1 must be "-h"`}, // Cyrillic һ
		{"/bin/df -h", `program "/bin/df" is not allowed`},
		{"df -h ''", `argument 2 ("") is not expected`},
		{"systemctl status sshd", `argument 2 must be one of "nginx", "postgresql"`},
		{"systemctl status ngіnx", `must be one of`}, // Cyrillic і
		{"systemctl restart nginx", `argument 1 must be "status"`},
		{"systemctl status nginx postgresql", "argument 3"},
		{"systemctl status nginx --now", `option "--now" is not allowed`},
		{"tail -n 05 /var/log/app/a.log", "between 1 and 500"},
		{"tail -n +5 /var/log/app/a.log", "between 1 and 500"},
		{"tail -n -5 /var/log/app/a.log", "between 1 and 500"},
		{"tail -n 501 /var/log/app/a.log", "between 1 and 500"},
		{"tail -n 99999999999999999999 /var/log/app/a.log", "between 1 and 500"},
		{"tail -n 5", "argument 3 is missing: expected <path under /var/log/app>"},
		{"tail -n", "argument 2 is missing: expected <integer 1..500> (the value of -n)"},
		{"tail -n5 /var/log/app/a.log", `argument 1 must be "-n"`},
		{"tail /var/log/app/a.log", `argument 1 must be "-n"`},
		{"tail -n 5 /var/log/app/a.log /etc/shadow", "argument 4"},
		{"tail -n 5 //etc/shadow", "under /var/log/app"},
		{"tail -n 5 /var/log/app/a/../../app2/x", `resolves to "/var/log/app2/x"`},
		{"tail -n 5 /var/log/app/..", `resolves to "/var/log"`},
		{"tail -n 5 ./var/log/app/x", "absolute path"},
		{"tail -n 5 ''", "absolute path"},
	}
	for _, c := range cases {
		argv, tmpl, err := check(c.cmd, ts)
		if err == nil {
			t.Errorf("%q: accepted as %q by template %q", c.cmd, argv, tmpl.Name)
			continue
		}
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("%q: error %T is not *Error: %v", c.cmd, err, err)
			continue
		}
		if !strings.Contains(se.Msg, c.want) {
			t.Errorf("%q:\n got  %s\n want …%s…", c.cmd, se.Msg, c.want)
		}
	}
}

func TestAccepted(t *testing.T) {
	ts := testTemplates(t)
	cases := []struct {
		cmd      string
		template string
		argv     []string // after Match: paths cleaned
		quoted   string
	}{
		{"df -h", "disk-usage", []string{"df", "-h"}, "df -h"},
		{"  df   -h  ", "disk-usage", []string{"df", "-h"}, "df -h"},
		{"systemctl status nginx", "service-status", []string{"systemctl", "status", "nginx"}, "systemctl status nginx"},
		{`'systemctl' "status" nginx`, "service-status", []string{"systemctl", "status", "nginx"}, "systemctl status nginx"},
		{`sys'temctl' st"atus" 'post'gres"ql"`, "service-status", []string{"systemctl", "status", "postgresql"}, "systemctl status postgresql"},
		{"tail -n 5 /var/log/app/app.log", "tail-app-log", []string{"tail", "-n", "5", "/var/log/app/app.log"}, "tail -n 5 /var/log/app/app.log"},
		{"tail -n 500 /var/log/app/sub/../app.log", "tail-app-log", []string{"tail", "-n", "500", "/var/log/app/app.log"}, "tail -n 500 /var/log/app/app.log"},
		{"tail -n 1 /var/log/app//x/./y/", "tail-app-log", []string{"tail", "-n", "1", "/var/log/app/x/y"}, "tail -n 1 /var/log/app/x/y"},
		{"tail -n 5 '/var/log/app/my file;rm -rf x.log'", "tail-app-log", []string{"tail", "-n", "5", "/var/log/app/my file;rm -rf x.log"}, "tail -n 5 '/var/log/app/my file;rm -rf x.log'"},
		{"tail -n 5 /var/log/app", "tail-app-log", []string{"tail", "-n", "5", "/var/log/app"}, "tail -n 5 /var/log/app"},
	}
	for _, c := range cases {
		argv, tmpl, err := check(c.cmd, ts)
		if err != nil {
			t.Errorf("%q: refused: %v", c.cmd, err)
			continue
		}
		if tmpl.Name != c.template {
			t.Errorf("%q: matched %q, want %q", c.cmd, tmpl.Name, c.template)
		}
		if !slices.Equal(argv, c.argv) {
			t.Errorf("%q: argv %q, want %q", c.cmd, argv, c.argv)
		}
		q, err := Quote(argv)
		if err != nil {
			t.Errorf("%q: Quote: %v", c.cmd, err)
			continue
		}
		if q != c.quoted {
			t.Errorf("%q: quoted as %s, want %s", c.cmd, q, c.quoted)
		}
	}
}

func TestParseWords(t *testing.T) {
	cases := []struct {
		cmd  string
		argv []string
	}{
		{`echo 'a b' "c\"d" e'f'"g"`, []string{"echo", "a b", `c"d`, "efg"}},
		{`echo "\$x" "a\\b" "a\zb" "\` + "`" + `"`, []string{"echo", "$x", `a\b`, `a\zb`, "`"}},
		{`echo '$x' '*' '{a,b}' '~' '\' '!' "it's" "#"`, []string{"echo", "$x", "*", "{a,b}", "~", `\`, "!", "it's", "#"}},
		{`echo a#b a} a] a^ a% a=b -- - ''`, []string{"echo", "a#b", "a}", "a]", "a^", "a%", "a=b", "--", "-", ""}},
		{`echo ünïcödé '日本 語'`, []string{"echo", "ünïcödé", "日本 語"}},
		{`'time' df`, []string{"time", "df"}},
		{`'declare' x=1`, []string{"declare", "x=1"}},
		{`"LD_PRELOAD=x" df`, []string{"LD_PRELOAD=x", "df"}},
		{`echo "a b"c'd e'`, []string{"echo", "a bcd e"}},
	}
	for _, c := range cases {
		argv, err := Parse(c.cmd)
		if err != nil {
			t.Errorf("%q: %v", c.cmd, err)
			continue
		}
		if !slices.Equal(argv, c.argv) {
			t.Errorf("%q: argv %q, want %q", c.cmd, argv, c.argv)
		}
	}
}

func TestErrorPosition(t *testing.T) {
	_, err := Parse("df -h; id")
	var se *Error
	if !errors.As(err, &se) || se.Position != 6 || se.Arg != -1 {
		t.Fatalf("got %#v, want position 6 and no argument", err)
	}
	_, err = Parse("df -h $X")
	if !errors.As(err, &se) || se.Position != 7 || se.Arg != 2 {
		t.Fatalf("got %#v, want position 7, argument 2", err)
	}
	_, err = Match([]string{"tail", "-n", "0", "/var/log/app/x"}, testTemplates(t))
	if !errors.As(err, &se) || se.Arg != 2 {
		t.Fatalf("got %#v, want argument 2", err)
	}
}
