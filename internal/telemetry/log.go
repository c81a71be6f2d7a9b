package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type callIDKey struct{}

// WithCallID returns ctx naming the call it serves; lines logged with it
// (slog's *Context methods) carry call_id.
func WithCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// CallID is the call ctx serves, or "".
func CallID(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}

// Log attribute keys added by LogHandler.
const (
	KeyCallID  = "call_id"
	KeyTraceID = "trace_id"
	KeySpanID  = "span_id"
)

// LogHandler wraps h so that every record logged with a call's context
// carries call_id, and trace_id and span_id when the call is traced (or
// the client sent a trace context). A record that already names its
// call_id keeps its own.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(*ctxHandler); ok {
		return h
	}
	return &ctxHandler{next: h}
}

type ctxHandler struct{ next slog.Handler }

func (h *ctxHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id := CallID(ctx); id != "" && !hasAttr(r, KeyCallID) {
			r.AddAttrs(slog.String(KeyCallID, id))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !hasAttr(r, KeyTraceID) {
			r.AddAttrs(slog.String(KeyTraceID, sc.TraceID().String()), slog.String(KeySpanID, sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h *ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &ctxHandler{next: h.next.WithAttrs(as)}
}

func (h *ctxHandler) WithGroup(name string) slog.Handler {
	return &ctxHandler{next: h.next.WithGroup(name)}
}
