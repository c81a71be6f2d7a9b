package shell

import (
	"errors"
	"slices"
	"testing"
)

var fuzzSeeds = []string{
	"df -h", "systemctl status nginx", `'systemctl' "status" nginx`,
	"tail -n 5 /var/log/app/app.log", "tail -n 5 /var/log/app/sub/../app.log",
	"df -h; rm -rf /tmp/x", "df -h && touch /tmp/x", "df -h || touch /tmp/x",
	"df -h | nc 127.0.0.1 9", "systemctl status nginx$(touch /tmp/x)",
	"systemctl status `touch /tmp/x`", "df -h\ntouch /tmp/x",
	"tail -n 5 /var/log/app/app.log > /tmp/x", "LD_PRELOAD=/tmp/x.so df -h",
	"env sh -c id", "tail -n 5 /var/log/app/../../../etc/shadow",
	"systemctl status $'nginx\\ntouch /tmp/x'", "df -h${IFS}-a", "{df,-h}", "df -h &",
	"tail -n 5 /var/log/app/*", "ѕystemctl status nginx", "df -h -a",
	"tail -n 0 /var/log/app/a.log", "tail -n 5 /var/log/apple/x", "tail -n 5 var/log/app/x",
	`echo "a\"b\\c\$d" 'e f' g"h"'i'`, "df -h # x", "journalctl -u nginx --since 1h",
	"journalctl -u nginx --no-pager", `echo "it's" '$x' "\z"`,
}

// FuzzParseMatch checks that Parse and Match never panic, that every refusal
// is an *Error, and that whatever is accepted is plain printable text that
// survives Quote and a second Parse unchanged, so the remote shell runs what
// was checked.
func FuzzParseMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	var ts []Template
	ts = append(ts, testTemplates(f)...)
	ts = append(ts, fuzzJournalctl(f))
	f.Fuzz(func(t *testing.T, command string) {
		argv, err := Parse(command)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Msg == "" {
				t.Fatalf("Parse(%q): error %T %v is not an *Error with a message", command, err, err)
			}
			return
		}
		if len(argv) == 0 {
			t.Fatalf("Parse(%q) accepted an empty argv", command)
		}
		roundTrip(t, command, argv)

		_, err = Match(argv, ts)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Msg == "" {
				t.Fatalf("Match(%q): error %T %v is not an *Error with a message", argv, err, err)
			}
			return
		}
		// Match may have cleaned paths; the result must still round-trip
		// and match again.
		roundTrip(t, command, argv)
		again := slices.Clone(argv)
		if _, err := Match(again, ts); err != nil || !slices.Equal(again, argv) {
			t.Fatalf("matched argv %q does not match again: %v (%q)", argv, err, again)
		}
	})
}

func roundTrip(t *testing.T, command string, argv []string) {
	t.Helper()
	for _, w := range argv {
		if !printable(w) {
			t.Fatalf("Parse(%q) accepted a control or non-printable character: %q", command, argv)
		}
	}
	q, err := Quote(argv)
	if err != nil {
		t.Fatalf("Quote(%q) from %q: %v", argv, command, err)
	}
	again, err := Parse(q)
	if err != nil {
		t.Fatalf("Parse(Quote(%q)) = Parse(%s): %v", argv, q, err)
	}
	if !slices.Equal(again, argv) {
		t.Fatalf("Parse(Quote(%q)) = Parse(%s) = %q", argv, q, again)
	}
}

func fuzzJournalctl(tb testing.TB) Template {
	t := Template{Name: "unit-logs", Argv: []Arg{
		{Literal: "journalctl"},
		{Flag: "-u", Value: &Arg{Regex: "[a-z0-9@.-]{1,60}"}},
		{Flag: "--since", Value: &Arg{Enum: []string{"1h", "1d"}}, Optional: true},
		{Literal: "--no-pager", Optional: true},
	}}
	if err := t.Validate(); err != nil {
		tb.Fatal(err)
	}
	return t
}

// FuzzQuote checks that any word Quote accepts reads back unchanged, and that
// Quote accepts every printable word.
func FuzzQuote(f *testing.F) {
	for _, w := range awkwardWords {
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, w string) {
		argv := []string{"echo", w}
		q, err := Quote(argv)
		if err != nil {
			if printable(w) {
				t.Fatalf("Quote refused printable word %q: %v", w, err)
			}
			return
		}
		got, err := Parse(q)
		if err != nil || !slices.Equal(got, argv) {
			t.Fatalf("Parse(Quote(%q)) = Parse(%s) = %q, %v", argv, q, got, err)
		}
	})
}

func BenchmarkParseMatch(b *testing.B) {
	ts := testTemplates(b)
	for _, cmd := range []string{
		"df -h",
		"systemctl status nginx",
		"tail -n 5 /var/log/app/app.log",
		"tail -n 5 /var/log/app/../../../etc/shadow",
		"df -h; rm -rf /tmp/x",
	} {
		b.Run(cmd, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if argv, err := Parse(cmd); err == nil {
					_, _ = Match(argv, ts)
				}
			}
		})
	}
}

func BenchmarkQuote(b *testing.B) {
	argv := []string{"tail", "-n", "5", "/var/log/app/my file.log"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Quote(argv); err != nil {
			b.Fatal(err)
		}
	}
}
