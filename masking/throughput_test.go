package masking

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCPUTimeMixed reports mixed-text throughput per CPU second (user+system
// time, so other load on the machine does not skew it); AIRLOCK_MASKING_CPU=1
// runs it. It asserts nothing: wall-clock and CPU speed vary by machine.
func TestCPUTimeMixed(t *testing.T) {
	if os.Getenv("AIRLOCK_MASKING_CPU") == "" {
		t.Skip()
	}
	e, _ := New(Config{})
	corpus := mixedCorpus(1 << 20)
	e.MaskText(corpus, nil)
	best := time.Hour
	for r := 0; r < 5; r++ {
		start := cpuNow()
		for i := 0; i < 10; i++ {
			e.MaskText(corpus, nil)
		}
		if d := cpuNow() - start; d < best {
			best = d
		}
	}
	t.Logf("mixed text: %.1f MB/s per CPU", float64(10*len(corpus))/best.Seconds()/1e6)
}
