package maskingeval

import (
	"testing"

	"github.com/airlockhq/airlock/masking"
)

// TestMaskingIdempotent: masking a masked document or item again changes
// nothing, over both document splits and the item corpus. A masked label
// must not give the values next to it a context they did not have. The
// failure names the document's index only, never its text.
func TestMaskingIdempotent(t *testing.T) {
	e, err := masking.New(masking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"tune", "heldout"} {
		bad := 0
		for i, d := range loadDocs(t, split) {
			once := e.MaskText(d.Text, nil)
			if e.MaskText(once, nil) != once {
				bad++
				if split == "tune" {
					t.Errorf("docs-%s #%d: a second pass changes the masked document", split, i)
				}
			}
		}
		if bad > 0 {
			t.Errorf("docs-%s: %d documents change on a second pass", split, bad)
		}
	}
	bad := 0
	for _, it := range loadCorpus(t) {
		once := e.MaskText(it.Text, nil)
		if e.MaskText(once, nil) != once {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("item corpus: %d items change on a second pass", bad)
	}
}
