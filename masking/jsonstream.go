package masking

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of the streaming JSON masker. A document of any size streams; a
// single string (or a container a key rule masks whole) is held in memory
// and is bounded so that memory stays bounded too.
const (
	maxJSONToken = 16 << 20
	maxJSONDepth = 1000
)

// errJSONToken reports a value beyond maxJSONToken.
var errJSONToken = fmt.Errorf("masking: a JSON string or masked value is longer than %d MiB", maxJSONToken>>20)

// MaskJSON masks a stream of JSON values (one document, or several such
// as NDJSON) from r to w without decoding the whole document: the same
// rules as MaskValue (JSON key rules by path, secret-named keys, key
// context for SSNs and phones, the detectors on every key, string and
// integer), applied value by value. Whitespace and every value left
// unmasked are copied byte for byte. What differs from MaskValue: keys
// are not de-duplicated after masking and an SSN split over sibling keys
// is not joined. On a syntax error it stops and returns the error; what
// was written so far is masked and flushed, and r (when it is a
// *bufio.Reader, read from directly) holds the rest of the input.
func (e *Engine) MaskJSON(r io.Reader, w io.Writer, c Counts) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	m := jsonMasker{e: e, c: c, r: br, w: bw}
	for {
		if err := m.space(); err != nil {
			if err == io.EOF {
				return bw.Flush()
			}
			bw.Flush()
			return err
		}
		if err := m.value("", false); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			// What was written is masked: flush it, so that a caller can
			// go on with the rest of r (as text) after it.
			bw.Flush()
			return fmt.Errorf("masking: json: %w", err)
		}
	}
}

type jsonMasker struct {
	e     *Engine
	c     Counts
	r     *bufio.Reader
	w     *bufio.Writer
	path  []string
	raw   []byte
	depth int
}

// space copies whitespace through; io.EOF at the end of input.
func (m *jsonMasker) space() error {
	for {
		b, err := m.r.ReadByte()
		if err != nil {
			return err
		}
		switch b {
		case ' ', '\t', '\n', '\r':
			m.w.WriteByte(b)
			continue
		}
		return m.r.UnreadByte()
	}
}

func (m *jsonMasker) expect(want byte) error {
	if err := m.space(); err != nil {
		return err
	}
	b, err := m.r.ReadByte()
	if err != nil {
		return err
	}
	if b != want {
		return fmt.Errorf("found %q where %q was expected", b, want)
	}
	m.w.WriteByte(b)
	return nil
}

// value masks one value under key (the enclosing object key, "" at the
// root); inArray says it is an array element, which secret-named keys do
// not judge (as in MaskValue).
func (m *jsonMasker) value(key string, inArray bool) error {
	if err := m.space(); err != nil {
		return err
	}
	b, err := m.r.ReadByte()
	if err != nil {
		return err
	}
	hints := docKeyHints(strings.ToLower(stripMaskTokens(key)))
	switch {
	case b == '{':
		return m.object()
	case b == '[':
		return m.array(key)
	case b == '"':
		raw, err := m.readString()
		if err != nil {
			return err
		}
		s, err := decodeJSONString(raw)
		if err != nil {
			return err
		}
		return m.scalar(key, inArray, hints, s, raw)
	case b == '-' || isDigit(b) || b == 't' || b == 'f' || b == 'n':
		raw, err := m.readLiteral(b)
		if err != nil {
			return err
		}
		var v any
		switch string(raw) {
		case "true":
			v = true
		case "false":
			v = false
		case "null":
			v = nil
		default:
			if !json.Valid(raw) {
				return fmt.Errorf("invalid literal %q", truncate(raw))
			}
			v = json.Number(raw)
		}
		return m.scalar(key, inArray, hints, v, raw)
	}
	return fmt.Errorf("unexpected %q", b)
}

func truncate(b []byte) string {
	if len(b) > 16 {
		return string(b[:16]) + "…"
	}
	return string(b)
}

// scalar writes v (whose JSON text is raw) masked.
func (m *jsonMasker) scalar(key string, inArray bool, hints uint8, v any, raw []byte) error {
	w := walker{e: m.e, c: m.c}
	var out any
	if inArray || key == "" {
		out = w.value(v, hints)
	} else {
		out = w.named(key, v, hints)
	}
	return m.write(out, v, raw)
}

// write writes out, or raw when out is v unchanged.
func (m *jsonMasker) write(out, v any, raw []byte) error {
	switch o := out.(type) {
	case string:
		if s, ok := v.(string); ok && s == o {
			m.w.Write(raw)
			return nil
		}
	case json.Number:
		if n, ok := v.(json.Number); ok && n == o {
			m.w.Write(raw)
			return nil
		}
	case bool:
		if b, ok := v.(bool); ok && b == o {
			m.w.Write(raw)
			return nil
		}
	case nil:
		m.w.WriteString("null")
		return nil
	}
	enc, err := json.Marshal(out)
	if err != nil {
		return err
	}
	m.w.Write(enc)
	return nil
}

func (m *jsonMasker) object() error {
	if m.depth++; m.depth > maxJSONDepth {
		return errors.New("nested too deeply")
	}
	defer func() { m.depth-- }()
	m.w.WriteByte('{')
	for first := true; ; first = false {
		if err := m.space(); err != nil {
			return err
		}
		b, err := m.r.ReadByte()
		if err != nil {
			return err
		}
		if b == '}' && first {
			m.w.WriteByte('}')
			return nil
		}
		if b != '"' {
			return fmt.Errorf("found %q where a key was expected", b)
		}
		raw, err := m.readString()
		if err != nil {
			return err
		}
		k, err := decodeJSONString(raw)
		if err != nil {
			return err
		}
		if mayContain(k) || mayBeEncoded(k) {
			if mk := m.e.maskText(k, 0, m.c); mk != k {
				enc, _ := json.Marshal(mk)
				raw = enc
			}
		}
		m.w.Write(raw)
		if err := m.expect(':'); err != nil {
			return err
		}
		if err := m.entry(k); err != nil {
			return err
		}
		if err := m.space(); err != nil {
			return err
		}
		b, err = m.r.ReadByte()
		if err != nil {
			return err
		}
		m.w.WriteByte(b)
		switch b {
		case ',':
			continue
		case '}':
			return nil
		}
		return fmt.Errorf("found %q after an object member", b)
	}
}

// entry masks the value of key k: a JSON key rule masks it whole
// (containers included); otherwise it is masked value by value.
func (m *jsonMasker) entry(k string) error {
	if len(m.e.keys) == 0 {
		return m.value(k, false)
	}
	m.path = append(m.path, strings.ToLower(k))
	defer func() { m.path = m.path[:len(m.path)-1] }()
	op, ok := m.e.keyOperator(m.path)
	if !ok {
		return m.value(k, false)
	}
	if err := m.space(); err != nil {
		return err
	}
	raw, err := m.capture()
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err
	}
	hints := docKeyHints(strings.ToLower(stripMaskTokens(k)))
	out := m.e.maskWhole(op, v, "", hints, m.c)
	if s, ok := out.(string); ok {
		if vs, ok := v.(string); ok && vs == s {
			m.w.Write(raw)
			return nil
		}
	}
	return m.write(out, struct{}{}, raw)
}

func (m *jsonMasker) array(key string) error {
	if m.depth++; m.depth > maxJSONDepth {
		return errors.New("nested too deeply")
	}
	defer func() { m.depth-- }()
	m.w.WriteByte('[')
	for first := true; ; first = false {
		if err := m.space(); err != nil {
			return err
		}
		b, err := m.r.ReadByte()
		if err != nil {
			return err
		}
		if b == ']' && first {
			m.w.WriteByte(']')
			return nil
		}
		m.r.UnreadByte()
		if err := m.value(key, true); err != nil {
			return err
		}
		if err := m.space(); err != nil {
			return err
		}
		b, err = m.r.ReadByte()
		if err != nil {
			return err
		}
		m.w.WriteByte(b)
		switch b {
		case ',':
			continue
		case ']':
			return nil
		}
		return fmt.Errorf("found %q after an array element", b)
	}
}

// readString reads the rest of a string whose opening quote was read and
// returns it quoted, in a buffer valid until the next read.
func (m *jsonMasker) readString() ([]byte, error) {
	m.raw = append(m.raw[:0], '"')
	for {
		chunk, err := m.r.ReadSlice('"')
		m.raw = append(m.raw, chunk...)
		if len(m.raw) > maxJSONToken {
			return nil, errJSONToken
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		n := 0 // backslashes before the quote
		for k := len(m.raw) - 2; k > 0 && m.raw[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return m.raw, nil
		}
	}
}

// readLiteral reads a number, true, false or null starting with b.
func (m *jsonMasker) readLiteral(b byte) ([]byte, error) {
	m.raw = append(m.raw[:0], b)
	for {
		c, err := m.r.ReadByte()
		if err == io.EOF {
			return m.raw, nil
		}
		if err != nil {
			return nil, err
		}
		if !isAlnum(c) && c != '.' && c != '-' && c != '+' {
			m.r.UnreadByte()
			return m.raw, nil
		}
		m.raw = append(m.raw, c)
		if len(m.raw) > 4096 {
			return nil, errors.New("literal too long")
		}
	}
}

// capture reads one whole value into a new buffer (bounded).
func (m *jsonMasker) capture() ([]byte, error) {
	var out []byte
	depth := 0
	for {
		b, err := m.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch {
		case b == '"':
			raw, err := m.readString()
			if err != nil {
				return nil, err
			}
			out = append(out, raw...)
		case b == '{' || b == '[':
			depth++
			out = append(out, b)
		case b == '}' || b == ']':
			if depth == 0 {
				m.r.UnreadByte()
				return out, nil
			}
			depth--
			out = append(out, b)
		case depth == 0 && (b == ',' || b == ' ' || b == '\t' || b == '\n' || b == '\r'):
			m.r.UnreadByte()
			return out, nil
		default:
			out = append(out, b)
		}
		if len(out) > maxJSONToken {
			return nil, errJSONToken
		}
		if depth == 0 && len(out) > 0 && (b == '}' || b == ']' || b == '"') {
			return out, nil
		}
		if depth < 0 {
			return nil, errors.New("unbalanced brackets")
		}
	}
}

// decodeJSONString decodes a quoted JSON string.
func decodeJSONString(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		for _, c := range raw[1 : len(raw)-1] {
			if c < 0x20 {
				return "", errors.New("control character in string")
			}
		}
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}
