package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/pgtest"
)

// seedGrants stores n active grants for n subjects on connection "db",
// the rows the per-call grant lookup reads.
func seedGrants(b *testing.B, st Store, n int) {
	b.Helper()
	now := time.Now().UTC()
	for i := range n {
		r := request(fmt.Sprintf("gr_%d", i), fmt.Sprintf("agent-%d", i))
		r.Status, r.ExpiresAt = StatusActive, now.Add(time.Hour)
		if err := st.InsertRequest(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// grantLookup is the read the gateway makes for a call's grant
// (jit.ActiveGrant and its cache's fill).
func grantLookup(st Store, i int) error {
	_, err := st.ListRequests(context.Background(), RequestFilter{Kind: KindGrant, Subject: fmt.Sprintf("agent-%d", i%32),
		Connection: "db", Statuses: []string{StatusActive}})
	return err
}

// benchGrantLookup measures the grant lookup with `writers` goroutines
// appending journal records (durably, group-committed) the whole time, as
// the calls of other agents do.
func benchGrantLookup(b *testing.B, st Store, writers int) {
	seedGrants(b, st, 32)
	data := []byte(benchRecord)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appends atomic.Int64
	for range writers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				e := &Entry{CallID: "c", Type: "started", Time: time.Now(), Data: data}
				if _, err := st.AppendJournal(context.Background(), e); err != nil {
					b.Error(err)
					return
				}
				appends.Add(1)
			}
		})
	}
	if writers > 0 {
		time.Sleep(20 * time.Millisecond) // let the writers settle into group commits
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	i := 0
	for b.Loop() {
		if err := grantLookup(st, i); err != nil {
			b.Fatal(err)
		}
		i++
	}
	el := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()
	if writers > 0 {
		b.ReportMetric(float64(appends.Load())/el.Seconds(), "appends/s")
	} else {
		// CPU per lookup: steadier than wall time on a shared machine.
		b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
	}
}

// BenchmarkGrantLookup is the grant lookup alone and under 8 concurrent
// journal writers, on the SQLite store.
func BenchmarkGrantLookup(b *testing.B) {
	for _, w := range []int{0, 8} {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) { benchGrantLookup(b, openTemp(b), w) })
	}
}

// BenchmarkPostgresGrantLookup is the same on the PostgreSQL store.
func BenchmarkPostgresGrantLookup(b *testing.B) {
	for _, w := range []int{0, 8} {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) {
			benchGrantLookup(b, openDSN(b, pgtest.Database(b, "pgstore")), w)
		})
	}
}

// BenchmarkGetRequest is one request read by id, with its votes.
func BenchmarkGetRequest(b *testing.B) {
	st := openTemp(b)
	seedGrants(b, st, 32)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if _, err := st.GetRequest(context.Background(), "gr_7"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
}

// BenchmarkJournalAppendWithReads is journal throughput (32 writers, as
// BenchmarkJournalAppend32) while grant lookups run at a fixed 2,000/s:
// whether reads beside the writer slow the writes down.
func BenchmarkJournalAppendWithReads(b *testing.B) {
	st := openTemp(b)
	seedGrants(b, st, 32)
	data := []byte(benchRecord)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if err := grantLookup(st, i); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	appendParallel(b, st, data)
	close(stop)
	<-done
}
