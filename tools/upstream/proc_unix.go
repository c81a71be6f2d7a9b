//go:build unix

package upstream

import (
	"os/exec"
	"syscall"
)

// detach starts the upstream in its own process group: a Ctrl-C at the
// terminal reaches the gateway, which drains its calls, and not the
// upstream, which the gateway stops after the drain.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
