package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/masking"
)

// initSample is how many non-null values of each column init reads.
const initSample = 200

// initMostly is the share of sampled values that must be one entity for
// the column to get a rule.
const initMostly = 0.5

// cmdInit writes a starter airlock.yaml for a database: the connection, a
// read rule for a group, and masking column rules proposed by sampling
// each column with the detectors. It never prints or writes a sampled
// value: only counts and entity names.
func cmdInit(ctx context.Context, args []string, stdout io.Writer) error {
	fs, out := newFlags("init")
	fs.Lookup("config").Usage = "the file to write"
	pgDSN := fs.String("postgres", "", "a PostgreSQL URL without a password (postgres://user@host:5432/db)")
	pwEnv := fs.String("password-env", "DB_PASSWORD", "the environment variable that holds the PostgreSQL password (read now, and named in the config)")
	sqlitePath := fs.String("sqlite", "", "a SQLite database file")
	demo := fs.Bool("demo", false, "write the quick start's config (a demo SQLite database created at start)")
	name := fs.String("name", "db", "the connection's name")
	group := fs.String("group", "analysts", "the group the read rule is for")
	force := fs.Bool("force", false, "overwrite an existing file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{*pgDSN != "", *sqlitePath != "", *demo} {
		if set {
			n++
		}
	}
	if n != 1 {
		return usageError("usage: airlock init --postgres URL [--password-env NAME] | --sqlite PATH | --demo  [--config airlock.yaml] [--name db] [--group analysts] [--force]")
	}
	if !*force {
		if _, err := os.Stat(*out); err == nil {
			return fmt.Errorf("%s exists; pass --force to overwrite it, or --config another path", *out)
		}
	}
	if *demo {
		if err := os.WriteFile(*out, []byte(quickstartYAML), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: the quick start (demo SQLite database, dev issuer, group analysts reads demo)\nnext: airlock serve --config %s\n", *out, *out)
		return nil
	}
	if *name == "" || strings.Trim(*name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return usageError("airlock init: --name uses letters, digits, '-' and '_'")
	}
	var (
		conn    string
		samples []columnSample
		err     error
	)
	if *pgDSN != "" {
		u, perr := url.Parse(*pgDSN)
		if perr != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return usageError("airlock init: --postgres wants a postgres:// URL")
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			return usageError(fmt.Sprintf("airlock init: the URL must not hold a password; put it in $%s (--password-env)", *pwEnv))
		}
		samples, err = samplePostgres(ctx, *pgDSN, os.Getenv(*pwEnv))
		if err != nil {
			return err
		}
		pw := ""
		if _, ok := os.LookupEnv(*pwEnv); ok {
			pw = fmt.Sprintf("\n    password: {env: %s}   # never written here", *pwEnv)
		}
		conn = fmt.Sprintf("  %s:\n    kind: postgres\n    dsn: %q%s\n    max_rows: 500\n", *name, *pgDSN, pw)
	} else {
		abs, aerr := filepath.Abs(*sqlitePath)
		if aerr != nil {
			return aerr
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("--sqlite %s: %w", *sqlitePath, err)
		}
		samples, err = sampleSQLite(ctx, abs)
		if err != nil {
			return err
		}
		conn = fmt.Sprintf("  %s:\n    kind: sqlite\n    path: %q\n    max_rows: 500\n", *name, abs)
	}
	rules := proposeRules(samples)
	yaml := starterYAML(conn, *name, *group, rules, len(samples))
	if err := os.WriteFile(*out, []byte(yaml), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: connection %s, group %s may read it after request_access, %d masking rule(s) from %d sampled column(s)\n",
		*out, *name, *group, len(rules), len(samples))
	for _, r := range rules {
		fmt.Fprintf(stdout, "  %-40s %-8s %d of %d sampled values are %s\n", r.pattern, r.op, r.hits, r.sampled, r.entity)
	}
	fmt.Fprintf(stdout, "next: review %s, then airlock check --config %s\n", *out, *out)
	return nil
}

// columnSample is one column's sampled values, kept in memory only.
type columnSample struct {
	table, column string
	values        []string
}

type proposedRule struct {
	pattern       string
	op            masking.Operator
	entity        masking.Entity
	hits, sampled int
}

// proposeRules gives a column a rule when most of its sampled values are
// one entity the detectors validate (a Luhn-valid card, a valid SSN...).
func proposeRules(samples []columnSample) []proposedRule {
	eng, err := masking.New(masking.Config{})
	if err != nil {
		panic(err) // the zero config is valid
	}
	var out []proposedRule
	for _, s := range samples {
		if len(s.values) == 0 {
			continue
		}
		counts := map[masking.Entity]int{}
		for _, v := range s.values {
			if ent, ok := eng.ClassifyCell(s.column, v); ok {
				counts[ent]++
			}
		}
		var best masking.Entity
		for _, ent := range slices.Sorted(maps.Keys(counts)) {
			if counts[ent] > counts[best] {
				best = ent
			}
		}
		if best == "" || float64(counts[best]) < initMostly*float64(len(s.values)) || best == masking.IPAddress {
			continue
		}
		op := masking.Partial
		switch best {
		case masking.CreditCard, masking.SSN, masking.Email, masking.Phone, masking.IBAN:
		default:
			op = masking.Redact // secrets: nothing is safe to keep
		}
		out = append(out, proposedRule{pattern: s.table + "." + s.column, op: op, entity: best, hits: counts[best], sampled: len(s.values)})
	}
	return out
}

func starterYAML(conn, name, group string, rules []proposedRule, sampled int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by airlock init on %s from the database's columns; no sampled
# value is in this file. Review it, then: airlock check --config THIS_FILE
server:
  listen: 127.0.0.1:8080

identity:
  audience: airlock
  # Development only: tokens from `+"`airlock token mint`"+`. In production set
  # issuer: https://your-idp.example.com/ and remove dev_issuer.
  dev_issuer:
    enabled: true

store: sqlite:airlock.db   # the journal, beside this file

connections:
%s
rules:
  # Members of %s get read grants on %s at once when they ask
  # (request_access), for at most an hour. Nothing else is allowed.
  - name: %s-read-%s
    groups: [%s]
    connections: [%s]
    access: [read]
    effect: allow
    grant:
      mode: auto
      max_duration: 1h

# Every detector masks results anyway (cards, SSNs, emails, phones, IBANs,
# IPs, secrets); these column rules were proposed by sampling %d column(s):
# a column gets one when most of its sampled values are one kind.
masking:
`, time.Now().UTC().Format(time.DateOnly), conn, group, name, group, name, group, name, sampled)
	if len(rules) == 0 {
		b.WriteString("  columns: {}\n")
	} else {
		b.WriteString("  columns:\n")
		for _, r := range rules {
			fmt.Fprintf(&b, "    %q: %s   # %d of %d sampled values are %s\n", r.pattern, r.op, r.hits, r.sampled, r.entity)
		}
	}
	b.WriteString(`
limits:
  call_timeout: 30s
  statement_timeout: 10s
  max_rows: 1000
`)
	return b.String()
}

// samplePostgres reads up to initSample non-null values of every column
// of every ordinary table and view outside the system schemas, in a
// read-only transaction.
func samplePostgres(ctx context.Context, dsn, password string) ([]columnSample, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("--postgres: not a valid PostgreSQL URL")
	}
	if password != "" {
		cc.Password = password
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	tx, err := c.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, `SELECT c.table_schema, c.table_name, c.column_name
		FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg_toast%'
		ORDER BY 1, 2, c.ordinal_position`)
	if err != nil {
		return nil, err
	}
	type col struct{ schema, table, column string }
	var cols []col
	for rows.Next() {
		var x col
		if err := rows.Scan(&x.schema, &x.table, &x.column); err != nil {
			return nil, err
		}
		cols = append(cols, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []columnSample
	for _, x := range cols {
		q := fmt.Sprintf("SELECT %[1]s::text FROM %[2]s.%[3]s WHERE %[1]s IS NOT NULL LIMIT %[4]d",
			pgx.Identifier{x.column}.Sanitize(), pgx.Identifier{x.schema}.Sanitize(), pgx.Identifier{x.table}.Sanitize(), initSample)
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("sampling %s.%s: %w", x.table, x.column, err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("sampling %s.%s: %w", x.table, x.column, err)
		}
		out = append(out, columnSample{table: x.table, column: x.column, values: vals})
	}
	return out, nil
}

// sampleSQLite reads up to initSample non-null values of every column of
// every table, opened read-only.
func sampleSQLite(ctx context.Context, path string) ([]columnSample, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tables, err := queryStrings(ctx, db, `SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("--sqlite: %w", err)
	}
	var out []columnSample
	for _, t := range tables {
		cols, err := queryStrings(ctx, db, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, t)
		if err != nil {
			return nil, err
		}
		for _, c := range cols {
			q := fmt.Sprintf(`SELECT CAST(%[1]s AS TEXT) FROM %[2]s WHERE %[1]s IS NOT NULL LIMIT %[3]d`, sqliteIdent(c), sqliteIdent(t), initSample)
			vals, err := queryStrings(ctx, db, q)
			if err != nil {
				return nil, fmt.Errorf("sampling %s.%s: %w", t, c, err)
			}
			out = append(out, columnSample{table: t, column: c, values: vals})
		}
	}
	return out, nil
}

func sqliteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
