package masking

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Byte classes for the ASCII fast path.
const (
	clDigit = 1 << iota
	clUpper
	clLower
	clUnder
	clHex
	clB64URL // [A-Za-z0-9_-]
)

var class [256]uint8

func init() {
	for c := '0'; c <= '9'; c++ {
		class[c] |= clDigit | clHex | clB64URL
	}
	for c := 'A'; c <= 'Z'; c++ {
		class[c] |= clUpper | clB64URL
	}
	for c := 'a'; c <= 'z'; c++ {
		class[c] |= clLower | clB64URL
	}
	for _, c := range "abcdefABCDEF" {
		class[c] |= clHex
	}
	class['_'] |= clUnder | clB64URL
	class['-'] |= clB64URL
}

func isDigit(c byte) bool { return c-'0' < 10 }
func isAlnum(c byte) bool { return class[c]&(clDigit|clUpper|clLower) != 0 }
func isLetter(c byte) bool {
	return class[c]&(clUpper|clLower) != 0
}
func isHex(c byte) bool { return class[c]&clHex != 0 }
func isB64URL(c byte) bool {
	return class[c]&clB64URL != 0
}

// isWordByte reports ASCII word characters; bytes of multi-byte runes are
// judged by wordRune.
func isWordByte(c byte) bool { return wordByte[c] }

// wordByte is isWordByte as a plain table: the scan loop's hottest test.
var wordByte [256]bool

func init() {
	for c := range wordByte {
		wordByte[c] = class[c]&(clDigit|clUpper|clLower|clUnder) != 0
	}
}

func wordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// wordBefore reports whether the character ending at i is a word character.
func wordBefore(s string, i int) bool {
	if i <= 0 {
		return false
	}
	if c := s[i-1]; c < utf8.RuneSelf {
		return isWordByte(c)
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return wordRune(r)
}

// wordAt reports whether the character starting at i is a word character.
func wordAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	if c := s[i]; c < utf8.RuneSelf {
		return isWordByte(c)
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return wordRune(r)
}

// wordEnd returns the end of the word starting at i.
func wordEnd(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if !isWordByte(c) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !wordRune(r) {
			return i
		}
		i += n
	}
	return i
}

// isASCII reports whether s is all ASCII, eight bytes at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if x&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// fold maps one rune of NFKC output to what detectors see: format
// characters (zero-width spaces and joiners, BOM, soft hyphen, bidi
// controls) vanish, Unicode dashes and minus become '-', spaces become ' ',
// and decimal digits of any script become ASCII digits.
func fold(r rune) (rune, bool) {
	if r < utf8.RuneSelf {
		return r, true
	}
	switch {
	case unicode.Is(unicode.Cf, r):
		return 0, false
	case isDash(r):
		return '-', true
	case unicode.IsSpace(r):
		return ' ', true
	case unicode.IsDigit(r):
		return '0' + digitValue(r), true
	}
	return r, true
}

// digitValue finds a decimal digit's value: Unicode lays every decimal
// digit set out as ten consecutive code points from zero, and adjacent
// sets follow each other in tens.
func digitValue(r rune) rune {
	start := r
	for start > 0 && unicode.IsDigit(start-1) && r-start < 100 {
		start--
	}
	return (r - start) % 10
}

// needsFold reports whether normalising a non-ASCII line can change
// what the detectors see: format characters, non-ASCII digits, combining
// marks, characters NFKC rewrites (full-width forms, ligatures, NBSP), and
// Unicode dashes and spaces, these only next to a digit since elsewhere
// (an em dash in prose) they join nothing a detector reads.
func needsFold(s string) bool {
	prevDigit := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			prevDigit = isDigit(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
		case unicode.Is(unicode.Cf, r), unicode.IsDigit(r), unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me):
			return true
		case isDash(r) || unicode.IsSpace(r):
			if prevDigit || i+n < len(s) && nextIsDigit(s[i+n:]) {
				return true
			}
		case compatChanged(s[i:]):
			return true
		}
		prevDigit = false
		i += n
	}
	return false
}

// compatChanged reports whether NFKC rewrites the rune at the start of s
// by more than a canonical (re)composition: its compatibility
// decomposition differs from its canonical one, as for full-width forms,
// ligatures and NBSP, but not for "ü".
func compatChanged(s string) bool {
	kd := norm.NFKD.PropertiesString(s).Decomposition()
	return kd != nil && string(kd) != string(norm.NFD.PropertiesString(s).Decomposition())
}

func isDash(r rune) bool {
	return r >= 0x2010 && r <= 0x2015 || r == 0x2212 || r == 0xFE58 || r == 0xFE63 || r == 0x2043 || r == 0xFF0D
}

func nextIsDigit(s string) bool {
	if s[0] < utf8.RuneSelf {
		return isDigit(s[0])
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsDigit(r)
}

// folded is a normalised view of a line with, for every byte, the span of
// the original it came from, so matches map back to the original text.
type folded struct {
	s      []byte
	starts []int32
	ends   []int32
	it     norm.Iter // reused: it is large, and escapes if declared per call
}

func (f *folded) reset() {
	f.s, f.starts, f.ends = f.s[:0], f.starts[:0], f.ends[:0]
}

// foldString builds the normalised view of s into f. ASCII is copied as
// it is; only runs of multi-byte characters, with the ASCII character
// before them (a combining mark may compose with it), go through NFKC.
func (f *folded) foldString(s string) {
	f.reset()
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] < utf8.RuneSelf {
			j++
		}
		end := j
		if j < len(s) && end > i {
			end--
		}
		for k := i; k < end; k++ {
			f.s = append(f.s, s[k])
			f.starts = append(f.starts, int32(k))
			f.ends = append(f.ends, int32(k+1))
		}
		if end == len(s) {
			break
		}
		m := j
		for m < len(s) && s[m] >= utf8.RuneSelf {
			m++
		}
		f.foldRun(s[end:m], end)
		i = m
	}
}

// foldRun normalises one run that starts at byte off of the line.
func (f *folded) foldRun(s string, off int) {
	it := &f.it
	it.InitString(norm.NFKC, s)
	var buf [utf8.UTFMax]byte
	for !it.Done() {
		p0 := off + it.Pos()
		seg := it.Next()
		p1 := off + it.Pos()
		for len(seg) > 0 {
			r, n := utf8.DecodeRune(seg)
			seg = seg[n:]
			if r == utf8.RuneError && n == 1 {
				// Keep invalid bytes as they were: they match nothing.
				f.push([]byte{0xFF}, p0, p1)
				continue
			}
			fr, keep := fold(r)
			if !keep {
				continue
			}
			m := utf8.EncodeRune(buf[:], fr)
			f.push(buf[:m], p0, p1)
		}
	}
}

func (f *folded) push(b []byte, start, end int) {
	for _, c := range b {
		f.s = append(f.s, c)
		f.starts = append(f.starts, int32(start))
		f.ends = append(f.ends, int32(end))
	}
}
