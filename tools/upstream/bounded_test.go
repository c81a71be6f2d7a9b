package upstream

import (
	"strings"
	"testing"
)

// Upstream error text is cut before the pipeline masks it; a token cut in
// two would be too short for the secret detectors, so the cut drops the
// whole word it falls in.
func TestBoundedNeverSplitsAWord(t *testing.T) {
	tok := "ghp_" + strings.Repeat("a1B2", 9)
	s := "upstream failed: token " + tok + " was refused"
	for n := len("upstream failed: token ") + 1; n < len(s); n++ {
		got := bounded(s, n)
		if strings.Contains(got, "ghp_") && !strings.Contains(got, tok) {
			t.Fatalf("bounded(…, %d) = %q: a token cut in two", n, got)
		}
	}
	if got := bounded("short", 10); got != "short" {
		t.Fatalf("bounded kept %q", got)
	}
	if got := bounded(strings.Repeat("x", 50), 10); got != "…" {
		t.Fatalf("one long word: %q", got)
	}
}
