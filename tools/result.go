package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/masking"
)

// Table is a result made of rows and columns (query_db and declared SQL
// tools). The pipeline masks it cell by cell, by the column's source, and
// caps it at a row boundary.
type Table struct {
	Columns []string
	// Sources name each column's stored source where known; the zero
	// ColumnRef for computed columns (then the column name is what rules
	// see). A struct, not "table.column": either name may hold a dot.
	Sources []masking.ColumnRef
	// Lineage, where known, names the stored columns each column's value
	// is read or computed from (reverse(ssn) reads customers.ssn), so
	// column rules cover expressions too; the strictest rule applies.
	Lineage []masking.Lineage
	Rows    [][]any
	// Command is a write's command tag, e.g. "UPDATE 3".
	Command string

	// enc is Rows encoded once, after masking, for the token cap, the
	// agent's text and structuredContent and the journal; see encoded.
	enc *tableJSON
}

// tableJSON is a masked table encoded once. Every consumer shows each row
// as json.Marshal(row) (an unencodable row as "unrenderable row" where the
// old path wrote that), so the bytes are shared rather than re-encoded:
// the token cap counts the rows, the text is the header, the rows and a
// footer, and structuredContent and the journal hold the view around them.
type tableJSON struct {
	hdr  []byte // json.Marshal(Columns)
	rows string // each row's JSON followed by '\n'
	ends []int  // ends[i]: where row i's JSON ends in rows (before its '\n')
	// bad: a row did not encode. The view as a whole then does not encode
	// either, and render and the journal take the old path (which fails
	// the same way as before).
	bad bool

	view    []byte // the view's JSON, for viewKey
	viewKey viewKey
}

// viewKey is what a table's view holds beside its columns and rows.
type viewKey struct {
	rows          int
	truncated     bool
	command, note string
}

// encoded returns t's rows encoded, encoding them the first time. Masking
// drops the encoding (it rewrites cells), and capping trims it with the
// rows, so it always matches Rows.
func (t *Table) encoded() *tableJSON {
	if t.enc != nil && len(t.enc.ends) == len(t.Rows) {
		return t.enc
	}
	e := &tableJSON{ends: make([]int, len(t.Rows))}
	e.hdr, _ = json.Marshal(t.Columns)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode is Marshal (HTML escaped) plus '\n'
	for i, row := range t.Rows {
		if err := enc.Encode(row); err != nil {
			e.bad = true
			buf.WriteString(`"unrenderable row"` + "\n")
		}
		e.ends[i] = buf.Len() - 1
	}
	e.rows = buf.String()
	t.enc = e
	return e
}

// row is row i's JSON.
func (e *tableJSON) row(i int) string {
	start := 0
	if i > 0 {
		start = e.ends[i-1] + 1
	}
	return e.rows[start:e.ends[i]]
}

// trim keeps the first n rows.
func (e *tableJSON) trim(n int) {
	if n == len(e.ends) {
		return
	}
	end := 0
	if n > 0 {
		end = e.ends[n-1] + 1
	}
	e.rows, e.ends, e.view = e.rows[:end], e.ends[:n], nil
}

// tableView is how a Table reaches the agent.
type tableView struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	RowCount  int      `json:"row_count"`
	Truncated bool     `json:"truncated"`
	Command   string   `json:"command,omitempty"`
	Note      string   `json:"note,omitempty"`
}

// maskResult masks r in place: table cells by column rules then detectors,
// other values by JSON-key rules then detectors, and the text.
func maskResult(m *masking.Engine, r *Result, counts masking.Counts) {
	if t := r.Table; t != nil {
		MaskTable(m, t, counts)
		return
	}
	if r.Structured != nil {
		r.Structured = m.MaskValue(jsonValue(r.Structured), counts)
	}
	r.Text = m.MaskText(r.Text, nil) // the same findings as Structured: count once
}

// MaskTable masks t's cells in place, each column by its stored source
// and lineage (masking.Engine.ResultColumn): the query's aliases and
// literal text may make a value more sensitive, never less.
func MaskTable(m *masking.Engine, t *Table, counts masking.Counts) {
	cols := make([]*masking.ColumnMasker, len(t.Columns))
	for i := range cols {
		var src masking.ColumnRef
		if i < len(t.Sources) {
			src = t.Sources[i]
		}
		var lin masking.Lineage
		if i < len(t.Lineage) {
			lin = t.Lineage[i]
		}
		cols[i] = m.ResultColumn(t.Columns[i], src, lin)
	}
	for _, row := range t.Rows {
		for i, v := range row {
			row[i] = cols[i].Mask(v, counts)
		}
	}
	t.enc = nil
}

// jsonValue turns any JSON-encodable value into plain maps, slices and
// scalars, which masking walks by key.
func jsonValue(v any) any {
	switch v.(type) {
	case map[string]any, []any, string, float64, bool, nil:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		return nil
	}
	return out
}

// capResult bounds r to budget tokens: tables at a row boundary, other
// results by halving their largest string or list until they fit. Counting
// stops at the budget, so the cost does not grow with the result, and
// skips what fits by its size in bytes (masking.TokenCounter.FitBound).
// tokens is the exact count of what the agent gets when exact is true;
// otherwise the result was not (fully) counted and tokens is only an upper
// bound.
func capResult(tc *masking.TokenCounter, r *Result, budget int) (tokens int, exact bool) {
	if t := r.Table; t != nil {
		// The header is counted like a row, first.
		enc := t.encoded()
		units := make([]string, len(t.Rows)+1)
		units[0] = strings.Join(t.Columns, ",")
		for i := range t.Rows {
			units[i+1] = enc.row(i)
		}
		n, used, exact := tc.FitBound(units, budget)
		if rows := max(n-1, 0); rows < len(t.Rows) {
			r.TokenNote = fmt.Sprintf("%d of %d rows shown: the rest exceeded the token budget (%d tokens); select fewer columns or add a narrower WHERE or a LIMIT", rows, len(t.Rows), budget)
			t.Rows = t.Rows[:rows]
			enc.trim(rows)
			r.Truncated = true
			r.Rows = rows
		}
		return used, exact
	}
	if r.Structured != nil {
		var cut bool
		r.Structured, cut = shrink(tc, r.Structured, budget)
		if cut {
			r.Truncated = true
			r.TokenNote = fmt.Sprintf("the result exceeded the token budget (%d tokens) and was cut; ask for less (a narrower path, query or command)", budget)
		}
	}
	lines := strings.SplitAfter(r.Text, "\n")
	n, used, exact := tc.FitBound(lines, budget)
	if n < len(lines) {
		r.Text = strings.Join(lines[:n], "") + fmt.Sprintf("\n[truncated: %d more lines exceeded the token budget of %d tokens]", len(lines)-n, budget)
		r.Truncated = true
	}
	return used, exact
}

// shrink halves the largest string or list in v until its JSON fits the
// budget, a bounded number of times.
func shrink(tc *masking.TokenCounter, v any, budget int) (any, bool) {
	cut := false
	root := []any{v} // a parent for v, so it can be replaced like any element
	for range 40 {
		b, err := json.Marshal(root[0])
		if err != nil || masking.MaxTokens(string(b)) <= budget || tc.Count(string(b), budget) <= budget {
			return root[0], cut
		}
		var (
			size int
			cur  any
			set  func(any)
		)
		var walk func(x any, setX func(any))
		walk = func(x any, setX func(any)) {
			switch y := x.(type) {
			case string:
				if len(y) > size {
					size, cur, set = len(y), y, setX
				}
			case []any:
				if len(y) > 1 {
					if enc, _ := json.Marshal(y); len(enc) > size {
						size, cur, set = len(enc), y, setX
					}
				}
				for i := range y {
					walk(y[i], func(n any) { y[i] = n })
				}
			case map[string]any:
				for k, e := range y {
					walk(e, func(n any) { y[k] = n })
				}
			}
		}
		walk(root[0], func(n any) { root[0] = n })
		if set == nil {
			return "[result too large for the token budget]", true
		}
		switch y := cur.(type) {
		case string:
			half := y[:len(y)/2]
			if i := strings.LastIndexByte(half, '\n'); i > len(half)/2 {
				half = half[:i+1]
			}
			set(strings.ToValidUTF8(half, "") + "…[truncated]")
		case []any:
			set(y[:len(y)/2])
		}
		cut = true
	}
	return root[0], cut
}

// render builds what the agent sees.
func render(r *Result, meta map[string]any) *mcp.CallToolResult {
	var res *mcp.CallToolResult
	switch {
	case r.Table != nil:
		v := tableView{Columns: r.Table.Columns, Rows: r.Table.Rows, RowCount: len(r.Table.Rows), Truncated: r.Truncated, Command: r.Table.Command, Note: notes(r)}
		if v.Rows == nil {
			v.Rows = [][]any{}
		}
		enc := r.Table.encoded()
		if raw, ok := tableViewJSON(r, false); ok {
			// The view's bytes as the journal holds them: mcp-go writes
			// RawStructuredContent as it is, and an in-process reader of
			// StructuredContent gets the same JSON.
			res = mcp.NewToolResultStructured(json.RawMessage(raw), renderTable(&v, enc))
			res.RawStructuredContent = raw
		} else {
			res = mcp.NewToolResultStructured(v, renderTable(&v, enc))
		}
	case r.Structured == nil:
		res = mcp.NewToolResultText(r.Text)
	default:
		if r.TokenNote != "" {
			if m, ok := r.Structured.(map[string]any); ok {
				m["truncated"], m["note"] = true, r.TokenNote
			}
		}
		res = mcp.NewToolResultStructured(r.Structured, r.Text)
	}
	res.Content = append(res.Content, r.Media...)
	if len(meta) > 0 {
		res.Meta = &mcp.Meta{AdditionalFields: meta}
	}
	return res
}

// renderTable is the compact text form: a header, one JSON array per row,
// and a note when rows were left out. enc is v's rows encoded.
func renderTable(v *tableView, enc *tableJSON) string {
	var b strings.Builder
	b.Grow(len("columns: \n") + len(enc.hdr) + len(enc.rows) + 32 + len(v.Command) + 2*len(v.Note) + 80)
	b.WriteString("columns: ")
	b.Write(enc.hdr)
	b.WriteByte('\n')
	b.WriteString(enc.rows)
	if v.Command != "" {
		b.WriteString("(" + v.Command)
	} else {
		b.WriteString("(" + strconv.Itoa(v.RowCount) + " rows")
	}
	if v.Truncated {
		b.WriteString("; truncated")
		if v.Note == "" {
			b.WriteString(": more rows exist — add a LIMIT or a narrower WHERE clause")
		}
	}
	b.WriteString(")")
	if v.Note != "" {
		b.WriteString("\n" + v.Note)
	}
	return b.String()
}

// notes joins what the tool and the token cap left out, so the agent reads
// why the result is short rather than a guess.
func notes(r *Result) string {
	switch {
	case r.Note == "":
		return r.TokenNote
	case r.TokenNote == "":
		return r.Note
	}
	return r.Note + "; " + r.TokenNote
}

// tableViewJSON is json.Marshal of r's table view, built from the rows
// encoded once; ok is false when r is no table or a row does not encode.
// Built once per view. The agent's view shows no rows as [] (render); the
// journal's, structuredOf, shows them as null, and that rare case (a
// write's command tag) takes the old path there.
func tableViewJSON(r *Result, journal bool) (_ []byte, ok bool) {
	t := r.Table
	if t == nil || journal && t.Rows == nil {
		return nil, false
	}
	e := t.encoded()
	if e.bad {
		return nil, false
	}
	key := viewKey{rows: len(t.Rows), truncated: r.Truncated, command: t.Command, note: notes(r)}
	if e.view != nil && e.viewKey == key {
		return e.view, true
	}
	b := make([]byte, 0, len(e.hdr)+len(e.rows)+len(key.command)+len(key.note)+96)
	b = append(b, `{"columns":`...)
	b = append(b, e.hdr...)
	b = append(b, `,"rows":[`...)
	start := 0
	for i, end := range e.ends {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.rows[start:end]...)
		start = end + 1
	}
	b = append(b, `],"row_count":`...)
	b = strconv.AppendInt(b, int64(key.rows), 10)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, key.truncated)
	for _, f := range [...]struct{ name, v string }{{"command", key.command}, {"note", key.note}} {
		if f.v != "" {
			s, _ := json.Marshal(f.v)
			b = append(b, `,"`+f.name+`":`...)
			b = append(b, s...)
		}
	}
	b = append(b, '}')
	e.view, e.viewKey = b, key
	return b, true
}

// structuredOf is what the journal keeps of a result: what the agent saw.
func structuredOf(r *Result) any {
	if r.Table != nil {
		return tableView{Columns: r.Table.Columns, Rows: r.Table.Rows, RowCount: len(r.Table.Rows), Truncated: r.Truncated, Command: r.Table.Command, Note: notes(r)}
	}
	if r.Structured != nil {
		return r.Structured
	}
	return r.Text
}
