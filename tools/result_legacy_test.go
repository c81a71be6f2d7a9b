package tools

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// The result path as it was before tables were encoded once (commit
// 65c2a88): each stage marshalled the rows itself. The tests hold the new
// path to these bytes.

func legacyCapUnits(t *Table) []string {
	units := make([]string, len(t.Rows)+1)
	units[0] = strings.Join(t.Columns, ",")
	for i, row := range t.Rows {
		b, err := json.Marshal(row)
		if err != nil {
			b = []byte(`"unrenderable row"`)
		}
		units[i+1] = string(b)
	}
	return units
}

func legacyRender(r *Result, meta map[string]any) *mcp.CallToolResult {
	var res *mcp.CallToolResult
	switch {
	case r.Table != nil:
		v := tableView{Columns: r.Table.Columns, Rows: r.Table.Rows, RowCount: len(r.Table.Rows), Truncated: r.Truncated, Command: r.Table.Command, Note: notes(r)}
		if v.Rows == nil {
			v.Rows = [][]any{}
		}
		res = mcp.NewToolResultStructured(v, legacyRenderTable(&v))
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

func legacyRenderTable(v *tableView) string {
	var b strings.Builder
	hdr, _ := json.Marshal(v.Columns)
	b.WriteString("columns: ")
	b.Write(hdr)
	b.WriteByte('\n')
	for _, row := range v.Rows {
		line, err := json.Marshal(row)
		if err != nil {
			line = []byte(`"unrenderable row"`)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if v.Command != "" {
		fmt.Fprintf(&b, "(%s", v.Command)
	} else {
		fmt.Fprintf(&b, "(%d rows", v.RowCount)
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

func legacyStructuredOf(r *Result) any {
	if r.Table != nil {
		return tableView{Columns: r.Table.Columns, Rows: r.Table.Rows, RowCount: len(r.Table.Rows), Truncated: r.Truncated, Command: r.Table.Command, Note: notes(r)}
	}
	if r.Structured != nil {
		return r.Structured
	}
	return r.Text
}

func legacyResultJSON(r *Result) json.RawMessage {
	b, err := json.Marshal(legacyStructuredOf(r))
	if err != nil {
		b, _ = json.Marshal(err.Error())
	}
	return b
}
