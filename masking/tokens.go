package masking

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// DefaultEncoding is the BPE used to count tokens: o200k_base, the
// encoding of current OpenAI models, which the offline loader embeds
// (as it does cl100k_base, p50k_base and r50k_base).
const DefaultEncoding = "o200k_base"

// TokenCounter counts tokens with one BPE encoding. It is safe for
// concurrent use.
type TokenCounter struct {
	ent *encEntry
}

var (
	// The loader is process-wide state in tiktoken-go; it is set once,
	// before any encoding loads, so nothing ever reaches for the network.
	loaderOnce sync.Once

	encMu    sync.Mutex
	encCache = map[string]*encEntry{}
)

type encEntry struct {
	name string
	once sync.Once
	// o200k counts o200k_base (tok_o200k.go); enc encodes the others.
	o200k *bpeCounter
	enc   *tiktoken.Tiktoken
	err   error
}

func (e *encEntry) load() {
	e.once.Do(func() {
		if e.name == "o200k_base" {
			// Only the ranks, from the loader's embedded file:
			// tiktoken-go's encoder would also build a decoder, a sorted
			// vocabulary and the regexp, none of which counting needs.
			v, err := readVocab(o200kFile)
			if err == nil {
				e.o200k, err = newBPECounter(v)
			}
			if err != nil {
				e.err = fmt.Errorf("masking: load token encoding %s: %w", e.name, err)
			}
			return
		}
		loaderOnce.Do(func() { tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader()) })
		e.enc, e.err = tiktoken.GetEncoding(e.name)
		if e.err != nil {
			e.err = fmt.Errorf("masking: load token encoding %s: %w", e.name, e.err)
		}
	})
}

// o200kFile is o200k_base's vocabulary in tiktoken-go-loader's embedded
// assets.
const o200kFile = "o200k_base.tiktoken"

// built reports whether the encoder was built.
func (e *encEntry) built() bool { return e.o200k != nil || e.enc != nil }

// tokens returns len(EncodeOrdinary(s)); the encoder is loaded.
func (e *encEntry) tokens(s string) int {
	if e.o200k != nil {
		return e.o200k.countO200k(s)
	}
	return len(e.enc.EncodeOrdinary(s))
}

// NewTokenCounter returns a counter for encoding ("" means
// DefaultEncoding). The encoder is built once per process and encoding, on
// first need: o200k_base parses the embedded vocabulary into its ranks
// (0.09–0.12 s on a 2-core machine, ~5.6 MiB live, 15 MiB allocated while
// building; tiktoken-go's full encoder, still used for the other
// encodings, takes 0.4–0.6 s for o200k_base and keeps ~22 MiB live). Most
// results never need it (FitBound: tokens ≤ bytes), so a gateway that
// never sees a result larger than its budget never pays for it. The first
// count waits for the build; Wait reports a failed build (and forces it).
func NewTokenCounter(encoding string) (*TokenCounter, error) {
	if encoding == "" {
		encoding = DefaultEncoding
	}
	switch encoding {
	case "o200k_base", "cl100k_base", "p50k_base", "r50k_base":
	default:
		return nil, fmt.Errorf("masking: unknown token encoding %q (o200k_base, cl100k_base, p50k_base, r50k_base)", encoding)
	}
	encMu.Lock()
	ent := encCache[encoding]
	if ent == nil {
		ent = &encEntry{name: encoding}
		encCache[encoding] = ent
	}
	encMu.Unlock()
	return &TokenCounter{ent: ent}, nil
}

// Wait blocks until the encoder is built and reports whether that failed.
// A counter whose encoder failed counts every text as over any budget
// (fail closed: results are cut, never passed uncounted).
func (t *TokenCounter) Wait() error {
	t.ent.load()
	return t.ent.err
}

// chunkSize is how much text is encoded at a time. Counting stops after
// the chunk that crosses the limit, so the cost of counting a result is
// bounded by the budget, not by the size of the result.
const chunkSize = 4 << 10

// Count returns the number of tokens in s, or limit+1 as soon as the count
// exceeds limit; a negative limit counts everything. Special-token text
// such as "<|endoftext|>" in untrusted input is counted as ordinary text.
//
// s is encoded in chunks of about 4 KiB, each cut just before a space
// that has a non-space on both sides: no pre-tokenizer piece spans such a
// cut, so the count equals that of encoding s whole. A run of 8 KiB
// without such a space (base64, CJK text) is cut at a rune boundary, where
// the count may differ by a token or two; each such cut adds
// inexactCutMargin, so the count errs high, never low.
func (t *TokenCounter) Count(s string, limit int) int {
	return t.count(s, limit, chunkSize)
}

func (t *TokenCounter) count(s string, limit, chunk int) int {
	if t.Wait() != nil {
		if limit >= 0 {
			return limit + 1
		}
		// No encoder: a byte-level BPE never has more tokens than bytes.
		return len(s)
	}
	total := 0
	for len(s) > 0 {
		n, atSpace := cutPoint(s, chunk)
		if n < len(s) && !atSpace {
			total += inexactCutMargin
		}
		total += t.ent.tokens(s[:n])
		s = s[n:]
		if limit >= 0 && total > limit {
			return limit + 1
		}
	}
	return total
}

// countDetail counts all of s in chunks of about chunk bytes and reports
// whether every cut fell on a space, where the count is exact.
func (t *TokenCounter) countDetail(s string, chunk int) (total int, exact bool) {
	exact = true
	if t.Wait() != nil {
		return len(s), false
	}
	for len(s) > 0 {
		n, atSpace := cutPoint(s, chunk)
		if n < len(s) && !atSpace {
			exact, total = false, total+inexactCutMargin
		}
		total += t.ent.tokens(s[:n])
		s = s[n:]
	}
	return total, exact
}

// inexactCutMargin is added to a count for each cut that does not fall
// on a space, so that a count with such cuts stays an upper bound and a
// budget is never exceeded: splitting a pre-tokenizer piece at a cut was
// measured to change the count by -1 to +2 tokens per cut (1,426 texts of
// 8.2-8.5 KiB with no usable space, against tiktoken-go's whole count).
const inexactCutMargin = 2

// cutPoint returns the length of the next chunk of s, and whether the cut
// is before a space that follows an ASCII non-space.
func cutPoint(s string, chunk int) (int, bool) {
	if len(s) <= chunk {
		return len(s), true
	}
	hi := min(len(s)-1, 2*chunk)
	for k := chunk; k < hi; k++ {
		if s[k] == ' ' && s[k-1] < utf8.RuneSelf && !isSpaceByte(s[k-1]) && !isSpaceByte(s[k+1]) {
			return k, true
		}
	}
	k := min(len(s), 2*chunk)
	for k > chunk && k < len(s) && !utf8.RuneStart(s[k]) {
		k--
	}
	return k, false
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// MaxTokens bounds the tokens of s without counting them: a byte-level
// BPE never makes more tokens than it is given bytes. The encoder reads
// invalid UTF-8 as U+FFFD (3 bytes per invalid byte at most), so such text
// gets three times its length.
func MaxTokens(s string) int {
	if utf8.ValidString(s) {
		return len(s)
	}
	return 3 * len(s)
}

// FitBound is Fit that counts only what it must. Units are counted in
// order, as by Fit, until the tokens counted so far plus MaxTokens of the
// units left are within budget: the rest then fit uncounted. A result
// whose bytes fit the budget is not counted at all, and does not load the
// encoder.
//
// n is the same as Fit's. used is exact (exact is true) when every unit
// was counted, or counting stopped at the budget; otherwise it is an upper
// bound: the tokens counted plus the bytes not counted.
func (t *TokenCounter) FitBound(units []string, budget int) (n, used int, exact bool) {
	// rest is the bytes of the units not yet counted: summing lengths
	// costs nothing, while checking UTF-8 is done only on a tail that
	// already fits by length (at most budget bytes).
	rest := 0
	for _, u := range units {
		rest += len(u)
	}
	shortcut := true
	for i, u := range units {
		if shortcut && used+rest <= budget {
			bound := 0
			for _, v := range units[i:] {
				bound += MaxTokens(v)
			}
			if used+bound <= budget {
				return len(units), used + bound, bound == 0
			}
			shortcut = false // invalid UTF-8 in the tail: count the rest
		}
		left := budget - used
		if left < 0 {
			return i, used, true
		}
		c := t.Count(u, left)
		if c > left {
			return i, used, true
		}
		used += c
		rest -= len(u)
	}
	return len(units), used, true
}

// Fit returns how many of units (rows or lines, already rendered) fit
// within budget tokens, in order, and the tokens they use. It stops
// counting at the budget. Units are counted one by one, which matches
// counting their joined text when they are joined by newlines, give or
// take the newline tokens themselves.
func (t *TokenCounter) Fit(units []string, budget int) (n int, used int) {
	for _, u := range units {
		left := budget - used
		if left < 0 {
			break
		}
		c := t.Count(u, left)
		if c > left {
			break
		}
		used += c
		n++
	}
	return n, used
}
