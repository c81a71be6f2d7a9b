package querydb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlockhq/airlock/policy/pgsql"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// readStatement names the prepared statement a read runs as. It is named,
// not unnamed, so that the catalog lookups between its description and its
// execution (which use the unnamed statement) cannot replace it. It is
// closed at the end of the read; if the read ends early, DISCARD ALL on
// release deallocates it.
const readStatement = "airlock_read"

// read runs a read in two round trips (issue 12: it took six), with the
// catalog lookups masking needs:
//
//  1. BEGIN READ ONLY, SET LOCAL statement_timeout (gateway text, extended
//     protocol), Parse+Describe of the agent's statement, and the catalog
//     lookups for masking of the relations and functions it names
//     (lineage.go: views, parents and user functions in one query, the
//     relations' columns, which name the described columns' sources, in
//     another), pipelined;
//  2. Bind and Execute with a row limit of max_rows+1, Close, Sync and
//     ROLLBACK, in one flight.
//
// Between them, on this connection and inside this transaction, only what
// the first flight could not ask costs a round trip: each further level
// of views, and the columns of a described column's table that the
// statement does not name. Nothing is cached across calls.
//
// Execute's row limit stops the server at max_rows+1 rows, as a LIMIT
// would: a read cut at max_rows needs no cancel and reads no rows past the
// cut. A read cut by bytes, and a call whose context ends (revoked grant,
// call timeout), still cancel the query on the server.
func (p *postgres) read(ctx context.Context, conn *pgxpool.Conn, q *query) (rs *resultSet, err error) {
	pc := conn.Conn().PgConn()
	done := false
	defer func() {
		if done {
			return
		}
		// Roll back on a fresh context so the connection returns to the
		// pool clean, or is closed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := pc.Exec(rctx, "ROLLBACK").Close(); err != nil {
			_ = pc.Close(rctx)
		}
	}()

	// Column lineage for masking: the relations and functions the
	// statement names are looked up in the first flight, after its Parse
	// (which locks the relations it reads until the transaction ends, so
	// none can be renamed before it runs), along with their columns.
	lin := pgsql.AnalyzeLineage(q.SQL)
	ld := newCatalogLoader(lin)
	rels, fns, lookup := ld.next()
	tm := conn.Conn().TypeMap()
	var catArgs [][]byte
	if lookup {
		if catArgs, err = encodeText(tm, catalogArgs(rels, fns)); err != nil {
			return nil, err
		}
	}

	ms := strconv.FormatInt(statementTimeout(ctx, p.limits).Milliseconds(), 10)
	pl := pc.StartPipeline(ctx)
	pl.SendQueryParams("BEGIN READ ONLY", nil, nil, nil, nil)
	pl.SendQueryParams("SET LOCAL statement_timeout = "+ms, nil, nil, nil, nil)
	pl.SendPrepare(readStatement, q.SQL, nil)
	var after []func(*pgconn.ResultReader) error
	if lookup {
		pl.SendQueryParams(catalogSQL, catArgs, nil, nil, nil)
		after = append(after, func(rr *pgconn.ResultReader) error {
			return ld.add(pgx.RowsFromResultReader(tm, rr), rels, fns)
		})
	}
	if len(rels) > 0 {
		pl.SendQueryParams(columnsSQL, catArgs[:1], nil, nil, nil)
		after = append(after, func(rr *pgconn.ResultReader) error {
			return ld.addColumns(pgx.RowsFromResultReader(tm, rr), rels)
		})
	}
	sd, step, err := describe(pl, after)
	if err != nil {
		switch {
		case step < 2:
			return nil, p.connError(err)
		case step == 2:
			return nil, p.pgError(err)
		}
		return nil, fmt.Errorf("querydb: look up the views, functions and columns a result reads, for masking: %w", err)
	}

	// Views of views, one round trip per level, and the columns of a
	// described column's table the statement does not name, in one more.
	for missing := ld.cat.missing(sd.Fields); ; missing = nil {
		rels, fns, more := ld.next()
		if !more && len(missing) == 0 {
			break
		}
		if err := ld.lookup(ctx, oneTrip{conn}, rels, fns, missing); err != nil {
			return nil, err
		}
	}
	cat := ld.cat
	sources := cat.sources(sd.Fields)
	if len(sd.ParamOIDs) != len(q.Params) {
		return nil, tools.Refuse(recorder.OutcomeError, "the statement has %d parameters ($1, $2, ...) but %d params were given", len(sd.ParamOIDs), len(q.Params))
	}
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(tm, sd, q.Params); err != nil {
		return nil, tools.Refuse(recorder.OutcomeError, "params: %v", err)
	}
	fields := slices.Clone(sd.Fields)
	formats := make([]int16, len(fields))
	for i := range fields {
		formats[i] = binaryOIDs[fields[i].DataTypeOID]
		fields[i].Format = formats[i]
	}

	if err := ctx.Err(); err != nil {
		return nil, p.pgError(err)
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := watchCancel(qctx, pc)
	limit := uint32(math.MaxUint32)
	if p.maxRows < math.MaxUint32 {
		limit = uint32(p.maxRows) + 1
	}
	fe := pc.Frontend()
	fe.SendBind(&pgproto3.Bind{PreparedStatement: readStatement, ParameterFormatCodes: eqb.ParamFormats,
		Parameters: eqb.ParamValues, ResultFormatCodes: formats})
	fe.SendExecute(&pgproto3.Execute{MaxRows: limit})
	fe.SendClose(&pgproto3.Close{ObjectType: 'S', Name: readStatement})
	fe.SendSync(&pgproto3.Sync{})
	fe.SendQuery(&pgproto3.Query{String: "ROLLBACK"})
	if err := fe.Flush(); err != nil {
		stop()
		_ = pc.Close(context.WithoutCancel(ctx))
		return nil, p.pgError(err)
	}

	rs = &resultSet{Columns: make([]string, len(fields)), Rows: [][]any{}, fields: fields, Sources: sources}
	for i, fd := range fields {
		rs.Columns[i] = fd.Name
	}
	cv := converter{allowBinary: p.allowBinary}
	size := 0
	var serr error
	// Two ReadyForQuery end the flight: the Sync's and the ROLLBACK's.
	for ready := 0; ready < 2; {
		msg, err := pc.ReceiveMessage(context.Background())
		if err != nil {
			stop()
			_ = pc.Close(context.WithoutCancel(ctx))
			if ctx.Err() != nil {
				return nil, p.pgError(ctx.Err())
			}
			return nil, p.pgError(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			if rs.Truncated {
				continue // rows already in flight when the query was cancelled
			}
			if len(rs.Rows) == p.maxRows || size >= MaxResultBytes {
				rs.Truncated, rs.more = true, true
				if size >= MaxResultBytes {
					rs.Note = fmt.Sprintf("only the first %d rows were read: they reached the gateway's limit of %d bytes per result; select fewer or shorter columns, or add a narrower WHERE or a LIMIT",
						len(rs.Rows), MaxResultBytes)
					cancel() // more rows may follow: stop the query on the server
				}
				continue
			}
			vals := make([]any, len(m.Values))
			for i, b := range m.Values {
				fd := &fields[i]
				vals[i] = cv.pgValue(b, fd.DataTypeOID, fd.Format, func(b []byte) (any, error) {
					t, ok := tm.TypeForOID(fd.DataTypeOID)
					if !ok {
						return string(b), nil
					}
					return t.Codec.DecodeValue(tm, fd.DataTypeOID, fd.Format, b)
				})
				size += valueSize(vals[i])
			}
			rs.Rows = append(rs.Rows, vals)
		case *pgproto3.CopyInResponse:
			// Not a read (the READ ONLY transaction refuses it anyway):
			// the server would wait for data.
			fe.Send(&pgproto3.CopyFail{Message: "not a read"})
			if err := fe.Flush(); err != nil {
				stop()
				_ = pc.Close(context.WithoutCancel(ctx))
				return nil, p.pgError(err)
			}
		case *pgproto3.ErrorResponse:
			if serr == nil {
				serr = pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.ReadyForQuery:
			ready++
		}
	}
	stop()
	done = pc.TxStatus() == 'I'
	if ctx.Err() != nil {
		// Revoked or out of time while it ran: whatever was read is not
		// an answer.
		return nil, p.pgError(ctx.Err())
	}
	if serr != nil && !(rs.Truncated && isCancel(serr)) {
		return nil, p.pgError(serr)
	}
	if !done {
		return nil, p.connError(errors.New("the read's transaction did not end"))
	}
	if cv.cut > 0 {
		rs.Note = joinNotes(rs.Note, fmt.Sprintf("%d values were longer than the gateway's limit of %d bytes per value and were cut (marked …[cut]); select a part of them, e.g. left(column, 1000)",
			cv.cut, MaxValueBytes))
	}
	rs.RowCount = len(rs.Rows)
	rs.Lineage = cat.resolve(lin, rs.Columns)
	return rs, nil
}

// isCancel reports a query cancelled on request (SQLSTATE 57014), which is
// how a read the gateway cut by bytes ends.
func isCancel(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57014"
}

// describe reads the results of the first flight of read: BEGIN, SET, the
// statement's description and the catalog lookups sent after it, whose
// rows go to after, in order. step says which one failed (3 on: a lookup).
func describe(pl *pgconn.Pipeline, after []func(*pgconn.ResultReader) error) (sd *pgconn.StatementDescription, step int, err error) {
	defer func() {
		if cerr := pl.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := pl.Sync(); err != nil {
		return nil, 0, err
	}
	for {
		res, err := pl.GetResults()
		if err != nil {
			return nil, step, err
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			if step >= 3 && step-3 < len(after) {
				if err := after[step-3](r); err != nil {
					return nil, step, err
				}
			} else if _, err := r.Close(); err != nil {
				return nil, step, err
			}
			step++
		case *pgconn.StatementDescription:
			sd = r
			step++
		case *pgconn.PipelineSync:
			if sd == nil {
				return nil, step, errors.New("no statement description")
			}
			return sd, step, nil
		case nil:
			return nil, step, errors.New("pipeline ended early")
		}
	}
}

// encodeText encodes the catalog lookup's parameters (text arrays) as
// text, as pgx's exec mode would.
func encodeText(tm *pgtype.Map, args []any) ([][]byte, error) {
	out := make([][]byte, len(args))
	for i, a := range args {
		b, err := tm.Encode(pgtype.TextArrayOID, pgtype.TextFormatCode, a, nil)
		if err != nil {
			return nil, fmt.Errorf("querydb: encode a catalog parameter: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// watchCancel cancels the query running on pc when ctx ends, as the
// connection's own context watcher does for pgx's calls (cancelHandler).
// stop ends the watch; it returns once no cancel request is in flight, so
// none can reach the connection's next statement.
func watchCancel(ctx context.Context, pc *pgconn.PgConn) (stop func()) {
	h := &cancelHandler{conn: pc}
	finished := make(chan struct{})
	fired := make(chan bool, 1)
	go func() {
		select {
		case <-ctx.Done():
			h.HandleCancel(ctx)
			fired <- true
		case <-finished:
			fired <- false
		}
	}()
	return func() {
		close(finished)
		if <-fired {
			h.HandleUnwatchAfterCancel()
		}
	}
}

// oneTrip runs the gateway's own catalog queries in one round trip each
// (QueryExecModeExec: text parameters and results, no separate describe).
type oneTrip struct{ q querier }

func (o oneTrip) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return o.q.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
}
