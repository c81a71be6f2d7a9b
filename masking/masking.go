// Package masking rewrites sensitive values in what targets return before
// the agent or the journal sees them, and caps results to a token budget.
//
// The foundation ships the pass-through masker; detectors, column rules and
// operators plug in behind the same interface.
package masking

// Masker rewrites sensitive data in strings. Implementations are safe for
// concurrent use.
type Masker interface {
	MaskString(s string) string
}

// None is the pass-through masker.
type None struct{}

// MaskString returns s unchanged.
func (None) MaskString(s string) string { return s }
