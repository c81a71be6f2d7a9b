package masking

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// mixedCorpus builds about size bytes of realistic gateway output: log
// lines, CSV rows, JSON documents and prose (one line in twenty
// non-ASCII, some needing normalisation), with a sensitive value in
// roughly one line of twenty.
func mixedCorpus(size int) string {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	words := strings.Fields("the request was served from cache after the upstream replied slowly and " +
		"a retry budget of three attempts kept latency within the objective for most tenants")
	pii := []string{
		"card 4111 1111 1111 1111", "ssn 078-05-1121", "mail jane.doe@example.com",
		"phone (555) 234-5678", "from 203.0.113.45", "key AKIAIOSFODNN7EXAMPLE",
		"password=Tr0ub4dor&3x", "IBAN GB82 WEST 1234 5698 7654 32",
	}
	for b.Len() < size {
		switch k := r.IntN(20); {
		case k == 19:
			fmt.Fprintf(&b, "Kundin %s aus München hat Bestellung %d storniert — Grund: „zu spät“ (%s)\n",
				[]string{"Zoë Müller", "José Núñez", "Łucja Wąs", "李小龙", "Ａｙａ　Ｓａｔｏ"}[r.IntN(5)], r.IntN(1e6), []string{"ok", "✓", "ｏｋ"}[r.IntN(3)])
		case k == 0:
			fmt.Fprintf(&b, "2024-05-%02dT10:%02d:%02d.%03dZ WARN user %d: %s\n",
				r.IntN(28)+1, r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(100000), pii[r.IntN(len(pii))])
		case k < 8:
			fmt.Fprintf(&b, "2024-05-%02dT10:%02d:%02d.%03dZ INFO http method=GET path=/api/v2/orders/%d status=%d dur=%dms trace=%016x\n",
				r.IntN(28)+1, r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(1e6), 200+r.IntN(4)*100, r.IntN(900), r.Uint64())
		case k < 12:
			fmt.Fprintf(&b, "%d,ORD-%06d,%s,%d.%02d,2024-05-%02d,shipped\n",
				r.IntN(1e6), r.IntN(1e6), words[r.IntN(len(words))], r.IntN(1000), r.IntN(100), r.IntN(28)+1)
		case k < 16:
			fmt.Fprintf(&b, `{"id":%d,"status":"active","name":"%s %s","count":%d,"version":"1.%d.%d","updated_at":"2024-05-%02dT08:00:00Z"}`+"\n",
				r.IntN(1e6), words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(500), r.IntN(20), r.IntN(20), r.IntN(28)+1)
		default:
			n := 8 + r.IntN(12)
			for i := 0; i < n; i++ {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[r.IntN(len(words))])
			}
			b.WriteString(".\n")
		}
	}
	return b.String()
}

func BenchmarkMaskText(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	corpus := mixedCorpus(1 << 20)
	b.SetBytes(int64(len(corpus)))
	b.ReportAllocs()
	for b.Loop() {
		e.MaskText(corpus, nil)
	}
}

func BenchmarkMaskTextClean(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	// The common path: output with nothing to mask.
	corpus := strings.Repeat("2024-05-01T10:00:00Z INFO http method=GET path=/api/v2/orders/1234 status=200 dur=12ms\n", (1<<20)/88)
	b.SetBytes(int64(len(corpus)))
	b.ReportAllocs()
	for b.Loop() {
		e.MaskText(corpus, nil)
	}
}

// adversarial inputs aim at each detector's look-around; every one must
// cost about as much as ordinary text of the same size.
var adversarial = map[string]string{
	"uri":      strings.Repeat("a://", 1<<14),
	"at":       strings.Repeat("a@", 1<<15),
	"colon":    strings.Repeat("a:", 1<<15),
	"hexcolon": strings.Repeat("ab:", 1<<14),
	"equals":   strings.Repeat("password=", 1<<13),
	"quote":    strings.Repeat(`password="`, 1<<13),
	"jwt":      strings.Repeat("eyJhbGciOiJIUzI1NiJ9.", 1<<12),
	"bearer":   strings.Repeat("Bearer ", 1<<14),
	"digits":   strings.Repeat("1 ", 1<<15),
	"dashes":   strings.Repeat("1-", 1<<15),
	"pem":      strings.Repeat("-----BEGIN PRIVATE KEY-----", 1<<12),
	"email":    strings.Repeat("a.", 1<<15) + "@" + strings.Repeat("b.", 1<<15) + "com",
	"unicode":  strings.Repeat("４\u200b", 1<<14),
	"userinfo": strings.Repeat("x:", 1<<14) + "@example.com",
}

func BenchmarkAdversarial(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for name, in := range adversarial {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				e.MaskText(in, nil)
			}
		})
	}
}

// BenchmarkTokenCap caps a 100 KiB and a 10 MiB result to the same
// budget: counting stops at the budget, so both cost about the same.
func BenchmarkTokenCap(b *testing.B) {
	tc, err := NewTokenCounter("")
	if err != nil {
		b.Fatal(err)
	}
	const budget = 8000
	for _, size := range []struct {
		name string
		n    int
	}{{"100KiB", 100 << 10}, {"10MiB", 10 << 20}} {
		text := mixedCorpus(size.n)
		lines := strings.Split(text, "\n")
		b.Run("Count/"+size.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tc.Count(text, budget) != budget+1 {
					b.Fatal("under budget")
				}
			}
		})
		b.Run("Fit/"+size.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n, _ := tc.Fit(lines, budget); n == len(lines) {
					b.Fatal("everything fit")
				}
			}
		})
	}
}

func BenchmarkMaskValue(b *testing.B) {
	e, err := New(Config{JSONKeys: map[string]Operator{"**.ssn": Redact}})
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]any, 1000)
	for i := range rows {
		rows[i] = map[string]any{"id": float64(i), "name": "Jane Example", "email": "jane@example.com",
			"note": "shipped order 4411 on 2024-05-01", "ssn": "078-05-1121", "tags": []any{"a", "b"}}
	}
	b.ReportAllocs()
	for b.Loop() {
		e.MaskValue(rows, nil)
	}
}
