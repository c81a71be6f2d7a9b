package telemetry

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestCleanTraceState(t *testing.T) {
	many := func(n int) string {
		m := make([]string, n)
		for i := range m {
			m[i] = fmt.Sprintf("k%d=v", i)
		}
		return strings.Join(m, ",")
	}
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"one", "vendor=opaque", "vendor=opaque"},
		{"spec example", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
		{"whitespace and empty members", " a=1 ,, \tb=2\t,", "a=1,b=2"},
		{"multi-tenant key", "fw529a3039@dt=FzSpLm9sZXRo,1tenant@sys-1=x", "fw529a3039@dt=FzSpLm9sZXRo,1tenant@sys-1=x"},
		{"value with inner space", "a=b c", "a=b c"},
		{"32 members", many(32), many(32)},
		// Well formed, but secret-looking: the member goes, the rest stays.
		{"jwt value", "vendor=opaque,leak=" + secretJWT, "vendor=opaque"},
		{"github token", "gh=ghp_0123456789abcdefghijABCDEFGHIJ012345,a=b", "a=b"},
		{"aws key", "aws=AKIAIOSFODNN7EXAMPLE", ""},
		{"password pair", "x=password:hunter2hunter2,a=b", "a=b"},
		{"email", "u=alice@example.com,a=b", "a=b"},
		{"card", "c=4111111111111111,a=b", "a=b"},
		{"secret-named keys", "token=abc,session_id=42,auth=x,apikey=y,a=b", "a=b"},
		// Not well formed: dropped whole.
		{"too long", "a=" + strings.Repeat("b", 511), ""},
		{"33 members", many(33), ""},
		{"upper-case key", "Vendor=x", ""},
		{"key starts with digit", "1vendor=x", ""},
		{"no equals", "vendor", ""},
		{"empty value", "vendor=", ""},
		{"trailing space in value", "a=b ,c=d", "a=b,c=d"}, // OWS around members is trimmed
		{"equals in value", "a=b=c", ""},
		{"control char", "a=b\x01", ""},
		{"non-ascii", "a=café", ""},
		{"duplicate key", "a=1,a=2", ""},
		{"system id too long", "t@abcdefghijklmno=x", ""},
		{"key too long", strings.Repeat("a", 257) + "=x", ""},
		{"value too long", "a=" + strings.Repeat("b", 257), ""},
		{"malformed beside a good one", "vendor=opaque,Bad Key=x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CleanTraceState(tc.in); got != tc.want {
				t.Errorf("CleanTraceState(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// What CleanTraceState keeps is well formed (OpenTelemetry parses it),
// a subset of what was sent, clean of anything the detectors find, and
// stable.
func FuzzCleanTraceState(f *testing.F) {
	for _, s := range []string{"vendor=opaque", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "a=b,leak=" + secretJWT,
		"t@sys=x, b=y", "a=b=c", ",,", "token=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := CleanTraceState(in)
		if out == "" {
			return
		}
		if _, err := trace.ParseTraceState(out); err != nil {
			t.Fatalf("CleanTraceState(%q) = %q: not a trace state: %v", in, out, err)
		}
		for m := range strings.SplitSeq(out, ",") {
			if !strings.Contains(in, m) {
				t.Fatalf("member %q not in %q", m, in)
			}
			k, v, _ := strings.Cut(m, "=")
			if sensitiveKey(k) || len(defaultMasker().Find(v)) > 0 {
				t.Fatalf("member %q kept", m)
			}
		}
		if again := CleanTraceState(out); again != out {
			t.Fatalf("not stable: %q then %q", out, again)
		}
	})
}

func BenchmarkCleanTraceState(b *testing.B) {
	for _, s := range []string{"vendor=opaque", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,dd=s:1;o:rum;t.dm:-4"} {
		b.Run(s[:4], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CleanTraceState(s)
			}
		})
	}
}
