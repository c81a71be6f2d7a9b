package httprequest

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// scrubStream scrubs body through a scrubReader of the given chunk size,
// fed a byte at a time when slow.
func scrubStream(t testing.TB, s *scrubber, body string, chunk int, slow, cutShort bool) string {
	t.Helper()
	var src io.Reader = strings.NewReader(body)
	if slow {
		src = iotest.OneByteReader(src)
	}
	out, err := io.ReadAll(newScrubReader(s, src, chunk, func() bool { return cutShort }))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// A credential anywhere in a stream, in any encoding, is scrubbed, at
// whatever offset a chunk boundary falls: the stream's output is what
// scrubbing the whole body at once gives.
func TestScrubReaderAcrossChunks(t *testing.T) {
	s := newScrubber(map[string][]string{"Authorization": {"Bearer " + secret}})
	for name, enc := range encodings {
		for _, sep := range []string{"\n", " ", "", `","`} {
			form := enc(secret)
			for off := 0; off < 40; off++ {
				body := strings.Repeat("x", 50+off) + sep + form + sep + strings.Repeat("y", 30) + "\n" +
					strings.Repeat("row, z ", 20) + sep + form
				want := s.string(body)
				for _, chunk := range []int{16, 64, 97} {
					got := scrubStream(t, s, body, chunk, off%2 == 0, false)
					if got != want {
						t.Fatalf("%s, sep %q, offset %d, chunk %d:\n got %q\nwant %q", name, sep, off, chunk, got, want)
					}
					for _, f := range forms(secret) {
						if len(f) >= minSecretLen && strings.Contains(got, f) {
							t.Fatalf("%s survived: %q", name, got)
						}
					}
				}
			}
		}
	}
	// A body cut short inside the credential at its very end.
	got := scrubStream(t, s, strings.Repeat("a b\n", 40)+secret[:10], 32, false, true)
	if strings.Contains(got, secret[:10]) {
		t.Errorf("a credential cut short survived: %q", got)
	}
}

func FuzzScrubReader(f *testing.F) {
	f.Add("before ", " after", uint8(10))
	f.Add(`{"a":"`, "\"}\n", uint8(3))
	s := newScrubber(map[string][]string{"Authorization": {"Bearer " + secret}})
	f.Fuzz(func(t *testing.T, pre, post string, chunk uint8) {
		body := pre + secret + post + pre + secret
		got := scrubStream(t, s, body, 8+int(chunk), false, false)
		if strings.Contains(got, secret) {
			t.Fatalf("survived: %q", got)
		}
	})
}

func BenchmarkScrubReader(b *testing.B) {
	s := newScrubber(map[string][]string{"Authorization": {"Bearer " + secret}})
	body := strings.Repeat(`{"id":1,"note":"order shipped via ground","email":"a@example.com"}`+"\n", 16<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		io.Copy(io.Discard, newScrubReader(s, strings.NewReader(body), scrubChunk, nil))
	}
}
