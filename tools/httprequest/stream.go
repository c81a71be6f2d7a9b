package httprequest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy/httpguard"
	"github.com/airlockhq/airlock/tools"
)

// Bodies up to streamAbove bytes are read whole, decoded and handed to the
// pipeline to mask and cap, as they always were. A longer body (allowed
// by a max_response_bytes above it) is masked as it is read, in bounded
// memory: credentials scrubbed, then the streaming masker (JSON value by
// value, other text in chunks of lines), and only what the token budget
// can carry is kept — at most maxShown bytes; the rest is read, masked and
// counted, not kept.
const (
	streamAbove = 4 << 20
	maxShown    = 1 << 20
)

// shownFor is how much of a streamed body's masked text is kept for the
// token cut: a byte-level BPE has at least one byte per token, and text
// rarely has more than eight, so eight bytes a token (and 64 KiB) fill
// the budget without holding the body.
func shownFor(sh *tools.Shaping) int {
	if sh.Tokens == nil || sh.Budget <= 0 {
		return maxShown
	}
	return min(maxShown, 64<<10+8*sh.Budget)
}

// headChunk is the size of the pieces a body's head is read in: a body
// that turns out to be long is streamed from them without their ever
// being copied into one buffer (a growing buffer leaves its old copies
// behind).
const headChunk = 64 << 10

// readHead reads up to limit bytes of r in pieces; size is the body's
// announced length (-1 when unknown).
func readHead(r io.Reader, limit int, size int64) ([][]byte, int, error) {
	var head [][]byte
	n := 0
	for n < limit {
		c := min(headChunk, limit-n)
		if size >= 0 && size < int64(limit) {
			c = min(c, max(int(size)-n, 0)+1) // one byte past the announced end, to see EOF
		}
		b := make([]byte, c)
		k, err := io.ReadFull(r, b)
		if k > 0 {
			head = append(head, b[:k])
			n += k
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return head, n, nil
		}
		if err != nil {
			return head, n, err
		}
	}
	return head, n, nil
}

// chunksReader reads pieces in order and lets each go once read.
type chunksReader struct{ chunks [][]byte }

func (c *chunksReader) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks[0] = nil
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	k := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][k:]
	return k, nil
}

// bodySource reads a body up to the connection's cap and says how it
// ended. A read error ends it like EOF: what was read is still masked
// and shown, marked truncated.
type bodySource struct {
	ctx    context.Context
	r      io.Reader
	left   int
	n      int
	reason string // why the body is truncated; "" when it is whole
	peeked bool
}

func (b *bodySource) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if !b.peeked {
			b.peeked = true
			var one [1]byte
			if k, _ := io.ReadFull(b.r, one[:]); k > 0 {
				b.reason = truncatedCap
			}
		}
		return 0, io.EOF
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	k, err := b.r.Read(p)
	b.n += k
	b.left -= k
	if err != nil && err != io.EOF {
		b.reason = truncatedCut
		if errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
			b.reason = truncatedTimeout
		}
		b.left = 0
		b.peeked = true
		return k, io.EOF
	}
	return k, err
}

// scrubChunk is how much body the credential scrubber reads at a time.
const scrubChunk = 64 << 10

// scrubReader scrubs the connection's credentials from a stream. It
// scrubs in chunks cut after a line end, else after a space, tab, quote
// or angle bracket (no encoded run spans one), and never inside a
// verbatim or directly encoded form of a credential: a cut that would
// split one moves to before it, so the whole occurrence is scrubbed with
// the next chunk.
type scrubReader struct {
	s       *scrubber
	needles [][]byte
	maxLen  int
	src     io.Reader
	chunk   int
	buf     []byte // read, not yet scrubbed
	out     []byte // scrubbed, not yet returned
	eof     bool
	// cutShort reports, at the end, that the body was truncated: a
	// credential may then be cut short at its very end.
	cutShort func() bool
}

func newScrubReader(s *scrubber, src io.Reader, chunk int, cutShort func() bool) *scrubReader {
	r := &scrubReader{s: s, src: src, chunk: chunk, cutShort: cutShort}
	for _, n := range s.needles {
		r.needles = append(r.needles, []byte(n))
		r.maxLen = max(r.maxLen, len(n))
	}
	return r
}

func (r *scrubReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.eof && len(r.buf) == 0 {
			return 0, io.EOF
		}
		r.fill()
	}
	k := copy(p, r.out)
	r.out = r.out[k:]
	return k, nil
}

func (r *scrubReader) fill() {
	want := r.chunk + r.maxLen
	for {
		for !r.eof && len(r.buf) < want {
			if cap(r.buf) < want {
				r.buf = append(make([]byte, 0, want+want/4), r.buf...)
			}
			k, err := r.src.Read(r.buf[len(r.buf):cap(r.buf)])
			r.buf = r.buf[:len(r.buf)+k]
			if err != nil {
				r.eof = true
			}
		}
		if r.eof || want >= maxScrubRun {
			break
		}
		if bytes.ContainsAny(r.buf, scrubSeparators) {
			break
		}
		want = min(2*want, maxScrubRun) // one long run: read on
	}
	cut := len(r.buf)
	if !r.eof {
		cut = r.cut()
	}
	str := string(r.buf[:cut])
	if r.eof && cut == len(r.buf) && r.cutShort != nil && r.cutShort() {
		str = r.s.tail(str)
	} else {
		str = r.s.string(str)
	}
	r.out = append(r.out[:0], str...)
	r.buf = r.buf[:copy(r.buf, r.buf[cut:])]
}

// scrubSeparators end every encoded run; maxScrubRun bounds how far the
// scrubber reads for one (a longer run without them is cut anywhere
// outside a verbatim credential).
const (
	scrubSeparators = "\n \t\"'<>"
	maxScrubRun     = 1 << 20
)

// cut is where the next chunk ends (see scrubReader).
func (r *scrubReader) cut() int {
	b := r.buf
	p := len(b) - r.maxLen
	if k := bytes.LastIndexByte(b, '\n'); k >= len(b)/2 {
		p = k + 1
	} else if k := bytes.LastIndexAny(b, scrubSeparators); k >= 0 {
		p = k + 1
	}
	// Any occurrence of a needle within len(n)-1 bytes of p spans p.
	for moved := true; moved; {
		moved = false
		for _, n := range r.needles {
			lo, hi := max(0, p-len(n)+1), min(len(b), p+len(n)-1)
			if lo < hi {
				if i := bytes.Index(b[lo:hi], n); i >= 0 {
					p, moved = lo+i, true
				}
			}
		}
	}
	if p <= 0 {
		return len(b)
	}
	return p
}

// retainWriter keeps the first limit bytes written and counts the rest.
type retainWriter struct {
	limit int
	buf   []byte
	total int
}

func (w *retainWriter) Write(p []byte) (int, error) {
	w.total += len(p)
	if room := w.limit - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// streamResult is result for a body longer than streamAbove: head is what
// was read of it so far. Everything in the result is masked here (the
// pipeline does not mask it again), before anything of it is kept.
func (cn *conn) streamResult(ctx context.Context, resp *http.Response, head [][]byte, sh *tools.Shaping) *tools.Result {
	counts := masking.Counts{}
	hdr := safeHeaders(resp, cn.scrub)
	headers := make(map[string]any, len(hdr))
	for k, vs := range hdr {
		headers[k] = vs[0]
	}
	headers, _ = sh.Masker.MaskValue(headers, counts).(map[string]any)
	for k := range hdr {
		v, _ := headers[k].(string)
		hdr[k] = []string{v}
	}
	var first []byte
	if len(head) > 0 {
		first = head[0]
	} else {
		// Streamed from the start: the first bytes tell text from binary.
		first = make([]byte, headChunk)
		k, _ := io.ReadFull(resp.Body, first)
		first = first[:k]
		head = [][]byte{first}
	}
	src := &bodySource{ctx: ctx, r: io.MultiReader(&chunksReader{head}, resp.Body), left: cn.maxResponse}
	head = nil
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	out := map[string]any{"status": resp.StatusCode, "headers": headers}
	res := &tools.Result{Masked: true, MaskCounts: counts}
	finish := func(format string, body any) *tools.Result {
		out["bytes"], out["truncated"], out["body_format"] = src.n, src.reason != "", format
		if src.reason != "" {
			out["truncated_reason"] = src.reason
		}
		if body != nil {
			out["body"] = body
		}
		res.Structured = out
		res.Text = renderText(resp, hdr, format, body, src.n, src.reason, cn.maxResponse)
		res.Truncated = res.Truncated || src.reason != ""
		return res
	}
	if !isJSON && binaryHead(first) {
		io.Copy(io.Discard, src) // counted, not shown
		return finish(formatBinary, nil)
	}
	var body io.Reader = src
	if len(cn.scrub.needles) > 0 {
		body = newScrubReader(cn.scrub, src, scrubChunk, func() bool { return src.reason != "" })
	}
	br := bufio.NewReaderSize(body, 64<<10)
	keep := &retainWriter{limit: shownFor(sh)}
	var err error
	jsonOK := false
	if isJSON {
		if err = sh.Masker.MaskJSON(br, keep, counts); err == nil {
			jsonOK = true
		} else {
			// Not JSON after all, or cut short: the rest is masked as text.
			err = sh.Masker.MaskTextStream(br, keep, counts)
		}
	} else {
		err = sh.Masker.MaskTextStream(br, keep, counts)
	}
	if err != nil {
		// Nothing unmasked may be shown: no body at all.
		io.Copy(io.Discard, src)
		res.Truncated, res.TokenNote = true, "the body could not be masked as it was read, so none of it is shown"
		return finish(formatBinary, nil)
	}
	if keep.total == 0 && src.n == 0 {
		return finish(formatEmpty, nil)
	}
	if keep.total == len(keep.buf) {
		// All of it fits what may be kept: shown as a small body is.
		if jsonOK && src.reason == "" {
			if v, ok := decodeJSON(keep.buf); ok {
				if a, ok := v.([]any); ok {
					res.Rows = len(a)
				}
				return finish(formatJSON, v)
			}
		}
		return finish(formatText, strings.ToValidUTF8(string(trimRune(keep.buf)), "\uFFFD"))
	}
	// Only a prefix is shown: cut to what the budget carries.
	prefix := strings.ToValidUTF8(string(trimRune(keep.buf)), "\uFFFD")
	res.Truncated = true
	shown := 0
	note := func() string {
		if sh.Tokens != nil && sh.Budget > 0 {
			return fmt.Sprintf("the body (%d bytes) is larger than the token budget (%d tokens) can carry: only its first %d bytes (masked) are shown, the rest was read and masked but not kept; ask for less, e.g. with paging, filter or field parameters",
				src.n, sh.Budget, shown)
		}
		return fmt.Sprintf("the body (%d bytes) is larger than one result may carry (%d bytes): only its first %d bytes (masked) are shown, the rest was read and masked but not kept; ask for less, e.g. with paging, filter or field parameters",
			src.n, maxShown, shown)
	}
	render := func(b string) (string, string) {
		shown = len(b)
		res.TokenNote = note()
		r := finish(formatText, b)
		r.Text += "\n[truncated: " + res.TokenNote + "]"
		js, err := json.Marshal(r.Structured)
		if err != nil {
			js = nil
		}
		return string(js), r.Text
	}
	units := bodyUnits(prefix)
	var n int
	if sh.Tokens != nil && sh.Budget > 0 {
		n = fitUnits(sh.Tokens, sh.Budget, units, func(n int) (string, string) {
			return render(cn.scrub.tail(strings.Join(units[:n], "")))
		})
	} else {
		n = max(len(units)-1, 0) // the last unit may be cut anywhere
	}
	render(cn.scrub.tail(strings.Join(units[:n], "")))
	return res
}

// safeHeaders are the response headers shown, scrubbed, one value each.
func safeHeaders(resp *http.Response, s *scrubber) http.Header {
	hdr := httpguard.SafeResponseHeaders(resp.Header)
	hdr.Del("Content-Length")
	for k, vs := range hdr {
		hdr[k] = []string{s.string(strings.Join(vs, ", "))}
	}
	return hdr
}

// binaryHead reports a body whose first bytes are not UTF-8 text.
func binaryHead(head []byte) bool {
	head = trimRune(head)
	return !utf8.Valid(head) || bytes.IndexByte(head, 0) >= 0
}

// trimRune drops an incomplete UTF-8 sequence at the end of b.
func trimRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.Valid(b[max(0, len(b)-utf8.UTFMax):]); i++ {
		b = b[:len(b)-1]
	}
	return b
}

func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return plainNumbers(v), true
}

// unitMax bounds a unit of a shown body: lines, and long lines cut after
// a comma, space or closing bracket (a minified JSON body is one line).
const unitMax = 512

func bodyUnits(s string) []string {
	var out []string
	for len(s) > 0 {
		k := strings.IndexByte(s, '\n') + 1
		if k == 0 {
			k = len(s)
		}
		line := s[:k]
		s = s[k:]
		for len(line) > unitMax {
			j := strings.LastIndexAny(line[:unitMax], ", >}]") + 1
			if j <= 0 {
				j = unitMax
				for j > 0 && !utf8.RuneStart(line[j]) {
					j--
				}
			}
			out = append(out, line[:j])
			line = line[j:]
		}
		out = append(out, line)
	}
	return out
}

// fitUnits returns how many units fit the budget once rendered: render(n)
// is the structured result's JSON and the text with the first n units.
// The units are counted as they would be rendered (JSON-escaped, and as
// text), then the whole is counted exactly as capResult counts it and
// units are dropped until it fits.
func fitUnits(tc *masking.TokenCounter, budget int, units []string, render func(n int) (string, string)) int {
	js, text := render(0)
	ohJSON := tc.Count(js, budget)
	ohText := 0
	for _, l := range strings.SplitAfter(text, "\n") {
		ohText += tc.Count(l, budget)
	}
	esc := make([]string, len(units))
	for i, u := range units {
		b, _ := json.Marshal(u)
		esc[i] = string(b[1 : len(b)-1])
	}
	n1, _, _ := tc.FitBound(esc, budget-ohJSON)
	n2, _, _ := tc.FitBound(units, budget-ohText)
	n := min(n1, n2)
	for range 40 {
		if n <= 0 {
			return 0
		}
		js, text := render(n)
		lines := strings.SplitAfter(text, "\n")
		if tc.Count(js, budget) <= budget {
			if k, _, _ := tc.FitBound(lines, budget); k == len(lines) {
				return n
			}
		}
		n -= max(1, n/16)
	}
	return 0
}
