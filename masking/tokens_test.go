package masking

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

func testCounter(t testing.TB) *TokenCounter {
	t.Helper()
	tc, err := NewTokenCounter("")
	if err == nil {
		err = tc.Wait()
	}
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// An encoder that failed to build counts every text as over the budget:
// results are cut, never passed uncounted.
func TestTokenCounterFailsClosed(t *testing.T) {
	tc := &TokenCounter{ent: &encEntry{name: "no-such-encoding"}}
	if err := tc.Wait(); err == nil || !strings.Contains(err.Error(), "no-such-encoding") {
		t.Fatalf("Wait = %v", err)
	}
	if got := tc.Count("hello", 100); got != 101 {
		t.Errorf("Count with a budget = %d, want 101 (over the budget)", got)
	}
	if got := tc.Count("hello", -1); got != 5 {
		t.Errorf("Count without a budget = %d, want the byte bound 5", got)
	}
	if n, _ := tc.Fit([]string{"a", "b"}, 10); n != 0 {
		t.Errorf("Fit = %d units, want 0", n)
	}
}

func TestTokenCount(t *testing.T) {
	tc := testCounter(t)
	cases := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello world", 2},
		// Special-token text in untrusted input is ordinary text: no panic,
		// no single special token.
		{"<|endoftext|>", 7},
	}
	for _, c := range cases {
		if got := tc.Count(c.in, -1); got != c.want {
			t.Errorf("Count(%q) = %d, want %d", c.in, got, c.want)
		}
	}
	if got := tc.Count("<|endoftext|><|endofprompt|>", -1); got < 4 {
		t.Errorf("special tokens were not counted as text: %d", got)
	}
}

func TestTokenEncodings(t *testing.T) {
	for _, enc := range []string{"o200k_base", "cl100k_base"} {
		tc, err := NewTokenCounter(enc)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if n := tc.Count("The quick brown fox.", -1); n != 5 {
			t.Errorf("%s: %d tokens", enc, n)
		}
	}
	if _, err := NewTokenCounter("gpt2-ish"); err == nil || !strings.Contains(err.Error(), `unknown token encoding "gpt2-ish"`) {
		t.Errorf("got %v", err)
	}
	a, _ := NewTokenCounter("")
	b, _ := NewTokenCounter(DefaultEncoding)
	if a.ent != b.ent || a.Wait() != nil || !a.ent.built() {
		t.Error("the encoder is built more than once")
	}
}

func TestTokenChunksMatchWhole(t *testing.T) {
	tc := testCounter(t)
	texts := []string{
		mixedCorpus(20000),
		strings.Repeat("word  two   spaces\tand tabs\n\nnew paragraph. ", 300),
		strings.Repeat("naïve café — ünïcödé text, 日本語 も ある. ", 300),
		strings.Repeat("it's they're we'll I'd ", 400),
	}
	for i, s := range texts {
		whole := len(refEncoder(t, DefaultEncoding).EncodeOrdinary(s))
		for _, chunk := range []int{32, 256, chunkSize} {
			n, exact := tc.countDetail(s, chunk)
			if exact && n != whole {
				t.Errorf("text %d chunk %d: %d tokens, whole %d", i, chunk, n, whole)
			}
		}
		if got := tc.Count(s, -1); got != whole {
			t.Errorf("text %d: Count %d, whole %d", i, got, whole)
		}
	}
}

func TestTokenLimit(t *testing.T) {
	tc := testCounter(t)
	s := strings.Repeat("alpha beta gamma delta ", 100000) // 2.3 MB
	if got := tc.Count(s, 100); got != 101 {
		t.Errorf("Count over the limit = %d, want 101", got)
	}
	if got := tc.Count("alpha beta", 2); got != 2 {
		t.Errorf("Count at the limit = %d, want 2", got)
	}
	if got := tc.Count("alpha beta", 0); got != 1 {
		t.Errorf("Count with limit 0 = %d, want 1", got)
	}
	// No spaces at all: cut at rune boundaries, still bounded.
	if got := tc.Count(strings.Repeat("日本", 200000), 50); got != 51 {
		t.Errorf("Count of spaceless text = %d", got)
	}
}

func TestFit(t *testing.T) {
	tc := testCounter(t)
	units := []string{"alpha beta", "gamma delta", "epsilon zeta", strings.Repeat("x ", 1<<20)}
	per := tc.Count(units[0], -1)
	n, used := tc.Fit(units, 2*per+1)
	if n != 2 || used != tc.Count(units[0], -1)+tc.Count(units[1], -1) {
		t.Errorf("Fit = %d, %d", n, used)
	}
	if n, used := tc.Fit(units[:3], 1000); n != 3 || used > 1000 {
		t.Errorf("Fit all = %d, %d", n, used)
	}
	if n, used := tc.Fit(units, 0); n != 0 || used != 0 {
		t.Errorf("Fit zero budget = %d, %d", n, used)
	}
	if n, _ := tc.Fit([]string{"", "a"}, 1); n != 2 {
		t.Errorf("empty unit: %d", n)
	}
}

// failingTransport records that something tried the network.
type failingTransport struct{ calls atomic.Int32 }

func (f *failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return nil, errors.New("network disabled in this test")
}

// TestTokensOffline proves the encoder loads with no network: a child
// process, whose first encoder load happens here, runs with proxies
// pointing at a closed port, an empty tiktoken cache and an HTTP transport
// that fails every request.
func TestTokensOffline(t *testing.T) {
	if os.Getenv("AIRLOCK_TOKENS_OFFLINE_CHILD") == "1" {
		ft := &failingTransport{}
		http.DefaultTransport = ft
		for _, enc := range []string{"o200k_base", "cl100k_base"} {
			tc, err := NewTokenCounter(enc)
			if err != nil {
				t.Fatalf("%s offline: %v", enc, err)
			}
			if n := tc.Count("offline counting works", -1); n < 3 {
				t.Fatalf("%s: %d tokens", enc, n)
			}
		}
		if n := ft.calls.Load(); n != 0 {
			t.Fatalf("%d network requests", n)
		}
		// The trap works: a real attempt fails and is seen.
		if _, err := http.Get("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"); err == nil || ft.calls.Load() != 1 {
			t.Fatalf("the network trap did not catch a request: %v", err)
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestTokensOffline$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"AIRLOCK_TOKENS_OFFLINE_CHILD=1",
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
		"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=",
		"TIKTOKEN_CACHE_DIR="+t.TempDir(), "DATA_GYM_CACHE_DIR="+t.TempDir(),
	)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("offline child failed: %v\n%s", err, out)
	}
}

// FitBound cuts where Fit cuts; what it reports is exact when it says so
// and an upper bound otherwise; a result that fits by its bytes is not
// counted (so it needs no encoder).
func TestFitBound(t *testing.T) {
	tc := testCounter(t)
	row := `[1,"Customer 1 Lastname","c***0@example.com","+1-***-***-0182","***-**-7890"]`
	many := make([]string, 100)
	for i := range many {
		many[i] = row
	}
	sets := map[string][]string{
		"rows":      many,
		"special":   {"<|endoftext|>", "<|endoftext|> <|fim_prefix|>", "x"},
		"cjk":       {"日本語のテキスト", "中文文本，没有空格的很长的一句话", "한국어"},
		"invalid":   {"\xff\xfe\xfd", "a\xffb\xff", "\xc0\x80\xed\xa0\x80", "ok"},
		"empty":     {"", "", ""},
		"long":      {strings.Repeat("word ", 3000), "tail"},
		"base64ish": {strings.Repeat("QUJDRA==", 600)},
	}
	for name, units := range sets {
		all := 0
		for _, u := range units {
			all += tc.Count(u, -1)
		}
		for _, budget := range []int{0, 1, 5, 30, 100, 1000, 2500, 4000, 8000, 20000} {
			wantN, wantUsed := tc.Fit(units, budget)
			n, used, exact := tc.FitBound(units, budget)
			if n != wantN {
				t.Errorf("%s/%d: FitBound keeps %d units, Fit %d", name, budget, n, wantN)
			}
			if exact && used != wantUsed {
				t.Errorf("%s/%d: exact used %d, Fit counts %d", name, budget, used, wantUsed)
			}
			if !exact && (used < wantUsed || used > budget) {
				t.Errorf("%s/%d: bound %d is below the count %d or over the budget", name, budget, used, wantUsed)
			}
			if n == len(units) && wantUsed != all {
				t.Errorf("%s/%d: everything fit but Fit used %d of %d", name, budget, wantUsed, all)
			}
		}
	}
	// What fits by bytes is never counted: a counter without an encoder
	// passes it, and still cuts (fails closed on) whatever needs counting.
	broken := &TokenCounter{ent: &encEntry{name: "no-such-encoding"}}
	if n, used, exact := broken.FitBound([]string{"ab", "cd"}, 4); n != 2 || used != 4 || exact {
		t.Errorf("fits by bytes: n=%d used=%d exact=%v", n, used, exact)
	}
	if n, _, _ := broken.FitBound([]string{"ab", "cde"}, 4); n != 0 {
		t.Errorf("needs counting without an encoder: kept %d units, want 0", n)
	}
	// Invalid UTF-8 is bounded at three tokens a byte.
	if n, _, _ := broken.FitBound([]string{"\xff\xff"}, 5); n != 0 {
		t.Errorf("invalid UTF-8 passed on its length alone")
	}
}

// The encoder is built on first need: a result whose bytes fit the budget
// never builds it (an idle or small-result gateway keeps ~22 MiB less), one
// that does not fit builds it and is counted exactly.
func TestTokenEncoderBuiltOnFirstNeed(t *testing.T) {
	tc := &TokenCounter{ent: &encEntry{name: DefaultEncoding}}
	if n, used, _ := tc.FitBound([]string{"hello world", "abc"}, 100); n != 2 || used != 14 {
		t.Fatalf("FitBound = %d units, %d tokens; want 2, 14 (the byte bound)", n, used)
	}
	if tc.ent.built() || tc.ent.err != nil {
		t.Fatal("a result that fits by bytes built the encoder")
	}
	if n, used, exact := tc.FitBound([]string{"The quick brown fox."}, 10); n != 1 || used != 5 || !exact {
		t.Fatalf("FitBound = %d units, %d tokens, exact %v; want 1, 5, true", n, used, exact)
	}
	if !tc.ent.built() {
		t.Fatal("counting did not build the encoder")
	}
}

// A text with no space to cut at is cut inside pre-tokenizer pieces; the
// count then errs high (inexactCutMargin per such cut), never low, so a
// budget is never exceeded.
func TestInexactCutsCountHigh(t *testing.T) {
	tc := testCounter(t)
	ref := refEncoder(t, "o200k_base")
	rnd := rand.New(rand.NewPCG(7, 12))
	alphabets := []string{
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
		"日本語のテキスト、句読点。漢字かなカナ",
		"!?.,;:-_*#@$%&()[]{}<>|~^'\"",
		"aé'sLLd0١٢٣\u0301ß",
	}
	for i := range 60 {
		runes := []rune(alphabets[i%len(alphabets)])
		var b strings.Builder
		for b.Len() < 9000+rnd.IntN(12000) {
			b.WriteRune(runes[rnd.IntN(len(runes))])
		}
		s := b.String()
		for _, chunk := range []int{chunkSize, 512, 37} {
			got, exact := tc.countDetail(s, chunk)
			want := len(ref.EncodeOrdinary(s))
			if got < want || (exact && got != want) {
				t.Fatalf("chunk %d: counted %d (exact %v), tiktoken-go %d, for %q…", chunk, got, exact, want, s[:min(len(s), 60)])
			}
			if c := tc.count(s, -1, chunk); c != got {
				t.Fatalf("chunk %d: count %d, countDetail %d", chunk, c, got)
			}
		}
	}
}
