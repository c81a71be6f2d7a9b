// Package gatewayproc runs `airlock serve` as a child process for the
// programs that drive a real gateway from outside (airlock bench, airlock
// eval): it starts it on a free loopback port, waits until it listens,
// keeps the last lines it logged for error messages, and stops it.
package gatewayproc

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// listening is the line `airlock serve` prints once it accepts requests.
var listening = regexp.MustCompile(`airlock listening on (\S+)`)

// tailLines is how many of the last log lines a Proc keeps.
const tailLines = 30

// Proc is a gateway serving HTTP as a child process.
type Proc struct {
	Cmd *exec.Cmd
	// Base is the gateway's URL, http://127.0.0.1:PORT.
	Base string

	mu   sync.Mutex
	tail []string
}

// Start runs binary serve --config cfgPath --listen 127.0.0.1:0 with env
// added to the environment, and returns once it listens (or fails, with
// the last lines it logged).
func Start(ctx context.Context, binary, cfgPath string, env []string) (*Proc, error) {
	cmd := exec.Command(binary, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0")
	if len(env) > 0 {
		cmd.Env = append(cmd.Environ(), env...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.add(sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			cmd.Wait()
			return nil, fmt.Errorf("the gateway exited before listening: %s", p.LastLines())
		}
		p.Base = "http://" + a
		return p, nil
	case <-time.After(60 * time.Second):
		p.Stop()
		return nil, fmt.Errorf("the gateway did not listen within 60s: %s", p.LastLines())
	case <-ctx.Done():
		p.Stop()
		return nil, ctx.Err()
	}
}

func (p *Proc) add(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > tailLines {
		p.tail = p.tail[1:]
	}
}

// LastLines is what the gateway logged last, on one line.
func (p *Proc) LastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, " | ")
}

// Stop ends the gateway with SIGTERM (it drains), or SIGKILL after 10 s.
func (p *Proc) Stop() {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.Cmd.Process.Kill()
		<-done
	}
}
