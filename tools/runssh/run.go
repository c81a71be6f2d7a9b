package runssh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// output is what one command produced.
type output struct {
	stdout, stderr capped
	// exitStatus is nil when the host reported none.
	exitStatus *int
	signal     string
	duration   time.Duration
}

// run executes the quoted command text in a new session: no PTY, no
// environment, no forwarding is requested. Past the command timeout (or
// when ctx ends) the command is killed on the host: SIGKILL to its process
// group, then the session is closed.
func (h *host) run(ctx context.Context, text string) (*output, error) {
	s, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out := &output{stdout: capped{max: h.maxOutput}, stderr: capped{max: h.maxOutput}}
	s.Stdout, s.Stderr = &out.stdout, &out.stderr
	start := time.Now()
	if err := s.Start(text); err != nil {
		h.log.WarnContext(ctx, "ssh exec request failed", "connection", h.name, "err", err)
		return nil, h.refuse("the host did not start the command; nothing was run.")
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	timer := time.NewTimer(h.commandTimeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		kill(s)
		return nil, tools.Refuse(recorder.OutcomeError, "timeout: the command ran longer than connection %q allows (%s); the gateway sent it SIGKILL and closed its session. "+
			"Its output is not returned; run something that finishes sooner, e.g. with narrower arguments.", h.name, h.commandTimeout)
	case <-ctx.Done():
		kill(s)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, tools.Refuse(recorder.OutcomeError, "timeout: the command ran past the call's time limit; the gateway sent it SIGKILL and closed its session. "+
				"Its output is not returned; run something that finishes sooner.")
		}
		return nil, ctx.Err()
	}
	out.duration = time.Since(start)
	var exitErr *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		code := 0
		out.exitStatus = &code
	case errors.As(err, &exitErr):
		code := exitErr.ExitStatus()
		out.exitStatus, out.signal = &code, exitErr.Signal()
	case errors.As(err, &missing):
	default:
		// The connection broke while the command ran.
		h.log.WarnContext(ctx, "ssh session failed", "connection", h.name, "err", err)
		return nil, h.refuse("the connection to the host was lost while the command ran; it may or may not have completed. Check before running it again.")
	}
	return out, nil
}

// kill stops a command that ran too long. OpenSSH delivers the signal to
// the session's process group (it refuses signals to forced-command
// sessions; see the README); closing the session then ends the channel.
func kill(s *ssh.Session) {
	_ = s.Signal(ssh.SIGKILL)
	_ = s.Close()
}

// capped keeps the first max bytes written to it and counts the rest, so
// a chatty command still runs to completion instead of blocking on a full
// channel window. Each stream has its own, written by one goroutine.
type capped struct {
	max   int
	buf   []byte
	total int64
}

func (c *capped) Write(p []byte) (int, error) {
	c.total += int64(len(p))
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) truncated() bool { return c.total > int64(len(c.buf)) }

// text is the kept output as valid UTF-8: a character cut by the cap is
// dropped, other invalid bytes become U+FFFD.
func (c *capped) text() string {
	b := c.buf
	if c.truncated() {
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// result renders the output as structuredContent and compact text. Both
// go through the pipeline's masking.
func (o *output) result(conn, name string, argv []string) *tools.Result {
	stdout, stderr := o.stdout.text(), o.stderr.text()
	av := make([]any, len(argv))
	for i, w := range argv {
		av[i] = w
	}
	ms := float64(o.duration.Microseconds()) / 1000
	st := map[string]any{
		"connection":       conn,
		"command":          name,
		"argv":             av,
		"stdout":           stdout,
		"stderr":           stderr,
		"stdout_bytes":     o.stdout.total,
		"stderr_bytes":     o.stderr.total,
		"stdout_truncated": o.stdout.truncated(),
		"stderr_truncated": o.stderr.truncated(),
		"duration_ms":      ms,
	}
	if o.exitStatus != nil {
		st["exit_status"] = *o.exitStatus
	} else {
		st["exit_status"] = nil
	}
	if o.signal != "" {
		st["signal"] = o.signal
	}

	var b strings.Builder
	switch {
	case o.signal != "":
		fmt.Fprintf(&b, "killed by signal %s", o.signal)
	case o.exitStatus != nil:
		fmt.Fprintf(&b, "exit status %d", *o.exitStatus)
	default:
		b.WriteString("exit status unknown (the host reported none)")
	}
	fmt.Fprintf(&b, " · %s\n", o.duration.Round(time.Millisecond))
	stream(&b, "stdout", stdout, &o.stdout)
	stream(&b, "stderr", stderr, &o.stderr)
	return &tools.Result{
		Structured: st,
		Text:       strings.TrimSuffix(b.String(), "\n"),
		Truncated:  o.stdout.truncated() || o.stderr.truncated(),
	}
}

func stream(b *strings.Builder, name, text string, c *capped) {
	switch {
	case c.total == 0:
		fmt.Fprintf(b, "%s: (empty)\n", name)
		return
	case c.truncated():
		fmt.Fprintf(b, "%s (truncated: first %d of %d bytes; narrow the command to see the rest):\n", name, len(c.buf), c.total)
	default:
		fmt.Fprintf(b, "%s:\n", name)
	}
	b.WriteString(text)
	if !strings.HasSuffix(text, "\n") {
		b.WriteByte('\n')
	}
}
