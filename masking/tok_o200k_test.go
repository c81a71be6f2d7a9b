package masking

import (
	"bufio"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// o200kPattern is o200k_base's split pattern as tiktoken-go v0.1.8 builds
// it (encoding.go); the reference the scanner is checked against. Counts
// are checked against tiktoken-go itself, so a drift here shows up there.
const o200kPattern = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
	`|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
	`|\p{N}{1,3}` +
	`| ?[^\s\p{L}\p{N}]+[\r\n/]*` +
	`|\s*[\r\n]+` +
	`|\s+(?!\S)` +
	`|\s+`

var (
	refOnce sync.Once
	refEnc  map[string]*tiktoken.Tiktoken
	refErr  error
	refRe   = regexp2.MustCompile(o200kPattern, regexp2.None)
)

// refEncoder is tiktoken-go's own encoder for name, the reference every
// count is checked against.
func refEncoder(t testing.TB, name string) *tiktoken.Tiktoken {
	t.Helper()
	refOnce.Do(func() {
		loaderOnce.Do(func() { tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader()) })
		refEnc = map[string]*tiktoken.Tiktoken{}
		for _, n := range []string{"o200k_base", "cl100k_base"} {
			if refEnc[n], refErr = tiktoken.GetEncoding(n); refErr != nil {
				return
			}
		}
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refEnc[name]
}

// refPieces is what tiktoken-go's pre-tokenizer makes of s.
func refPieces(s string) []string {
	var out []string
	m, _ := refRe.FindStringMatch(s)
	for m != nil {
		out = append(out, m.String())
		m, _ = refRe.FindNextMatch(m)
	}
	return out
}

func ourPieces(s string) []string {
	var out []string
	o200kPieces(s, func(p string) { out = append(out, p) })
	return out
}

// o200kSeeds: JSON, CSV, logs, CJK, emoji, combining marks, whitespace
// runs, contractions, digit runs, invalid UTF-8, and the classes' edges.
var o200kSeeds = []string{
	"", "a", " ", "\n", "hello world", "Hello World", "HELLO world", "HTTPServer", "iPhone", "McDonald's",
	"it's they're we'll I'd you've I'm don't", "IT'S THEY'RE WE'LL I'D YOU'VE I'M", "'s 'S 'll 'LL 'Ll 're 'rE",
	"x's", "X'S", "'", "''", "a'", "a're", "a'ree", "a'x", "Kelvin'\u212a", "long s'\u017f", "İstanbul'İ",
	"12345678901234567890", "3.14159", "1,000,000", "٣٤٥٦", "Ⅻ½²", "x = 12345678901234567890;",
	`{"id":1,"name":"Ann","tags":["a","b"],"n":-1.5e10,"ok":true,"x":null}`,
	"id,name,email\n1,Ann,ann@example.com\r\n2,Bob,bob@example.com\r\n",
	"2024-05-01T10:00:00.000Z INFO http method=GET path=/api/v2/orders/17 status=200",
	"日本語のテキスト", "中文文本，没有空格的很长的一句话", "한국어 텍스트", "Ａｙａ　Ｓａｔｏ", "ｏｋ",
	"emoji 😀👍🏽👨‍👩‍👧 flags 🇩🇪🇯🇵", "✓ ✗ → ← ★",
	"e\u0301cole", "\u0301\u0301a", "a\u0301\u0302\u0303", " \u0301", "\u0301", "x\u0301Y", "AB\u0301", "ÀÉÎ",
	"ǅungla ǈ ǋ", "ᾈᾉ", "ʰʱ", "ABʰ", "Aʰb", "ĲĳŉŊ",
	"  a  b\n\nc\t d", "   ", "  \n  ", "\n\n\n", "\r\n\r\n", " \t\n \t", "a   \n   b", "a\u3000\u3000b", "a \u00a0 b",
	"\u2028\u2029\u0085", "end   ", "x\n", "x\n ", "x \n", "\t\tx",
	"!!!", " !!!", "!!!\n\n", "?//\n/", " ?/\r\n/x", "a/b/c", "// comment\n", "<|endoftext|> <|fim_prefix|>",
	"\xff\xfe bad utf8", "a\xffb\xff", "\xc0\x80\xed\xa0\x80", "\xe2\x82", "ok\xf0\x9f",
	"base64: QUJDRA==QUJDRA==QUJDRA==", "AKIAIOSFODNN7EXAMPLE", "Tr0ub4dor&3x", "jane.doe@example.com",
	"\x00\x01\x02\x1f\x7f", "\u200b\u200c\u200d\ufeff", "\U000e0001\U000e0020",
}

// evalSeeds reads the evals' masking corpus: one seed per line.
func evalSeeds(t testing.TB, limit int) []string {
	f, err := os.Open("../evals/masking/testdata/corpus.jsonl")
	if err != nil {
		t.Logf("no evals corpus: %v", err)
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < limit {
		out = append(out, sc.Text())
	}
	return out
}

func checkO200k(t *testing.T, ref *tiktoken.Tiktoken, b *bpeCounter, s string) {
	t.Helper()
	want := refPieces(s)
	got := ourPieces(s)
	if len(got) != len(want) {
		t.Fatalf("%q: pieces %q, regexp2 %q", s, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%q: piece %d = %q, regexp2 %q (all: %q vs %q)", s, i, got[i], want[i], got, want)
		}
	}
	if n, w := b.countO200k(s), len(ref.EncodeOrdinary(s)); n != w {
		t.Fatalf("%q: %d tokens, tiktoken-go %d", s, n, w)
	}
}

func o200kCounter(t testing.TB) *bpeCounter {
	t.Helper()
	return testCounter(t).ent.o200k
}

func TestO200kMatchesTiktoken(t *testing.T) {
	ref := refEncoder(t, "o200k_base")
	b := o200kCounter(t)
	for _, s := range append(o200kSeeds, evalSeeds(t, 5000)...) {
		checkO200k(t, ref, b, s)
	}
	for _, s := range []string{mixedCorpus(50000), strings.Repeat("naïve café — ünïcödé text, 日本語 も ある. ", 200)} {
		checkO200k(t, ref, b, s)
	}
}

func TestO200kPieces(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"hello world", []string{"hello", " world"}},
		{"it's", []string{"it's"}},
		{"IT'S", []string{"IT'S"}},
		{"we'll go", []string{"we'll", " go"}},
		{"HTTPServer", []string{"HTTPServer"}},
		{"12345", []string{"123", "45"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a\n\n  b", []string{"a", "\n\n", " ", " b"}},
		{"x   ", []string{"x", "   "}},
		{" !!\n/x", []string{" !!\n/", "x"}},
		{"e\u0301cole", []string{"e\u0301cole"}},
		{"日本語", []string{"日本語"}},
		{"\xffa", []string{"\ufffda"}},
	}
	for _, c := range cases {
		got := ourPieces(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("pieces(%q) = %q, want %q", c.in, got, c.want)
		}
		if ref := refPieces(c.in); strings.Join(ref, "|") != strings.Join(c.want, "|") {
			t.Errorf("regexp2 pieces(%q) = %q, want %q", c.in, ref, c.want)
		}
	}
}

// FuzzO200kCount: the scanner's pieces are regexp2's, and the count is
// tiktoken-go's EncodeOrdinary length, for any text.
func FuzzO200kCount(f *testing.F) {
	for _, s := range o200kSeeds {
		f.Add(s)
	}
	for _, s := range evalSeeds(f, 300) {
		f.Add(s)
	}
	ref := refEncoder(f, "o200k_base")
	b := o200kCounter(f)
	f.Fuzz(func(t *testing.T, s string) {
		checkO200k(t, ref, b, s)
	})
}

// BenchmarkO200kCount counts whole texts (no budget) with tiktoken-go's
// encoder and with the counter.
func BenchmarkO200kCount(b *testing.B) {
	ref := refEncoder(b, "o200k_base")
	bc := o200kCounter(b)
	texts := map[string]string{
		"mixed4KiB": mixedCorpus(4 << 10),
		"rows":      strings.Repeat(`[1,"Customer 1 Lastname","c***0@example.com","+1-***-***-0182","***-**-7890","**** **** **** 4242"]`+"\n", 40),
		"cjk":       strings.Repeat("日本語のテキスト、中文文本，한국어 텍스트。", 60),
		"base64":    strings.Repeat("QUJDRA1234+/xyzQUJDRA==", 150),
	}
	for name, s := range texts {
		b.Run(name+"/tiktoken", func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				_ = len(ref.EncodeOrdinary(s))
			}
		})
		b.Run(name+"/counter", func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.countO200k(s)
			}
		})
	}
}

// loadRanks makes the same map as tiktoken-go-loader's LoadTiktokenBpe.
func TestLoadRanksMatchesLoader(t *testing.T) {
	for _, file := range []string{"o200k_base.tiktoken", "cl100k_base.tiktoken"} {
		want, err := tiktoken_loader.NewOfflineLoader().LoadTiktokenBpe("https://example.invalid/" + file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := loadRanks(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d ranks, loader %d", file, len(got), len(want))
		}
		for k, v := range want {
			if r, ok := got[k]; !ok || r != v {
				t.Fatalf("%s: rank of %q = %d (%v), loader %d", file, k, r, ok, v)
			}
		}
	}
	if _, err := loadRanks("no-such.tiktoken"); err == nil {
		t.Error("a missing file loaded")
	}
	for _, c := range []struct {
		in string
		n  int
		ok bool
	}{{"0", 0, true}, {"199997", 199997, true}, {"", 0, false}, {"-1", 0, false}, {"1x", 0, false}, {"1234567890", 0, false}} {
		if n, ok := parseRank([]byte(c.in)); n != c.n || ok != c.ok {
			t.Errorf("parseRank(%q) = %d, %v", c.in, n, ok)
		}
	}
}

// The counter's rank table answers as the loader's map does, for every
// token and for strings that are not tokens.
func TestRankTableMatchesMap(t *testing.T) {
	v, err := readVocab(o200kFile)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := newRankTable(v)
	if err != nil {
		t.Fatal(err)
	}
	want, err := loadRanks(o200kFile)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range want {
		if got, ok := tab.get(k); !ok || got != r {
			t.Fatalf("rank of %q = %d, %v; map %d", k, got, ok, r)
		}
		for _, x := range []string{k + "\x00", "\xff" + k, k[:len(k)-1]} {
			wr, wok := want[x]
			if got, ok := tab.get(x); ok != wok || got != wr {
				t.Fatalf("rank of %q = %d, %v; map %d, %v", x, got, ok, wr, wok)
			}
		}
	}
	if _, ok := tab.get(""); ok {
		t.Error("the empty string has a rank")
	}
	// A later duplicate replaces the earlier rank, as in the map.
	dup := &vocab{keys: "abab", ends: []int{2, 4}, ranks: []int{1, 2}}
	if tab, err := newRankTable(dup); err != nil {
		t.Fatal(err)
	} else if r, ok := tab.get("ab"); !ok || r != 2 {
		t.Errorf("duplicate: %d, %v", r, ok)
	}
	if _, err := newRankTable(&vocab{keys: "ab", ends: []int{2}, ranks: []int{1 << 21}}); err == nil {
		t.Error("a rank out of range was accepted")
	}
}
