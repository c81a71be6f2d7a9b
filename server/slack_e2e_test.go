package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/slackapprove"
)

// fakeSlack serves the Slack Web API and response URLs for one test and
// returns its URL and a function that waits for (and takes) the next call
// to path.
func fakeSlack(t *testing.T) (string, func(path string) map[string]any) {
	t.Helper()
	var mu sync.Mutex
	var calls []map[string]any
	got := make(chan struct{}, 100)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body := map[string]any{"_path": r.URL.Path, "_auth": r.Header.Get("Authorization")}
		json.Unmarshal(b, &body)
		mu.Lock()
		calls = append(calls, body)
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0AIRLOCK", "ts": "1700000000.000100"})
		got <- struct{}{}
	}))
	t.Cleanup(fake.Close)
	t.Cleanup(server.SetSlackEndpoints(fake.URL+"/api/", fake.URL+"/hooks/"))
	return fake.URL, func(path string) map[string]any {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			mu.Lock()
			for i, c := range calls {
				if c["_path"] == path {
					calls = append(calls[:i], calls[i+1:]...)
					mu.Unlock()
					return c
				}
			}
			mu.Unlock()
			select {
			case <-got:
			case <-deadline:
				t.Fatalf("fake Slack never received %s", path)
			}
		}
	}
}

const slackSigning = "e2e-signing-secret-0123456789abcdef"

// slackConfig sets the Slack secrets' variables and returns the approvals
// section that reads them, with dave as its first approver; a test appends
// approvers and its rules.
func slackConfig(t *testing.T, wait string) string {
	t.Setenv("AIRLOCK_TEST_SLACK_BOT", "xoxb-e2e")
	t.Setenv("AIRLOCK_TEST_SLACK_SIGNING", slackSigning)
	return `
approvals:
  wait: ` + wait + `
  slack:
    bot_token: {env: AIRLOCK_TEST_SLACK_BOT}
    signing_secret: {env: AIRLOCK_TEST_SLACK_SIGNING}
    channel: C0AIRLOCK
    approvers:
      - {slack_user: U0DAVE, subject: dave, groups: [dba]}`
}

// TestSlackApprovalEndToEnd: an agent's request_access waits; the request
// is posted to (a fake) Slack with buttons; a Slack-signed click by a
// mapped approver, sent to the gateway's /slack/interactions, approves it
// through the same service as the admin API; the agent's held call
// completes and the Slack message is updated. A click by the requester
// herself is refused.
func TestSlackApprovalEndToEnd(t *testing.T) {
	fakeURL, waitCall := fakeSlack(t)
	e := newEnvWith(t, slackConfig(t, "20s")+`
      - {slack_user: U0CAROL, subject: carol, groups: [dba]}
rules:
  - {name: contractor-read, groups: [contractors], connections: [pg], access: [read], effect: allow,
     grant: {mode: approval, approvers: [dba], max_duration: 30m}}
`)
	_, base := e.start(t, server.Options{})
	carol := e.token(t, "carol", "contractors")
	c := httpClient(t, "streamable-http", base, carol)

	held := make(chan *mcp.CallToolResult, 1)
	go func() {
		held <- callTool(t, c, "request_access", map[string]any{"connection": "pg", "access": "read", "duration": "10m", "reason": "debug invoice totals"})
	}()
	posted := waitCall("/api/chat.postMessage")
	if posted["_auth"] != "Bearer xoxb-e2e" || posted["channel"] != "C0AIRLOCK" {
		t.Fatalf("chat.postMessage: %v", posted)
	}
	raw, _ := json.Marshal(posted["blocks"])
	m := regexp.MustCompile(`"value":"([^"]+)"`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("no request id on the buttons: %s", raw)
	}
	id := m[1]

	click := func(user string, at time.Time) int {
		p, _ := json.Marshal(map[string]any{
			"type": "block_actions", "user": map[string]any{"id": user}, "team": map[string]any{"id": "T0"},
			"container":    map[string]any{"channel_id": "C0AIRLOCK", "message_ts": "1700000000.000100"},
			"response_url": fakeURL + "/hooks/1",
			"actions":      []any{map[string]any{"action_id": slackapprove.ActionApprove, "value": id}},
		})
		body := url.Values{"payload": {string(p)}}.Encode()
		ts := strconv.FormatInt(at.Unix(), 10)
		req, _ := http.NewRequest(http.MethodPost, base+server.PathSlackInteractions, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", slackapprove.Sign([]byte(slackSigning), ts, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := click("U0CAROL", time.Now()); code != http.StatusOK {
		t.Fatalf("carol's click: HTTP %d", code)
	}
	if r := waitCall("/hooks/1"); !strings.Contains(r["text"].(string), "own request") {
		t.Errorf("self-approval from Slack: told %v", r)
	}
	if code := click("U0DAVE", time.Now().Add(time.Second)); code != http.StatusOK {
		t.Fatalf("dave's click: HTTP %d", code)
	}
	res := <-held
	if res.IsError || res.StructuredContent.(map[string]any)["status"] != "active" {
		t.Fatalf("held request_access after the Slack approval: %s", text(res))
	}
	upd := waitCall("/api/chat.update")
	if txt, _ := upd["text"].(string); !strings.Contains(txt, "dave approved") {
		t.Errorf("chat.update: %v", upd)
	}
	structured(t, query(t, c, "pg", "SELECT count(*) FROM t"))
}

// TestSlackShowsHeldCall: a call held for a per-call approval is posted
// with what it does (command, resources, why) and its masked arguments as
// preformatted text, so the approver decides on the statement, not on a
// summary; the value masking hides never reaches Slack.
func TestSlackShowsHeldCall(t *testing.T) {
	_, waitCall := fakeSlack(t)
	e := newEnvWith(t, slackConfig(t, "1s")+`
rules:
  - {name: writers-write-approved, groups: [writers], connections: [pg], access: [write], effect: approve,
     grant: {approvers: [dba]}}
`)
	_, base := e.start(t, server.Options{})
	wendy := httpClient(t, "streamable-http", base, e.token(t, "wendy", "writers"))
	grant(t, wendy, "pg", "write")
	const sql = "DELETE FROM t WHERE id = 7 AND 'wendy.lee@example.com' <> '``` <!channel>'"
	if res := query(t, wendy, "pg", sql); !res.IsError || !strings.Contains(text(res), "pending") {
		t.Fatalf("held write: %s", text(res))
	}
	posted := waitCall("/api/chat.postMessage")
	raw, _ := json.Marshal(posted["blocks"])
	blocks := string(raw)
	for _, want := range []string{"*Command*", "DELETE", "*Resources*", "rich_text_preformatted", "DELETE FROM t WHERE id = 7", slackapprove.ActionApprove} {
		if !strings.Contains(blocks, want) {
			t.Errorf("the held call's message lacks %q: %s", want, blocks)
		}
	}
	if strings.Contains(blocks, "wendy.lee@example.com") {
		t.Errorf("an unmasked value reached Slack: %s", blocks)
	}
	var msg []map[string]any
	json.Unmarshal(raw, &msg)
	for _, b := range msg {
		if b["type"] == "rich_text" {
			continue
		}
		// %v prints the decoded strings as they are (json.Marshal would
		// escape the angle brackets and hide them).
		if v := fmt.Sprintf("%v", b); strings.Contains(v, "<!channel>") {
			t.Errorf("the agent's text reached Slack as markup: %s", v)
		}
	}
}
