package querydb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// Values reach the agent only after masking, and masking reads text, JSON
// and numbers. So every value is converted to one of those *before*
// masking, never to an encoding masking cannot read: text-like values
// (xml, bytea holding text, intervals, ranges, composites...) as the text
// PostgreSQL prints, binary values that are not UTF-8 text as a size marker
// (or base64 when the connection allows binary), and nothing larger than
// MaxValueBytes.

// MaxValueBytes bounds one value as read from the database; a longer value
// is cut, and the result says so.
const MaxValueBytes = 64 << 10

// MaxResultBytes bounds the values one result keeps; the rows after the one
// that reached it are not read, and the result says so.
const MaxResultBytes = 4 << 20

// binaryOIDs are the types read in PostgreSQL's binary format and decoded
// by pgx into Go values that convert faithfully (numbers, booleans, times,
// uuids, text, bytea as raw bytes, json inside arrays); arrays of them
// decode to lists of them. Every other type is read as the text PostgreSQL
// prints for it — what psql shows — so no type is ever rendered as a Go
// struct or an encoding masking cannot read.
var binaryOIDs = func() map[uint32]int16 {
	m := map[uint32]int16{}
	for _, oid := range []uint32{
		pgtype.BoolOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID,
		pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID,
		pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID,
		pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.UUIDOID, pgtype.ByteaOID,

		pgtype.BoolArrayOID, pgtype.Int2ArrayOID, pgtype.Int4ArrayOID, pgtype.Int8ArrayOID,
		pgtype.Float4ArrayOID, pgtype.Float8ArrayOID, pgtype.NumericArrayOID,
		pgtype.TextArrayOID, pgtype.VarcharArrayOID, pgtype.BPCharArrayOID, pgtype.NameArrayOID,
		pgtype.DateArrayOID, pgtype.TimestampArrayOID, pgtype.TimestamptzArrayOID, pgtype.UUIDArrayOID,
		pgtype.ByteaArrayOID, pgtype.JSONArrayOID, pgtype.JSONBArrayOID,
	} {
		m[oid] = 1 // binary
	}
	return m
}()

// converter turns database values into what masking and JSON render
// faithfully, counting what it had to cut.
type converter struct {
	allowBinary bool
	cut         int // values cut to MaxValueBytes
}

// pgValue converts one PostgreSQL value given in format (0 text, 1 binary)
// as raw bytes; decode decodes a binary value with pgx.
func (cv *converter) pgValue(raw []byte, oid uint32, format int16, decode func([]byte) (any, error)) any {
	if raw == nil {
		return nil
	}
	if format == 0 { // text
		switch oid {
		case pgtype.JSONOID, pgtype.JSONBOID:
			if len(raw) <= MaxValueBytes {
				d := json.NewDecoder(bytes.NewReader(raw))
				d.UseNumber()
				var v any
				if d.Decode(&v) == nil {
					return v
				}
			}
		}
		return cv.text(raw)
	}
	switch oid {
	case pgtype.ByteaOID:
		return cv.binary(raw)
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return cv.text(raw) // the binary format of text is the text
	}
	if len(raw) > MaxValueBytes {
		cv.cut++
		return fmt.Sprintf("<value of %d bytes left out: larger than the %d-byte limit per value>", len(raw), MaxValueBytes)
	}
	v, err := decode(raw)
	if err != nil {
		return fmt.Sprintf("<value could not be decoded: %d bytes>", len(raw))
	}
	return cv.pgGo(v, oid)
}

// pgGo converts a value pgx decoded from the binary format.
func (cv *converter) pgGo(v any, oid uint32) any {
	switch x := v.(type) {
	case nil, bool, int16, int32, int8, uint8, uint16, uint32:
		return x
	case string:
		return cv.text([]byte(x))
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			return strconv.FormatInt(x, 10)
		}
		return x
	case float32:
		return cv.pgGo(float64(x), oid)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case time.Time:
		if oid == pgtype.DateOID || oid == pgtype.DateArrayOID {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339Nano)
	case pgtype.InfinityModifier:
		return x.String()
	case []byte:
		return cv.binary(x)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		b, err := x.MarshalJSON()
		if err != nil {
			return nil
		}
		return string(b)
	case map[string]any:
		for k, e := range x {
			x[k] = cv.pgGo(e, 0)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = cv.pgGo(e, oid)
		}
		return x
	case json.Number:
		return x
	case fmt.Stringer:
		return cv.text([]byte(x.String()))
	default:
		return cv.text(fmt.Append(nil, x))
	}
}

// text is a value that is text: kept as text, cut to MaxValueBytes at a
// character boundary, and with any invalid UTF-8 replaced.
func (cv *converter) text(raw []byte) string {
	if len(raw) <= MaxValueBytes {
		if utf8.Valid(raw) {
			return string(raw)
		}
		return string(bytes.ToValidUTF8(raw, []byte("\uFFFD")))
	}
	cv.cut++
	return cutText(raw)
}

// cutText keeps the start of a long text. The cut backs off to a break
// between words, so it never leaves half of a number or identifier (a
// partial SSN or card number the detectors would no longer recognise).
func cutText(raw []byte) string {
	keep := raw[:MaxValueBytes]
	brk := -1
	for i := len(keep) - 1; i >= len(keep)-256; i-- {
		if isBreak(keep[i]) {
			brk = i
			break
		}
	}
	if brk >= 0 {
		keep = keep[:brk+1]
	} else {
		keep = keep[:len(keep)-256] // no break nearby: drop the run's end
		i := len(keep) - 1
		for i > 0 && keep[i]&0xC0 == 0x80 {
			i--
		}
		if !utf8.FullRune(keep[i:]) {
			keep = keep[:i]
		}
	}
	s := string(bytes.ToValidUTF8(keep, []byte("\uFFFD")))
	return fmt.Sprintf("%s…[cut: %d of %d bytes shown]", s, len(s), len(raw))
}

func isBreak(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= 0x80:
		return false
	}
	switch c {
	case '-', '_', '.', '+', '@', '/', '=', ':', '%', '#', '(', ')':
		return false
	}
	return true
}

// binary is a value the database holds as bytes (bytea, BLOB). Text in a
// binary column is still text, and masked as text; other bytes are
// replaced by a size marker, because masking cannot read them, unless the
// connection allows binary (then base64).
func (cv *converter) binary(raw []byte) any {
	if isText(raw) {
		return cv.text(raw)
	}
	if !cv.allowBinary {
		return fmt.Sprintf("<binary %d bytes>", len(raw))
	}
	if base64.StdEncoding.EncodedLen(len(raw)) > MaxValueBytes {
		cv.cut++
		return fmt.Sprintf("<binary %d bytes: larger than the %d-byte limit per value>", len(raw), MaxValueBytes)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// isText reports whether bytes read as text: valid UTF-8 (up to a cut at
// MaxValueBytes) without control characters other than tab and line
// breaks.
func isText(raw []byte) bool {
	b := raw
	if len(b) > MaxValueBytes {
		b = b[:MaxValueBytes]
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

// sqliteValue converts one SQLite value.
func (cv *converter) sqliteValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return cv.binary(x)
	case string:
		return cv.text([]byte(x))
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			return strconv.FormatInt(x, 10)
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	default:
		return x
	}
}

// valueSize approximates the bytes a converted value takes, for the
// per-result bound.
func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []any:
		n := 2
		for _, e := range x {
			n += valueSize(e) + 1
		}
		return n
	case map[string]any:
		n := 2
		for k, e := range x {
			n += len(k) + valueSize(e) + 2
		}
		return n
	default:
		return 8
	}
}

const maxSafeInt = 1 << 53
