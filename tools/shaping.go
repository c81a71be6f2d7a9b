package tools

import "github.com/airlockhq/airlock/masking"

// Shaping is how the pipeline will mask and cap a call's result. A tool
// whose result is too large to hold unmasked (an HTTP body of hundreds of
// megabytes) masks it while reading it, with this masker, keeps only what
// the budget can carry, and returns it with Result.Masked set. It is a
// value in Call, so setting it costs a call nothing.
type Shaping struct {
	// Masker is the pipeline's masker; nil outside the pipeline.
	Masker *masking.Engine
	// Tokens counts tokens for Budget; Budget is the call's token budget
	// (0: unlimited, or no counter).
	Tokens *masking.TokenCounter
	Budget int
}
