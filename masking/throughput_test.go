package masking

import (
	"fmt"
	"io"
	"os"
	"strings"
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

// TestCPUTimeDocuments reports the streaming JSON masker's and the
// document pass's throughput per CPU second (AIRLOCK_MASKING_CPU=1).
func TestCPUTimeDocuments(t *testing.T) {
	if os.Getenv("AIRLOCK_MASKING_CPU") == "" {
		t.Skip()
	}
	e, _ := New(Config{})
	var sb strings.Builder
	io.Copy(&sb, &jsonRecords{n: 4 << 20})
	doc := sb.String()
	var csv strings.Builder
	csv.WriteString("id,name,ssn,phone,email,note\n")
	for i := 0; csv.Len() < 4<<20; i++ {
		fmt.Fprintf(&csv, "%d,customer %d,%09d,0301%06d,user%d@example.com,ordered %d items\n", i, i, 100000000+i, i, i, i%50)
	}
	measure := func(name string, n int, fn func()) {
		fn()
		start := cpuNow()
		fn()
		fn()
		d := cpuNow() - start
		t.Logf("%s: %.1f MB/s per CPU", name, float64(2*n)/d.Seconds()/1e6)
	}
	measure("MaskJSON (dense PII records)", len(doc), func() { e.MaskJSON(strings.NewReader(doc), io.Discard, nil) })
	measure("MaskText on a CSV document", csv.Len(), func() { e.MaskText(csv.String(), nil) })
}
