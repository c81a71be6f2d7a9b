package store

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/pgtest"
)

func openTemp(t testing.TB) *SQLite {
	t.Helper()
	st, err := OpenSQLite(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// backends are the stores the shared suite runs against: each gives a
// fresh, empty store's DSN (a new file; a new pgstore_* database).
var backends = []struct {
	name string
	dsn  func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "airlock.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.Database(t, "pgstore") }},
}

// eachBackend runs f once per store, each with a fresh DSN.
func eachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.dsn(t)) })
	}
}

// openDSN opens dsn, closed when t ends.
func openDSN(t testing.TB, dsn string) Store {
	t.Helper()
	st, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func entry(i int) *Entry {
	return &Entry{CallID: fmt.Sprintf("call-%d", i), Type: "started", Time: time.Now(),
		Data: fmt.Appendf(nil, `{"call_id":"call-%d","type":"started"}`, i)}
}

// checkChain reads the whole journal and checks seq, links and hashes.
func checkChain(t *testing.T, st Store) []Entry {
	t.Helper()
	es, err := st.JournalAfter(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	prev := GenesisHash
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if e.PrevHash != prev {
			t.Fatalf("seq %d: prev_hash %s, want %s (chain forked)", e.Seq, e.PrevHash, prev)
		}
		if h := ChainHash(&e); h != e.Hash {
			t.Fatalf("seq %d: stored hash %s, computed %s", e.Seq, e.Hash, h)
		}
		prev = e.Hash
	}
	return es
}

func TestAppendAssignsSeqAndChain(t *testing.T) { eachBackend(t, testAppendAssignsSeqAndChain) }

func testAppendAssignsSeqAndChain(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	ctx := context.Background()
	var want []string
	for i := range 5 {
		e := entry(i)
		seq, err := st.AppendJournal(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if seq != int64(i+1) || e.Seq != seq || e.Hash == "" || e.PrevHash == "" {
			t.Fatalf("append %d: seq %d, entry %+v", i, seq, e)
		}
		want = append(want, e.Hash)
	}
	es := checkChain(t, st)
	for i, e := range es {
		if e.Hash != want[i] {
			t.Errorf("seq %d: hash changed after commit", e.Seq)
		}
	}
	head, err := st.JournalHead(ctx)
	if err != nil || head.Seq != 5 || head.Hash != want[4] {
		t.Fatalf("head %+v %v", head, err)
	}
	call, err := st.JournalCall(ctx, "call-3")
	if err != nil || len(call) != 1 || call[0].Seq != 4 {
		t.Fatalf("JournalCall: %+v %v", call, err)
	}
}

// Many goroutines appending at once share commits and still make one
// unbroken chain.
func TestConcurrentAppendsMakeOneChain(t *testing.T) {
	eachBackend(t, testConcurrentAppendsMakeOneChain)
}

func testConcurrentAppendsMakeOneChain(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	var wg sync.WaitGroup
	errs := make(chan error, 64*20)
	for g := range 64 {
		wg.Go(func() {
			for i := range 20 {
				if _, err := st.AppendJournal(context.Background(), entry(g*100+i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if es := checkChain(t, st); len(es) != 64*20 {
		t.Fatalf("%d entries", len(es))
	}
}

// The prepared statements belong to one open store: closing it releases
// them, appends to the closed store fail, and a reopened store continues
// the same chain.
func TestPreparedStatementsAcrossReopen(t *testing.T) {
	eachBackend(t, testPreparedStatementsAcrossReopen)
}

func testPreparedStatementsAcrossReopen(t *testing.T, path string) {
	ctx := context.Background()
	for round := range 3 {
		st, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := st.AppendJournal(ctx, entry(round*10+i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendJournal(ctx, entry(99)); err == nil {
			t.Fatal("append to a closed store succeeded")
		}
	}
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if es := checkChain(t, st); len(es) != 9 {
		t.Fatalf("%d entries, want 9", len(es))
	}
}

// Two processes appending to one file cannot fork the chain: the head is
// read inside the write transaction.
func TestTwoProcessesShareOneChain(t *testing.T) {
	if os.Getenv("AIRLOCK_STORE_HELPER") == "append" {
		return
	}
	eachBackend(t, testTwoProcessesShareOneChain)
}

func testTwoProcessesShareOneChain(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	const perProc = 320
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperAppend$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AIRLOCK_STORE_HELPER=append", "AIRLOCK_STORE_DSN="+dsn, fmt.Sprintf("AIRLOCK_STORE_N=%d", perProc))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	if es := checkChain(t, st); len(es) != 2*perProc {
		t.Fatalf("%d entries, want %d", len(es), 2*perProc)
	}
}

// An append acknowledged under group commit survives the process being
// killed (SIGKILL) right after: every acknowledged seq is in the journal
// with the hash the writer was given, and the chain is unbroken.
func TestAcknowledgedAppendsSurviveKill(t *testing.T) {
	if os.Getenv("AIRLOCK_STORE_HELPER") != "" {
		return
	}
	eachBackend(t, testAcknowledgedAppendsSurviveKill)
}

func testAcknowledgedAppendsSurviveKill(t *testing.T, dsn string) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperAppend$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AIRLOCK_STORE_HELPER=ack", "AIRLOCK_STORE_DSN="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var seq int64
		var hash string
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d %s", &seq, &hash); err != nil {
			continue
		}
		acked[seq] = hash
		if len(acked) == 400 {
			cmd.Process.Kill()
		}
	}
	cmd.Wait()
	if len(acked) < 400 {
		t.Fatalf("helper acknowledged only %d appends", len(acked))
	}
	st := openDSN(t, dsn)
	es := checkChain(t, st)
	for seq, hash := range acked {
		if seq < 1 || seq > int64(len(es)) {
			t.Fatalf("acknowledged seq %d lost (journal has %d entries)", seq, len(es))
		}
		if es[seq-1].Hash != hash {
			t.Fatalf("seq %d: hash %s, acknowledged as %s", seq, es[seq-1].Hash, hash)
		}
	}
}

// TestHelperAppend is the child of TestTwoProcessesShareOneChain,
// TestAcknowledgedAppendsSurviveKill and TestIOErrorDisablesJournal.
func TestHelperAppend(t *testing.T) {
	switch os.Getenv("AIRLOCK_STORE_HELPER") {
	case "append":
		st, err := Open(context.Background(), os.Getenv("AIRLOCK_STORE_DSN"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var n int
		fmt.Sscan(os.Getenv("AIRLOCK_STORE_N"), &n)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range n / 8 {
					if _, err := st.AppendJournal(context.Background(), entry(os.Getpid()*10000+g*1000+i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	case "ack":
		st, err := Open(context.Background(), os.Getenv("AIRLOCK_STORE_DSN"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 5000 { // bounded, should the parent never kill it
					e := entry(g*1000000 + i)
					if _, err := st.AppendJournal(context.Background(), e); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					fmt.Fprintf(os.Stdout, "ACK %d %s\n", e.Seq, e.Hash)
					mu.Unlock()
				}
			})
		}
		wg.Wait() // normally until the parent kills the process
	default:
		helperUnix(t)
	}
}

// A journal written before the hash chain is chained on first use.
func TestUpgradeChainsLegacyJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airlock.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL,
type TEXT NOT NULL, time TEXT NOT NULL, data BLOB NOT NULL);
INSERT INTO journal(call_id, type, time, data) VALUES ('a', 'started', '2026-01-02T03:04:05.5Z', '{}'), ('a', 'finished', '2026-01-02T03:04:06Z', '{}');`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := OpenSQLite(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.AppendJournal(context.Background(), entry(9)); err != nil {
		t.Fatal(err)
	}
	if es := checkChain(t, st); len(es) != 3 {
		t.Fatalf("%d entries", len(es))
	}
}

func TestInstanceLiveness(t *testing.T) { eachBackend(t, testInstanceLiveness) }

func testInstanceLiveness(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	a, err := st.AcquireInstance()
	if err != nil {
		t.Fatal(err)
	}
	if alive, err := st.InstanceAlive(a.ID); err != nil || !alive {
		t.Fatalf("own instance: alive=%v err=%v", alive, err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, "", "../../etc/passwd", "not-an-id", "00000000-0000-0000-0000-000000000000"} {
		if alive, err := st.InstanceAlive(id); err != nil || alive {
			t.Errorf("%q: alive=%v err=%v", id, alive, err)
		}
	}
}

// A dead process's lock is gone: SIGKILL a child holding an instance.
func TestInstanceDiesWithProcess(t *testing.T) {
	if os.Getenv("AIRLOCK_STORE_HELPER") == "instance" {
		st, err := Open(context.Background(), os.Getenv("AIRLOCK_STORE_DSN"))
		if err != nil {
			t.Fatal(err)
		}
		in, err := st.AcquireInstance()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("ID", in.ID)
		time.Sleep(time.Minute)
		return
	}
	eachBackend(t, testInstanceDiesWithProcess)
}

func testInstanceDiesWithProcess(t *testing.T, dsn string) {
	st := openDSN(t, dsn)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestInstanceDiesWithProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "AIRLOCK_STORE_HELPER=instance", "AIRLOCK_STORE_DSN="+dsn)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var id string
	sc := bufio.NewScanner(stdout)
	for id == "" && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ID "); ok {
			id = v
		}
	}
	if id == "" {
		t.Fatal("child printed no instance id")
	}
	if alive, err := st.InstanceAlive(id); err != nil || !alive {
		t.Fatalf("live child: alive=%v err=%v", alive, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// PostgreSQL ends the dead client's session (and its lock) when it
	// reads the closed socket, a moment after the kill: allow it that.
	alive, err := st.InstanceAlive(id)
	for i := 0; i < 100 && err == nil && alive; i++ {
		time.Sleep(50 * time.Millisecond)
		alive, err = st.InstanceAlive(id)
	}
	if err != nil || alive {
		t.Fatalf("killed child: alive=%v err=%v", alive, err)
	}
}

// BenchmarkJournalAppend32 is durable journal throughput with 32
// concurrent writers (each append fsynced before it returns; group commit
// shares the fsyncs). Reports records/s.
func BenchmarkJournalAppend32(b *testing.B) {
	st := openTemp(b)
	data := []byte(`{"call_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","type":"started","time":"2026-11-25T22:16:34.123456789Z","principal":{"subject":"alice","groups":["analysts"],"issuer":"https://login.example.com/"},"transport":"streamable-http","tool":"query_db","arguments":{"connection":"demo","sql":"SELECT status, count(*) FROM orders GROUP BY status"},"arguments_digest":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}`)
	cpu0 := processCPU()
	appendParallel(b, st, data)
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
}

// appendParallel appends b.N records of data from 32 concurrent writers
// and reports records/s.
func appendParallel(b *testing.B, st interface {
	AppendJournal(context.Context, *Entry) (int64, error)
}, data []byte) {
	b.ReportAllocs()
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := &Entry{CallID: "c", Type: "started", Time: time.Now(), Data: data}
			if _, err := st.AppendJournal(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkJournalAppend1 is the latency of one durable append with a
// single writer: what a lone call pays for each of its two records.
func BenchmarkJournalAppend1(b *testing.B) {
	st := openTemp(b)
	data := []byte(benchRecord)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		e := &Entry{CallID: "c", Type: "started", Time: time.Now(), Data: data}
		if _, err := st.AppendJournal(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
}

const benchRecord = `{"call_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","type":"started","time":"2026-11-25T22:16:34.123456789Z","principal":{"subject":"alice","groups":["analysts"],"issuer":"https://login.example.com/"},"transport":"streamable-http","tool":"query_db","arguments":{"connection":"demo","sql":"SELECT status, count(*) FROM orders GROUP BY status"},"arguments_digest":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}`

// BenchmarkChainHash is the per-record hashing cost.
func BenchmarkChainHash(b *testing.B) {
	e := entry(1)
	e.Data = make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		ChainHash(e)
	}
}
