package masking

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// This file counts o200k_base tokens without tiktoken-go's encoder: the
// same pieces as its pre-tokenizer (a regexp2 pattern, below) found by a
// hand-written scanner, and the same byte-pair merges counted without
// building token slices. The count equals len(EncodeOrdinary(s)) for every
// s; FuzzO200kCount checks both the pieces and the count against
// tiktoken-go.
//
// o200k_base's split pattern, as tiktoken-go v0.1.8 compiles it with
// regexp2 (backtracking, leftmost alternative first):
//
//	1 [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	2 [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	3 \p{N}{1,3}
//	4  ?[^\s\p{L}\p{N}]+[\r\n/]*
//	5 \s*[\r\n]+
//	6 \s+(?!\S)
//	7 \s+
//
// regexp2 reads \s as unicode.IsSpace, \p{..} as the stdlib's unicode
// tables, and (?i:) as comparing unicode.ToLower of the text's rune with
// the pattern's lower-case literal. tiktoken-go matches on []rune(text):
// an invalid UTF-8 byte is one U+FFFD rune.

// Rune classes of the pattern.
const (
	clsUpper  uint8 = 1 << iota // \p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}
	clsLower                    // \p{Ll}\p{Lm}\p{Lo}\p{M}
	clsLetter                   // \p{L}
	clsNumber                   // \p{N}
	clsSpace                    // \s
	clsCRLF                     // \r or \n
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		t[r] = classOf(r)
	}
	return t
}()

func classOf(r rune) uint8 {
	var c uint8
	if unicode.Is(unicode.L, r) {
		c |= clsLetter
		switch {
		case unicode.Is(unicode.Ll, r):
			c |= clsLower
		case unicode.Is(unicode.Lu, r), unicode.Is(unicode.Lt, r):
			c |= clsUpper
		case unicode.Is(unicode.Lm, r), unicode.Is(unicode.Lo, r):
			c |= clsUpper | clsLower
		}
	}
	if unicode.Is(unicode.M, r) {
		c |= clsUpper | clsLower
	}
	if unicode.Is(unicode.N, r) {
		c |= clsNumber
	}
	if unicode.IsSpace(r) {
		c |= clsSpace
	}
	if r == '\r' || r == '\n' {
		c |= clsCRLF
	}
	return c
}

// bmpClass is classOf for the Basic Multilingual Plane (64 KiB), filled
// once by initClasses: a table read instead of several unicode.Is range
// searches per rune.
var (
	bmpClass     [1 << 16]uint8
	bmpClassOnce sync.Once
)

func initClasses() {
	bmpClassOnce.Do(func() {
		for r := range bmpClass {
			bmpClass[r] = classOf(rune(r))
		}
	})
}

// runeClass decodes the rune at the start of s (non-empty, valid UTF-8)
// and returns its class and width. initClasses has run.
func runeClass(s string) (uint8, int) {
	if c := s[0]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, w := utf8.DecodeRuneInString(s)
	return classOfRune(r), w
}

func classOfRune(r rune) uint8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	if r < 1<<16 {
		return bmpClass[r]
	}
	return classOf(r)
}

// isPrefix is [^\r\n\p{L}\p{N}].
func isPrefix(c uint8) bool { return c&(clsCRLF|clsLetter|clsNumber) == 0 }

// isOther is [^\s\p{L}\p{N}].
func isOther(c uint8) bool { return c&(clsSpace|clsLetter|clsNumber) == 0 }

// span returns the end of the run of runes from i that have any of the
// bits in want.
func span(s string, i int, want uint8) int {
	for i < len(s) {
		c, w := runeClass(s[i:])
		if c&want == 0 {
			break
		}
		i += w
	}
	return i
}

// o200kPiece returns the length of the pre-tokenizer piece at the start of
// s: non-empty, valid UTF-8.
func o200kPiece(s string) int {
	c0, w0 := runeClass(s)
	var c1 uint8
	if w0 < len(s) {
		c1, _ = runeClass(s[w0:])
	}
	// 1: prefix? upper* lower+ contraction?
	if isPrefix(c0) && w0 < len(s) {
		if e, ok := lowerBody(s, w0); ok {
			return contraction(s, e)
		}
	}
	if c0&(clsUpper|clsLower) != 0 {
		if e, ok := lowerBody(s, 0); ok {
			return contraction(s, e)
		}
	}
	// 2: prefix? upper+ lower* contraction?
	if isPrefix(c0) && w0 < len(s) && c1&clsUpper != 0 {
		return contraction(s, span(s, span(s, w0, clsUpper), clsLower))
	}
	if c0&clsUpper != 0 {
		return contraction(s, span(s, span(s, 0, clsUpper), clsLower))
	}
	// 3: \p{N}{1,3}
	if c0&clsNumber != 0 {
		i := w0
		for k := 1; k < 3 && i < len(s); k++ {
			c, w := runeClass(s[i:])
			if c&clsNumber == 0 {
				break
			}
			i += w
		}
		return i
	}
	// 4: ' '? other+ [\r\n/]*
	start := -1
	if s[0] == ' ' && w0 < len(s) && isOther(c1) {
		start = w0
	} else if isOther(c0) {
		start = 0
	}
	if start >= 0 {
		i := start
		for i < len(s) {
			c, w := runeClass(s[i:])
			if !isOther(c) {
				break
			}
			i += w
		}
		for i < len(s) && (s[i] == '\r' || s[i] == '\n' || s[i] == '/') {
			i++
		}
		return i
	}
	// 5, 6, 7: whitespace.
	if c0&clsSpace != 0 {
		lastNL := -1 // end of the last \r or \n in the run
		last := 0    // start of the run's last rune
		i := 0
		for i < len(s) {
			c, w := runeClass(s[i:])
			if c&clsSpace == 0 {
				break
			}
			if c&clsCRLF != 0 {
				lastNL = i + w
			}
			last = i
			i += w
		}
		switch {
		case lastNL >= 0: // 5: \s*[\r\n]+
			return lastNL
		case i == len(s): // 6 at the end of the text
			return i
		case last > 0: // 6: all but the space before a non-space
			return last
		default: // 7
			return i
		}
	}
	// Unreachable: every rune is a letter, a number, a space or other.
	return w0
}

// lowerBody matches upper* lower+ at s[i:] (backtracking upper* as the
// regexp does) and returns the end of the match.
func lowerBody(s string, i int) (int, bool) {
	e := span(s, i, clsUpper)
	if e < len(s) {
		if c, _ := runeClass(s[e:]); c&clsLower != 0 {
			return span(s, e, clsLower), true
		}
	}
	// Give back upper runes until one of them is also lower: lower+ then
	// ends right after it (the rune after it is upper-only, or is the
	// rune at e, which is not lower).
	for j := e; j > i; {
		r, w := utf8.DecodeLastRuneInString(s[i:j])
		j -= w
		if classOfRune(r)&clsLower != 0 {
			return j + w, true
		}
	}
	return 0, false
}

// contraction extends a match ending at e by (?i:'s|'t|'re|'ve|'m|'ll|'d).
func contraction(s string, e int) int {
	if e+1 >= len(s) || s[e] != '\'' {
		return e
	}
	r1, w1 := utf8.DecodeRuneInString(s[e+1:])
	switch unicode.ToLower(r1) {
	case 's', 't', 'm', 'd':
		return e + 1 + w1
	case 'r', 'v', 'l':
		want := 'e'
		if unicode.ToLower(r1) == 'l' {
			want = 'l'
		}
		if e+1+w1 < len(s) {
			r2, w2 := utf8.DecodeRuneInString(s[e+1+w1:])
			if unicode.ToLower(r2) == want {
				return e + 1 + w1 + w2
			}
		}
	}
	return e
}

// o200kPieces calls f with each pre-tokenizer piece of s, as tiktoken-go
// finds them: invalid UTF-8 reads as U+FFFD.
func o200kPieces(s string, f func(piece string)) {
	initClasses()
	if !utf8.ValidString(s) {
		s = string([]rune(s))
	}
	for len(s) > 0 {
		n := o200kPiece(s)
		f(s[:n])
		s = s[n:]
	}
}

// bpeCounter counts the tokens of a byte-level BPE with ranks.
type bpeCounter struct {
	ranks *rankTable
	// pair is the rank of every two-byte token, noPair where none: the
	// first round of merges reads it instead of the table.
	pair [1 << 16]int32
}

const noPair = -1

func newBPECounter(v *vocab) (*bpeCounter, error) {
	initClasses()
	t, err := newRankTable(v)
	if err != nil {
		return nil, err
	}
	b := &bpeCounter{ranks: t}
	for i := range b.pair {
		b.pair[i] = noPair
	}
	start := 0
	for i, end := range v.ends {
		if end-start == 2 {
			b.pair[int(v.keys[start])<<8|int(v.keys[start+1])] = int32(v.ranks[i])
		}
		start = end
	}
	return b, nil
}

// countO200k returns len(EncodeOrdinary(s)) for o200k_base.
func (b *bpeCounter) countO200k(s string) int {
	if !utf8.ValidString(s) {
		s = string([]rune(s))
	}
	n := 0
	for len(s) > 0 {
		k := o200kPiece(s)
		n += b.pieceTokens(s[:k])
		s = s[k:]
	}
	return n
}

const noRank = int(^uint(0) >> 1)

// pieceTokens returns the number of tokens tiktoken-go's bytePairEncode
// makes of piece: the same merges, in the same order (lowest rank first,
// leftmost on a tie), counted rather than collected.
func (b *bpeCounter) pieceTokens(piece string) int {
	switch len(piece) {
	case 0, 1: // every byte is a token
		return len(piece)
	case 2:
		if b.pair[int(piece[0])<<8|int(piece[1])] != noPair {
			return 1
		}
		return 2
	}
	if _, ok := b.ranks.get(piece); ok {
		return 1
	}
	// start[i] is where part i begins, rank[i] the rank of merging parts
	// i and i+1 (noRank if none); there are n parts and a sentinel.
	var startBuf, rankBuf [64]int
	var start, rank []int
	if len(piece)+1 <= len(startBuf) {
		start, rank = startBuf[:len(piece)+1], rankBuf[:len(piece)+1]
	} else {
		start, rank = make([]int, len(piece)+1), make([]int, len(piece)+1)
	}
	for i := range start {
		start[i], rank[i] = i, noRank
	}
	m := len(start) // parts + 1
	get := func(i, skip int) int {
		// The whole piece is not a token (looked up above).
		if i+skip+2 < m && (start[i] > 0 || start[i+skip+2] < len(piece)) {
			if r, ok := b.ranks.get(piece[start[i]:start[i+skip+2]]); ok {
				return r
			}
		}
		return noRank
	}
	for i := 0; i < m-2; i++ {
		if r := b.pair[int(piece[i])<<8|int(piece[i+1])]; r != noPair {
			rank[i] = int(r)
		}
	}
	for m > 1 {
		minRank, minIdx := noRank, -1
		for i := 0; i < m-1; i++ {
			if rank[i] < minRank {
				minRank, minIdx = rank[i], i
			}
		}
		if minIdx < 0 {
			break
		}
		i := minIdx
		rank[i] = get(i, 1)
		if i > 0 {
			rank[i-1] = get(i-1, 1)
		}
		copy(start[i+1:m-1], start[i+2:m])
		copy(rank[i+1:m-1], rank[i+2:m])
		m--
	}
	return m - 1
}
