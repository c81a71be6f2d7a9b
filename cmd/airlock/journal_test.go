package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/recorder"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// servedQuickstart runs `airlock serve` on the quick start in-process,
// drives the README's session through it, and shuts it down (which also
// writes a checkpoint). It returns the config path.
func servedQuickstart(t *testing.T) string {
	t.Helper()
	p := quickstart(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", p, "--listen", addr}, io.Discard, io.Discard) }()
	for range 200 {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	quickstartSession(t, p, "http://"+addr)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	return p
}

var (
	reUUID     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[a-z]{2}_[0-9a-f]{32}\b`)
	reTime     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	reOffset   = regexp.MustCompile(`\+\d+\.\d{3}s`)
	reDuration = regexp.MustCompile(`in \d+\.\d{3} ms`)
)

// normalise makes replay output deterministic: ids numbered in order of
// first appearance, times and durations replaced.
func normalise(s string) string {
	ids := map[string]string{}
	s = reUUID.ReplaceAllStringFunc(s, func(id string) string {
		if _, ok := ids[id]; !ok {
			ids[id] = fmt.Sprintf("<id-%d>", len(ids)+1)
		}
		return ids[id]
	})
	s = reTime.ReplaceAllString(s, "<time>")
	s = reOffset.ReplaceAllString(s, "+<t>s")
	return reDuration.ReplaceAllString(s, "in <d> ms")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// The auditor's commands on a real quick-start session: replay against a
// golden file, verify (and its exit status after tampering), checkpoint to
// an external file, search, show, export.
func TestJournalCommandsOnQuickstartSession(t *testing.T) {
	p := servedQuickstart(t)

	out, err := runCmd(t, "journal", "replay", "--config", p, "--subject", "alice")
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	golden(t, "replay-quickstart.golden", normalise(out))

	out, err = runCmd(t, "journal", "verify", "--config", p)
	if err != nil || !strings.Contains(out, "ok: the chain is intact") {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	kept := filepath.Join(t.TempDir(), "kept-checkpoints.jsonl")
	out, err = runCmd(t, "journal", "checkpoint", "--config", p, "--append-to", kept)
	if err != nil {
		t.Fatalf("checkpoint: %v\n%s", err, out)
	}
	if c, err := recorder.ParseCheckpoint([]byte(strings.TrimSpace(out))); err != nil || c.Seq == 0 {
		t.Fatalf("checkpoint output %q: %v", out, err)
	}

	out, err = runCmd(t, "journal", "search", "--config", p, "--subject", "alice", "--outcome", "denied")
	if err != nil || !strings.Contains(out, "1 match(es)") || !strings.Contains(out, "query_db demo/read") {
		t.Fatalf("search: %v\n%s", err, out)
	}
	out, err = runCmd(t, "journal", "search", "--config", p, "--type", "grant", "--json")
	if err != nil || !strings.Contains(out, `"type":"grant"`) {
		t.Fatalf("search grants: %v\n%s", err, out)
	}
	out, err = runCmd(t, "journal", "search", "--config", p, "--since", "not a time")
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("bad --since: %v %s", err, out)
	}

	// show: the records of the last call.
	out, err = runCmd(t, "journal", "tail", "--config", p, "-n", "1")
	if err != nil {
		t.Fatal(err)
	}
	var last recorder.Record
	if err := json.Unmarshal([]byte(out), &last); err != nil || last.Seq == 0 || last.Hash == "" {
		t.Fatalf("tail: %v %q", err, out)
	}
	out, err = runCmd(t, "journal", "show", last.CallID, "--config", p, "--json")
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"type":"started"`) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := runCmd(t, "journal", "show", "no-such-call", "--config", p); err == nil {
		t.Error("show of an unknown id succeeded")
	}

	for _, format := range []string{"jsonl", "ocsf"} {
		out, err = runCmd(t, "journal", "export", "--config", p, "--format", format)
		if err != nil {
			t.Fatalf("export %s: %v", format, err)
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("export %s line %d: %v", format, n+1, err)
			}
			if format == "ocsf" && m["class_uid"] != 6003.0 {
				t.Fatalf("ocsf event without class 6003: %v", m)
			}
			n++
		}
		if n < 3 {
			t.Fatalf("export %s: %d lines", format, n)
		}
	}

	// Tamper with the file: verify fails, naming the record; cutting the
	// tail together with the stored checkpoints is still caught through
	// the auditor's copy.
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(cfg.Store, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE journal SET data = replace(data, 'alice', 'mallory') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, "journal", "verify", "--config", p)
	var ef errFindings
	if !errors.As(err, &ef) || !strings.Contains(out, "FAIL seq 2: altered") {
		t.Fatalf("verify after an edit: %v\n%s", err, out)
	}
	if _, err := db.Exec(`UPDATE journal SET data = replace(data, 'mallory', 'alice') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM journal WHERE seq > 3; DELETE FROM journal_checkpoints`); err != nil {
		t.Fatal(err)
	}
	if out, err = runCmd(t, "journal", "verify", "--config", p); err != nil {
		t.Fatalf("without the auditor's copy the cut is invisible, and verify should say it has no checkpoint: %v\n%s", err, out)
	}
	out, err = runCmd(t, "journal", "verify", "--config", p, "--checkpoints", kept)
	if !errors.As(err, &ef) || !strings.Contains(out, "FAIL seq 4: truncated") {
		t.Fatalf("verify with the auditor's copy: %v\n%s", err, out)
	}
}

func TestJournalUsage(t *testing.T) {
	p := quickstart(t)
	for _, args := range [][]string{
		{"journal", "bogus"},
		{"journal", "replay", "--config", p},
		{"journal", "replay", "--config", p, "--session", "a", "--subject", "b"},
		{"journal", "export", "--config", p, "--format", "xml"},
		{"journal", "show", "--config", p},
	} {
		_, err := runCmd(t, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if out, err := runCmd(t, "journal", "help"); err != nil || !strings.Contains(out, "verify") {
		t.Errorf("help: %v %s", err, out)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"2026-05-01T08:00:00Z", time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), false},
		{"2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"yesterday", time.Time{}, true},
	}
	for _, tc := range cases {
		got, err := parseWhen(tc.in, now)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
	}
}
