package masking

import (
	"bytes"
	"io"
	"strings"
)

// Bounds of the streaming text masker: text is masked in chunks of about
// textChunk bytes cut at a line end; a line longer than maxTextLine is cut
// at a space, tab, quote or angle bracket near the limit (or, lacking
// one, at the limit), where a value split in two may go unrecognised.
const (
	textChunk   = 256 << 10
	maxTextLine = 8 << 20
)

// MaskTextStream masks a text document of any size from r to w in bounded
// memory: in chunks cut at line ends, each masked as MaskText masks text.
// The detectors read a line at a time, so cutting between lines changes
// nothing for them. Structure that spans lines is carried from the first
// chunk to the rest: a delimited or markdown table's header gives every
// later row its column names (key rules, column rules, SSN and phone
// context), as in a table masked whole; the XML elements open at a cut
// and the YAML mapping keys enclosing it are put back in front of the
// next chunk (names only), so a value keeps its element, key and path.
// What a chunk cannot see: a private key block cut in two. Counts are as
// MaskText's over the whole text.
func (e *Engine) MaskTextStream(r io.Reader, w io.Writer, c Counts) error {
	return e.maskTextStream(r, w, c, textChunk, maxTextLine)
}

func (e *Engine) maskTextStream(r io.Reader, w io.Writer, c Counts, chunk, maxLine int) error {
	ts := textStream{e: e, c: c}
	buf := make([]byte, 0, chunk+chunk/16)
	eof := false
	// fill reads until buf holds n bytes or the input ends.
	fill := func(n int) error {
		for !eof && len(buf) < n {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			k, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return err
			}
		}
		return nil
	}
	want := chunk
	for {
		if err := fill(want); err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		cut := len(buf)
		if !eof {
			cut = bytes.LastIndexByte(buf, '\n') + 1
			// The first chunk is what the document is recognised by: a
			// table needs its header and rows after it.
			short := cut == 0 || !ts.started && bytes.Count(buf[:cut], []byte{'\n'}) < 3
			if short && len(buf) < maxLine {
				want = min(2*len(buf)+1, maxLine) // a long line: read on
				continue
			}
			if cut == 0 {
				cut = lineCut(buf)
			}
		}
		want = chunk
		if _, err := io.WriteString(w, ts.mask(string(buf[:cut]))); err != nil {
			return err
		}
		buf = buf[:copy(buf, buf[cut:])]
		if eof && len(buf) == 0 {
			return nil
		}
	}
}

// lineCut is where an over-long line is cut: in its second half, at the
// last space between two letters (between words, not inside a number
// written in groups), else after the last tab, quote or angle bracket
// (none of them is inside an encoded run), else at any space, else at
// its end.
func lineCut(b []byte) int {
	h := len(b) / 2
	for k := len(b) - 2; k > h; k-- {
		if b[k] == ' ' && isLetter(b[k-1]) && isLetter(b[k+1]) {
			return k + 1
		}
	}
	if k := bytes.LastIndexAny(b[h:], "\t\"'<>"); k >= 0 {
		return h + k + 1
	}
	if k := bytes.LastIndexByte(b[h:], ' '); k >= 0 {
		return h + k + 1
	}
	return len(b)
}

// textStream is the state carried from chunk to chunk.
type textStream struct {
	e        *Engine
	c        Counts
	started  bool
	kind     docKind
	delim    byte
	header   string   // a table's header line
	headerCt Counts   // what masking the header alone counts
	xmlOpen  []string // an XML document's open elements at the last cut, as written
	yamlKeys []string // the "key:" lines enclosing the last cut, outermost first
}

func (ts *textStream) mask(s string) string {
	if !ts.started {
		ts.started = true
		if len(s) >= minDoc {
			ts.kind, ts.delim = sniff(s)
		}
		if ts.kind == docTable || ts.kind == docMarkdown {
			t := strings.TrimLeft(s, " \t\r\n")
			line, _, _ := strings.Cut(t, "\n")
			ts.header = strings.TrimRight(line, "\r")
			ts.headerCt = Counts{}
			ts.e.maskText(ts.header, 0, ts.headerCt)
		}
		switch ts.kind {
		case docXML:
			ts.xmlOpen = xmlOpenAfter(ts.xmlOpen, s)
		case docText:
			ts.yamlKeys = yamlKeysAfter(ts.yamlKeys, s)
		}
		return ts.e.maskText(s, 0, ts.c)
	}
	switch {
	case ts.kind == docXML:
		return ts.maskXMLChunk(s)
	case ts.kind == docText:
		return ts.maskYAMLChunk(s)
	case ts.kind == docExpanded:
		// Line by line: each "column | value" line names its column.
		if ts.e.enabled(PrivateKey) && hasPEM(s) {
			s = ts.e.maskPEM(s, ts.c)
		}
		return applyEdits(s, ts.e.expandedEdits(s, ts.c))
	case ts.header == "":
		return ts.e.maskText(s, 0, ts.c)
	}
	// A later chunk of a table: masked under the first chunk's header,
	// which is read again (and its edits and counts dropped).
	if ts.e.enabled(PrivateKey) && hasPEM(s) {
		s = ts.e.maskPEM(s, ts.c)
	}
	off := len(ts.header) + 1
	var tmp Counts
	if ts.c != nil {
		tmp = Counts{}
	}
	eds := ts.e.tableEdits(ts.header+"\n"+s, ts.delim, ts.kind == docMarkdown, tmp)
	k := 0
	for _, ed := range eds {
		if ed.start >= off {
			eds[k] = edit{ed.start - off, ed.end - off, ed.repl}
			k++
		}
	}
	for ent, n := range tmp {
		if n -= ts.headerCt[ent]; n > 0 {
			ts.c[ent] += n
		}
	}
	return applyEdits(s, eds[:k])
}

// maskXMLChunk masks a later chunk of an XML document under the elements
// still open at the cut: their start tags (names only, no values) are
// put back in front, so a value on the line after its element's start
// tag ("<password>\n  hunter2…") keeps its name and path.
func (ts *textStream) maskXMLChunk(s string) string {
	var b strings.Builder
	for _, n := range ts.xmlOpen {
		b.WriteString("<" + n + ">")
	}
	prefix := b.String()
	ts.xmlOpen = xmlOpenAfter(ts.xmlOpen, s)
	if prefix != "" {
		if out := ts.e.maskText(prefix+s, 0, ts.c); strings.HasPrefix(out, prefix) {
			return out[len(prefix):]
		}
	}
	return ts.e.maskText(s, 0, ts.c)
}

// xmlOpenAfter returns the open elements after s, given those open before
// it: start tags push their name, end tags pop to theirs; comments,
// CDATA, declarations and self-closing tags change nothing. At most 64
// are kept (the innermost).
func xmlOpenAfter(open []string, s string) []string {
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		rest := s[i:]
		var end string
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end = "-->"
		case strings.HasPrefix(rest, "<![CDATA["):
			end = "]]>"
		case strings.HasPrefix(rest, "<?"), strings.HasPrefix(rest, "<!"):
			end = ">"
		}
		if end != "" {
			k := strings.Index(rest, end)
			if k < 0 {
				return open
			}
			i += k + len(end)
			continue
		}
		k := strings.IndexByte(rest, '>')
		if k < 0 {
			return open
		}
		tag := rest[1:k]
		i += k + 1
		if strings.HasPrefix(tag, "/") {
			name := strings.ToLower(localNameAsWritten(strings.TrimSpace(tag[1:])))
			for n := len(open) - 1; n >= 0; n-- {
				if strings.ToLower(localNameAsWritten(open[n])) == name {
					open = open[:n]
					break
				}
			}
			continue
		}
		j := 0
		for j < len(tag) && xmlNameByte(tag[j]) {
			j++
		}
		if j == 0 || strings.HasSuffix(tag, "/") {
			continue
		}
		open = append(open, tag[:j])
		if len(open) > 64 {
			open = open[1:]
		}
	}
	return open
}

// maskYAMLChunk masks a later chunk of text under the YAML mapping keys
// enclosing the cut ("db:", "  primary:"), put back in front, so a nested
// value keeps its key path (JSON key rules) across the cut.
func (ts *textStream) maskYAMLChunk(s string) string {
	prefix := ""
	if len(ts.yamlKeys) > 0 {
		prefix = strings.Join(ts.yamlKeys, "\n") + "\n"
	}
	ts.yamlKeys = yamlKeysAfter(ts.yamlKeys, s)
	if prefix != "" {
		if out := ts.e.maskText(prefix+s, 0, ts.c); strings.HasPrefix(out, prefix) {
			return out[len(prefix):]
		}
	}
	return ts.e.maskText(s, 0, ts.c)
}

// yamlKeysAfter returns the mapping-key lines ("key:" alone on its line)
// that enclose the end of s, given those enclosing its start: a line
// closes every key indented as far or further. At most 32 are kept.
func yamlKeysAfter(keys []string, s string) []string {
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimLeft(line, " ")
		if t == "" || t[0] == '#' {
			continue
		}
		ind := len(line) - len(t)
		for len(keys) > 0 {
			top := keys[len(keys)-1]
			tind := len(top) - len(strings.TrimLeft(top, " "))
			if tind < ind || tind == ind && (t == "-" || strings.HasPrefix(t, "- ")) && strings.HasSuffix(top, ":") {
				break // nested, or an item of the key's list ("ssn:" then "- …")
			}
			keys = keys[:len(keys)-1]
		}
		if len(keys) >= 32 {
			continue
		}
		if strings.HasSuffix(t, ":") && !strings.ContainsAny(t, " \t\"'{}[]<>") {
			keys = append(keys, line)
		} else if k, v, ok := strings.Cut(t, ": "); ok && blockScalar(strings.TrimSpace(v)) && !strings.ContainsAny(k, " \t\"'{}[]<>") {
			keys = append(keys, line) // "password: |": its lines follow
		}
	}
	return keys
}
