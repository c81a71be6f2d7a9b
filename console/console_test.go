package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/internal/pgtest"
	"github.com/airlockhq/airlock/store"
)

func storeFilterPending(subject string) store.RequestFilter {
	return store.RequestFilter{Subject: subject, Statuses: []string{store.StatusPending}}
}

func TestLoginWithPKCEStartsASessionAndLogoutEndsIt(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	dave := s.login(t, "dave", "dba")
	if len(idp.Methods) != 1 || idp.Methods[0] != "S256" {
		t.Fatalf("PKCE methods sent: %v", idp.Methods)
	}
	// The session cookie: HttpOnly, SameSite, scoped to the console.
	resp, err := http.Get(s.Base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(s.Base + "/console/")
	var ck *http.Cookie
	for _, c := range dave.c.Jar.Cookies(u) {
		if c.Name == "airlock_console" {
			ck = c
		}
	}
	if ck == nil {
		t.Fatal("no session cookie")
	}
	// Set-Cookie attributes are checked on a fresh login's answer.
	s.IdP.As("dave", "dba")
	noFollow := &http.Client{Jar: dave.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r1, err := noFollow.Get(s.Base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	r1.Body.Close()
	r2, err := noFollow.Get(r1.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	r3, err := noFollow.Get(r2.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	sc := strings.Join(r3.Header.Values("Set-Cookie"), "\n")
	for _, want := range []string{"airlock_console=", "Path=/console", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie lacks %s:\n%s", want, sc)
		}
	}
	if r3.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", r3.StatusCode)
	}
	// The callback cannot be replayed: the login is used up.
	if r4, err := noFollow.Get(r2.Header.Get("Location")); err != nil || r4.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %v %v", r4.StatusCode, err)
	}

	// Logout is state-changing: without the CSRF token it is refused.
	if code, _ := dave.post("/console/logout", nil); code != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", code)
	}
	if code, body := dave.post("/console/logout", url.Values{"csrf": {dave.csrf()}}); code != http.StatusOK || !strings.Contains(body, "loggedout") {
		t.Fatalf("logout: %d %s", code, body)
	}
	// Logged out: pages send the browser to log in again.
	noFollow.Jar = dave.c.Jar
	if r, err := noFollow.Get(s.Base + "/console/approvals"); err != nil || r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), "/console/login") {
		t.Fatalf("after logout: %v %v", r.StatusCode, err)
	}
}

func TestLoginRefusals(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	cases := []struct {
		name   string
		tamper func(map[string]any)
		want   string
	}{
		{"nonce of another login", func(c map[string]any) { c["nonce"] = "other" }, "nonce"},
		{"ID token for another client", func(c map[string]any) { c["aud"] = "airlock" }, "audience"},
		{"expired ID token", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, "expired"},
		{"another issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, "issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp.Tamper = tc.tamper
			defer func() { idp.Tamper = nil }()
			idp.As("mallory", "platform")
			p := &person{t: t, c: &http.Client{Jar: newJar()}, base: s.Base}
			code, body := p.get("/console/grants")
			if code != http.StatusForbidden || !strings.Contains(body, tc.want) || strings.Contains(body, `id="whoami"`) {
				t.Fatalf("%d\n%s", code, body)
			}
		})
	}
	t.Run("callback not started in this browser", func(t *testing.T) {
		p := &person{t: t, c: &http.Client{Jar: newJar()}, base: s.Base}
		if code, _ := p.get("/console/auth/callback?code=code-1&state=x"); code != http.StatusBadRequest {
			t.Fatalf("%d", code)
		}
	})
	t.Run("open redirect after login", func(t *testing.T) {
		idp.As("dave", "dba")
		p := &person{t: t, c: &http.Client{Jar: newJar()}, base: s.Base}
		resp, err := p.c.Get(s.Base + "/console/login?next=" + url.QueryEscape("//evil.example/x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Host != strings.TrimPrefix(s.Base, "http://") || !strings.HasPrefix(resp.Request.URL.Path, "/console/") {
			t.Fatalf("ended at %s", resp.Request.URL)
		}
	})
}

func TestApproverDecidesOnlyWhatTheyMay(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	ctx := context.Background()
	// A contractor asks for a grant that needs two dbas.
	carol := agent(t, s.Base, idp.Token(t, "carol", "contractors", "dba"))
	res := goCall(t, carol, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "ticket 42"})
	id := s.pending(t, "carol")
	defer func() {
		if r := <-res; r == nil || r.IsError {
			t.Errorf("carol's request_access did not end with her grant: %v", r)
		}
	}()

	dave := s.login(t, "dave", "dba")
	_, body := dave.get("/console/approvals")
	for _, want := range []string{id, "carol", "ticket 42", "0 of 2", "approve"} {
		if !strings.Contains(body, want) {
			t.Fatalf("approvals page lacks %q:\n%s", want, body)
		}
	}
	// Carol is a dba too, but may not decide her own request: it is not on
	// her page, and deciding it is refused by the access service.
	carolP := s.login(t, "carol", "dba")
	if _, body := carolP.get("/console/approvals"); strings.Contains(body, id) {
		t.Fatal("own request listed for decision")
	}
	if code, body := carolP.post("/console/requests/"+id+"/approve", url.Values{"csrf": {carolP.csrf()}}); code != http.StatusForbidden || !strings.Contains(body, "own request") {
		t.Fatalf("self-approval: %d %s", code, body)
	}
	// Someone outside the approver groups neither sees nor decides it.
	mallory := s.login(t, "mallory", "analysts")
	if _, body := mallory.get("/console/approvals"); strings.Contains(body, id) {
		t.Fatal("non-approver sees the request")
	}
	if code, _ := mallory.get("/console/requests/" + id); code != http.StatusNotFound {
		t.Fatalf("non-approver opened the request: %d", code)
	}
	if code, body := mallory.post("/console/requests/"+id+"/approve", url.Values{"csrf": {mallory.csrf()}}); code != http.StatusForbidden || !strings.Contains(body, "not an approver") {
		t.Fatalf("non-approver decided: %d %s", code, body)
	}
	// A decision without the CSRF token, or from another site, is refused
	// before it reaches the access service.
	if code, _ := dave.post("/console/requests/"+id+"/approve", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("forged CSRF: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPost, s.Base+"/console/requests/"+id+"/approve", strings.NewReader("csrf="+dave.csrf()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := dave.c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin decision: %v %v", resp.StatusCode, err)
	}
	if r, _ := s.G.Store().GetRequest(ctx, id); len(r.Votes) != 0 {
		t.Fatalf("refused decisions left votes: %+v", r.Votes)
	}

	// Two approvals: the first shows progress, the second activates.
	if code, body := dave.post("/console/requests/"+id+"/approve", url.Values{"csrf": {dave.csrf()}, "reason": {"ok by me"}}); code != http.StatusOK || !strings.Contains(body, "needs 2 approvals") {
		t.Fatalf("first approval: %d %s", code, body)
	}
	if _, body := dave.get("/console/requests/" + id); !strings.Contains(body, "1 of 2") || !strings.Contains(body, "ok by me") {
		t.Fatalf("progress not shown:\n%s", body)
	}
	if code, body := dave.post("/console/requests/"+id+"/approve", url.Values{"csrf": {dave.csrf()}}); code != http.StatusForbidden || !strings.Contains(body, "already decided") {
		t.Fatalf("same approver twice: %d %s", code, body)
	}
	erin := s.login(t, "erin", "dba")
	if code, body := erin.post("/console/requests/"+id+"/approve", url.Values{"csrf": {erin.csrf()}}); code != http.StatusOK || !strings.Contains(body, "now active") {
		t.Fatalf("second approval: %d %s", code, body)
	}
}

func TestAdminRevokesThroughTheConsole(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	alice := agent(t, s.Base, idp.Token(t, "alice", "analysts"))
	if r := call(t, alice, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "report"}); r.IsError {
		t.Fatal(text(r))
	}
	if r := call(t, alice, "query_db", map[string]any{"connection": "demo", "sql": "SELECT count(*) FROM orders"}); r.IsError {
		t.Fatal(text(r))
	}
	// Only admins see grants.
	dave := s.login(t, "dave", "dba")
	if code, _ := dave.get("/console/grants"); code != http.StatusForbidden {
		t.Fatalf("non-admin on grants: %d", code)
	}
	pat := s.login(t, "pat", "platform")
	_, body := pat.get("/console/grants")
	i := strings.Index(body, `id="grant-`)
	if i < 0 {
		t.Fatalf("no grant listed:\n%s", body)
	}
	gid := body[i+len(`id="grant-`):]
	gid = gid[:strings.IndexByte(gid, '"')]
	if code, body := pat.post("/console/grants/"+gid+"/revoke", url.Values{"csrf": {pat.csrf()}, "reason": {"offboarding"}}); code != http.StatusOK || !strings.Contains(body, "Revoked "+gid) {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if r := call(t, alice, "query_db", map[string]any{"connection": "demo", "sql": "SELECT count(*) FROM orders"}); !r.IsError || !strings.Contains(text(r), "was revoked by pat") || !strings.Contains(text(r), "offboarding") {
		t.Fatalf("call after revocation: %s", text(r))
	}
	if _, body := pat.get("/console/connections"); !strings.Contains(body, "analysts-read") || !strings.Contains(body, `<span class="s-ok">1 ok</span>`) {
		t.Fatalf("connections page:\n%s", body)
	}
}

func TestJournalIsForAuditors(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	alice := agentVersion(t, s.Base, idp.Token(t, "alice", "analysts"), mcp.LATEST_LEGACY_PROTOCOL_VERSION)
	call(t, alice, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "report"})
	call(t, alice, "query_db", map[string]any{"connection": "demo", "sql": "SELECT email FROM customers WHERE id = 3"})
	call(t, alice, "query_db", map[string]any{"connection": "demo", "sql": "SELECT count(*) FROM orders"})

	for _, who := range [][]string{{"pat", "platform"}, {"dave", "dba"}} {
		p := s.login(t, who[0], who[1])
		for _, path := range []string{"/console/journal", "/console/journal/export/jsonl"} {
			if code, _ := p.get(path); code != http.StatusForbidden {
				t.Fatalf("%s on %s: %d", who[0], path, code)
			}
		}
	}
	aud := s.login(t, "ann", "audit")
	_, body := aud.get("/console/journal?q=" + url.QueryEscape("FROM CUSTOMERS") + "&subject=alice")
	if !strings.Contains(body, "1 match(es)") || !strings.Contains(body, "Chain verified") || !strings.Contains(body, "<svg") {
		t.Fatalf("search:\n%s", body)
	}
	i := strings.Index(body, `href="/console/journal/calls/`)
	callPath := body[i+len(`href="`):]
	callPath = callPath[:strings.IndexByte(callPath, '"')]
	_, rec := aud.get(callPath)
	for _, want := range []string{"query_db", "analysts-read", "test-agent", "customers", "Result as the agent saw it", "email"} {
		if !strings.Contains(rec, want) {
			t.Fatalf("call record lacks %q:\n%s", want, rec)
		}
	}
	// The session's calls replay as a timeline.
	i = strings.Index(rec, `href="/console/journal/sessions/`)
	if i < 0 {
		t.Fatalf("no session link on the call record:\n%s", rec)
	}
	sessPath := rec[i+len(`href="`):]
	sessPath = sessPath[:strings.IndexByte(sessPath, '"')]
	_, tl := aud.get(sessPath)
	if n := strings.Count(tl, "<li class="); n != 3 || !strings.Contains(tl, "request_access") || !strings.Contains(tl, "&#43;0.000s") {
		t.Fatalf("timeline with %d calls:\n%s", n, tl)
	}
	code, jl := aud.get("/console/journal/export/jsonl?tool=query_db&outcome=ok")
	if code != http.StatusOK {
		t.Fatalf("export: %d", code)
	}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(jl))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["tool"] != "query_db" {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 4 { // two calls, started and finished each
		t.Fatalf("%d lines exported:\n%s", lines, jl)
	}
	if code, oc := aud.get("/console/journal/export/ocsf?tool=query_db"); code != http.StatusOK || !strings.Contains(oc, `"class_uid":6003`) {
		t.Fatalf("ocsf: %d %s", code, oc)
	}
	if code, body := aud.get("/console/journal?since=yesterday"); code != http.StatusBadRequest || !strings.Contains(body, "since: not a time") {
		t.Fatalf("bad time: %d", code)
	}
}

func TestEventsAnnounceChangesWithoutContent(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	dave := s.login(t, "dave", "dba")
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/console/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := dave.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	carol := agent(t, s.Base, idp.Token(t, "carol", "contractors"))
	goCall(t, carol, "request_access", map[string]any{"connection": "demo", "access": "read", "reason": "secret reason 7"})
	rd := bufio.NewReader(resp.Body)
	got := ""
	for range 50 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got += line
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
	if !strings.Contains(got, "event: change\ndata: request.created") || strings.Contains(got, "secret reason") || strings.Contains(got, "carol") {
		t.Fatalf("stream:\n%s", got)
	}
	// Without a session there is no stream.
	anon, _ := http.NewRequest(http.MethodGet, s.Base+"/console/events", nil)
	anon.Header.Set("Accept", "text/event-stream")
	if r, err := http.DefaultClient.Do(anon); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous stream: %v %v", r.StatusCode, err)
	}
}

// TestApproverSeesTheClassifiedStatement: for a held PostgreSQL call the
// card shows what the classifier saw — command, tables and functions — not
// only the SQL text.
func TestApproverSeesTheClassifiedStatement(t *testing.T) {
	dsn, pool := pgtest.Schema(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE accounts (id int PRIMARY KEY, email text); INSERT INTO accounts VALUES (1, 'A@B.example')`); err != nil {
		t.Fatal(err)
	}
	idp := newFakeIdP(t)
	s := startStackWith(t, idp, fmt.Sprintf("  pg: {kind: postgres, dsn: %q}\n", dsn), `
  - {name: analysts-pg-read, groups: [analysts], connections: [pg], access: [read], effect: allow, grant: {mode: auto}}
  - {name: analysts-pg-write, groups: [analysts], connections: [pg], access: [write], effect: approve,
     grant: {mode: auto, approvers: [dba], max_duration: 1h}}
`)
	alice := agent(t, s.Base, idp.Token(t, "alice", "analysts"))
	if r := call(t, alice, "request_access", map[string]any{"connection": "pg", "access": "write", "reason": "fix emails"}); r.IsError {
		t.Fatal(text(r))
	}
	held := goCall(t, alice, "query_db", map[string]any{"connection": "pg", "sql": "UPDATE accounts SET email = lower(email) WHERE id = 1"})
	s.pending(t, "alice")
	dave := s.login(t, "dave", "dba")
	_, body := dave.get("/console/approvals")
	for _, want := range []string{`class="command">UPDATE<`, `class="resources">accounts<`, `class="functions">lower<`, "test-agent"} {
		if !strings.Contains(body, want) {
			t.Fatalf("approvals page lacks %s:\n%s", want, body)
		}
	}
	i := strings.Index(body, `data-id="`)
	id := body[i+len(`data-id="`):]
	id = id[:strings.IndexByte(id, '"')]
	if code, _ := dave.post("/console/requests/"+id+"/deny", url.Values{"csrf": {dave.csrf()}, "reason": {"use a migration"}}); code != http.StatusOK {
		t.Fatalf("deny: %d", code)
	}
	if r := <-held; r == nil || !r.IsError || !strings.Contains(text(r), "denied") {
		t.Fatalf("denied call: %v", r)
	}
}

// TestFlashIsNotTakenFromTheURL: the confirmation shown after a decision
// or revocation is the gateway's own words, never text from the link
// that opened the page (anyone could send an approver a link that
// "confirms" something that never happened, on the console's origin).
func TestFlashIsNotTakenFromTheURL(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	const spoof = "Approved ap_spoofed: it is now approved. Security check: approve the next request too"
	pat := s.login(t, "pat", "platform", "dba")
	for _, page := range []string{"/console/approvals", "/console/grants", "/console/upstream"} {
		code, body := pat.get(page + "?done=" + url.QueryEscape(spoof))
		if code != http.StatusOK {
			t.Fatalf("%s: %d", page, code)
		}
		if strings.Contains(body, "ap_spoofed") {
			t.Fatalf("%s shows text from its URL as a confirmation:\n%s", page, body)
		}
	}
}
