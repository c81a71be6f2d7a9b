package recorder

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/identity"
)

func TestFilterTextIgnoresCaseAndHTMLEscaping(t *testing.T) {
	it := &Item{Finished: &Record{CallID: "c", Type: Finished, Tool: "query_db", Principal: &identity.Principal{Subject: "alice"},
		Arguments: json.RawMessage(`{"sql":"SELECT a\u003cb FROM t","note":"Grüße"}`), Error: "permission Denied"}}
	for text, want := range map[string]bool{"a<b": true, "PERMISSION denied": true, "ALICE": true, "bob": false, `"sql"`: true, "GRÜSSE": false, "GRÜßE": true} {
		if got := (&Filter{Text: text}).Match(it); got != want {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
	}
}

func FuzzContainsFold(f *testing.F) {
	f.Add("Hello World", "o w")
	f.Add("ÄÖÜ", "äö")
	f.Fuzz(func(t *testing.T, s, needle string) {
		needle = strings.ToLower(needle)
		got, want := containsFold(s, needle), strings.Contains(strings.ToLower(s), needle)
		// For ASCII text the two agree; beyond ASCII, strings.ToLower may
		// fold more (the Kelvin sign to k), so a match must at least be one.
		if got != want && (isASCII(s) || got) {
			t.Fatalf("containsFold(%q, %q) = %v, want %v", s, needle, got, want)
		}
	})
}

func BenchmarkFilterText(b *testing.B) {
	it := &Item{
		Started:  &Record{CallID: "c", Type: Started, Tool: "query_db", Arguments: json.RawMessage(`{"connection":"demo","sql":"SELECT * FROM orders WHERE id = 7"}`)},
		Finished: &Record{CallID: "c", Type: Finished, Tool: "query_db", Outcome: OutcomeOK, Result: json.RawMessage(`{"rows":[` + strings.Repeat(`[1,"x@example.com"],`, 50) + `[2,"y"]]}`)},
	}
	f := &Filter{Text: "refunded"}
	b.ReportAllocs()
	for b.Loop() {
		f.Match(it)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
