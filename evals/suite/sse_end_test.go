package suite_test

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/evals/suite"
	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/internal/syncbuf"
)

// When the gateway ends an SSE stream (a token expired mid-session), the
// run's log says so and nothing is written through slog.Default, where
// mcp-go's SSE client printed "ERROR SSE stream error err=EOF".
func TestEvalSSEStreamEndIsLogged(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "airlock")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/airlock").CombinedOutput(); err != nil {
		t.Fatalf("build airlock: %v\n%s", err, out)
	}
	var lib syncbuf.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&lib, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc, err := suite.Run(ctx, suite.Options{DSN: pgtest.DSN(t), Binary: bin, WorkDir: t.TempDir(), Log: &log, Cases: []string{"exp-003"}})
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, log.String())
	}
	if err := sc.Gate(); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if s := lib.String(); strings.Contains(s, "SSE stream") {
		t.Errorf("the stream's end went to slog.Default: %s", s)
	}
	if !strings.Contains(log.String(), "the gateway ended an SSE stream during exp-003 over sse: EOF") {
		t.Errorf("the run's log does not say the gateway ended the stream: %q", log.String())
	}
}
