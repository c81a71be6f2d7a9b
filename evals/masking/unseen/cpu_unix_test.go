//go:build unix

package unseen

import "syscall"

// cpuNanos is the process's user+system CPU time: on a shared machine the
// throughput per CPU second is steadier than per wall second.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
