package telemetry

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// dbScope is the instrumentation scope of database client spans.
const dbScope = ScopeName + "/pgx"

// PgxTracer is a pgx.QueryTracer that makes a client span per query,
// beneath the span in the query's context (the call's execute stage).
// Spans carry the database, server and outcome, never the SQL text, its
// arguments or an error's message: any of them can hold a value the agent
// sent or the database returned. (This is why the gateway has its own
// tracer rather than a contrib one that records SQL and error text.)
type PgxTracer struct{}

var _ pgx.QueryTracer = PgxTracer{}

func (PgxTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	ctx, _ = StartDBSpan(ctx, "postgresql", conn)
	return ctx
}

func (PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	EndDBSpan(trace.SpanFromContext(ctx), data.CommandTag.RowsAffected(), data.Err)
}

// StartDBSpan starts a PostgreSQL client span named name beneath the span
// in ctx; conn, when non-nil, names the database and server. Only inside a
// traced call does it record anything.
func StartDBSpan(ctx context.Context, name string, conn *pgx.Conn) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{attribute.String("db.system.name", "postgresql")}
	if conn != nil {
		if c := conn.Config(); c != nil {
			attrs = append(attrs, attribute.String("db.namespace", c.Database),
				attribute.String("server.address", c.Host), attribute.Int("server.port", int(c.Port)))
		}
	}
	return ContextTracerProvider().Tracer(dbScope).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// EndDBSpan ends a span from StartDBSpan with the rows and, on failure,
// the SQLSTATE (a code, never the message).
func EndDBSpan(span trace.Span, rows int64, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", rows))
		if err != nil {
			typ := "error"
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe):
				typ = "pg_error"
				span.SetAttributes(attribute.String("db.response.status_code", pe.Code))
			case errors.Is(err, context.Canceled):
				typ = "canceled"
			case errors.Is(err, context.DeadlineExceeded):
				typ = "deadline_exceeded"
			}
			span.SetAttributes(attribute.String("error.type", typ))
			span.SetStatus(codes.Error, typ)
		}
	}
	span.End()
}
