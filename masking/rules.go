package masking

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// opRank orders operators from least to most restrictive. When several
// rules match one column or key the most restrictive wins, so the outcome
// does not depend on map order and adding a rule never unmasks anything.
func opRank(op Operator) int {
	switch op {
	case Partial:
		return 1
	case Hash:
		return 2
	case Redact:
		return 3
	case Null:
		return 4
	}
	return 0
}

func stricter(a, b Operator) Operator {
	if opRank(b) > opRank(a) {
		return b
	}
	return a
}

type columnRule struct {
	pattern   string // lower-case "table.column" glob
	tablePat  string // pattern before its last dot
	columnPat string // pattern after its last dot
	op        Operator
}

type keyRule struct {
	segs []string // lower-case globs; "**" is any number of keys
	op   Operator
}

func compileKeyPattern(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty key path")
	}
	segs := strings.Split(strings.ToLower(p), ".")
	for i, s := range segs {
		switch {
		case s == "":
			return nil, fmt.Errorf("empty segment %d in key path (keys are joined with \".\")", i+1)
		case s == "**":
		case strings.Contains(s, "**"):
			return nil, errors.New(`"**" must be a whole segment`)
		default:
			if _, err := path.Match(s, ""); err != nil {
				return nil, fmt.Errorf("bad pattern in segment %q: %v", s, err)
			}
		}
	}
	return segs, nil
}

// matchKeyPath matches lower-case key path keys against compiled segments.
func matchKeyPath(segs, keys []string) bool {
	for len(segs) > 0 {
		if segs[0] == "**" {
			rest := segs[1:]
			for i := 0; i <= len(keys); i++ {
				if matchKeyPath(rest, keys[i:]) {
					return true
				}
			}
			return false
		}
		if len(keys) == 0 {
			return false
		}
		if ok, _ := path.Match(segs[0], keys[0]); !ok {
			return false
		}
		segs, keys = segs[1:], keys[1:]
	}
	return len(keys) == 0
}

// ColumnOperator returns the operator that structured rules give the result
// column resolved to table.column, and whether any rule applies. table may
// be schema-qualified ("public.customers": both "public.customers.col" and
// "customers.col" are tried) or empty for a computed column. When several
// patterns match, the most restrictive operator wins (null > redact > hash
// > partial).
func (e *Engine) ColumnOperator(table, column string) (Operator, bool) {
	if len(e.columns) == 0 {
		return "", false
	}
	table, column = strings.ToLower(table), strings.ToLower(column)
	names := []string{table + "." + column}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		names = append(names, table[i+1:]+"."+column)
	}
	var op Operator
	for _, r := range e.columns {
		for _, n := range names {
			if ok, _ := path.Match(r.pattern, n); ok {
				op = stricter(op, r.op)
			}
		}
	}
	return op, op != ""
}

// keyOperator returns the operator of the JSON key rules for a lower-case
// key path.
func (e *Engine) keyOperator(keys []string) (Operator, bool) {
	var op Operator
	for _, r := range e.keys {
		if matchKeyPath(r.segs, keys) {
			op = stricter(op, r.op)
		}
	}
	return op, op != ""
}
