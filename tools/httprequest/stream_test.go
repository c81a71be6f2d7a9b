package httprequest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
	"github.com/airlockhq/airlock/tools"
)

// bodyGen generates a large body record by record, without holding it:
// a JSON array or a CSV table of customers, each with an SSN, an email
// and, every tenth record, the connection's credential in a note.
type bodyGen struct {
	csv     bool
	size    int // stop after the record that passes size bytes
	n, i    int // bytes produced, records produced
	buf     []byte
	started bool
	done    bool
}

func newBodyGen(size int, csv bool) *bodyGen { return &bodyGen{size: size, csv: csv} }

// genSSN is record i's SSN: valid area, group and serial.
func genSSN(i int) string {
	return fmt.Sprintf("%03d-%02d-%04d", 100+i%500, 10+i%80, 1000+i%9000)
}

func (g *bodyGen) record(i int) string {
	note := "order shipped"
	if i%10 == 7 {
		note = "called with Bearer " + secret + " by mistake"
	}
	if g.csv {
		return fmt.Sprintf("%d,%s,user%d@example.com,%s\n", i, genSSN(i), i, note)
	}
	return fmt.Sprintf(`{"id":%d,"name":"customer %d","ssn":"%s","email":"user%d@example.com","note":"%s","tags":["a","b"]}`,
		i, i, genSSN(i), i, strings.ReplaceAll(note, "/", `\/`))
}

func (g *bodyGen) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case g.done:
			return 0, io.EOF
		case !g.started:
			g.started = true
			if g.csv {
				g.buf = append(g.buf, "id,ssn,email,note\n"...)
			} else {
				g.buf = append(g.buf, '[')
			}
		case g.n >= g.size:
			g.done = true
			if !g.csv {
				g.buf = append(g.buf, "]\n"...)
			}
		default:
			if !g.csv && g.i > 0 {
				g.buf = append(g.buf, ",\n"...)
			}
			g.buf = append(g.buf, g.record(g.i)...)
			g.i++
		}
	}
	k := copy(p, g.buf)
	g.buf = g.buf[k:]
	if len(g.buf) == 0 {
		g.buf = g.buf[:0:0]
	}
	g.n += k
	return k, nil
}

// records is how many records a body of size bytes holds.
func records(size int, csv bool) int {
	g := newBodyGen(size, csv)
	io.Copy(io.Discard, g)
	return g.i
}

// memJournal keeps journal entries in memory.
type memJournal struct {
	mu      sync.Mutex
	entries []store.Entry
}

func (m *memJournal) AppendJournal(_ context.Context, e *store.Entry) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, *e)
	return int64(len(m.entries)), nil
}

func (m *memJournal) last(t testing.TB) *recorder.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := recorder.Decode(&m.entries[len(m.entries)-1])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var streamAnalyst = &identity.Principal{Subject: "alice", Groups: []string{"analysts"}, Issuer: "test"}

// gateway is the real guard pipeline around http_request, with a read
// grant on connection "api" and the given token budget.
type gateway struct {
	p    *tools.Pipeline
	tool *Tool
	j    *memJournal
}

func newGateway(t testing.TB, baseURL string, maxResponse, budget int) *gateway {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := policy.NewEngine([]policy.Rule{{Groups: []string{"analysts"}, Connections: []string{"api"},
		Access: []policy.Access{policy.Read}, Effect: policy.Allow}})
	svc := jit.New(st, eng, jit.Config{Wait: time.Second, TTL: time.Hour}, nil)
	if _, err := svc.RequestGrant(context.Background(), streamAnalyst, "api", policy.Read, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	tc, err := masking.NewTokenCounter("")
	if err != nil {
		t.Fatal(err)
	}
	tc.Count("the encoder is built once, before measuring", -1)
	j := &memJournal{}
	conn := httpConn(baseURL, func(h *config.HTTPSettings) {
		h.MaxResponseBytes = maxResponse
		h.Timeout = 10 * time.Minute
	})
	tl := newTestTool(t, map[string]*config.Connection{"api": conn}, nil)
	p := tools.NewPipeline(tools.PipelineConfig{Recorder: recorder.New(j), Policy: eng, JIT: svc, Tokens: tc,
		Budget: func(string) int { return budget }})
	return &gateway{p: p, tool: tl, j: j}
}

func (g *gateway) get(t testing.TB, path string) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = Name
	req.Params.Arguments = map[string]any{"connection": "api", "method": "GET", "path": path}
	res, err := g.p.Handle(g.tool)(identity.NewContext(context.Background(), streamAnalyst), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("%s: %v", path, res.Content)
	}
	return res
}

// heapSampler records the peak of the heap's object bytes while it runs.
type heapSampler struct {
	stop     chan struct{}
	done     chan struct{}
	base     uint64
	peak     uint64
	baseLive uint64
	peakLive uint64
}

// heapObjects is the heap's object bytes, live and not yet collected;
// heapLive the live bytes marked by the last GC.
const (
	heapObjects = "/memory/classes/heap/objects:bytes"
	heapLive    = "/gc/heap/live:bytes"
)

func heapNow() (objects, live uint64) {
	s := []metrics.Sample{{Name: heapObjects}, {Name: heapLive}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	h.base, h.baseLive = heapNow()
	go func() {
		defer close(h.done)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			v, l := heapNow()
			h.peak, h.peakLive = max(h.peak, v), max(h.peakLive, l)
			select {
			case <-h.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return h
}

// extra stops sampling and returns the peak above the baseline.
func (h *heapSampler) extra() uint64 {
	close(h.stop)
	<-h.done
	v, l := heapNow()
	h.peak, h.peakLive = max(h.peak, v), max(h.peakLive, l)
	if h.peak < h.base {
		return 0
	}
	return h.peak - h.base
}

func serveGenerated(t testing.TB, size int) *target {
	return newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		csv := strings.HasSuffix(r.URL.Path, ".csv")
		if csv {
			w.Header().Set("Content-Type", "text/csv")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		n := size
		switch {
		case strings.HasPrefix(r.URL.Path, "/small"):
			n = 1000
		case strings.HasPrefix(r.URL.Path, "/wide"):
			n = 32 << 20
		}
		io.Copy(w, newBodyGen(n, csv))
	})
}

// A 100 MB body streams through the real tool and pipeline in bounded
// memory: masked as it is read, the credential scrubbed across chunk
// boundaries, cut to the token budget, every value of the whole body
// counted in the journal, and nothing raw returned or journaled.
func TestLargeBodyBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB bodies")
	}
	const size, wideSize = 100 << 20, 32 << 20
	tg := serveGenerated(t, size)
	for _, tc := range []struct {
		name, path string
		csv        bool
		budget     int
	}{
		{"json", "/customers.json", false, 8000},
		{"csv", "/customers.csv", true, 8000},
		// A budget so large that the whole shown part (1 MiB) is past
		// many chunk boundaries.
		{"json-wide", "/wide/customers.json", false, 2_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := size
			if strings.HasPrefix(tc.path, "/wide") {
				n = wideSize
			}
			g := newGateway(t, tg.URL, 200<<20, tc.budget)
			// The baseline: a small call first, so the token encoder and
			// the connection are in place before measuring.
			g.get(t, "/small.json")
			h := startHeapSampler()
			res := g.get(t, tc.path)
			extra := h.extra()
			t.Logf("a %d MiB %s body: peak extra heap %.1f MiB (baseline %.1f MiB); live heap at GCs: peak %.1f MiB, baseline %.1f MiB",
				n>>20, tc.name, float64(extra)/(1<<20), float64(h.base)/(1<<20), float64(h.peakLive)/(1<<20), float64(h.baseLive)/(1<<20))
			if extra > 64<<20 {
				t.Errorf("peak extra heap %.1f MiB, want ≤ 64 MiB", float64(extra)/(1<<20))
			}
			rec := g.j.last(t)
			checkLargeResult(t, res, rec, n, tc.csv, tc.budget)
		})
	}
}

func checkLargeResult(t *testing.T, res *mcp.CallToolResult, rec *recorder.Record, size int, csv bool, budget int) {
	t.Helper()
	seen, _ := json.Marshal(res)
	jr, _ := json.Marshal(rec)
	seen = append(seen, jr...)
	for _, raw := range []string{secret, strings.ReplaceAll(secret, "/", `\/`), "@example.com\"", "user1@", genSSN(0)} {
		if bytes.Contains(seen, []byte(raw)) {
			t.Fatalf("raw %q reached the agent or the journal", raw)
		}
	}
	n := records(size, csv)
	// Every record's SSN and email was masked, the last ones too.
	if m := ssnShape.Find(seen); m != nil {
		t.Fatalf("an SSN reached the agent or the journal: %s", m)
	}
	if m := emailShape.Find(seen); m != nil {
		t.Fatalf("an email reached the agent or the journal: %s", m)
	}
	if rec.Masked[string(masking.SSN)] != n || rec.Masked[string(masking.Email)] != n {
		t.Errorf("journal counts %v, want %d SSNs and emails", rec.Masked, n)
	}
	if !rec.Truncated || !strings.Contains(string(seen), "token budget") {
		t.Errorf("not marked truncated by the token budget: %.400s", seen)
	}
	if !bytes.Contains(seen, []byte(CredentialMark)) || !bytes.Contains(seen, []byte("[SSN]")) {
		t.Errorf("no masked values shown: %.400s", seen)
	}
	if rec.Tokens > budget {
		t.Errorf("%d tokens over the budget of %d", rec.Tokens, budget)
	}
}

// BenchmarkLargeBody is the streaming http_request body path end to end:
// an httptest server, the tool, the pipeline's masking and token cap.
func BenchmarkLargeBody(b *testing.B) {
	for _, kind := range []string{"json", "csv"} {
		b.Run(kind, func(b *testing.B) {
			const size = 32 << 20
			tg := serveGenerated(b, size)
			g := newGateway(b, tg.URL, 200<<20, 8000)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				g.get(b, "/customers."+kind)
			}
		})
	}
}

var (
	ssnShape   = regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b`)
	emailShape = regexp.MustCompile(`user\d+@example`)
)

// The edges of the streaming path: a body past max_response_bytes (cut
// inside the credential), a binary body, JSON that breaks off into text,
// and a body streamed without a budget.
func TestLargeBodyEdges(t *testing.T) {
	const size = 6 << 20
	var plain strings.Builder
	for plain.Len() < size {
		fmt.Fprintf(&plain, "line %d ssn %s ok\n", plain.Len(), genSSN(plain.Len()))
	}
	bin := bytes.Repeat([]byte{0, 1, 2, 0xff}, size/4)
	broken := `[{"ssn":"` + genSSN(1) + `"},` + strings.Repeat(`{"email":"a@example.com"},`, size/26) + "}} oops " + genSSN(2) + "\n"
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cut":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, plain.String()[:size-100]+"\n"+secret)
		case "/bin":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(bin)
		case "/broken":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, broken)
		}
	})
	check := func(t *testing.T, res *mcp.CallToolResult, rec *recorder.Record) map[string]any {
		t.Helper()
		seen, _ := json.Marshal(res)
		jr, _ := json.Marshal(rec)
		seen = append(seen, jr...)
		if bytes.Contains(seen, []byte(secret[:8])) || ssnShape.Match(seen) || bytes.Contains(seen, []byte("a@example.com")) {
			t.Fatalf("raw values returned or journaled: %.400s", seen)
		}
		m, _ := res.StructuredContent.(map[string]any)
		return m
	}
	t.Run("cut at max_response_bytes", func(t *testing.T) {
		// The cap falls inside the credential at the body's end.
		g := newGateway(t, tg.URL, size-100+1+10, 0)
		res := g.get(t, "/cut")
		m := check(t, res, g.j.last(t))
		if m["truncated_reason"] != truncatedCap || fmt.Sprint(m["bytes"]) != fmt.Sprint(size-100+1+10) {
			t.Errorf("structured: %v %v", m["truncated_reason"], m["bytes"])
		}
	})
	t.Run("binary", func(t *testing.T) {
		g := newGateway(t, tg.URL, 64<<20, 8000)
		res := g.get(t, "/bin")
		m := check(t, res, g.j.last(t))
		if m["body_format"] != formatBinary || fmt.Sprint(m["bytes"]) != fmt.Sprint(len(bin)) || m["body"] != nil {
			t.Errorf("structured: %v %v", m["body_format"], m["bytes"])
		}
	})
	t.Run("broken json", func(t *testing.T) {
		g := newGateway(t, tg.URL, 64<<20, 2_000_000)
		res := g.get(t, "/broken")
		rec := g.j.last(t)
		check(t, res, rec)
		// The SSN after the syntax error was masked as text.
		if rec.Masked[string(masking.SSN)] != 2 || rec.Masked[string(masking.Email)] != size/26 {
			t.Errorf("counts %v", rec.Masked)
		}
	})
}

// A HEAD answer announcing a long body has none to stream.
func TestLargeHeadIsEmpty(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "104857600")
	})
	g := newGateway(t, tg.URL, 200<<20, 8000)
	req := mcp.CallToolRequest{}
	req.Params.Name = Name
	req.Params.Arguments = map[string]any{"connection": "api", "method": "HEAD", "path": "/big"}
	res, err := g.p.Handle(g.tool)(identity.NewContext(context.Background(), streamAnalyst), req)
	if err != nil || res.IsError {
		t.Fatalf("%v %v", err, res)
	}
	if m := res.StructuredContent.(map[string]any); m["body_format"] != formatEmpty || m["truncated"] != false {
		t.Errorf("structured: %v", m)
	}
}
