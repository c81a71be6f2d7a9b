// Package querydb is the query_db tool kind: SQL against PostgreSQL (pgx,
// extended protocol only, reads in READ ONLY transactions) and SQLite
// (read-only handle plus PRAGMA query_only for reads). Statements are
// classified by parsing before policy sees them.
package querydb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// Name is the tool's name.
const Name = "query_db"

// MaxSQLBytes bounds the statement an agent may send.
const MaxSQLBytes = 64 << 10

// MaxParams bounds the number of bound parameters.
const MaxParams = 256

func init() {
	tools.Register(tools.Kind{
		Name:            Name,
		ConnectionKinds: []string{config.KindPostgres, config.KindSQLite},
		New:             New,
	})
}

// target is one SQL connection.
type target interface {
	classify(sql string) (tools.Action, error)
	query(ctx context.Context, q *query, access policy.Access) (*resultSet, error)
	ping(ctx context.Context) error
	close()
}

// query is query_db's parsed arguments.
type query struct {
	SQL    string
	Params []any
}

// resultSet is what a target returns.
type resultSet struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	RowCount  int      `json:"row_count"`
	Truncated bool     `json:"truncated"`
	// Sources name each column's source as "table.column" when the
	// database says (PostgreSQL), so masking rules survive aliases; ""
	// for computed columns.
	Sources []masking.ColumnRef `json:"-"`
	// Command is a write's command tag ("UPDATE 3"); RowCount is then
	// the rows it affected.
	Command string `json:"-"`
	// Note says what was left out and why (row, value or result bounds).
	Note string `json:"-"`
	// more is set when rows exist past the ones read.
	more bool
	// Lineage traces each column to the stored columns it reads or is
	// computed from, for column rules (see lineage.go).
	Lineage []masking.Lineage `json:"-"`

	fields []pgconn.FieldDescription
}

// Tool is query_db over the configured SQL connections.
type Tool struct {
	targets   map[string]target
	limits    config.Limits
	def       mcp.Tool
	connNames []string
	env       *tools.Env
}

var (
	_ tools.Tool              = (*Tool)(nil)
	_ tools.ConnectionChecker = (*Tool)(nil)
)

// New builds query_db for every postgres and sqlite connection in the
// config; nil when there are none. Connections open lazily.
func New(env *tools.Env) (tools.Tool, error) {
	t := &Tool{targets: map[string]target{}, limits: env.Config.Limits}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, name := range slices.Sorted(maps.Keys(env.Config.Connections)) {
		c := env.Config.Connections[name]
		var (
			tg  target
			err error
		)
		switch c.Kind {
		case config.KindPostgres:
			tg, err = newPostgres(name, c, env.Config.Limits, log)
		case config.KindSQLite:
			tg, err = newSQLite(name, c, env.Config.Limits)
		default:
			continue
		}
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("connection %s: %w", name, err)
		}
		t.targets[name] = tg
		t.connNames = append(t.connNames, name)
	}
	if len(t.targets) == 0 {
		return nil, nil
	}
	t.env = env
	t.def = definition(env, t.connNames)
	return t, nil
}

func definition(env *tools.Env, names []string) mcp.Tool {
	var desc strings.Builder
	desc.WriteString("Run one SQL statement on a configured database connection through the Airlock gateway. ")
	desc.WriteString("Exactly one statement; bind values with params ($1, $2, ... on PostgreSQL). ")
	desc.WriteString("Results are capped in rows; narrow with WHERE/LIMIT when truncated is true. Connections:")
	readOnly := true
	for _, n := range names {
		c := env.Config.Connections[n]
		fmt.Fprintf(&desc, "\n- %s (%s)", n, c.Kind)
		if c.Description != "" {
			fmt.Fprintf(&desc, ": %s", c.Description)
		}
		if a := env.Policy.MaxAccess(n); a != "" && a != policy.Read {
			readOnly = false
		}
	}
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"connection": map[string]any{"type": "string", "enum": names, "description": "Name of the connection to query."},
			"sql":        map[string]any{"type": "string", "description": "One SQL statement.", "maxLength": MaxSQLBytes},
			"params": map[string]any{
				"type": "array", "maxItems": MaxParams,
				"description": "Values bound to $1..$n (PostgreSQL) or ? / $1.. (SQLite), never interpolated.",
				"items": map[string]any{"anyOf": []any{ // one type per branch: some clients' schema dialects refuse a "type" array
					map[string]any{"type": "string"}, map[string]any{"type": "number"},
					map[string]any{"type": "boolean"}, map[string]any{"type": "null"}}},
			},
		},
		"required":             []string{"connection", "sql"},
		"additionalProperties": false,
	}
	raw, _ := json.Marshal(schema)
	def := mcp.NewToolWithRawSchema(Name, desc.String(), raw)
	def.Annotations = tools.Annotations("Query a database", readOnly)
	return def
}

// Definition implements tools.Tool.
func (t *Tool) Definition() mcp.Tool { return t.def }

// DefinitionFor implements tools.ScopedDefinition.
func (t *Tool) DefinitionFor(names []string) mcp.Tool { return definition(t.env, names) }

// Parse implements tools.Tool.
func (t *Tool) Parse(args map[string]any) (*tools.Call, error) {
	for k := range args {
		if k != "connection" && k != "sql" && k != "params" {
			return nil, fmt.Errorf("unknown argument %q (query_db takes connection, sql and params)", k)
		}
	}
	name, _ := args["connection"].(string)
	tg, ok := t.targets[name]
	if !ok {
		return nil, tools.UnknownConnection(name)
	}
	sql, ok := args["sql"].(string)
	if !ok || strings.TrimSpace(sql) == "" {
		return nil, errors.New("sql is required: one SQL statement as a string")
	}
	if len(sql) > MaxSQLBytes {
		return nil, fmt.Errorf("sql is too long (%d bytes; at most %d)", len(sql), MaxSQLBytes)
	}
	var params []any
	if raw, present := args["params"]; present && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return nil, errors.New("params must be an array of values")
		}
		if len(list) > MaxParams {
			return nil, fmt.Errorf("too many params (%d; at most %d)", len(list), MaxParams)
		}
		for i, v := range list {
			switch v.(type) {
			case nil, string, float64, bool, json.Number:
			default:
				return nil, fmt.Errorf("params[%d] must be a string, number, boolean or null", i)
			}
		}
		params = list
	}
	a, err := tg.classify(sql)
	if err != nil {
		return nil, err
	}
	a.Connection = name
	return &tools.Call{Action: a, Args: &query{SQL: sql, Params: params}}, nil
}

// Execute implements tools.Tool.
func (t *Tool) Execute(ctx context.Context, c *tools.Call) (*tools.Result, error) {
	q := c.Args.(*query)
	rs, err := t.targets[c.Connection].query(ctx, q, c.Access)
	if err != nil {
		return nil, err
	}
	return rs.result(), nil
}

// result hands the rows to the pipeline, which masks them by column,
// caps them by tokens and renders them.
func (rs *resultSet) result() *tools.Result {
	note := rs.Note
	if rs.more && note == "" {
		note = "more rows exist: only the first " + strconv.Itoa(len(rs.Rows)) + " were read (the connection's max_rows); add a LIMIT or a narrower WHERE clause"
	}
	return &tools.Result{Table: &tools.Table{Columns: rs.Columns, Sources: rs.Sources, Lineage: rs.Lineage, Rows: rs.Rows, Command: rs.Command},
		Rows: rs.RowCount, Truncated: rs.Truncated, Note: note}
}

// CheckConnection implements tools.ConnectionChecker.
func (t *Tool) CheckConnection(ctx context.Context, name string) error {
	tg, ok := t.targets[name]
	if !ok {
		return fmt.Errorf("%w %q", tools.ErrUnknownConnection, name)
	}
	return tg.ping(ctx)
}

// Close releases every connection.
func (t *Tool) Close() error {
	for _, tg := range t.targets {
		tg.close()
	}
	return nil
}

// sqlError turns a database error into something the agent can act on,
// without connection details.
func sqlError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return tools.Refuse(recorder.OutcomeError, "the statement ran past its time limit and was cancelled; narrow the query")
	}
	return err
}

func statementTimeout(ctx context.Context, l config.Limits) time.Duration {
	d := l.StatementTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	return max(d, time.Millisecond)
}
