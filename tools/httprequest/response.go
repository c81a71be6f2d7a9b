package httprequest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/airlockhq/airlock/policy/httpguard"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// Body formats in a result.
const (
	formatJSON   = "json"
	formatText   = "text"
	formatBinary = "binary"
	formatEmpty  = "empty"
)

// Why a body was truncated.
const (
	truncatedCap     = "max_response_bytes"
	truncatedTimeout = "timeout"
	truncatedCut     = "connection closed early"
)

// result reads the response body up to the cap and the deadline and turns
// the response into what the agent sees: status, safe headers (without
// Content-Length, which described the body before capping), and the body
// as a JSON value when the API answered JSON, else as text. Credentials are
// scrubbed from all of it. A body longer than streamAbove is masked as it
// is read instead (streamResult), with sh.
func (cn *conn) result(ctx context.Context, method string, resp *http.Response, sh *tools.Shaping) *tools.Result {
	// A HEAD response announces the length of a body it does not have.
	if cn.maxResponse > streamAbove && resp.ContentLength > streamAbove && method != http.MethodHead {
		return cn.streamResult(ctx, resp, nil, sh)
	}
	limit := min(cn.maxResponse, streamAbove)
	head, n, readErr := readHead(resp.Body, limit+1, resp.ContentLength)
	if n > streamAbove {
		return cn.streamResult(ctx, resp, head, sh)
	}
	raw := bytes.Join(head, nil)
	var truncated string
	switch {
	case len(raw) > cn.maxResponse:
		raw, truncated = raw[:cn.maxResponse], truncatedCap
	case readErr != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		truncated = truncatedTimeout
	case readErr != nil:
		truncated = truncatedCut
	}
	hdr := safeHeaders(resp, cn.scrub)
	headers := make(map[string]any, len(hdr))
	for k, vs := range hdr {
		headers[k] = vs[0]
	}
	out := map[string]any{
		"status":    resp.StatusCode,
		"headers":   headers,
		"bytes":     len(raw),
		"truncated": truncated != "",
	}
	if truncated != "" {
		out["truncated_reason"] = truncated
	}
	ctype := resp.Header.Get("Content-Type")
	format, body, rows := cn.decodeBody(raw, ctype, truncated != "")
	if method == http.MethodHead && len(raw) == 0 {
		format = formatEmpty
	}
	out["body_format"] = format
	if body != nil {
		out["body"] = body
	}
	return &tools.Result{Structured: out, Text: renderText(resp, hdr, format, body, len(raw), truncated, cn.maxResponse),
		Rows: rows, Truncated: truncated != ""}
}

// decodeBody returns the body's format and value, scrubbed: a JSON value
// (numbers as float64 when exact, else json.Number) for complete JSON
// bodies, a string for UTF-8 text, nothing for binary content.
func (cn *conn) decodeBody(raw []byte, ctype string, truncated bool) (string, any, int) {
	if len(raw) == 0 {
		return formatEmpty, nil, 0
	}
	mt, _, _ := mime.ParseMediaType(ctype)
	if !truncated && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		text := cn.scrub.string(string(raw))
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && dec.InputOffset() > 0 {
			if _, err := dec.Token(); err == io.EOF {
				v = cn.scrub.value(plainNumbers(v))
				rows := 0
				if a, ok := v.([]any); ok {
					rows = len(a)
				}
				return formatJSON, v, rows
			}
		}
	}
	if truncated {
		// Do not end inside a UTF-8 sequence.
		for i := 0; i < utf8.UTFMax-1 && len(raw) > 0 && !utf8.Valid(raw); i++ {
			raw = raw[:len(raw)-1]
		}
	}
	if !utf8.Valid(raw) || bytes.IndexByte(raw, 0) >= 0 {
		return formatBinary, nil, 0
	}
	if truncated {
		return formatText, cn.scrub.tail(string(raw)), 0
	}
	return formatText, cn.scrub.string(string(raw)), 0
}

// plainNumbers turns JSON numbers into float64, as encoding/json would,
// except integers beyond 2^53, which stay json.Number so that large IDs are
// not rounded.
func plainNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || !strings.ContainsAny(string(v), ".eE") && math.Abs(f) >= 1<<53 {
			return v
		}
		return f
	case []any:
		for i := range v {
			v[i] = plainNumbers(v[i])
		}
	case map[string]any:
		for k, e := range v {
			v[k] = plainNumbers(e)
		}
	}
	return v
}

// renderText is the compact text form: status line, safe headers, a size
// note, then the body.
func renderText(resp *http.Response, hdr http.Header, format string, body any, n int, truncated string, maxBytes int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d %s\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	for _, k := range slices.Sorted(maps.Keys(hdr)) {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(hdr[k], ", "))
	}
	fmt.Fprintf(&b, "(%d bytes", n)
	switch truncated {
	case truncatedCap:
		fmt.Fprintf(&b, "; truncated at the connection's max_response_bytes (%d): ask for less, e.g. with paging or filter parameters", maxBytes)
	case truncatedTimeout:
		b.WriteString("; truncated: the connection's timeout ended the response")
	case truncatedCut:
		b.WriteString("; truncated: the server closed the connection before the body ended")
	}
	b.WriteString(")\n")
	switch format {
	case formatJSON:
		enc, err := json.Marshal(body)
		if err != nil {
			enc = []byte(`"unrenderable body"`)
		}
		b.Write(enc)
	case formatText:
		b.WriteString(body.(string))
	case formatBinary:
		fmt.Fprintf(&b, "[binary body (%s) not shown]", resp.Header.Get("Content-Type"))
	}
	return b.String()
}

// requestError turns a failed request into an error the agent can act on,
// naming neither the internal address nor the credential.
func (cn *conn) requestError(ctx, parent context.Context, err error) error {
	var (
		ge     *httpguard.Error
		ne     net.Error
		opErr  *net.OpError
		certE  *tls.CertificateVerificationError
		unkCA  x509.UnknownAuthorityError
		hostE  x509.HostnameError
		invE   x509.CertificateInvalidError
		recErr tls.RecordHeaderError
		alert  tls.AlertError
	)
	switch {
	case errors.As(err, &ge):
		msg := ge.Msg
		if !strings.HasPrefix(msg, "redirect refused") {
			msg = "not sent: " + msg
		}
		return tools.Refuse(recorder.OutcomeDenied, "%s (connection %q).", cn.scrub.string(msg), cn.name)
	case parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded):
		// Cancelled from outside (revocation, shutdown): the pipeline
		// says why.
		return parent.Err()
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return tools.Refuse(recorder.OutcomeError, "the request on connection %q timed out (limit %s, or the call's own deadline); try a narrower request", cn.name, cn.timeout)
	case errors.As(err, &certE), errors.As(err, &unkCA), errors.As(err, &hostE), errors.As(err, &invE):
		return tools.Refuse(recorder.OutcomeError, "the TLS certificate of connection %q's server was not accepted; an operator must fix the connection's TLS settings", cn.name)
	case errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &opErr) && opErr.Op == "remote error":
		return tools.Refuse(recorder.OutcomeError, "the TLS handshake with connection %q's server failed; an operator must check the connection's TLS settings", cn.name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return tools.Refuse(recorder.OutcomeError, "connection %q's server refused the connection; it may be down", cn.name)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return tools.Refuse(recorder.OutcomeError, "could not connect to connection %q's server; it may be down or unreachable", cn.name)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return tools.Refuse(recorder.OutcomeError, "connection %q's server closed the connection without a complete response", cn.name)
	}
	return tools.Refuse(recorder.OutcomeError, "the request on connection %q failed before a response arrived", cn.name)
}
