package masking

import "strings"

// ClassifyCell returns the entity of a value that is, as a whole, one
// detected value, reading the column name for context as MaskCell does
// (nine bare digits in an "ssn" column are an SSN); false when it is not
// exactly one detection. `airlock init` samples columns with it to propose
// column rules.
func (e *Engine) ClassifyCell(column, s string) (Entity, bool) {
	return e.classify(s, keyHints(strings.ToLower(column)))
}
