package masking

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
)

func csvDoc(rows int) string {
	var b strings.Builder
	b.WriteString("id,ssn,email,internal_ref,phone\n")
	for i := range rows {
		fmt.Fprintf(&b, "%d,%03d%02d%04d,user%d@example.com,REF-%d-x,0301234%03d\n", i, 100+i%500, 10+i%80, 1000+i, i, i, i%1000)
	}
	return b.String()
}

func markdownDoc(rows int) string {
	var b strings.Builder
	b.WriteString("| id | ssn | note |\n|----|-----|------|\n")
	for i := range rows {
		fmt.Fprintf(&b, "| %d | %03d%02d%04d | shipped |\n", i, 100+i%500, 10+i%80, 1000+i)
	}
	return b.String()
}

func logDoc(rows int) string {
	var b strings.Builder
	for i := range rows {
		fmt.Fprintf(&b, "2026-12-02T03:00:%02dZ level=info user=user%d@example.com ssn=536-90-%04d password=hunter%d msg=\"ok\"\n", i%60, i, 1000+i%9000, i)
	}
	return b.String()
}

func xmlDoc(rows int) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<customers>\n")
	for i := range rows {
		fmt.Fprintf(&b, "<customer id=\"%d\"><ssn>%03d%02d%04d</ssn><email>user%d@example.com</email></customer>\n", i, 100+i%500, 10+i%80, 1000+i, i)
	}
	b.WriteString("</customers>\n")
	return b.String()
}

// Streamed in chunks, a document is masked as it is masked whole: a
// table's header gives its column names to rows in every later chunk.
func TestMaskTextStreamMatchesWhole(t *testing.T) {
	e, err := New(Config{JSONKeys: map[string]Operator{"**.internal_ref": Redact}, Columns: map[string]Operator{"*.email": Partial}})
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{"csv": csvDoc(400), "markdown": markdownDoc(400), "log": logDoc(300), "xml": xmlDoc(300),
		"tsv": strings.ReplaceAll(csvDoc(300), ",", "\t"), "empty": "", "one line": "ssn 078-05-1120 no newline"}
	for name, doc := range docs {
		want := Counts{}
		whole := e.MaskText(doc, want)
		for _, chunk := range []int{64, 1000, 4096, textChunk} {
			t.Run(fmt.Sprintf("%s/%d", name, chunk), func(t *testing.T) {
				var out strings.Builder
				got := Counts{}
				if err := e.maskTextStream(strings.NewReader(doc), &out, got, chunk, 4*chunk); err != nil {
					t.Fatal(err)
				}
				if out.String() != whole {
					t.Errorf("streamed output differs from MaskText:\n%.600s\nwant\n%.600s", out.String(), whole)
				}
				if !maps.Equal(got, want) {
					t.Errorf("counts %v, want %v", got, want)
				}
			})
		}
	}
}

// A line longer than the chunk bound is cut at a space, not inside a
// value.
func TestMaskTextStreamLongLine(t *testing.T) {
	e, _ := New(Config{})
	line := strings.Repeat("card 4111 1111 1111 1111 and ssn 536-90-1234 ", 200)
	var out strings.Builder
	c := Counts{}
	if err := e.maskTextStream(strings.NewReader(line), &out, c, 256, 1024); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "1111 1111") || strings.Contains(out.String(), "90-1234") {
		t.Errorf("a value survived the cut: %.300s", out.String())
	}
	if c[CreditCard] != 200 || c[SSN] != 200 {
		t.Errorf("counts %v, want 200 cards and SSNs", c)
	}
}

func FuzzMaskTextStream(f *testing.F) {
	for _, s := range []string{csvDoc(5), markdownDoc(5), logDoc(5), xmlDoc(5), "a\nb\n", "id,ssn\n1,078-05-1120\n"} {
		f.Add(s, uint16(16))
	}
	e, _ := New(Config{})
	f.Fuzz(func(t *testing.T, s string, chunk uint16) {
		n := max(int(chunk)%512, 1)
		var out strings.Builder
		if err := e.maskTextStream(strings.NewReader(s), &out, Counts{}, n, 4*n); err != nil {
			t.Fatal(err)
		}
		// One chunk is MaskText.
		out.Reset()
		if err := e.maskTextStream(strings.NewReader(s), &out, nil, len(s)+1, 4*len(s)+4); err != nil {
			t.Fatal(err)
		}
		if want := e.MaskText(s, nil); out.String() != want {
			t.Fatalf("one chunk: %q, want %q", out.String(), want)
		}
	})
}

func BenchmarkMaskTextStream(b *testing.B) {
	e, _ := New(Config{})
	for name, doc := range map[string]string{"csv": csvDoc(100000), "log": logDoc(60000)} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.MaskTextStream(strings.NewReader(doc), io.Discard, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
