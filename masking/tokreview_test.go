package masking

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/pkoukk/tiktoken-go"
)

// Adversarial review of the o200k_base scanner and counter against
// tiktoken-go (regexp2). The fast table runs always; the exhaustive
// single-rune sweeps and the randomized loop are slow and run only when
// asked:
//
//	AIRLOCK_TOKREVIEW_SWEEP=1       every code point in many contexts (minutes)
//	AIRLOCK_TOKREVIEW_RANDOM=5m     randomized differential loop for that long

// reviewCheck compares pieces and counts; it reports instead of stopping.
func reviewCheck(t *testing.T, b *bpeCounter, s string) bool {
	t.Helper()
	ref := refEncoder(t, "o200k_base")
	want := refPieces(s)
	got := ourPieces(s)
	if strings.Join(got, "\x00|") != strings.Join(want, "\x00|") || len(got) != len(want) {
		t.Errorf("%q: pieces %q, regexp2 %q", s, got, want)
		return false
	}
	if n, w := b.countO200k(s), len(ref.EncodeOrdinary(s)); n != w {
		t.Errorf("%q: %d tokens, tiktoken-go %d", s, n, w)
		return false
	}
	return true
}

// reviewMismatch says how s's pieces or count differ from regexp2's and
// tiktoken-go's, or "" when they agree; safe for concurrent use.
func reviewMismatch(b *bpeCounter, ref *tiktoken.Tiktoken, s string) string {
	want, got := refPieces(s), ourPieces(s)
	if !slices.Equal(got, want) {
		return fmt.Sprintf("%q: pieces %q, regexp2 %q", s, got, want)
	}
	if n, wn := b.countO200k(s), len(ref.EncodeOrdinary(s)); n != wn {
		return fmt.Sprintf("%q: %d tokens, tiktoken-go %d", s, n, wn)
	}
	return ""
}

// Interesting runes: every class edge of the pattern.
var reviewRunes = []rune{
	'a', 'z', 'A', 'Z', 's', 'S', 't', 'T', 'r', 'R', 'e', 'E', 'v', 'V', 'm', 'M', 'l', 'L', 'd', 'D', 'x',
	'0', '9', '\'', '/', '!', '.', ',', '-', '_', '"', ' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', 0,
	0x1c, 0x1f, 0x7f, 0x85, 0xa0, 0x1680, 0x180e, 0x2000, 0x200a, 0x200b, 0x200c, 0x200d, 0x2028, 0x2029,
	0x202f, 0x205f, 0x3000, 0xfeff, 0x2019, 0x2018, 0x02bc, // apostrophe look-alikes
	0x0301, 0x0345, 0x0903, 0x20dd, 0x1ab0, // Mn (0345 is Other_Lowercase), Mc, Me
	0x01c5, 0x01c8, 0x1f88, // Lt
	0x02b0, 0x3005, 0xff70, // Lm
	0x05d0, 0x4e00, 0xac00, 0x3042, 0x00aa, 0x00ba, // Lo (ª º are Lo)
	0x00b5, 0x00df, 0x0131, 0x017f, 0x212a, 0x0130, 0x212b, 0x1e9e, 0x03a3, 0x03c2, // case oddities
	0x2160, 0x2170, 0x00b2, 0x00bd, 0x0663, 0x0966, 0xff11, 0x1d7ce, 0x10107, // N: Nl, No, Nd
	0x1f600, 0x1f3fd, 0xfe0f, 0x1f1e9, 0xe0001, 0xe0020, 0x10ffff, 0xfffd, 0xfffe, 0xe000,
	0x1d400, 0x1d41a, 0x10400, 0x10428, 0x16e40, 0x1e900, // astral Lu/Ll
	0x0378, 0x0e33, 0x1885, 0x2e2f, 0xa9e6, // unassigned, Lo/Mn edge (0e33 Lo), 2e2f Lm
}

var reviewBytes = []string{"\xff", "\x80", "\xc0", "\xe2\x82", "\xed\xa0\x80", "\xf0\x9f", "\xf4\x90\x80\x80"}

func randReviewString(r *rand.Rand, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		switch k := r.IntN(20); {
		case k == 0:
			sb.WriteString(reviewBytes[r.IntN(len(reviewBytes))])
		case k == 1:
			sb.WriteRune(rune(r.IntN(0x110000)))
		case k == 2:
			sb.WriteString([]string{"'s", "'S", "'ll", "'LL", "'lL", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'d", "'D", "'t", "'T", "'l", "'r", "'v"}[r.IntN(19)])
		case k == 3:
			sb.WriteString(strings.Repeat(string(reviewRunes[r.IntN(len(reviewRunes))]), 1+r.IntN(6)))
		default:
			sb.WriteRune(reviewRunes[r.IntN(len(reviewRunes))])
		}
	}
	return sb.String()
}

func TestTokReviewTable(t *testing.T) {
	b := o200kCounter(t)
	var cases []string
	ws := []string{" ", "\t", "\n", "\r", "\r\n", "\v", "\f", "\u0085", "\u00a0", "\u1680", "\u2000", "\u200a",
		"\u2028", "\u2029", "\u202f", "\u205f", "\u3000"}
	nonWS := []string{"\u180e", "\u200b", "\ufeff", "\x1c", "\x00"}
	follow := []string{"", "a", "A", "1", "!", "\u0301", "'s", "\u4e00", "\xff"}
	for _, w1 := range append(ws, nonWS...) {
		for _, w2 := range ws {
			for _, f := range follow {
				cases = append(cases, w1+w2+f, "x"+w1+w2+f, w2+w1+w2+f, "!"+w1+f, w1+w1+w1+f)
			}
		}
	}
	for _, c := range []string{"'s", "'S", "'ll", "'LL", "'Ll", "'lL", "'re", "'Re", "'RE", "'rE", "'ve", "'VE", "'m", "'M",
		"'d", "'D", "'t", "'T", "'l", "'r", "'v", "'", "''s", "'\u017f", "'\u212a", "\u2019s", "'\u0130", "'s'", "'ss"} {
		for _, pre := range []string{"", "a", "A", "ǅ", "ʰ", "\u0301", "a\u0301", "AB", " a", "!a", "1", " ", "\u4e00"} {
			cases = append(cases, pre+c, pre+c+"x", pre+c+" ", pre+c+"\n")
		}
	}
	for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 100, 1001} {
		d := strings.Repeat("7", n)
		cases = append(cases, d, "a"+d, d+"a", " "+d, d+"\u0301", "\u0663"+d+"\u00b2", d+"\u2160"+d)
	}
	for _, n := range []int{63, 64, 65, 127, 128, 129, 1000, 10000} {
		cases = append(cases, strings.Repeat("a", n), strings.Repeat("A", n)+"b", strings.Repeat("ab", n/2),
			strings.Repeat("é", n/2), strings.Repeat("\u4e00", n/3), strings.Repeat("!", n), strings.Repeat(" ", n)+"x",
			strings.Repeat("\xff", n), strings.Repeat("\u0301", n))
	}
	cases = append(cases,
		"ABc", "ABʰ", "ABʰC", "Aʰ", "ʰA", "\u0301A", "\u0301AB", "!\u0301A", " \u0301", "\u0301 ", "1\u0301", "\u01c5", "\u01c5a", "a\u01c5",
		"A\u01c5\u01c5b", "\u00aaA", "A\u00aa", "ĳĲ", "\U0001d400\U0001d41a", "\u2160a", "a\u2160", "x\x00y", "\x00\x00",
		"a\r\n\r\n b", "a \r\n", "  \r\n  \r\n  x", "end \t ", "\n\n\n ", " \u0085x", "\u0085\u0085x", "\u00a0\u00a0x")
	failed := 0
	for _, s := range cases {
		if !reviewCheck(t, b, s) {
			if failed++; failed > 20 {
				t.Fatal("too many")
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	// Long single pieces: the merge loop past its 64-entry stack buffers.
	for _, alpha := range []string{"abcdefghijklmnopqrstuvwxyz", "etaoinshrdlu", "éèàçüöß", "日本語中文字", "!@#$%^&*()[]{}<>/\\|~"} {
		ar := []rune(alpha)
		for i := 0; i < 40; i++ {
			var sb strings.Builder
			for n := 20 + r.IntN(400); n > 0; n-- {
				sb.WriteRune(ar[r.IntN(len(ar))])
			}
			cases = append(cases, sb.String(), " "+sb.String())
		}
	}
	for _, s := range cases[len(cases)-400:] {
		if !reviewCheck(t, b, s) {
			failed++
		}
	}
	for i := 0; i < 3000; i++ {
		s := randReviewString(r, 1+r.IntN(40))
		if !reviewCheck(t, b, s) {
			if failed++; failed > 20 {
				t.Fatal("too many")
			}
		}
	}
}

// The classes the scanner reads, rune by rune, equal regexp2's classes.
func TestTokReviewClassesSweep(t *testing.T) {
	if os.Getenv("AIRLOCK_TOKREVIEW_SWEEP") == "" {
		t.Skip("set AIRLOCK_TOKREVIEW_SWEEP=1")
	}
	initClasses()
	classes := []struct {
		re  *regexp2.Regexp
		bit uint8
		neg bool
	}{
		{regexp2.MustCompile(`^[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]$`, regexp2.None), clsUpper, false},
		{regexp2.MustCompile(`^[\p{Ll}\p{Lm}\p{Lo}\p{M}]$`, regexp2.None), clsLower, false},
		{regexp2.MustCompile(`^\p{L}$`, regexp2.None), clsLetter, false},
		{regexp2.MustCompile(`^\p{N}$`, regexp2.None), clsNumber, false},
		{regexp2.MustCompile(`^\s$`, regexp2.None), clsSpace, false},
		{regexp2.MustCompile(`^\S$`, regexp2.None), clsSpace, true},
		{regexp2.MustCompile(`^[^\r\n\p{L}\p{N}]$`, regexp2.None), clsCRLF | clsLetter | clsNumber, true},
		{regexp2.MustCompile(`^[^\s\p{L}\p{N}]$`, regexp2.None), clsSpace | clsLetter | clsNumber, true},
	}
	hits := make([]int, len(classes))
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		c := classOfRune(r)
		for i, cl := range classes {
			m, err := cl.re.MatchRunes([]rune{r})
			if err != nil {
				t.Fatal(err)
			}
			if m {
				hits[i]++
			}
			ours := c&cl.bit != 0
			if cl.neg {
				ours = c&cl.bit == 0
			}
			if m != ours {
				t.Errorf("U+%04X class %d: regexp2 %v, ours %v", r, i, m, ours)
			}
		}
	}
	t.Logf("code points in each class: %v", hits)
}

// Every code point alone and in contexts: pieces and counts.
func TestTokReviewRuneSweep(t *testing.T) {
	if os.Getenv("AIRLOCK_TOKREVIEW_SWEEP") == "" {
		t.Skip("set AIRLOCK_TOKREVIEW_SWEEP=1")
	}
	b := o200kCounter(t)
	ref := refEncoder(t, "o200k_base")
	contexts := []string{"%s", "a%s", "%sa", " %s", "1%s2", "'%s", "%s's", "\n%s", "%s\u0301", "\u0301%s",
		"A%sb", "%s%s", " %sx", "x'%s", "x'%se", "x'%sl", "%s%s%s ", "  %s", "%s  x", "%s\n", "!%s", "%s!", "A%s",
		"%sA", "ab%sAB", "%s\u0301\u0301a", " \u0301%s",
		"x'l%s", "x'r%s", "x'v%s", "%s'S", "%s'LL", "\t%s\tx", " %s\n", "\r%s\n", "%s \u3000x", "7%s77"}
	if c := os.Getenv("AIRLOCK_TOKREVIEW_CONTEXTS"); c != "" {
		contexts = strings.Split(c, ",")
	}
	var bad atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := rune(w); r <= utf8.MaxRune; r += rune(workers) {
				if r >= 0xd800 && r <= 0xdfff {
					continue
				}
				if r&0x1ffff == 0 {
					t.Logf("U+%04X after %v", r, time.Since(start))
				}
				rs := string(r)
				for _, c := range contexts {
					s := strings.ReplaceAll(c, "%s", rs)
					if m := reviewMismatch(b, ref, s); m != "" && bad.Add(1) <= 50 {
						mu.Lock()
						t.Error(m)
						mu.Unlock()
					}
				}
			}
		}(w)
	}
	wg.Wait()
	t.Logf("%d contexts x 0x110000 runes in %v, %d mismatches", len(contexts), time.Since(start), bad.Load())
}

// Randomized differential loop, including Count's chunking.
func TestTokReviewRandom(t *testing.T) {
	d, _ := time.ParseDuration(os.Getenv("AIRLOCK_TOKREVIEW_RANDOM"))
	if d <= 0 {
		t.Skip("set AIRLOCK_TOKREVIEW_RANDOM=<duration>")
	}
	b := o200kCounter(t)
	tc := testCounter(t)
	ref := refEncoder(t, "o200k_base")
	deadline := time.Now().Add(d)
	var bad, runs, chunks, inexact atomic.Int64
	var maxOver, maxUnder int // inexact cuts: Count - EncodeOrdinary
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			for time.Now().Before(deadline) {
				var s string
				switch r.IntN(10) {
				case 0: // random bytes
					p := make([]byte, r.IntN(64))
					for i := range p {
						p[i] = byte(r.IntN(256))
					}
					s = string(p)
				case 1: // long text with spaces, for the 4 KiB chunking (small chunk too)
					var sb strings.Builder
					for sb.Len() < 9000+r.IntN(9000) {
						sb.WriteString(randReviewString(r, 1+r.IntN(12)))
						if r.IntN(3) > 0 {
							sb.WriteByte(' ')
						}
					}
					s = sb.String()
					chunk := []int{chunkSize, 64, 100, 7}[r.IntN(4)]
					got, exact := tc.countDetail(s, chunk)
					want := len(ref.EncodeOrdinary(s))
					chunks.Add(1)
					if !exact {
						inexact.Add(1)
					}
					if !exact {
						mu.Lock()
						if d := got - want; d > maxOver {
							maxOver = d
						} else if d < maxUnder {
							maxUnder = d
						}
						mu.Unlock()
					}
					if exact && got != want && bad.Add(1) <= 20 {
						mu.Lock()
						t.Errorf("chunk %d exact but %d tokens, tiktoken %d: %q", chunk, got, want, s)
						mu.Unlock()
					}
				default:
					s = randReviewString(r, 1+r.IntN(60))
				}
				runs.Add(1)
				if m := reviewMismatch(b, ref, s); m != "" && bad.Add(1) <= 20 {
					mu.Lock()
					t.Error(m)
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	t.Logf("%d random inputs (%d chunked, %d with an inexact cut: count off by %d..%d), %d mismatches",
		runs.Load(), chunks.Load(), inexact.Load(), maxUnder, maxOver, bad.Load())
}
