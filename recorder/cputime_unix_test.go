//go:build unix

package recorder

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time this process has used so far.
// Benchmarks report it per op: unlike wall time on a disk shared with
// other work, it does not swing with the fsync latency of the moment.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
