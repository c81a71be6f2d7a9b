package upstream

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An upstream can send notifications/tools/list_changed as fast as it
// writes: each must not start its own tools/list and pin writes (a flood
// of them would hold every store connection). At most one relist runs at
// a time, and notifications during a run make exactly one more.
func TestRelistCoalesced(t *testing.T) {
	var n atomic.Int32
	var running, maxRunning, runs atomic.Int32
	release := make(chan struct{})
	run := func() {
		r := running.Add(1)
		for {
			m := maxRunning.Load()
			if r <= m || maxRunning.CompareAndSwap(m, r) {
				break
			}
		}
		runs.Add(1)
		<-release
		running.Add(-1)
	}
	var wg sync.WaitGroup
	for range 1000 {
		wg.Add(1)
		go func() { defer wg.Done(); coalesce(&n, run) }()
	}
	wg.Wait()
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n.Load() != 0 {
		t.Fatal("relists did not finish")
	}
	if maxRunning.Load() != 1 {
		t.Errorf("%d relists ran at once; want 1", maxRunning.Load())
	}
	if r := runs.Load(); r < 1 || r > 2 {
		t.Errorf("%d relists for 1000 notifications; want 1 or 2", r)
	}
	// A notification after the runs ended makes a new one.
	before := runs.Load()
	coalesce(&n, run)
	for n.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if runs.Load() != before+1 {
		t.Errorf("a later notification made %d relists; want 1", runs.Load()-before)
	}
}
