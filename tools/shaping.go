package tools

import (
	"context"

	"github.com/airlockhq/airlock/masking"
)

// Shaping is how the pipeline will mask and cap a call's result. A tool
// whose result is too large to hold unmasked (an HTTP body of hundreds of
// megabytes) masks it while reading it, with this masker, keeps only what
// the budget can carry, and returns it with Result.Masked set.
type Shaping struct {
	Masker *masking.Engine
	// Tokens counts tokens for Budget; Budget is the call's token budget
	// (0: unlimited, or no counter).
	Tokens *masking.TokenCounter
	Budget int
}

type shapingKey struct{}

func withShaping(ctx context.Context, s *Shaping) context.Context {
	return context.WithValue(ctx, shapingKey{}, s)
}

// ShapingFrom returns the shaping of the call ctx runs, which the
// pipeline's execute stage puts there; false outside the pipeline.
func ShapingFrom(ctx context.Context) (*Shaping, bool) {
	s, ok := ctx.Value(shapingKey{}).(*Shaping)
	return s, ok && s != nil && s.Masker != nil
}
