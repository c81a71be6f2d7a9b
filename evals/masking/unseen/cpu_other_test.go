//go:build !unix

package unseen

func cpuNanos() int64 { return 0 }
