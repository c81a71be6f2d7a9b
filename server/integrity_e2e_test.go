package server_test

import (
	"errors"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/server"
)

// checkpointCount is how many checkpoints the store holds.
func checkpointCount(t *testing.T, e *env) int {
	t.Helper()
	var n int
	if err := rawDB(t, e).QueryRow(`SELECT count(*) FROM journal_checkpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond (bounded) and fails with what.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// A running gateway whose journal loses records below an earlier
// checkpoint refuses to sign over it — at every interval, on `airlock
// journal checkpoint` (exit 1) and at shutdown — says so loudly, keeps
// refusing across a restart, and signs again only once an operator
// acknowledges the loss.
func TestGatewayRefusesToSignABrokenJournal(t *testing.T) {
	e := newEnvWith(t, defaultRules+"journal: {checkpoint_interval: 1s}\n")
	g := startProc(t, e.cfgPath)
	c := httpClient(t, "streamable-http", g.base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	for range 3 {
		structured(t, query(t, c, "pg", "SELECT 1"))
	}
	if code := readyz(t, g.base); code != http.StatusOK {
		t.Fatalf("/readyz = %d on a sound journal", code)
	}
	waitFor(t, "a checkpoint", func() bool { return checkpointCount(t, e) > 0 })
	structured(t, query(t, c, "pg", "SELECT 2"))
	waitFor(t, "a second checkpoint", func() bool { return checkpointCount(t, e) > 1 })

	// Delete a record below the checkpoints while the gateway runs.
	if _, err := rawDB(t, e).Exec(`DELETE FROM journal WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	refusedAt := checkpointCount(t, e)
	structured(t, query(t, c, "pg", "SELECT 3")) // the head moves: there is something to sign
	waitFor(t, "the integrity failure in the log", func() bool {
		return strings.Contains(g.log(), "JOURNAL INTEGRITY FAILURE") && strings.Contains(g.log(), "level=ERROR")
	})
	waitFor(t, "a second refusal", func() bool { return strings.Count(g.log(), "checkpoint refused") >= 2 })
	if code := readyz(t, g.base); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d over a broken journal, want 503", code)
	}
	structured(t, query(t, c, "pg", "SELECT 4")) // calls are still served and journaled
	out, err := airlockCmd(t, "journal", "checkpoint", "--config", e.cfgPath)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "refusing to sign") || !strings.Contains(out, "airlock journal verify") {
		t.Fatalf("journal checkpoint over a broken journal: %v\n%s", err, out)
	}
	// A shutdown that refuses to sign exits non-zero, and says why.
	g.cmd.Process.Signal(syscall.SIGTERM)
	if err := g.cmd.Wait(); err == nil {
		t.Errorf("the gateway exited 0 after refusing to sign at shutdown:\n%s", g.log())
	}
	if !strings.Contains(g.log(), "no checkpoint signed at shutdown") {
		t.Errorf("shutdown did not say it refused to sign:\n%s", g.log())
	}
	if n := checkpointCount(t, e); n != refusedAt {
		t.Fatalf("%d checkpoints signed over the broken journal", n-refusedAt)
	}

	// A restart does not forget: the deletion is found at start.
	g2 := startProc(t, e.cfgPath)
	if !strings.Contains(g2.log(), "JOURNAL INTEGRITY FAILURE") {
		t.Fatalf("the restarted gateway said nothing:\n%s", g2.log())
	}
	// The operator acknowledges the loss; the gateway signs again.
	if out, err := airlockCmd(t, "journal", "acknowledge", "--config", e.cfgPath); err == nil {
		t.Fatalf("acknowledge without a reason: %s", out)
	}
	out, err = airlockCmd(t, "journal", "acknowledge", "--config", e.cfgPath, "--reason", "INC-42: seq 3 lost", "--actor", "ops")
	if err != nil || !strings.Contains(out, "ACKNOWLEDGED seq 3: missing") {
		t.Fatalf("acknowledge: %v\n%s", err, out)
	}
	c2 := httpClient(t, "streamable-http", g2.base, e.token(t, "alice", "analysts"))
	structured(t, query(t, c2, "pg", "SELECT 5"))
	waitFor(t, "the gateway to resume", func() bool { return strings.Contains(g2.log(), "acknowledged by an operator") })
	acked := checkpointCount(t, e)
	structured(t, query(t, c2, "pg", "SELECT 6"))
	waitFor(t, "a checkpoint after the acknowledgement", func() bool { return checkpointCount(t, e) > acked })
	if code := readyz(t, g2.base); code != http.StatusOK {
		t.Errorf("/readyz = %d after the acknowledgement, want 200", code)
	}
	g2.stop(t)
	out, err = airlockCmd(t, "journal", "verify", "--config", e.cfgPath)
	if err != nil || !strings.Contains(out, "ACKNOWLEDGED seq 3") || strings.Contains(out, "FAIL") {
		t.Fatalf("verify after the acknowledgement: %v\n%s", err, out)
	}
}

// A journal edited below its checkpoint while the gateway was stopped:
// the gateway starts (calls are journaled) but the background full
// verification finds it, the status says so, and no checkpoint is signed.
func TestGatewayStartsOnAnEditedJournalAndSaysSo(t *testing.T) {
	e := newEnv(t)
	g, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	structured(t, query(t, c, "pg", "SELECT 1"))
	if st := g.JournalIntegrity(); !st.OK {
		t.Fatalf("a fresh journal: %+v", st)
	}
	c.Close()
	if out, err := airlockCmd(t, "journal", "checkpoint", "--config", e.cfgPath); err != nil {
		t.Fatalf("checkpoint: %v\n%s", err, out)
	}
	if _, err := rawDB(t, e).Exec(`UPDATE journal SET data = replace(data, '"alice"', '"mallory"') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	g2, base2 := e.start(t, server.Options{Logger: slogText(logs)})
	waitFor(t, "the full verification", func() bool { return !g2.JournalIntegrity().OK })
	st := g2.JournalIntegrity()
	if !strings.Contains(st.Problem, "seq 2: altered") || st.Action == "" || st.FailedAt.IsZero() {
		t.Errorf("status: %+v", st)
	}
	// The status flips before the line is written: wait for the log too.
	waitFor(t, "the integrity failure in the log", func() bool { return strings.Contains(logs.String(), "JOURNAL INTEGRITY FAILURE") })
	before := checkpointCount(t, e)
	c2 := httpClient(t, "streamable-http", base2, e.token(t, "alice", "analysts"))
	structured(t, query(t, c2, "pg", "SELECT 2"))
	out, err := airlockCmd(t, "journal", "checkpoint", "--config", e.cfgPath)
	if err == nil || !strings.Contains(out, "seq 2: altered") {
		t.Errorf("the CLI signed over an edited journal: %v\n%s", err, out)
	}
	c2.Close()
	if err := g2.Close(); err == nil {
		t.Error("shutdown signed over an edited journal")
	}
	if n := checkpointCount(t, e); n != before {
		t.Errorf("%d checkpoints signed by the gateway over an edited journal", n-before)
	}
}

func slogText(w *syncBuf) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func readyz(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + server.PathReady)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
