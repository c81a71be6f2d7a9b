package tools

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/masking"
)

func counter(t testing.TB) *masking.TokenCounter {
	t.Helper()
	tc, err := masking.NewTokenCounter(masking.DefaultEncoding)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func TestCapTableAtRowBoundary(t *testing.T) {
	tc := counter(t)
	tab := &Table{Columns: []string{"id", "text"}}
	for i := range 1000 {
		tab.Rows = append(tab.Rows, []any{i, strings.Repeat("word ", 20)})
	}
	r := &Result{Table: tab, Rows: 1000}
	used, _ := capResult(tc, r, 500)
	if !r.Truncated || len(tab.Rows) == 0 || len(tab.Rows) >= 1000 || used > 500 || !strings.Contains(r.TokenNote, "of 1000 rows") {
		t.Fatalf("rows=%d used=%d note=%q", len(tab.Rows), used, r.TokenNote)
	}
	out := render(r, nil)
	if b, _ := json.Marshal(out.StructuredContent); !strings.Contains(string(b), `"truncated":true`) {
		t.Errorf("structured: %s", b)
	}
}

func TestCapTextAndStructured(t *testing.T) {
	tc := counter(t)
	long := strings.Repeat("a line of output\n", 5000)
	r := &Result{Text: long, Structured: map[string]any{"stdout": long, "items": make([]any, 5000)}}
	capResult(tc, r, 300)
	if !r.Truncated || strings.Count(r.Text, "\n") > 400 || !strings.Contains(r.Text, "[truncated") {
		t.Errorf("text not cut at a line boundary: %d bytes", len(r.Text))
	}
	b, _ := json.Marshal(r.Structured)
	if tc.Count(string(b), 300) > 300 {
		t.Errorf("structured still over budget: %d bytes", len(b))
	}
	// Within budget nothing changes.
	small := &Result{Text: "ok\n", Structured: map[string]any{"a": "b"}}
	capResult(tc, small, 300)
	if small.Truncated || small.Text != "ok\n" {
		t.Errorf("small result changed: %+v", small)
	}
}

// Special tokens in untrusted text are ordinary text.
func TestCapSpecialTokens(t *testing.T) {
	tc := counter(t)
	r := &Result{Text: strings.Repeat("<|endoftext|> ", 1000)}
	if used, _ := capResult(tc, r, 200); used > 200 {
		t.Fatalf("used %d", used)
	}
}

func TestMaskResultTableAndValues(t *testing.T) {
	m, err := masking.New(masking.Config{Columns: map[string]masking.Operator{"customers.ssn": masking.Partial}})
	if err != nil {
		t.Fatal(err)
	}
	c := masking.Counts{}
	tab := &Table{Columns: []string{"x", "note"}, Sources: refs("customers.ssn", ""),
		Rows: [][]any{{"234-56-7890", "mail jane.doe@example.com"}}}
	maskResult(m, &Result{Table: tab}, c)
	if tab.Rows[0][0] != "***-**-7890" || strings.Contains(fmt.Sprint(tab.Rows[0][1]), "jane.doe") {
		t.Errorf("row: %v", tab.Rows[0])
	}
	r := &Result{Structured: map[string]any{"body": map[string]any{"token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}}, Text: "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}
	maskResult(m, r, c)
	if b, _ := json.Marshal(r.Structured); strings.Contains(string(b), "ghp_") || strings.Contains(r.Text, "ghp_abc") {
		t.Errorf("secret survived: %s %s", b, r.Text)
	}
	if c[masking.SSN] == 0 || c[masking.Email] == 0 {
		t.Errorf("counts: %v", c)
	}
}

func BenchmarkCapTable(b *testing.B) {
	tc := counter(b)
	rows := make([][]any, 1000)
	for i := range rows {
		rows[i] = []any{i, "some text in a row"}
	}
	b.ReportAllocs()
	for b.Loop() {
		r := &Result{Table: &Table{Columns: []string{"id", "t"}, Rows: append([][]any(nil), rows...)}}
		capResult(tc, r, 2000)
	}
}

// rows100 is the bench's 100-row read after masking: id, name and the
// masked email, phone, SSN and card number.
func rows100() [][]any {
	rows := make([][]any, 100)
	for i := range rows {
		rows[i] = []any{i + 1, fmt.Sprintf("Customer %d Lastname", i+1), fmt.Sprintf("c***%d@example.com", i),
			"+1-***-***-0182", "***-**-7890", "**** **** **** 4242"}
	}
	return rows
}

// BenchmarkCapRows100 is capResult on the bench's rows100 result with the
// default budget (8000 tokens).
func BenchmarkCapRows100(b *testing.B) {
	tc := counter(b)
	if err := tc.Wait(); err != nil {
		b.Fatal(err)
	}
	rows := rows100()
	b.ReportAllocs()
	for b.Loop() {
		r := &Result{Table: &Table{Columns: []string{"id", "name", "email", "phone", "ssn", "card_number"}, Rows: append([][]any(nil), rows...)}, Rows: 100}
		capResult(tc, r, 8000)
	}
}

// A table whose bytes fit the budget passes uncounted (an upper bound, not
// exact); one that does not is counted up to the cut, never over the
// budget, and what it reports is exact.
func TestCapTableByBytes(t *testing.T) {
	tc := counter(t)
	cols := []string{"id", "name", "email", "phone", "ssn", "card_number"}
	r := &Result{Table: &Table{Columns: cols, Rows: rows100()}, Rows: 100}
	used, exact := capResult(tc, r, 20000)
	if r.Truncated || len(r.Table.Rows) != 100 || exact || used > 20000 {
		t.Fatalf("fits by bytes: rows=%d used=%d exact=%v", len(r.Table.Rows), used, exact)
	}
	// The same table against a budget its bytes exceed but its tokens fit:
	// counted in part, all rows kept, the bound within the budget.
	r = &Result{Table: &Table{Columns: cols, Rows: rows100()}, Rows: 100}
	if used, _ := capResult(tc, r, 8000); r.Truncated || len(r.Table.Rows) != 100 || used > 8000 {
		t.Fatalf("fits by tokens: rows=%d used=%d", len(r.Table.Rows), used)
	}
	// Cut: exact, and equal to counting what was kept.
	r = &Result{Table: &Table{Columns: cols, Rows: rows100()}, Rows: 100}
	used, exact = capResult(tc, r, 1000)
	want := tc.Count(strings.Join(cols, ","), -1)
	for _, row := range r.Table.Rows {
		b, _ := json.Marshal(row)
		want += tc.Count(string(b), -1)
	}
	if !r.Truncated || !exact || used != want || used > 1000 || len(r.Table.Rows) == 0 {
		t.Fatalf("cut: rows=%d used=%d want %d exact=%v", len(r.Table.Rows), used, want, exact)
	}
}

// rows100Raw is the bench's 100-row read as query_db returns it, before
// masking (evals/bench seeds bench_customers the same way).
func rows100Raw() [][]any {
	rows := make([][]any, 100)
	for i := range rows {
		g := i + 1
		rows[i] = []any{int32(g), fmt.Sprintf("Customer %d", g), fmt.Sprintf("customer%d@example.com", g),
			fmt.Sprintf("+1 212 555 %04d", g%10000), fmt.Sprintf("%03d-%02d-%04d", 100+g%600, 10+g%89, 1000+g),
			"4111 1111 1111 1111"}
	}
	return rows
}

func benchTable(rows [][]any) *Table {
	return &Table{Columns: []string{"id", "name", "email", "phone", "ssn", "card_number"},
		Sources: refs("bench_customers.id", "bench_customers.name", "bench_customers.email", "bench_customers.phone", "bench_customers.ssn", "bench_customers.card_number"),
		Rows:    rows}
}

// BenchmarkResultRows100 is everything the pipeline does to the bench's
// 100-row read after it is fetched: mask, cap at 8000 tokens, the journal's
// JSON, the agent's result and its encoding on the wire.
func BenchmarkResultRows100(b *testing.B) {
	tc := counter(b)
	if err := tc.Wait(); err != nil {
		b.Fatal(err)
	}
	m, err := masking.New(masking.Config{Columns: map[string]masking.Operator{"*.ssn": masking.Partial, "*.card_number": masking.Partial}})
	if err != nil {
		b.Fatal(err)
	}
	raw := rows100Raw()
	b.ReportAllocs()
	for b.Loop() {
		rows := make([][]any, len(raw))
		for i := range raw {
			rows[i] = append([]any(nil), raw[i]...)
		}
		r := &Result{Table: benchTable(rows), Rows: 100}
		maskResult(m, r, masking.Counts{})
		capResult(tc, r, 8000)
		_ = resultJSON(r)
		if _, err := json.Marshal(render(r, map[string]any{"airlock/call_id": "c"})); err != nil {
			b.Fatal(err)
		}
	}
}

// equivTables are tables whose rows exercise the JSON encoder: masked
// cells, nulls, binary, unicode and HTML-escaped characters, invalid
// UTF-8, numbers of every kind, nested values, and an unencodable row.
func equivTables() map[string]func() *Result {
	cols := []string{"id", "name", "email", "ssn", "blob", "note", "extra"}
	src := refs("t.id", "t.name", "t.email", "t.ssn", "t.blob", "t.note", "")
	row := func(i int) []any {
		return []any{int64(i), fmt.Sprintf("Zoë <%d> & \u2028 \"q\" 日本", i), fmt.Sprintf("user%d@example.com", i),
			fmt.Sprintf("234-56-%04d", 1000+i), []byte{0, 1, 2, byte(i)}, nil,
			map[string]any{"card": "4111 1111 1111 1111", "n": json.Number("12.50"), "f": 1.5, "ok": true, "bad": "a\xffb"}}
	}
	rows := func(n int) [][]any {
		out := make([][]any, n)
		for i := range out {
			out[i] = row(i)
		}
		return out
	}
	return map[string]func() *Result{
		"masked": func() *Result {
			return &Result{Table: &Table{Columns: cols, Sources: src, Rows: rows(20)}, Rows: 20}
		},
		"note and cut": func() *Result {
			return &Result{Table: &Table{Columns: cols, Sources: src, Rows: rows(400)}, Rows: 400, Truncated: true, Note: "max_rows <reached> & more"}
		},
		"empty":       func() *Result { return &Result{Table: &Table{Columns: []string{"a"}, Rows: [][]any{}}} },
		"write":       func() *Result { return &Result{Table: &Table{Command: "UPDATE 3"}} },
		"nil columns": func() *Result { return &Result{Table: &Table{}} },
		"nil and empty rows": func() *Result {
			return &Result{Table: &Table{Columns: []string{"a", "b"}, Rows: [][]any{{1, nil}, nil, {}}}, Rows: 3}
		},
		"unencodable": func() *Result {
			return &Result{Table: &Table{Columns: []string{"x"}, Rows: [][]any{{1.5}, {math.NaN()}}}, Rows: 2}
		},
	}
}

// Encoding a table once changes no byte: the rows the token cap counts,
// the agent's text and structuredContent (in process and on the wire) and
// the journal's JSON are what the old path produced.
func TestTableEncodedOnceSameBytes(t *testing.T) {
	tc := counter(t)
	m, err := masking.New(masking.Config{Columns: map[string]masking.Operator{"t.ssn": masking.Partial}})
	if err != nil {
		t.Fatal(err)
	}
	for name, mk := range equivTables() {
		for _, budget := range []int{0, 300, 8000} {
			t.Run(fmt.Sprintf("%s/%d", name, budget), func(t *testing.T) {
				r := mk()
				maskResult(m, r, masking.Counts{})
				want := legacyCapUnits(r.Table)
				if budget > 0 {
					wn, wused, wexact := tc.FitBound(want, budget)
					used, exact := capResult(tc, r, budget)
					if used != wused || exact != wexact || len(r.Table.Rows) != min(len(want)-1, max(wn-1, 0)) {
						t.Fatalf("cap: used %d exact %v rows %d; old path %d %v %d", used, exact, len(r.Table.Rows), wused, wexact, wn-1)
					}
					if got := legacyCapUnits(r.Table); len(got) != len(r.Table.encoded().ends)+1 {
						t.Fatalf("encoding not trimmed with the rows")
					}
				}
				enc := r.Table.encoded()
				for i, u := range legacyCapUnits(r.Table)[1:] {
					if enc.row(i) != u {
						t.Fatalf("row %d: %q, old path %q", i, enc.row(i), u)
					}
				}
				if got, want := string(resultJSON(r)), string(legacyResultJSON(r)); got != want {
					t.Fatalf("journal:\n%s\nold path:\n%s", got, want)
				}
				meta := map[string]any{"airlock/call_id": "c1"}
				got, old := render(r, meta), legacyRender(r, meta)
				if got.Content[0].(mcp.TextContent).Text != old.Content[0].(mcp.TextContent).Text {
					t.Fatalf("text:\n%s\nold path:\n%s", got.Content[0].(mcp.TextContent).Text, old.Content[0].(mcp.TextContent).Text)
				}
				gs, gerr := json.Marshal(got.StructuredContent)
				os, oerr := json.Marshal(old.StructuredContent)
				if string(gs) != string(os) || (gerr == nil) != (oerr == nil) {
					t.Fatalf("structuredContent:\n%s %v\nold path:\n%s %v", gs, gerr, os, oerr)
				}
				gw, gerr := json.Marshal(got)
				ow, oerr := json.Marshal(old)
				if string(gw) != string(ow) || (gerr == nil) != (oerr == nil) {
					t.Fatalf("wire:\n%s %v\nold path:\n%s %v", gw, gerr, ow, oerr)
				}
				if name == "masked" && (strings.Contains(string(gw), "user1@") || !strings.Contains(string(gw), `***-**-1001`)) {
					t.Fatalf("not masked: %s", gw)
				}
			})
		}
	}
}

// FuzzTableEncodedOnce holds the encoded-once path to the old one on any
// cell text: the agent's text, structuredContent and the journal's JSON.
func FuzzTableEncodedOnce(f *testing.F) {
	for _, s := range []string{"", "plain", "<a&b>", "\u2028\u2029", "a\xffb", `"\`, "日本語", "jane@example.com 234-56-7890"} {
		f.Add(s, int64(7), true)
	}
	m, err := masking.New(masking.Config{Columns: map[string]masking.Operator{"t.b": masking.Partial}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string, n int64, truncated bool) {
		r := &Result{Table: &Table{Columns: []string{s, "b", "c"}, Sources: refs("", "t.b", ""),
			Rows: [][]any{{s, s, n}, {nil, []byte(s), map[string]any{s: s}}}, Command: s[:len(s)/2]},
			Rows: 2, Truncated: truncated, Note: s}
		maskResult(m, r, masking.Counts{})
		if got, want := string(resultJSON(r)), string(legacyResultJSON(r)); got != want {
			t.Fatalf("journal %q, old path %q", got, want)
		}
		got, old := render(r, nil), legacyRender(r, nil)
		if got.Content[0].(mcp.TextContent).Text != old.Content[0].(mcp.TextContent).Text {
			t.Fatalf("text differs")
		}
		gw, gerr := json.Marshal(got)
		ow, oerr := json.Marshal(old)
		if string(gw) != string(ow) || (gerr == nil) != (oerr == nil) {
			t.Fatalf("wire %s, old path %s", gw, ow)
		}
	})
}

// refs turns "table.column" names (at the first dot; "" for none) into
// column sources.
func refs(names ...string) []masking.ColumnRef {
	out := make([]masking.ColumnRef, len(names))
	for i, n := range names {
		if t, c, ok := strings.Cut(n, "."); ok {
			out[i] = masking.ColumnRef{Table: t, Column: c}
		}
	}
	return out
}
