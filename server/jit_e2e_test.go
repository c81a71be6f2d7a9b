package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/server"
)

// adminCall calls the admin API and decodes the JSON answer.
func adminCall(t *testing.T, base, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+server.PathAdminAPI+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// pendingID waits until subject has a pending request (as approver sees
// it) and returns its id.
func pendingID(t *testing.T, base, approverToken, subject string) string {
	t.Helper()
	for range 300 {
		_, out := adminCall(t, base, approverToken, http.MethodGet, "requests?status=pending&subject="+subject, nil)
		if reqs, _ := out["requests"].([]any); len(reqs) > 0 {
			return reqs[0].(map[string]any)["id"].(string)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no pending request from %s appeared", subject)
	return ""
}

func TestGrantRequiredAndExpires(t *testing.T) {
	e := newEnv(t)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))

	res := query(t, c, "pg", "SELECT 1")
	if !res.IsError || !strings.Contains(text(res), "request_access") {
		t.Fatalf("query without a grant: %s", text(res))
	}
	// Asking for more than the rules allow is refused.
	if r := callTool(t, c, "request_access", map[string]any{"connection": "pg", "access": "write", "reason": "x"}); !r.IsError {
		t.Fatalf("write grant issued to an analyst: %s", text(r))
	}
	g := callTool(t, c, "request_access", map[string]any{"connection": "pg", "access": "read", "duration": "2s", "reason": "check row counts"})
	if g.IsError {
		t.Fatal(text(g))
	}
	structured(t, query(t, c, "pg", "SELECT count(*) FROM t"))
	// list_connections shows the grant and what may be requested, and no
	// connection details.
	lc := text(callTool(t, c, "list_connections", map[string]any{}))
	if !strings.Contains(lc, `"active_grants"`) || !strings.Contains(lc, `"grant":"auto"`) || strings.Contains(lc, "postgres://") {
		t.Errorf("list_connections: %s", lc)
	}
	// After expiry the call is refused again.
	deadline := time.Now().Add(15 * time.Second)
	for {
		res = query(t, c, "pg", "SELECT 1")
		if res.IsError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("grant never expired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(text(res), "request_access") {
		t.Errorf("after expiry: %s", text(res))
	}
	// The grant's issue and expiry are in the journal, and the call that
	// ran under it names it.
	recs := journal(t, e)
	var issued, expired, linked bool
	for _, r := range recs {
		issued = issued || r.Type == recorder.TypeGrant && r.Event == "grant.issued"
		expired = expired || r.Type == recorder.TypeGrant && r.Event == "request.expired"
		linked = linked || r.Tool == "query_db" && r.Type == recorder.Finished && strings.HasPrefix(r.GrantID, "gr_")
	}
	for range 50 { // the expiry sweep runs in the background
		if expired {
			break
		}
		time.Sleep(100 * time.Millisecond)
		for _, r := range journal(t, e) {
			expired = expired || r.Type == recorder.TypeGrant && r.Event == "request.expired"
		}
	}
	if !issued || !expired || !linked {
		t.Errorf("journal: issued=%v expired=%v linked=%v", issued, expired, linked)
	}
}

const approvalRules = `
approvals: {wait: 20s}
admin: {groups: [platform]}
rules:
  - {name: contractor-read, groups: [contractors], connections: [pg], access: [read], effect: allow,
     grant: {mode: approval, approvers: [dba], max_duration: 30m}}
  - {name: contractor-write, groups: [contractors], connections: [pg], access: [write], effect: allow,
     grant: {mode: approval, approvers: [dba], min_approvals: 2}}
`

func TestApprovalModeGrants(t *testing.T) {
	e := newEnvWith(t, approvalRules)
	_, base := e.start(t, server.Options{})
	carol := e.token(t, "carol", "contractors", "dba") // in the approver group, yet may not approve herself
	dave := e.token(t, "dave", "dba")
	erin := e.token(t, "erin", "dba")
	mallory := e.token(t, "mallory", "analysts")
	c := httpClient(t, "streamable-http", base, carol)

	held := make(chan *mcp.CallToolResult, 1)
	go func() {
		held <- callTool(t, c, "request_access", map[string]any{"connection": "pg", "access": "read", "duration": "10m", "reason": "debug invoice totals"})
	}()
	id := pendingID(t, base, dave, "carol")

	if code, out := adminCall(t, base, carol, http.MethodPost, "requests/"+id+"/approve", map[string]string{"reason": "self"}); code != http.StatusForbidden || !strings.Contains(out["error"].(string), "own request") {
		t.Errorf("self-approval: %d %v", code, out)
	}
	if code, out := adminCall(t, base, mallory, http.MethodPost, "requests/"+id+"/approve", nil); code == http.StatusOK {
		t.Errorf("non-approver approved: %v", out)
	}
	// The approver uses the CLI against the running gateway.
	out, err := exec.Command(airlockBin, "approvals", "approve", id, "--server", base, "--token", dave, "--reason", "ticket 42").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "active") {
		t.Fatalf("airlock approvals approve: %v\n%s", err, out)
	}
	res := <-held
	if res.IsError || res.StructuredContent.(map[string]any)["status"] != "active" {
		t.Fatalf("held request_access: %s", text(res))
	}
	structured(t, query(t, c, "pg", "SELECT count(*) FROM t"))

	// min_approvals 2: one approval is not enough.
	go func() {
		held <- callTool(t, c, "request_access", map[string]any{"connection": "pg", "access": "write", "reason": "fix one invoice"})
	}()
	id = pendingID(t, base, dave, "carol")
	if code, out := adminCall(t, base, dave, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK || out["status"] != "pending" {
		t.Fatalf("first of two approvals: %d %v", code, out)
	}
	if code, _ := adminCall(t, base, dave, http.MethodPost, "requests/"+id+"/approve", nil); code == http.StatusOK {
		t.Error("the same approver counted twice")
	}
	if code, out := adminCall(t, base, erin, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK || out["status"] != "active" {
		t.Fatalf("second approval: %d %v", code, out)
	}
	if res := <-held; res.IsError || res.StructuredContent.(map[string]any)["status"] != "active" {
		t.Fatalf("write grant: %s", text(res))
	}
	// The CLI lists grants for an admin.
	platform := e.token(t, "pat", "platform")
	out, err = exec.Command(airlockBin, "grants", "list", "--server", base, "--token", platform).CombinedOutput()
	if err != nil || strings.Count(string(out), "carol") != 2 {
		t.Errorf("airlock grants list: %v\n%s", err, out)
	}
}

var approvalIDPattern = regexp.MustCompile(`ap_[0-9a-f]+`)

func TestPerCallApproval(t *testing.T) {
	e := newEnvWith(t, `
approvals: {wait: 2s}
rules:
  - {name: writers-read, groups: [writers], connections: [pg], access: [read], effect: allow}
  - {name: writers-write-approved, groups: [writers], connections: [pg], access: [write], effect: approve,
     grant: {approvers: [dba]}}
`)
	_, base := e.start(t, server.Options{})
	wendy := e.token(t, "wendy", "writers")
	dave := e.token(t, "dave", "dba")
	c := httpClient(t, "streamable-http", base, wendy)
	grant(t, c, "pg", "write")
	if _, err := e.pg.Exec(context.Background(), "DELETE FROM o"); err != nil {
		t.Fatal(err)
	}
	del7 := "DELETE FROM t WHERE id = 7"
	rowExists := func(id int) bool {
		var n int
		e.pg.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE id = $1", id).Scan(&n)
		return n == 1
	}

	res := query(t, c, "pg", del7)
	first := approvalIDPattern.FindString(text(res))
	if !res.IsError || first == "" || !rowExists(7) {
		t.Fatalf("unapproved delete: %s", text(res))
	}
	if code, out := adminCall(t, base, dave, http.MethodPost, "requests/"+first+"/approve", nil); code != http.StatusOK || out["status"] != "approved" {
		t.Fatalf("approve: %d %v", code, out)
	}
	// Different arguments are not covered.
	res = query(t, c, "pg", "DELETE FROM t WHERE id = 8")
	if !res.IsError || !rowExists(8) || approvalIDPattern.FindString(text(res)) == first {
		t.Fatalf("id = 8 ran under the approval for id = 7: %s", text(res))
	}
	// The approved call runs once.
	structured(t, query(t, c, "pg", del7))
	if rowExists(7) {
		t.Fatal("approved delete did not run")
	}
	res = query(t, c, "pg", del7)
	second := approvalIDPattern.FindString(text(res))
	if !res.IsError || second == "" || second == first {
		t.Fatalf("second identical call: %s", text(res))
	}
	// A call held while an approver decides completes.
	held := make(chan *mcp.CallToolResult, 1)
	go func() { held <- query(t, c, "pg", "DELETE FROM t WHERE id = 9") }()
	var id string
	for range 100 {
		_, out := adminCall(t, base, dave, http.MethodGet, "requests?status=pending&kind=approval", nil)
		for _, r := range out["requests"].([]any) {
			m := r.(map[string]any)
			if strings.Contains(string(must(json.Marshal(m["arguments"]))), "id = 9") {
				id = m["id"].(string)
			}
		}
		if id != "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := adminCall(t, base, dave, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK {
		t.Fatal("approve id = 9")
	}
	if res := <-held; res.IsError || rowExists(9) {
		t.Fatalf("held call: %s", text(res))
	}
	// Approvers see the held call's arguments masked.
	res = query(t, c, "pg", "DELETE FROM t WHERE v = 'jane.doe@example.com'")
	held2 := approvalIDPattern.FindString(text(res))
	_, out := adminCall(t, base, dave, http.MethodGet, "requests/"+held2, nil)
	if args, _ := json.Marshal(out["arguments"]); held2 == "" || strings.Contains(string(args), "jane.doe") || !strings.Contains(string(args), "DELETE") {
		t.Errorf("approvers see %s (request %q)", args, held2)
	}
	// The call records name the approval they consumed.
	n := 0
	for _, r := range journal(t, e) {
		if r.Type == recorder.Finished && r.ApprovalID != "" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d call records name an approval, want 2", n)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRevocationCancelsQueryInFlight(t *testing.T) {
	e := newEnvWith(t, `
admin: {groups: [platform]}
limits: {call_timeout: 2m, statement_timeout: 2m}
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	g := grant(t, c, "pg", "read")
	done := make(chan *mcp.CallToolResult, 1)
	go func() { done <- query(t, c, "pg", "SELECT count(*) FROM generate_series(1, 2000000000)") }()
	running := func() bool {
		var n int
		e.pg.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'airlock' AND state = 'active' AND query LIKE '%generate_series(1, 2000000000)%'`).Scan(&n)
		return n > 0
	}
	for i := 0; !running(); i++ {
		if i > 200 {
			t.Fatal("query never started")
		}
		time.Sleep(25 * time.Millisecond)
	}
	tok := e.token(t, "pat", "platform")
	start := time.Now()
	if code, out := adminCall(t, base, tok, http.MethodPost, "grants/"+g["request_id"].(string)+"/revoke", map[string]string{"reason": "incident"}); code != http.StatusOK {
		t.Fatalf("revoke: %d %v", code, out)
	}
	res := <-done
	answered := time.Since(start)
	for i := 0; running(); i++ {
		if i > 100 {
			t.Fatal("query still running on PostgreSQL after revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	gone := time.Since(start)
	t.Logf("revocation: call answered after %v, query gone from pg_stat_activity after %v", answered, gone)
	if !res.IsError || !strings.Contains(text(res), "revoked") {
		t.Fatalf("revoked call: %s", text(res))
	}
	// What is tested is that the revocation stops the query on the server,
	// which would otherwise run until its 2-minute statement timeout; how
	// fast is the machine's (PostgreSQL alone takes 17-175 ms to act on a
	// cancel request on a loaded 2-core machine, and CI runs packages in
	// parallel), so the bound leaves room: timings are logged, not judged.
	if gone > 10*time.Second {
		t.Errorf("query outlived the revocation by %v: it was not cancelled on the server", gone)
	}
	if res := query(t, c, "pg", "SELECT 1"); !res.IsError {
		t.Error("new call under a revoked grant ran")
	}
}

func TestWebhookEvents(t *testing.T) {
	var mu sync.Mutex
	var events []map[string]any
	release := make(chan struct{})
	var blocked atomic.Int32
	var unsigned atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// A receiver holding the secret accepts every post, and would
		// refuse it altered or replayed later.
		sig := r.Header.Get(jit.SignatureHeader)
		if jit.VerifyWebhook(webhookKey, sig, body, time.Now(), jit.DefaultSignatureTolerance) != nil ||
			jit.VerifyWebhook(webhookKey, sig, append(body, ' '), time.Now(), jit.DefaultSignatureTolerance) == nil ||
			jit.VerifyWebhook(webhookKey, sig, body, time.Now().Add(time.Hour), jit.DefaultSignatureTolerance) == nil {
			unsigned.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		json.Unmarshal(body, &ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		if ev["event"] == "grant.issued" {
			blocked.Add(1)
			<-release // a slow webhook must not slow calls
		}
	}))
	defer hook.Close()
	defer close(release)
	e := newEnvWith(t, `
approvals: {wait: 1s, webhook_url: "`+hook.URL+`", webhook_secret: {file: webhook.key}}
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
  - {name: contractor-read, groups: [contractors], connections: [demo], access: [read], effect: allow,
     grant: {mode: approval, approvers: [dba]}}
`)
	writeWebhookKey(t, e)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read") // its webhook delivery blocks
	structured(t, query(t, c, "pg", "SELECT 1"))
	if blocked.Load() == 0 {
		// the call finished before the webhook even saw the event, or
		// while it was blocked: either way it was not held up.
		t.Log("webhook not reached yet when the call finished")
	}
	cc := httpClient(t, "streamable-http", base, e.token(t, "carol", "contractors"))
	r := callTool(t, cc, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "look at orders of jane.doe@example.com"})
	id := r.StructuredContent.(map[string]any)["request_id"].(string)
	if code, _ := adminCall(t, base, e.token(t, "dave", "dba"), http.MethodPost, "requests/"+id+"/deny", map[string]string{"reason": "not now"}); code != http.StatusOK {
		t.Fatal("deny")
	}
	select {
	case release <- struct{}{}:
	case <-time.After(10 * time.Second):
		t.Error("webhook never received grant.issued (or refused its signature)")
	}
	want := map[string]bool{"grant.issued": false, "request.created": false, "request.denied": false}
	for range 100 {
		mu.Lock()
		for _, ev := range events {
			if _, ok := want[ev["event"].(string)]; ok && ev["text"] != "" {
				want[ev["event"].(string)] = true
			}
		}
		mu.Unlock()
		if want["grant.issued"] && want["request.created"] && want["request.denied"] {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for ev, seen := range want {
		if !seen {
			t.Errorf("webhook never received %s", ev)
		}
	}
	if n := unsigned.Load(); n > 0 {
		t.Errorf("%d webhook posts did not carry a valid %s", n, jit.SignatureHeader)
	}
	// The agent's reason is masked for approvers, the webhook and the journal.
	mu.Lock()
	hooked, _ := json.Marshal(events)
	mu.Unlock()
	recs, _ := json.Marshal(journal(t, e))
	if strings.Contains(string(hooked), "jane.doe") || strings.Contains(string(recs), "jane.doe") {
		t.Errorf("unmasked reason reached the webhook or the journal")
	}
}

var webhookKey = []byte("0123456789abcdef0123456789abcdef")

// writeWebhookKey puts the webhook signing key where the config's
// webhook_secret: {file: webhook.key} points.
func writeWebhookKey(t *testing.T, e *env) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.cfgPath), "webhook.key"), append(webhookKey, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDeadWebhookDoesNotFailCalls(t *testing.T) {
	e := newEnvWith(t, `
approvals: {webhook_url: "http://127.0.0.1:1/hook", webhook_secret: {file: webhook.key}}
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`)
	writeWebhookKey(t, e)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "pg", "read")
	structured(t, query(t, c, "pg", "SELECT 1"))
}

func TestProgressWhileWaiting(t *testing.T) {
	e := newEnvWith(t, approvalRules)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "carol", "contractors"))
	var progress atomic.Int32
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" && n.Params.AdditionalFields["progressToken"] == "wait-1" {
			progress.Add(1)
		}
	})
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "request_access"
		req.Params.Arguments = map[string]any{"connection": "pg", "access": "read", "reason": "progress test"}
		req.Params.Meta = &mcp.Meta{ProgressToken: "wait-1"}
		res, err := c.CallTool(context.Background(), req)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	dave := e.token(t, "dave", "dba")
	id := pendingID(t, base, dave, "carol")
	for i := 0; progress.Load() < 2; i++ {
		if i > 200 {
			t.Fatalf("no progress notifications while waiting (got %d)", progress.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	adminCall(t, base, dave, http.MethodPost, "requests/"+id+"/approve", nil)
	if res := <-done; res == nil || res.IsError {
		t.Fatal("request_access failed")
	}
}

// A stdio gateway and an HTTP gateway sharing one store see each other's
// requests, approvals and revocations.
func TestTwoProcessesShareOneStore(t *testing.T) {
	e := newEnvWith(t, approvalRules)
	_, base := e.start(t, server.Options{})
	carol := e.token(t, "carol", "contractors")
	stdio := stdioClient(t, e, carol)
	held := make(chan *mcp.CallToolResult, 1)
	go func() {
		held <- callTool(t, stdio, "request_access", map[string]any{"connection": "pg", "access": "read", "reason": "two processes"})
	}()
	dave := e.token(t, "dave", "dba")
	id := pendingID(t, base, dave, "carol") // created by the stdio process
	approved := time.Now()
	if code, _ := adminCall(t, base, dave, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK {
		t.Fatal("approve")
	}
	res := <-held
	t.Logf("stdio process saw the approval after %v", time.Since(approved))
	if res.IsError || res.StructuredContent.(map[string]any)["status"] != "active" {
		t.Fatalf("stdio request_access: %s", text(res))
	}
	if time.Since(approved) > 2*time.Second {
		t.Errorf("the other process took %v to see the approval", time.Since(approved))
	}
	structured(t, query(t, stdio, "pg", "SELECT 1"))
	// The holder gives the grant up through the HTTP process; the stdio
	// process refuses the next call.
	if code, out := adminCall(t, base, carol, http.MethodPost, "grants/"+id+"/revoke", nil); code != http.StatusOK {
		t.Fatalf("revoke: %d %v", code, out)
	}
	if res := query(t, stdio, "pg", "SELECT 1"); !res.IsError {
		t.Fatal("stdio process ran a call under a revoked grant")
	}
}

// An approved write that fails without changing anything keeps its
// approval: the identical retry runs under it, once; a write that ran
// uses it up.
func TestFailedApprovedWriteKeepsApproval(t *testing.T) {
	e := newEnvWith(t, `
approvals: {wait: 1s}
rules:
  - {name: writers-write-approved, groups: [writers], connections: [pg], access: [read, write], effect: approve,
     grant: {approvers: [dba]}}
`)
	ctx := context.Background()
	// A trigger makes the write fail while the flag table has a row.
	if _, err := e.pg.Exec(ctx, `CREATE TABLE flag (x int);
INSERT INTO flag VALUES (1);
CREATE FUNCTION refuse_when_flagged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF EXISTS (SELECT 1 FROM flag) THEN RAISE EXCEPTION 'maintenance in progress'; END IF; RETURN NEW; END $$;
CREATE TRIGGER t_flag BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION refuse_when_flagged();`); err != nil {
		t.Fatal(err)
	}
	_, base := e.start(t, server.Options{})
	dave := e.token(t, "dave", "dba")
	c := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	grant(t, c, "pg", "write")
	upd := "UPDATE t SET v = 'changed' WHERE id = 3"
	value := func() string {
		var v string
		e.pg.QueryRow(ctx, "SELECT v FROM t WHERE id = 3").Scan(&v)
		return v
	}
	res := query(t, c, "pg", upd)
	id := approvalIDPattern.FindString(text(res))
	if !res.IsError || id == "" {
		t.Fatalf("unapproved update: %s", text(res))
	}
	if code, _ := adminCall(t, base, dave, http.MethodPost, "requests/"+id+"/approve", nil); code != http.StatusOK {
		t.Fatal("approve")
	}
	// It fails in the database: nothing changed, the approval stays.
	res = query(t, c, "pg", upd)
	if !res.IsError || !strings.Contains(text(res), "maintenance in progress") || !strings.Contains(text(res), id+" is still valid") {
		t.Fatalf("failed approved update: %s", text(res))
	}
	if value() == "changed" {
		t.Fatal("the failed update changed the row")
	}
	if _, out := adminCall(t, base, dave, http.MethodGet, "requests/"+id, nil); out["status"] != "approved" {
		t.Fatalf("after a failure that changed nothing, the approval is %v", out["status"])
	}
	// The identical retry runs under the same approval, without a new one.
	if _, err := e.pg.Exec(ctx, "DELETE FROM flag"); err != nil {
		t.Fatal(err)
	}
	if res = query(t, c, "pg", upd); res.IsError {
		t.Fatalf("retry under the kept approval: %s", text(res))
	}
	if value() != "changed" {
		t.Fatal("the retry did not run")
	}
	// Used up now: the next identical call needs a new approval.
	res = query(t, c, "pg", upd)
	if again := approvalIDPattern.FindString(text(res)); !res.IsError || again == "" || again == id {
		t.Fatalf("third call: %s", text(res))
	}
	// The journal tells the story: used, released, used.
	var events []string
	for _, r := range journal(t, e) {
		if r.RequestID == id && strings.HasPrefix(r.Event, "approval.") {
			events = append(events, r.Event)
		}
	}
	if strings.Join(events, ",") != "approval.used,approval.released,approval.used" {
		t.Errorf("journal approval events for %s: %v", id, events)
	}
}

// A call that policy allows but no grant covers is journaled as a deny
// with reason no_grant (not decision=allow outcome=denied); after a
// revocation the agent is told its grant was revoked, by whom and why,
// and the journal says grant_revoked.
func TestNoGrantIsADenyAndRevocationIsNamed(t *testing.T) {
	e := newEnvWith(t, `
admin: {groups: [platform]}
rules:
  - {name: analysts-read, groups: [analysts], connections: [pg], access: [read], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	if res := query(t, c, "pg", "SELECT 1"); !res.IsError || !strings.Contains(text(res), "no active grant") {
		t.Fatalf("query without a grant: %s", text(res))
	}
	g := grant(t, c, "pg", "read")
	tok := e.token(t, "pat", "platform")
	if code, out := adminCall(t, base, tok, http.MethodPost, "grants/"+g["request_id"].(string)+"/revoke", map[string]string{"reason": "incident 42"}); code != http.StatusOK {
		t.Fatalf("revoke: %d %v", code, out)
	}
	res := query(t, c, "pg", "SELECT 2")
	msg := text(res)
	if !res.IsError || !strings.Contains(msg, "was revoked by pat") || !strings.Contains(msg, "incident 42") ||
		!strings.Contains(msg, g["request_id"].(string)) || strings.Contains(msg, "no active grant") {
		t.Fatalf("call after revocation: %s", msg)
	}
	var reasons []string
	for _, r := range journal(t, e) {
		if r.Tool == "query_db" && r.Type == recorder.Finished && r.Outcome == recorder.OutcomeDenied {
			if r.Decision != "deny" {
				t.Errorf("refused call journaled with decision %q (reason %q), want deny", r.Decision, r.Reason)
			}
			reasons = append(reasons, r.Reason)
		}
	}
	if strings.Join(reasons, ",") != "no_grant,grant_revoked" {
		t.Errorf("journal reasons of the refused calls: %v", reasons)
	}
}
