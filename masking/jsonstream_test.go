package masking

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jsonRecords is a reader of n bytes (about) of a JSON array of records,
// generated as it is read, so the test holds no copy of the input.
type jsonRecords struct {
	n, done int
	i       int
	buf     []byte
	closed  bool
}

func (g *jsonRecords) Read(p []byte) (int, error) {
	if len(g.buf) == 0 {
		switch {
		case g.closed:
			return 0, io.EOF
		case g.done >= g.n:
			g.buf, g.closed = []byte("\n]\n"), true
		default:
			sep := ",\n"
			if g.i == 0 {
				sep = "[\n"
			}
			g.buf = fmt.Appendf(g.buf[:0], `%s{"id":%d,"name":"customer %d","email":"user%d@example.com","ssn":"536-90-%04d","card":4111111111111111,`+
				`"phone":"+1 415 555 %04d","note":"ordered %d items, shipped via ground; tracking 1Z%08d","tags":["a","b"],"score":%d.5}`,
				sep, g.i, g.i, g.i, 1000+g.i%9000, g.i%10000, g.i%50, g.i, g.i%100)
			g.i++
		}
		g.done += len(g.buf)
	}
	k := copy(p, g.buf)
	g.buf = g.buf[k:]
	return k, nil
}

type countWriter struct {
	n      int64
	leaked atomic.Bool
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if strings.Contains(string(p), "@example.com") {
		w.leaked.Store(true)
	}
	return len(p), nil
}

// A 100 MB JSON body is masked with at most 64 MiB of heap beyond what
// was in use before; the heap is sampled while the masker runs.
func TestMaskJSONBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("masks 100 MB")
	}
	e, err := New(Config{JSONKeys: map[string]Operator{"**.note": Hash}, HashKey: "0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	}()
	in := &jsonRecords{n: 100 << 20}
	out := &countWriter{}
	c := Counts{}
	err = e.MaskJSON(in, out, c)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > peak.Load() {
		peak.Store(ms.HeapAlloc)
	}
	extra := int64(peak.Load()) - int64(base)
	t.Logf("input %d MB, output %d MB, %d records, peak extra heap %.1f MiB, counts %v", in.done>>20, out.n>>20, in.i, float64(extra)/(1<<20), c)
	if extra > 64<<20 {
		t.Errorf("peak extra heap %d MiB, want ≤ 64", extra>>20)
	}
	if out.leaked.Load() {
		t.Error("an email survived")
	}
	if c[Email] != in.i || c[SSN] != in.i || c[CreditCard] != in.i {
		t.Errorf("counts %v for %d records", c, in.i)
	}
}

func BenchmarkMaskJSON(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	io.Copy(&sb, &jsonRecords{n: 4 << 20})
	doc := sb.String()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := e.MaskJSON(strings.NewReader(doc), io.Discard, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// The MaskValue path it replaces in `airlock mask --json`, for comparison.
func BenchmarkMaskValueDecoded(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	io.Copy(&sb, &jsonRecords{n: 4 << 20})
	doc := sb.String()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for range b.N {
		var v any
		d := jsonDecoder(doc)
		if err := d.Decode(&v); err != nil {
			b.Fatal(err)
		}
		enc := jsonEncoder(io.Discard)
		if err := enc.Encode(e.MaskValue(v, nil)); err != nil {
			b.Fatal(err)
		}
	}
}

func jsonDecoder(s string) *json.Decoder {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	return d
}

func jsonEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }
