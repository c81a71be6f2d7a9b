//go:build linux

package store

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// threadCPU is the user+system CPU time of the calling OS thread (the
// caller must be locked to it). A lone append runs on its caller's
// goroutine, the batch leader, so this is the append's own CPU, kernel
// time of its syncs included, without the other modes' or the GC's.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tuneMode is one way of making a lone journal append durable, measured
// by BenchmarkJournalTune beside the others.
type tuneMode struct {
	name      string
	fdatasync bool // sqlite.Fdatasync(true) around the op
	op        func() error
	after     func() error // untimed, after each op (nil: nothing)
	lat, cpu  []time.Duration
}

// runTuneModes runs one op of every mode per iteration, round robin, so
// all modes see the same disk weather, and reports each mode's p50 and p99
// latency and median thread CPU in µs.
func runTuneModes(b *testing.B, modes []*tuneMode, raw ...func(int, *tuneMode)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := sqlite.FdatasyncEnabled()
	defer sqlite.Fdatasync(prev)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range modes {
			if _, err := sqlite.Fdatasync(m.fdatasync); err != nil {
				b.Fatal(err)
			}
			c0, t0 := threadCPU(), time.Now()
			if err := m.op(); err != nil {
				b.Fatal(err)
			}
			m.lat = append(m.lat, time.Since(t0))
			m.cpu = append(m.cpu, threadCPU()-c0)
			if m.after != nil {
				if err := m.after(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for i, m := range modes {
		for _, f := range raw { // the latencies in op order, before sorting
			f(i, m)
		}
		var sum time.Duration
		for _, d := range m.lat {
			sum += d
		}
		slices.Sort(m.lat)
		slices.Sort(m.cpu)
		us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
		b.ReportMetric(us(m.lat[len(m.lat)/2]), m.name+"-p50-µs")
		b.ReportMetric(us(m.lat[len(m.lat)*99/100]), m.name+"-p99-µs")
		b.ReportMetric(us(sum/time.Duration(len(m.lat))), m.name+"-mean-µs")
		b.ReportMetric(us(m.cpu[len(m.cpu)/2]), m.name+"-cpu-µs")
		b.ReportMetric(us(m.lat[len(m.lat)-1]), m.name+"-max-µs")
	}
}

func appendOp(st *SQLite) func() error {
	data := []byte(benchRecord)
	return func() error {
		_, err := st.AppendJournal(context.Background(), &Entry{CallID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Type: "started", Time: time.Now(), Data: data})
		return err
	}
}

// BenchmarkJournalTune weighs lone appends to stores tuned differently,
// one op of each per iteration (see runTuneModes). Every store has been
// used (1200 appends), closed and reopened, as a gateway's store is after
// a restart. Modes:
//
//	main          as before issue 12's tuning: fsync, the WAL deleted on
//	              close (so the reopened store grows a new one), SQLite's
//	              checkpoint inside the commit
//	tuned         as opened now (sqlite_wal.go): fdatasync, persistent WAL,
//	              the journal's checkpoint after the commit is answered
//	tuned-fsync   tuned, syncing with fsync
//	tuned-noidx   tuned, without the call_id index (one page fewer per
//	              commit; not shipped: JournalCall needs the index)
func BenchmarkJournalTune(b *testing.B) {
	ctx := context.Background()
	used := func(deleteWAL bool, setup ...string) *SQLite {
		path := filepath.Join(b.TempDir(), "airlock.db")
		st, err := OpenSQLite(ctx, "sqlite:"+path)
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range setup {
			if _, err := st.db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		op := appendOp(st)
		for range 1200 {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		if deleteWAL { // as SQLite did on close (checkpointed: safe)
			os.Remove(path + "-wal")
		}
		if st, err = OpenSQLite(ctx, "sqlite:"+path); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		if deleteWAL {
			inlineCheckpoints(b, st)
		}
		return st
	}
	modes := []*tuneMode{
		{name: "main", op: appendOp(used(true))},
		{name: "tuned", fdatasync: true, op: appendOp(used(false))},
		{name: "tuned-fsync", op: appendOp(used(false))},
		{name: "tuned-noidx", fdatasync: true, op: appendOp(used(false, `DROP INDEX journal_call_id`))},
	}
	runTuneModes(b, modes)
}

// BenchmarkWALGrowth weighs a commit that grows the WAL against one that
// overwrites it, one op of each mode per iteration:
//
//	grow             WAL never checkpointed: every commit extends it
//	reuse            WAL grown beforehand and restarted by a checkpoint
//	                 outside the timed op every 200 appends
//	reuse-fsync      reuse, syncing with fsync
//	reuse-noidx      reuse without the call_id index
func BenchmarkWALGrowth(b *testing.B) {
	ctx := context.Background()
	open := func(setup ...string) *SQLite {
		st := openTemp(b)
		inlineCheckpoints(b, st)
		for _, q := range append([]string{`PRAGMA wal_autocheckpoint=0`}, setup...) {
			if _, err := st.db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		return st
	}
	restart := func(st *SQLite) error {
		_, err := st.db.ExecContext(ctx, `PRAGMA wal_checkpoint(RESTART)`)
		return err
	}
	reused := func(st *SQLite) (func() error, func() error) {
		op := appendOp(st)
		for range 1200 {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		if err := restart(st); err != nil {
			b.Fatal(err)
		}
		i := 0
		return op, func() error {
			if i++; i%200 != 0 {
				return nil
			}
			return restart(st)
		}
	}
	r, rAfter := reused(open())
	rf, rfAfter := reused(open())
	ri, riAfter := reused(open(`DROP INDEX journal_call_id`))
	runTuneModes(b, []*tuneMode{
		{name: "grow", fdatasync: true, op: appendOp(open())},
		{name: "reuse", fdatasync: true, op: r, after: rAfter},
		{name: "reuse-fsync", op: rf, after: rfAfter},
		{name: "reuse-noidx", fdatasync: true, op: ri, after: riAfter},
	})
}

// inlineCheckpoints makes st checkpoint as before issue 12: SQLite's own
// automatic checkpoint every 1000 pages, inside the commit.
func inlineCheckpoints(b *testing.B, st *SQLite) {
	if _, err := st.db.Exec(`PRAGMA wal_autocheckpoint=1000`); err != nil {
		b.Fatal(err)
	}
	js := mustJournal(st)
	js.mu.Lock()
	js.walFrames = math.MinInt / 2 // never due
	js.mu.Unlock()
}

// BenchmarkJournalCallGaps is lone appends with a 2 ms pause between them
// (a tool running between a call's two records), one op per mode per
// iteration; the pause is not timed:
//
//	inline   SQLite's checkpoint inside the commit (as before issue 12)
//	after    the journal's checkpoint after the commit is answered
//
// Besides each mode's latencies it reports ckpt-µs: the mean latency of
// the appends around a checkpoint, the one after which the database file
// grew and the next one (inline pays in the first; after pays in the
// second only what of the checkpoint outlasts the pause).
func BenchmarkJournalCallGaps(b *testing.B) {
	inline, after := openTemp(b), openTemp(b)
	inlineCheckpoints(b, inline)
	var modes []*tuneMode
	var around []map[int]bool
	watch := func(st *SQLite, name string) {
		m := &tuneMode{name: name, fdatasync: true, op: appendOp(st)}
		marks := map[int]bool{}
		var size int64
		m.after = func() error {
			fi, err := os.Stat(st.path)
			if err != nil {
				return err
			}
			if fi.Size() != size && size != 0 {
				marks[len(m.lat)-1], marks[len(m.lat)] = true, true
			}
			size = fi.Size()
			time.Sleep(2 * time.Millisecond)
			return nil
		}
		modes, around = append(modes, m), append(around, marks)
	}
	watch(inline, "inline")
	watch(after, "after")
	lats := make([][]time.Duration, len(modes))
	runTuneModes(b, modes, func(i int, m *tuneMode) { lats[i] = slices.Clone(m.lat) })
	for i, m := range modes {
		var sum time.Duration
		n := 0
		for j := range around[i] {
			if j < len(lats[i]) {
				sum += lats[i][j]
				n++
			}
		}
		if n > 0 {
			b.ReportMetric(float64((sum/time.Duration(n)).Nanoseconds())/1e3, m.name+"-ckpt-µs")
		}
	}
}

// BenchmarkRawAppendFloor is the floor a journal append sits on: ~600
// bytes written at the end of a file in the store's directory, then
// fdatasync; into a preallocated, already-written file ("prealloc", no
// size or extent change for the sync to carry) and into a growing one.
func BenchmarkRawAppendFloor(b *testing.B) {
	dir := b.TempDir()
	rec := []byte(benchRecord)
	open := func(name string) *os.File { return benchFile(b, dir, name) }
	grow, pre, preF := open("grow"), open("prealloc"), open("prealloc-fsync")
	const size = 64 << 20
	for _, f := range []*os.File{pre, preF} {
		prefill(b, f, size)
	}
	var offGrow, offPre, offPreF int64
	step := func(f *os.File, off *int64, sync func() error) func() error {
		return func() error {
			if _, err := f.WriteAt(rec, *off); err != nil {
				return err
			}
			*off = (*off + int64(len(rec))) % (size - int64(len(rec)))
			return sync()
		}
	}
	fdatasync := func(f *os.File) func() error { return func() error { return syscall.Fdatasync(int(f.Fd())) } }
	runTuneModes(b, []*tuneMode{
		{name: "grow-fdatasync", op: step(grow, &offGrow, fdatasync(grow))},
		{name: "prealloc-fdatasync", op: step(pre, &offPre, fdatasync(pre))},
		{name: "prealloc-fsync", op: step(preF, &offPreF, preF.Sync)},
	})
}

// segProto is the segment-file design of issue 12, prototyped for
// measurement only: each record is appended to a preallocated segment
// file and made durable by one fdatasync, then inserted into a SQLite
// index written with synchronous=OFF. Recovery, multi-process locking and
// index rebuild are not built (see walfs-perf.md).
type segProto struct {
	f   *os.File
	off int64
	idx *SQLite
	buf []byte
}

const segProtoSize = 64 << 20

func newSegProto(b *testing.B) *segProto {
	dir := b.TempDir()
	f := benchFile(b, dir, "journal.seg")
	prefill(b, f, segProtoSize)
	idx, err := OpenSQLite(context.Background(), "sqlite:"+filepath.Join(dir, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { idx.Close() })
	if _, err := idx.db.Exec(`PRAGMA synchronous=OFF`); err != nil {
		b.Fatal(err)
	}
	return &segProto{f: f, idx: idx}
}

// appendBatch frames the batch (length, seq, hash, the record's columns),
// writes it with one pwrite, fdatasyncs, then indexes it in SQLite. The
// index insert is AppendJournal on the synchronous=OFF store: it assigns
// seq and chain the same way, so the CPU is comparable.
func (p *segProto) appendBatch(es []*Entry) error {
	if err := p.idx.commitBatch(context.Background(), mustJournal(p.idx), reqs(es)); err != nil {
		return err
	}
	p.buf = p.buf[:0]
	for _, e := range es {
		p.buf = fmt.Appendf(p.buf, "%d\x00%d\x00%s\x00%s\x00%s\x00%s\x00%s\x00", len(e.Data), e.Seq, e.Hash, e.PrevHash, e.CallID, e.Type, e.Time.Format(timeLayout))
		p.buf = append(p.buf, e.Data...)
	}
	if p.off+int64(len(p.buf)) > segProtoSize {
		p.off = 0
	}
	if _, err := p.f.WriteAt(p.buf, p.off); err != nil {
		return err
	}
	p.off += int64(len(p.buf))
	return syscall.Fdatasync(int(p.f.Fd()))
}

func mustJournal(s *SQLite) *journalState {
	js, err := s.journal(context.Background())
	if err != nil {
		panic(err)
	}
	return js
}

func reqs(es []*Entry) []*appendReq {
	rs := make([]*appendReq, len(es))
	for i, e := range es {
		rs[i] = &appendReq{e: e}
	}
	return rs
}

// groupCommit is the journal's leader/follower group commit reduced to
// its core, for the segment prototype: the first caller commits what is
// queued, the others wait and the first of those left leads next.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*appendReq
	leading bool
	commit  func([]*Entry) error
}

func (g *groupCommit) append(e *Entry) error {
	r := &appendReq{e: e, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		lead = <-r.wake
	}
	for lead {
		g.mu.Lock()
		batch := g.queue
		g.queue = nil
		g.mu.Unlock()
		es := make([]*Entry, len(batch))
		for i, q := range batch {
			es[i] = q.e
		}
		err := g.commit(es)
		g.mu.Lock()
		for _, q := range batch {
			q.err = err
			q.wake <- false
		}
		if len(g.queue) > 0 {
			g.queue[0].wake <- true
		} else {
			g.leading = false
		}
		g.mu.Unlock()
		lead = <-r.wake
	}
	return r.err
}

// BenchmarkSegProto32 is BenchmarkJournalAppend32 against the segment
// prototype (group commit, one pwrite and one fdatasync per batch).
func BenchmarkSegProto32(b *testing.B) {
	p := newSegProto(b)
	g := &groupCommit{commit: p.appendBatch}
	cpu0 := processCPU()
	appendParallel(b, appenderFunc(func(e *Entry) error { return g.append(e) }), []byte(benchRecord))
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
}

type appenderFunc func(*Entry) error

func (f appenderFunc) AppendJournal(_ context.Context, e *Entry) (int64, error) {
	return e.Seq, f(e)
}

// BenchmarkSegVsSQLite1 is a lone append, one op per mode per iteration:
//
//	sqlite            AppendJournal, WAL grown beforehand (steady state:
//	                  commits overwrite the WAL's blocks), fdatasync
//	seg               the segment prototype: segment pwrite + fdatasync,
//	                  index insert with synchronous=OFF
//	sqlite-nosync     the index insert alone (no durability)
//	raw               the record written into a preallocated file and
//	                  fdatasynced (the floor)
func BenchmarkSegVsSQLite1(b *testing.B) {
	st := openTemp(b)
	warm := appendOp(st)
	for range 1200 {
		if err := warm(); err != nil {
			b.Fatal(err)
		}
	}
	p := newSegProto(b)
	data := []byte(benchRecord)
	seg := func() error {
		return p.appendBatch([]*Entry{{CallID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Type: "started", Time: time.Now(), Data: data}})
	}
	ns := newSegProto(b).idx
	raw := newSegProto(b)
	var rawOff int64
	runTuneModes(b, []*tuneMode{
		{name: "sqlite", fdatasync: true, op: warm},
		{name: "seg", fdatasync: true, op: seg},
		{name: "sqlite-nosync", fdatasync: true, op: appendOp(ns)},
		{name: "raw", op: func() error {
			if _, err := raw.f.WriteAt(data, rawOff); err != nil {
				return err
			}
			rawOff = (rawOff + int64(len(data))) % (segProtoSize - int64(len(data)))
			return syscall.Fdatasync(int(raw.f.Fd()))
		}},
	})
}
