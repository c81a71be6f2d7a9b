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

	"github.com/airlockhq/airlock/masking"
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

// read runs a read in one round trip when this connection described the
// same statement before and the description is unchanged, in two otherwise
// (issue 12: it took six), with the catalog lookups masking needs.
//
// The two-trip read (readDescribed):
//
//  1. BEGIN READ ONLY, SET LOCAL statement_timeout (gateway text, extended
//     protocol), Parse+Describe of the agent's statement, and the catalog
//     lookups for masking of the relations and functions it names
//     (lineage.go: views, parents and user functions in one query, the
//     relations' columns, which name the described columns' sources, in
//     another), pipelined;
//  2. Bind and Execute with a row limit of max_rows+1, Sync, Close of the
//     statement, Sync and ROLLBACK, in one flight.
//
// Between them, on this connection and inside this transaction, only what
// the first flight could not ask costs a round trip: each further level
// of views, and the columns of a described column's table the statement
// does not name.
//
// The one-trip read (readPredicted) sends both flights as one. Bind needs
// what the description gives (the parameters' types, the format of each
// result column), so it takes them from the connection's last description
// of the same text (descriptionCache); the description and the lookups
// still travel in the flight, inside the transaction, before the Execute,
// and are checked before any row is used: if the parameters' types or the
// formats differ, or the lookups name more to look up, the flight's rows
// are dropped and the read runs again in two trips. Only the description
// is remembered, never a source or a lineage, and rows are decoded with
// the fresh description's types and the formats asked for.
//
// Execute's row limit stops the server at max_rows+1 rows, as a LIMIT
// would: a read cut at max_rows needs no cancel and reads no rows past the
// cut. A read cut by bytes, and a call whose context ends (revoked grant,
// call timeout), still cancel the query on the server.
func (p *postgres) read(ctx context.Context, conn *pgxpool.Conn, q *query) (*resultSet, error) {
	descs := descriptionsOf(conn.Conn().PgConn())
	lin := pgsql.AnalyzeLineage(q.SQL)
	if d := descs.get(q.SQL); d != nil && !d.more && len(d.paramOIDs) == len(q.Params) {
		rs, err := p.readPredicted(ctx, conn, q, lin, d)
		if !errors.Is(err, errStale) {
			return rs, err
		}
	}
	return p.readDescribed(ctx, conn, q, lin, descs)
}

// errStale says a one-trip read found the statement's description changed
// (or its lookups deeper) since the connection last described it: its rows
// were dropped, and the read runs again in two trips.
var errStale = errors.New("querydb: the statement's description changed")

// readDescribed is the two-trip read; it remembers the description in
// descs for the next read of the same text on this connection.
func (p *postgres) readDescribed(ctx context.Context, conn *pgxpool.Conn, q *query, lin *pgsql.Lineage, descs *descriptionCache) (rs *resultSet, err error) {
	pc := conn.Conn().PgConn()
	tm := conn.Conn().TypeMap()
	done := false
	defer endRead(ctx, pc, &done)

	ff, err := newFirstFlight(tm, lin)
	if err != nil {
		return nil, err
	}
	pl := pc.StartPipeline(ctx)
	after := ff.send(pl, q.SQL, statementTimeout(ctx, p.limits))
	sd, step, err := describe(pl, after, pl.Sync)
	if err != nil {
		return nil, p.describeError(step, err)
	}

	// Views of views, one round trip per level, and the columns of a
	// described column's table the statement does not name, in one more.
	ld := ff.ld
	more := false
	for missing := ld.cat.missing(sd.Fields); ; missing = nil {
		rels, fns, next := ld.next()
		if !next && len(missing) == 0 {
			break
		}
		more = true
		if err := ld.lookup(ctx, oneTrip{conn}, rels, fns, missing); err != nil {
			return nil, err
		}
	}
	if len(sd.ParamOIDs) != len(q.Params) {
		return nil, tools.Refuse(recorder.OutcomeError, "the statement has %d parameters ($1, $2, ...) but %d params were given", len(sd.ParamOIDs), len(q.Params))
	}
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(tm, sd, q.Params); err != nil {
		return nil, tools.Refuse(recorder.OutcomeError, "params: %v", err)
	}
	formats := resultFormats(sd.Fields)
	descs.put(q.SQL, &description{paramOIDs: slices.Clone(sd.ParamOIDs), formats: formats, more: more})

	if err := ctx.Err(); err != nil {
		return nil, p.pgError(err)
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := watchCancel(qctx, pc)
	fe := pc.Frontend()
	p.sendExecute(fe, &eqb, formats)
	if err := fe.Flush(); err != nil {
		stop()
		_ = pc.Close(context.WithoutCancel(ctx))
		return nil, p.pgError(err)
	}
	rs = newResultSet(sd.Fields, formats, ld.cat.sources(sd.Fields))
	cut, serr, err := p.receive(ctx, pc, tm, rs, cancel)
	stop()
	if err != nil {
		return nil, err
	}
	done = pc.TxStatus() == 'I'
	return p.result(ctx, rs, cut, serr, done, ld.cat, lin)
}

// readPredicted is the one-trip read, with the parameters' types and the
// result formats of d, the connection's last description of q.SQL. It
// returns errStale, having dropped whatever the flight read and ended its
// transaction, when the fresh description does not match d.
func (p *postgres) readPredicted(ctx context.Context, conn *pgxpool.Conn, q *query, lin *pgsql.Lineage, d *description) (rs *resultSet, err error) {
	pc := conn.Conn().PgConn()
	tm := conn.Conn().TypeMap()
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(tm, &pgconn.StatementDescription{ParamOIDs: d.paramOIDs}, q.Params); err != nil {
		return nil, errStale // the two-trip read says what is wrong with them
	}
	ff, err := newFirstFlight(tm, lin)
	if err != nil {
		return nil, err
	}
	done := false
	defer endRead(ctx, pc, &done)

	pl := pc.StartPipeline(ctx)
	if !pc.IsBusy() {
		// The pipeline did not start (the call's context had ended, or
		// the connection is closed): write nothing past it. The
		// two-trip read fails as it always has.
		_ = pl.Close()
		done = true // nothing began
		return nil, errStale
	}
	after := ff.send(pl, q.SQL, statementTimeout(ctx, p.limits))
	// The first flight's own Sync ends the pipeline's part; the Bind and
	// everything after it follow in the same write.
	pl.SendPipelineSync()
	p.sendExecute(pc.Frontend(), &eqb, d.formats)
	sd, step, derr := describe(pl, after, pl.Flush)

	if derr != nil && pc.IsClosed() {
		return nil, p.describeError(step, derr) // nothing more will come
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := watchCancel(qctx, pc)
	stale := derr == nil && !matches(sd, ff.ld, d)
	if derr != nil || stale {
		// The rest of the flight is still coming: read it to the end
		// (its rows unused) so that the connection is in step.
		_, _, err := p.receive(ctx, pc, tm, nil, cancel)
		stop()
		if err != nil {
			return nil, err
		}
		done = pc.TxStatus() == 'I'
		switch {
		case derr != nil:
			return nil, p.describeError(step, derr)
		case ctx.Err() != nil:
			return nil, p.pgError(ctx.Err())
		case !done:
			return nil, p.connError(errors.New("the read's transaction did not end"))
		}
		return nil, errStale
	}
	rs = newResultSet(sd.Fields, d.formats, ff.ld.cat.sources(sd.Fields))
	cut, serr, err := p.receive(ctx, pc, tm, rs, cancel)
	stop()
	if err != nil {
		return nil, err
	}
	done = pc.TxStatus() == 'I'
	return p.result(ctx, rs, cut, serr, done, ff.ld.cat, lin)
}

// matches reports whether a one-trip read's fresh description sd, and the
// lookups that came with it (ld), allow its rows: the parameters' types
// are those the Bind encoded for, each column's format is the one its
// fresh type is read in, and nothing is left to look up.
func matches(sd *pgconn.StatementDescription, ld *catalogLoader, d *description) bool {
	if !slices.Equal(sd.ParamOIDs, d.paramOIDs) || len(sd.Fields) != len(d.formats) {
		return false
	}
	for i := range sd.Fields {
		if binaryOIDs[sd.Fields[i].DataTypeOID] != d.formats[i] {
			return false
		}
	}
	if _, _, more := ld.next(); more {
		return false
	}
	return len(ld.cat.missing(sd.Fields)) == 0
}

// endRead, deferred, rolls back a read that did not end its transaction,
// on a fresh context so the connection returns to the pool clean, or is
// closed.
func endRead(ctx context.Context, pc *pgconn.PgConn, done *bool) {
	if *done {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := pc.Exec(rctx, "ROLLBACK").Close(); err != nil {
		_ = pc.Close(rctx)
	}
}

// describeError maps a failure of the first flight at step (describe).
func (p *postgres) describeError(step int, err error) error {
	switch {
	case step < 2:
		return p.connError(err)
	case step == 2:
		return p.pgError(err)
	}
	return fmt.Errorf("querydb: look up the views, functions and columns a result reads, for masking: %w", err)
}

// firstFlight is what a read sends before it can bind: the transaction,
// the statement's description, and the first catalog lookup for masking.
type firstFlight struct {
	ld        *catalogLoader
	tm        *pgtype.Map
	rels, fns []string
	catSQL    string   // catalogQuery's text
	catArgs   [][]byte // nil when the statement names nothing to look up
}

// newFirstFlight prepares the first lookup of lin's names. Column lineage
// for masking: the relations and functions the statement names are looked
// up in the first flight, after its Parse (which locks the relations it
// reads until the transaction ends, so none can be renamed before it
// runs), along with their columns.
func newFirstFlight(tm *pgtype.Map, lin *pgsql.Lineage) (*firstFlight, error) {
	f := &firstFlight{ld: newCatalogLoader(lin), tm: tm}
	rels, fns, lookup := f.ld.next()
	if lookup {
		sql, cargs := catalogQuery(rels, fns)
		args, err := encodeText(tm, cargs)
		if err != nil {
			return nil, err
		}
		f.rels, f.fns, f.catSQL, f.catArgs = rels, fns, sql, args
	}
	return f, nil
}

// send queues the first flight on pl (not flushed) and returns the readers
// of the lookups' rows, for describe.
func (f *firstFlight) send(pl *pgconn.Pipeline, sql string, timeout time.Duration) []func(*pgconn.ResultReader) error {
	ms := strconv.FormatInt(timeout.Milliseconds(), 10)
	pl.SendQueryParams("BEGIN READ ONLY", nil, nil, nil, nil)
	pl.SendQueryParams("SET LOCAL statement_timeout = "+ms, nil, nil, nil, nil)
	pl.SendPrepare(readStatement, sql, nil)
	var after []func(*pgconn.ResultReader) error
	if f.catArgs != nil {
		pl.SendQueryParams(f.catSQL, f.catArgs, nil, nil, nil)
		after = append(after, func(rr *pgconn.ResultReader) error {
			return f.ld.add(pgx.RowsFromResultReader(f.tm, rr), f.rels, f.fns)
		})
	}
	if len(f.rels) > 0 {
		pl.SendQueryParams(columnsSQL, f.catArgs[:1], nil, nil, nil)
		after = append(after, func(rr *pgconn.ResultReader) error {
			return f.ld.addColumns(pgx.RowsFromResultReader(f.tm, rr), f.rels)
		})
	}
	return after
}

// sendExecute queues the second half of a read: Bind (eqb's parameters,
// the result formats), Execute with the row limit of max_rows+1, Sync,
// Close of the statement, Sync and ROLLBACK.
func (p *postgres) sendExecute(fe *pgproto3.Frontend, eqb *pgx.ExtendedQueryBuilder, formats []int16) {
	limit := uint32(math.MaxUint32)
	if p.maxRows < math.MaxUint32 {
		limit = uint32(p.maxRows) + 1
	}
	fe.SendBind(&pgproto3.Bind{PreparedStatement: readStatement, ParameterFormatCodes: eqb.ParamFormats,
		Parameters: eqb.ParamValues, ResultFormatCodes: formats})
	fe.SendExecute(&pgproto3.Execute{MaxRows: limit})
	fe.SendSync(&pgproto3.Sync{})
	// After the Sync, so that it runs even when the Bind or the Execute
	// failed (a failure skips to the next Sync): a one-trip read whose
	// description changed runs again on this connection, and Parses the
	// statement anew. Prepared statements outlive ROLLBACK.
	fe.SendClose(&pgproto3.Close{ObjectType: 'S', Name: readStatement})
	fe.SendSync(&pgproto3.Sync{})
	fe.SendQuery(&pgproto3.Query{String: "ROLLBACK"})
}

// resultFormats is the format each described column is read in.
func resultFormats(fds []pgconn.FieldDescription) []int16 {
	formats := make([]int16, len(fds))
	for i := range fds {
		formats[i] = binaryOIDs[fds[i].DataTypeOID]
	}
	return formats
}

// newResultSet is an empty result with the described columns fds, read
// in formats (those the Bind asked for).
func newResultSet(fds []pgconn.FieldDescription, formats []int16, sources []masking.ColumnRef) *resultSet {
	fields := slices.Clone(fds)
	rs := &resultSet{Columns: make([]string, len(fields)), Rows: [][]any{}, fields: fields, Sources: sources}
	for i := range fields {
		fields[i].Format = formats[i]
		rs.Columns[i] = fields[i].Name
	}
	return rs
}

// receive reads the rest of a read's flight, to the ReadyForQuery of its
// ROLLBACK, keeping the rows in rs (within max_rows and MaxResultBytes;
// cancel stops the query past the bytes), or, with rs nil, dropping them
// (still cancelling past MaxResultBytes). It returns the number of values
// cut, the statement's error, and err, a failure of the connection (which
// it closes) or the end of ctx, mapped for the agent.
func (p *postgres) receive(ctx context.Context, pc *pgconn.PgConn, tm *pgtype.Map, rs *resultSet, cancel func()) (cut int, serr, err error) {
	fe := pc.Frontend()
	cv := converter{allowBinary: p.allowBinary}
	size := 0
	cancelled := false
	// Three ReadyForQuery end the flight: the two Syncs' and the
	// ROLLBACK's.
	for ready := 0; ready < 3; {
		msg, err := pc.ReceiveMessage(context.Background())
		if err != nil {
			_ = pc.Close(context.WithoutCancel(ctx))
			if ctx.Err() != nil {
				return 0, nil, p.pgError(ctx.Err())
			}
			return 0, nil, p.pgError(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			if rs == nil {
				for _, b := range m.Values {
					size += len(b)
				}
				if size >= MaxResultBytes && !cancelled {
					cancelled = true
					cancel()
				}
				continue
			}
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
				fd := &rs.fields[i]
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
				_ = pc.Close(context.WithoutCancel(ctx))
				return 0, nil, p.pgError(err)
			}
		case *pgproto3.ErrorResponse:
			if serr == nil {
				serr = pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.ReadyForQuery:
			ready++
		}
	}
	return cv.cut, serr, nil
}

// result ends a read whose flight was read to the end (receive): done
// says its transaction ended.
func (p *postgres) result(ctx context.Context, rs *resultSet, cut int, serr error, done bool, cat *lineageCatalog, lin *pgsql.Lineage) (*resultSet, error) {
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
	if cut > 0 {
		rs.Note = joinNotes(rs.Note, fmt.Sprintf("%d values were longer than the gateway's limit of %d bytes per value and were cut (marked …[cut]); select a part of them, e.g. left(column, 1000)",
			cut, MaxValueBytes))
	}
	rs.RowCount = len(rs.Rows)
	rs.Lineage = cat.resolve(lin, rs.Columns)
	return rs, nil
}

// description is what a connection's last description of a statement
// gave: its parameters' types, the format each result column is read in,
// and whether its read needed lookups past the first flight (views of
// views, a column's table the statement does not name).
type description struct {
	paramOIDs []uint32
	formats   []int16
	more      bool
}

// descriptionCache holds a connection's descriptions by statement text, for
// the one-trip read. It lives in the connection's CustomData, so it ends
// with the connection; a connection is used by one call at a time, so it
// needs no lock. It only predicts: every read checks the fresh description
// against it before using a row. Bounded in entries and in the bytes of
// the texts: when full it starts over.
type descriptionCache struct {
	m     map[string]*description
	bytes int
}

const (
	descCacheKey     = "airlock.querydb.descriptions"
	descCacheEntries = 256
	descCacheBytes   = 256 << 10
)

// descriptionsOf returns pc's descriptions, made empty on first use.
func descriptionsOf(pc *pgconn.PgConn) *descriptionCache {
	data := pc.CustomData()
	if c, ok := data[descCacheKey].(*descriptionCache); ok {
		return c
	}
	c := &descriptionCache{}
	data[descCacheKey] = c
	return c
}

func (c *descriptionCache) get(sql string) *description { return c.m[sql] }

func (c *descriptionCache) put(sql string, d *description) {
	if _, ok := c.m[sql]; !ok {
		if c.m == nil || len(c.m) >= descCacheEntries || c.bytes+len(sql) > descCacheBytes {
			c.m, c.bytes = make(map[string]*description), 0
		}
		c.bytes += len(sql)
	}
	c.m[sql] = d
}

// isCancel reports a query cancelled on request (SQLSTATE 57014), which is
// how a read the gateway cut by bytes ends.
func isCancel(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57014"
}

// describe sends the first flight of a read (flush: the pipeline's Sync,
// or its Flush when the Sync is queued already) and reads its results:
// BEGIN, SET, the statement's description and the catalog lookups sent
// after it, whose rows go to after, in order. step says which one failed
// (3 on: a lookup).
func describe(pl *pgconn.Pipeline, after []func(*pgconn.ResultReader) error, flush func() error) (sd *pgconn.StatementDescription, step int, err error) {
	defer func() {
		if cerr := pl.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := flush(); err != nil {
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
