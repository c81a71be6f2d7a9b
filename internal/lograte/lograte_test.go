package lograte

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lines is a concurrency-safe log sink.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

// waitLines polls (bounded) until the sink holds n lines.
func waitLines(t *testing.T, l *lines, n int) []string {
	t.Helper()
	for range 500 {
		if got := l.get(); len(got) >= n && got[0] != "" {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("want %d log lines, have %q", n, l.get())
	return nil
}

func TestRepeatsAreCountedNotLogged(t *testing.T) {
	out := &lines{}
	l := New(slog.New(slog.NewTextHandler(out, nil)), 50*time.Millisecond)
	defer l.Close()
	for i := range 1000 {
		l.Error("journal", "journal write failed; call refused", "call_id", i)
	}
	l.Warn("other", "another kind")
	got := waitLines(t, out, 3)
	if len(got) != 3 {
		t.Fatalf("got %d lines: %q", len(got), got)
	}
	if !strings.Contains(got[0], "call_id=0") || !strings.Contains(got[0], "level=ERROR") {
		t.Errorf("first line: %s", got[0])
	}
	if !strings.Contains(got[1], "another kind") {
		t.Errorf("a second key is logged on its own: %s", got[1])
	}
	if !strings.Contains(got[2], "999 more in the last 50ms") || !strings.Contains(got[2], "suppressed=999") ||
		!strings.Contains(got[2], "level=ERROR") || strings.Contains(got[2], "call_id") {
		t.Errorf("summary: %s", got[2])
	}
	// A quiet interval ends the summary period: the next one is logged in
	// full again.
	for range 500 {
		l.mu.Lock()
		n := len(l.kinds)
		l.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Error("journal", "journal write failed; call refused", "call_id", 1000)
	if got := waitLines(t, out, 4); !strings.Contains(got[3], "call_id=1000") {
		t.Errorf("after a quiet interval: %s", got[3])
	}
}

func TestCloseFlushesCounts(t *testing.T) {
	out := &lines{}
	l := New(slog.New(slog.NewTextHandler(out, nil)), time.Hour)
	for range 3 {
		l.Log(context.Background(), slog.LevelWarn, "k", "flaky")
	}
	l.Close()
	got := out.get()
	if len(got) != 2 || !strings.Contains(got[1], "flaky (2 more in the last 1h0m0s)") {
		t.Fatalf("%q", got)
	}
	// After Close nothing is suppressed.
	l.Warn("k", "flaky")
	if got := out.get(); len(got) != 3 {
		t.Fatalf("%q", got)
	}
}

func BenchmarkSuppressed(b *testing.B) {
	l := New(slog.New(slog.DiscardHandler), time.Hour)
	defer l.Close()
	l.Error("k", "first")
	b.ReportAllocs()
	for b.Loop() {
		l.Error("k", "again")
	}
}
