package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

// The digests that cover unmasked arguments are keyed: neither the
// journal nor its OCSF export holds the plain SHA-256 of the canonical
// arguments (which would give a masked SSN away to a guessing attack),
// and two gateways on one store — one in-process, one a real `airlock
// serve` — load the same key, so an approval asked for on one binds the
// identical call sent to the other.
func TestDigestsAreKeyedAndReplicasBindApprovalsAlike(t *testing.T) {
	e := newEnvWith(t, `
approvals: {wait: 1s}
journal: {checkpoint_interval: 1h}
rules:
  - {name: writers-read, groups: [writers], connections: [pg], access: [read], effect: allow}
  - {name: writers-write-approved, groups: [writers], connections: [pg], access: [write], effect: approve,
     grant: {approvers: [dba]}}
`)
	_, base := e.start(t, server.Options{})
	proc := startProc(t, e.cfgPath)
	wendy := e.token(t, "wendy", "writers")
	dave := e.token(t, "dave", "dba")
	a := httpClient(t, "streamable-http", base, wendy)
	b := httpClient(t, "streamable-http", proc.base, wendy)
	grant(t, a, "pg", "write")
	if _, err := e.pg.Exec(context.Background(), "DELETE FROM o"); err != nil {
		t.Fatal(err)
	}

	// A masked value in the arguments.
	const ssn = "234-56-7890"
	del := "DELETE FROM t WHERE id = 7 AND v <> '" + ssn + "'"
	plain := func(args map[string]any) string {
		c, _ := json.Marshal(args)
		sum := sha256.Sum256(c)
		return hex.EncodeToString(sum[:])
	}
	args := map[string]any{"connection": "pg", "sql": del}
	unkeyed := plain(args)
	// The approval binding's former, unkeyed digest.
	canonical, _ := json.Marshal(args)
	h := sha256.New()
	for _, part := range []string{"wendy", "query_db", string(canonical)} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	unkeyedCall := hex.EncodeToString(h.Sum(nil))

	res := query(t, a, "pg", del)
	id := approvalIDPattern.FindString(text(res))
	if !res.IsError || id == "" {
		t.Fatalf("unapproved delete on gateway A: %s", text(res))
	}
	if code, out := adminCall(t, base, dave, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, out)
	}
	// The identical call on gateway B runs under the approval made on A.
	structured(t, query(t, b, "pg", del))
	var n int
	if err := e.pg.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE id = 7").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the approved delete did not run on gateway B (%d rows, %v)", n, err)
	}

	digests := map[string]bool{}
	for _, r := range journal(t, e) {
		if r.Tool != "query_db" || r.Type != recorder.Started {
			continue
		}
		if r.ArgumentsDigest == "" || r.ArgumentsDigest == unkeyed {
			t.Errorf("record %d: arguments_digest %q is the plain SHA-256 of the arguments", r.Seq, r.ArgumentsDigest)
		}
		if strings.Contains(string(r.Arguments), ssn) {
			t.Errorf("record %d holds the SSN: %s", r.Seq, r.Arguments)
		}
		digests[r.ArgumentsDigest] = true
	}
	if len(digests) != 1 {
		t.Errorf("the same call on two gateways has %d different digests, want 1", len(digests))
	}
	out, err := airlockCmd(t, "journal", "export", "--format", "ocsf", "--config", e.cfgPath, "--tool", "query_db")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	events := 0
	for sc.Scan() {
		var ev struct {
			Unmapped map[string]any `json:"unmapped"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		events++
		d, _ := ev.Unmapped["arguments_digest"].(string)
		if ev.Unmapped["type"] == recorder.TypeApproval {
			// Approval events carry the binding digest.
			if d == "" || d == unkeyedCall || d == unkeyed {
				t.Errorf("approval event digest %q: want the keyed binding digest", d)
			}
		} else if d == "" || d == unkeyed || !digests[d] {
			t.Errorf("OCSF arguments_digest %q: want the keyed digest", d)
		}
	}
	// Two calls, and the approval's request, approval and use.
	if events != 5 || strings.Contains(out, ssn) || strings.Contains(out, unkeyed) || strings.Contains(out, unkeyedCall) {
		t.Errorf("%d OCSF events; export:\n%s", events, out)
	}
	proc.stop(t)
}
