package telemetry

import (
	"context"
	"fmt"
	stdlog "log"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/airlockhq/airlock/masking"
)

// KeyLib names, on a library's log line, the library that wrote it.
const KeyLib = "lib"

// Redacted replaces a value a library's log line must not show.
const Redacted = "[redacted]"

// LibraryLogger returns a logger for the lines a library writes on its own
// (mcp-go's server and client transports), through base's handler so they
// reach the gateway's log with its format, call and trace ids:
//
//   - levels are lowered: a library's Debug and Info are Debug (session
//     sweeps, listener restarts), its Warn and Error are Warn. What fails a
//     call reaches the gateway as an error and is logged in its own words;
//     the library's line is a diagnostic beside it.
//   - an attribute whose key names a session, a token, a credential, a
//     header or a cookie is replaced by [redacted], at any depth: mcp-go
//     logs the Mcp-Session-Id (a bearer credential for the session) as
//     "session" and "sessionID".
//   - the message and every other text value (errors included) pass
//     RedactText: secrets the masking detectors know, URLs cut to their
//     origin, session ids and long hex or UUID ids.
//
// Every line carries lib=name. A nil base discards.
func LibraryLogger(base *slog.Logger, name string) *slog.Logger {
	if base == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(&libHandler{next: base.Handler()}).With(KeyLib, name)
}

// RouteDefaultLoggers sends what is written to the process's default
// loggers — slog.Default (mcp-go's client transports fall back to it, its
// client logs through it) and the standard log package (mcp-go's SSE
// server and session hooks log.Printf, with the session id) — through
// LibraryLogger(base, name). Standard log lines count as warnings: mcp-go
// writes there only when something failed. restore puts back the
// defaults it found (base's writer may not outlive the caller).
func RouteDefaultLoggers(base *slog.Logger, name string) (restore func()) {
	oldSlog, oldOut, oldFlags := slog.Default(), stdlog.Writer(), stdlog.Flags()
	l := LibraryLogger(base, name)
	slog.SetDefault(l)
	// After SetDefault, which points the log package at l at Info.
	stdlog.SetFlags(0)
	stdlog.SetOutput(slog.NewLogLogger(l.Handler(), slog.LevelWarn).Writer())
	return func() {
		slog.SetDefault(oldSlog)
		// SetDefault with the original default handler leaves the log
		// package's output alone: put it back too.
		stdlog.SetOutput(oldOut)
		stdlog.SetFlags(oldFlags)
	}
}

type libHandler struct{ next slog.Handler }

func libLevel(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

func (h *libHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, libLevel(l))
}

func (h *libHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, libLevel(r.Level), RedactText(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return &libHandler{next: h.next.WithAttrs(red)}
}

func (h *libHandler) WithGroup(name string) slog.Handler {
	return &libHandler{next: h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if sensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, RedactText(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = redactAttr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		// Errors, stringers, maps, byte slices, panics: all as text.
		var s string
		switch x := v.Any().(type) {
		case nil:
			return slog.Attr{Key: a.Key, Value: v}
		case error:
			s = x.Error()
		default:
			s = fmt.Sprint(x)
		}
		return slog.String(a.Key, RedactText(s))
	}
	return slog.Attr{Key: a.Key, Value: v} // numbers, bools, times, durations
}

// sensitiveWords in an attribute key (lower-cased, without '-', '_', '.')
// make its value [redacted].
var sensitiveWords = []string{"session", "token", "auth", "bearer", "cookie", "secret", "passw", "credential",
	"header", "apikey", "privatekey", "signature"}

var keySeparators = strings.NewReplacer("-", "", "_", "", ".", "")

func sensitiveKey(k string) bool {
	k = keySeparators.Replace(strings.ToLower(k))
	for _, w := range sensitiveWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

var (
	// A URL: scheme://, then up to a space, a quote or a bracket.
	urlRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s"'<>()\[\]{}]+`)
	// A session id named as such: "session abc…", "sessionId=abc…",
	// "Mcp-Session-Id: abc…". The id is judged by looksLikeID.
	sessionRE = regexp.MustCompile(`(?i)(session(?:[ _-]?id)?)("?\s*[:=]?\s*"?)([A-Za-z0-9._~+/=-]{8,})`)
	// Long hex runs (the gateway's session ids are 48 hex digits, trace
	// ids 32) and UUIDs.
	idRE = regexp.MustCompile(`\b(?:[0-9A-Fa-f]{32,}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\b`)
)

// maxRedactLen bounds the text RedactText reads; longer text is cut (a
// library's line is a diagnostic, not a payload).
const maxRedactLen = 4096

// RedactText returns s without what a log line must not show: URLs cut to
// scheme://host (the path and query can hold session ids and tokens, the
// user info a password); values the masking detectors find with every
// detector on (bearer tokens, JWTs, API keys, passwords in name=value
// pairs, …) replaced by their entity label; session ids and long hex or
// UUID identifiers replaced by [redacted].
func RedactText(s string) string {
	if s == "" {
		return s
	}
	if len(s) > maxRedactLen {
		cut := maxRedactLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	s = urlRE.ReplaceAllStringFunc(s, func(u string) string {
		if o := originOf(u); o != "" {
			if len(o) < len(u) {
				return o + "/…"
			}
			return o
		}
		return Redacted
	})
	s = defaultMasker().MaskString(s)
	if loc := sessionRE.FindAllStringSubmatchIndex(s, -1); loc != nil {
		var b strings.Builder
		last := 0
		for _, m := range loc {
			if !looksLikeID(s[m[6]:m[7]]) {
				continue
			}
			b.WriteString(s[last:m[6]])
			b.WriteString(Redacted)
			last = m[7]
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return idRE.ReplaceAllString(s, Redacted)
}

// looksLikeID tells an id ("3f9c…", "mcp-session-1b2c…") from a word that
// follows "session" in prose ("session terminated").
func looksLikeID(w string) bool {
	if len(w) >= 20 {
		return true
	}
	return strings.ContainsAny(w, "0123456789")
}

// defaultMasker is the masking engine with every detector on and every
// entity redacted: the zero Config, whatever airlock.yaml says (a log line
// or a span is not a result an operator tuned masking for).
var defaultMasker = sync.OnceValue(func() *masking.Engine {
	e, err := masking.New(masking.Config{})
	if err != nil {
		panic("telemetry: the default masking engine: " + err.Error())
	}
	return e
})
