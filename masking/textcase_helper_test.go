package masking

import (
	"strings"
	"testing"
)

// checkMasked masks in as text and checks that every string in gone is
// masked away, every string in kept is left, and masking the output again
// changes nothing.
func checkMasked(t *testing.T, e *Engine, in string, gone, kept []string) {
	t.Helper()
	out := e.MaskText(in, nil)
	for _, g := range gone {
		if strings.Contains(out, g) {
			t.Errorf("%q survived: %q", g, out)
		}
	}
	for _, k := range kept {
		if !strings.Contains(out, k) {
			t.Errorf("%q was masked: %q", k, out)
		}
	}
	if again := e.MaskText(out, nil); again != out {
		t.Errorf("not idempotent: %q then %q", out, again)
	}
}

// checkEdits fails unless eds are in order, do not overlap and lie within
// n bytes: what a pass returns before the edits are applied.
func checkEdits(t *testing.T, eds []edit, n int) {
	t.Helper()
	last := 0
	for _, ed := range eds {
		if ed.start < last || ed.end < ed.start || ed.end > n {
			t.Fatalf("bad edit %v after %d in %d bytes", ed, last, n)
		}
		last = ed.end
	}
}
