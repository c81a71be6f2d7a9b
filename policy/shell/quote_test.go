package shell

import (
	"slices"
	"strings"
	"testing"
)

// awkwardWords are words that mean something to a shell, or look as if they
// might.
var awkwardWords = []string{
	"", " ", "a b", "  two  spaces ", "it's", `"`, `'`, `''`, `\`, `\\n`, `a\$b'c`,
	"$HOME", "${IFS}", "$(id)", "`id`", "$'x'", "*", "?", "[a]", "{a,b}", "{1..3}",
	"~", "~root", "a=~", "#x", "a#b", "!", "!x", "!(x)", "@(x)", "-n", "--", "-",
	"=", "a=b", "LD_PRELOAD=x", "x;y", "a|b", "a&b", "a&&b", "<", ">", ">>", "(", ")",
	"}", "]", "^", "%", "a,b", "ünïcödé", "日本語", "emoji 🎉", "ѕystemctl",
	"time", "coproc", "declare", "export", "let", "if", "then", "{", "[[", "function",
	"'\"'\"", `"'$x'"`, "a\"b'c`d$e\\f!g", strings.Repeat("x'", 50),
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, w := range awkwardWords {
		for _, argv := range [][]string{{w}, {"echo", w}, {"echo", w, w + w}} {
			if argv[0] == "" || argv[0] == " " {
				// Parse finds no program in a blank first word; that is
				// covered by TestQuoteEmptyProgram.
				continue
			}
			q, err := Quote(argv)
			if err != nil {
				t.Errorf("Quote(%q): %v", argv, err)
				continue
			}
			got, err := Parse(q)
			if err != nil {
				t.Errorf("Parse(Quote(%q)) = Parse(%s): %v", argv, q, err)
				continue
			}
			if !slices.Equal(got, argv) {
				t.Errorf("Parse(Quote(%q)) = Parse(%s) = %q", argv, q, got)
			}
		}
	}
}

func TestQuoteEmptyProgram(t *testing.T) {
	q, err := Quote([]string{"", "x"})
	if err != nil || q != "'' x" {
		t.Fatalf("got %s, %v", q, err)
	}
	got, err := Parse(q)
	if err != nil || !slices.Equal(got, []string{"", "x"}) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestQuoteForm(t *testing.T) {
	cases := []struct {
		argv []string
		want string
	}{
		{[]string{"tail", "-n", "5", "/var/log/app/app.log"}, "tail -n 5 /var/log/app/app.log"},
		{[]string{"echo", "a b", "", "x;id"}, "echo 'a b' '' 'x;id'"},
		{[]string{"echo", "it's"}, `echo "it's"`},
		{[]string{"echo", `it's $HOME`}, `echo "it's \$HOME"`},
		{[]string{"echo", "!", "a}", "ü", "a^b"}, "echo '!' 'a}' 'ü' 'a^b'"},
		{[]string{"time", "x"}, "'time' x"},
		{[]string{"declare", "declare"}, "'declare' declare"},
		{[]string{"echo", "time"}, "echo 'time'"},
		{[]string{"a-z_A.Z/0:9,+@"}, "a-z_A.Z/0:9,+@"},
		{[]string{"date", "+%Y"}, "date '+%Y'"},
	}
	for _, c := range cases {
		got, err := Quote(c.argv)
		if err != nil || got != c.want {
			t.Errorf("Quote(%q) = %s, %v; want %s", c.argv, got, err, c.want)
		}
	}
}

func TestQuoteRefuses(t *testing.T) {
	for _, w := range []string{"a\x00b", "a\nb", "\t", "\r", "\x1b", "\u200b", "\u202e", "\u00a0", "\u3000", "\xff", "\ufffd"} {
		if q, err := Quote([]string{"echo", w}); err == nil {
			t.Errorf("Quote(%q) = %s, want an error", w, q)
		}
	}
	if _, err := Quote(nil); err == nil {
		t.Error("Quote(nil) succeeded")
	}
}
