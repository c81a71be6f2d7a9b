package slackapprove

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/store"
)

// fakeSlack records Web API calls and answers like Slack does.
type fakeSlack struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	calls []fakeCall
	users map[string]map[string]any // users.info answers by user id
	ts    int
	got   chan string // method names as they arrive
}

type fakeCall struct {
	method string
	auth   string
	body   map[string]any
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{t: t, users: map[string]map[string]any{}, got: make(chan string, 100)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if strings.HasPrefix(r.URL.Path, "/hooks/") {
		method = "response_url"
	}
	body := map[string]any{}
	if r.Method == http.MethodPost {
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{method: method, auth: r.Header.Get("Authorization"), body: body})
	var answer map[string]any
	switch method {
	case "chat.postMessage":
		f.ts++
		answer = map[string]any{"ok": true, "channel": body["channel"], "ts": "1700000000." + strconv.Itoa(f.ts)}
	case "chat.update":
		answer = map[string]any{"ok": true}
	case "users.info":
		if u, ok := f.users[r.URL.Query().Get("user")]; ok {
			answer = map[string]any{"ok": true, "user": u}
		} else {
			answer = map[string]any{"ok": false, "error": "user_not_found"}
		}
	case "response_url":
		answer = map[string]any{"ok": true}
	default:
		answer = map[string]any{"ok": false, "error": "unknown_method"}
	}
	f.mu.Unlock()
	json.NewEncoder(w).Encode(answer)
	f.got <- method
}

// waitFor waits (bounded) for a call of method and returns it.
func (f *fakeSlack) waitFor(method string) fakeCall {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		for i, c := range f.calls {
			if c.method == method {
				f.calls = append(f.calls[:i], f.calls[i+1:]...)
				f.mu.Unlock()
				return c
			}
		}
		f.mu.Unlock()
		select {
		case <-f.got:
		case <-deadline:
			f.t.Fatalf("fake Slack never received %s", method)
		}
	}
}

const (
	botToken = "xoxb-test-token"
	channel  = "C0AIRLOCK"
)

var signingSecret = []byte("8f742231b10e8888abcd99yyyzzz85a5")

type env struct {
	t     *testing.T
	slack *Slack
	fake  *fakeSlack
	jit   *jit.Service
	srv   *httptest.Server
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := newFakeSlack(t)
	e := &env{t: t, fake: fake, now: time.Now()}
	rules := []policy.Rule{{Name: "read", Groups: []string{"contractors"}, Connections: []string{"db"},
		Access: []policy.Access{policy.Read}, Effect: policy.Allow,
		Grant: policy.GrantSpec{Mode: policy.GrantApproval, Approvers: []string{"dba"}, MinApprovals: 1, MaxDuration: time.Hour}}}
	// The sink is registered after the service exists: a forwarding sink.
	fwd := &forward{}
	e.jit = jit.New(st, policy.NewEngine(rules), jit.Config{Wait: 0, TTL: time.Hour}, nil, fwd)
	e.slack, err = New(Config{
		BotToken: botToken, SigningSecret: signingSecret, Channel: channel, TeamID: "T0ACME",
		APIBase: fake.srv.URL + "/api/", ResponseBase: fake.srv.URL + "/hooks/",
		Approvers: []Approver{
			{SlackUser: "U0DAVE", Subject: "dave", Groups: []string{"dba"}},
			{SlackUser: "U0CAROL", Subject: "carol", Groups: []string{"dba"}}, // carol is also a requester
			{SlackUser: "U0MAL", Subject: "mal", Groups: []string{"analysts"}},
			{Email: "erin@example.com", Subject: "erin", Groups: []string{"dba"}},
		},
		Now: func() time.Time { return e.now },
	}, e.jit)
	if err != nil {
		t.Fatal(err)
	}
	fwd.set(e.slack)
	t.Cleanup(e.slack.Close)
	e.srv = httptest.NewServer(e.slack)
	t.Cleanup(e.srv.Close)
	return e
}

type forward struct {
	mu sync.Mutex
	s  jit.Sink
}

func (f *forward) set(s jit.Sink) { f.mu.Lock(); f.s = s; f.mu.Unlock() }
func (f *forward) Publish(ctx context.Context, e jit.Event) {
	f.mu.Lock()
	s := f.s
	f.mu.Unlock()
	if s != nil {
		s.Publish(ctx, e)
	}
}

var carol = &identity.Principal{Subject: "carol", Groups: []string{"contractors"}}

// request makes a pending grant request and returns it once Slack has the
// message.
func (e *env) request() (*store.Request, fakeCall) {
	e.t.Helper()
	r, err := e.jit.RequestGrant(context.Background(), carol, "db", policy.Read, 30*time.Minute, "weekly report <!channel> <https://evil.example|click>")
	if err != nil || r.Status != store.StatusPending {
		e.t.Fatalf("request: %+v %v", r, err)
	}
	return r, e.fake.waitFor("chat.postMessage")
}

// interaction builds the form body Slack posts when user clicks action on
// the message of request id.
func (e *env) interaction(user, action, id, ts string) []byte {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "team_id": "T0ACME"},
		"team":         map[string]any{"id": "T0ACME"},
		"container":    map[string]any{"type": "message", "channel_id": channel, "message_ts": ts},
		"response_url": e.fake.srv.URL + "/hooks/T0ACME/1/abc",
		"actions":      []any{map[string]any{"action_id": action, "value": id, "type": "button"}},
	}
	b, _ := json.Marshal(p)
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

func (e *env) post(body []byte, ts time.Time, sig string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tss := strconv.FormatInt(ts.Unix(), 10)
	if sig == "" {
		sig = Sign(signingSecret, tss, body)
	}
	req.Header.Set("X-Slack-Request-Timestamp", tss)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *env) status(id string) string {
	e.t.Helper()
	r, err := e.jit.Get(context.Background(), &identity.Principal{Subject: "dave", Groups: []string{"dba"}}, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Status
}

func TestSlackApproveUpdatesMessage(t *testing.T) {
	e := newEnv(t)
	r, posted := e.request()
	if posted.auth != "Bearer "+botToken || posted.body["channel"] != channel {
		t.Fatalf("postMessage: auth %q body %v", posted.auth, posted.body)
	}
	raw, _ := json.Marshal(posted.body["blocks"])
	if !strings.Contains(string(raw), ActionApprove) || !strings.Contains(string(raw), ActionDeny) || !strings.Contains(string(raw), r.ID) {
		t.Errorf("message has no Approve/Deny buttons for %s: %s", r.ID, raw)
	}
	if strings.Contains(string(raw), "<!channel>") || strings.Contains(posted.body["text"].(string), "<https://evil") {
		t.Errorf("the agent's reason reached Slack as markup: %s", raw)
	}
	ts, _ := posted.body["ts"].(string)
	if ts == "" {
		ts = "1700000000.1"
	}
	body := e.interaction("U0DAVE", ActionApprove, r.ID, ts)
	if code := e.post(body, e.now, ""); code != http.StatusOK {
		t.Fatalf("valid interaction: HTTP %d", code)
	}
	if got := e.status(r.ID); got != store.StatusActive {
		t.Fatalf("after approval from Slack: %s", got)
	}
	upd := e.fake.waitFor("chat.update")
	text, _ := upd.body["text"].(string)
	raw, _ = json.Marshal(upd.body["blocks"])
	if upd.body["channel"] != channel || upd.body["ts"] != ts || !strings.Contains(text, "dave approved") || strings.Contains(string(raw), ActionApprove) {
		t.Errorf("chat.update: %v (blocks %s)", upd.body, raw)
	}

	// The same signed request again is a replay.
	if code := e.post(body, e.now, ""); code != http.StatusUnauthorized {
		t.Errorf("replay: HTTP %d, want 401", code)
	}
}

func TestSlackRefusesForgedOldAndReplayed(t *testing.T) {
	e := newEnv(t)
	r, posted := e.request()
	ts, _ := posted.body["ts"].(string)
	body := e.interaction("U0DAVE", ActionApprove, r.ID, ts)

	if code := e.post(body, e.now, "v0="+strings.Repeat("ab", 32)); code != http.StatusUnauthorized {
		t.Errorf("bad signature: HTTP %d", code)
	}
	other := Sign([]byte("another-secret-of-the-same-size!"), strconv.FormatInt(e.now.Unix(), 10), body)
	if code := e.post(body, e.now, other); code != http.StatusUnauthorized {
		t.Errorf("signature with another secret: HTTP %d", code)
	}
	tampered := e.interaction("U0DAVE", ActionApprove, r.ID+"x", ts)
	if code := e.post(tampered, e.now, Sign(signingSecret, strconv.FormatInt(e.now.Unix(), 10), body)); code != http.StatusUnauthorized {
		t.Errorf("body changed after signing: HTTP %d", code)
	}
	if code := e.post(body, e.now.Add(-6*time.Minute), ""); code != http.StatusUnauthorized {
		t.Errorf("timestamp 6 minutes old: HTTP %d", code)
	}
	if code := e.post(body, e.now.Add(6*time.Minute), ""); code != http.StatusUnauthorized {
		t.Errorf("timestamp 6 minutes ahead: HTTP %d", code)
	}
	if got := e.status(r.ID); got != store.StatusPending {
		t.Fatalf("refused interactions changed the request: %s", got)
	}

	// A request signed a while ago, within the window, still counts once.
	if code := e.post(body, e.now.Add(-4*time.Minute), ""); code != http.StatusOK {
		t.Fatalf("4-minute-old valid request: HTTP %d", code)
	}
	if code := e.post(body, e.now.Add(-4*time.Minute), ""); code != http.StatusUnauthorized {
		t.Errorf("its replay: HTTP %d", code)
	}
}

func TestSlackRefusesWhoMayNotDecide(t *testing.T) {
	e := newEnv(t)
	e.fake.users["U0NOBODY"] = map[string]any{"id": "U0NOBODY", "is_email_confirmed": true, "profile": map[string]any{"email": "nobody@example.com"}}
	e.fake.users["U0FAKEERIN"] = map[string]any{"id": "U0FAKEERIN", "is_email_confirmed": false, "profile": map[string]any{"email": "erin@example.com"}}
	r, posted := e.request()
	ts, _ := posted.body["ts"].(string)
	cases := []struct {
		user, want string
	}{
		{"U0MAL", "not an approver"},              // mapped, but not in the approver groups
		{"U0CAROL", "cannot decide your own"},     // the requester, even in an approver group
		{"U0NOBODY", "no approver is configured"}, // confirmed email nobody mapped
		{"U0FAKEERIN", "email is not confirmed"},  // an approver's email, unconfirmed
		{"U0GHOST", "could not be looked up"},     // unknown to Slack: the API's detail stays in the log
	}
	for i, tc := range cases {
		at := e.now.Add(time.Duration(i) * time.Second) // distinct signatures
		if code := e.post(e.interaction(tc.user, ActionApprove, r.ID, ts), at, ""); code != http.StatusOK {
			t.Errorf("%s: HTTP %d", tc.user, code)
		}
		c := e.fake.waitFor("response_url")
		if text, _ := c.body["text"].(string); !strings.Contains(text, tc.want) || c.body["response_type"] != "ephemeral" {
			t.Errorf("%s: told %v, want an ephemeral %q", tc.user, c.body, tc.want)
		} else if strings.Contains(text, "user_not_found") || strings.Contains(text, "users.info") {
			t.Errorf("%s: the Slack API's error reached the clicker: %q", tc.user, text)
		}
	}
	if got := e.status(r.ID); got != store.StatusPending {
		t.Fatalf("refused approvers changed the request: %s", got)
	}

	// An approver found by confirmed email decides: here, a denial.
	e.fake.users["U0ERIN"] = map[string]any{"id": "U0ERIN", "is_email_confirmed": true, "profile": map[string]any{"email": "Erin@Example.com"}}
	if code := e.post(e.interaction("U0ERIN", ActionDeny, r.ID, ts), e.now.Add(time.Minute), ""); code != http.StatusOK {
		t.Fatalf("erin: HTTP %d", code)
	}
	if got := e.status(r.ID); got != store.StatusDenied {
		t.Fatalf("after erin's denial: %s", got)
	}
	upd := e.fake.waitFor("chat.update")
	if text, _ := upd.body["text"].(string); !strings.Contains(text, "erin denied") {
		t.Errorf("chat.update after denial: %v", upd.body)
	}
}

func TestSlackOtherWorkspaceAndActions(t *testing.T) {
	e := newEnv(t)
	r, _ := e.request()
	body := e.interaction("U0DAVE", "airlock_other", r.ID, "1.1")
	if code := e.post(body, e.now, ""); code != http.StatusBadRequest {
		t.Errorf("unknown action: HTTP %d", code)
	}
	p := strings.Replace(string(e.interaction("U0DAVE", ActionApprove, r.ID, "1.1")), "T0ACME", "T0EVIL", -1)
	if code := e.post([]byte(p), e.now.Add(time.Second), ""); code != http.StatusForbidden {
		t.Errorf("another workspace: HTTP %d", code)
	}
	if got := e.status(r.ID); got != store.StatusPending {
		t.Fatalf("status %s", got)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("1700000000", "v0=00", []byte("payload=%7B%7D"))
	now := time.Unix(1700000000, 0)
	s := &Slack{cfg: Config{SigningSecret: signingSecret, Now: func() time.Time { return now }}, seen: map[string]time.Time{}}
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", sig)
		if s.verify(h, body) == nil && sig != Sign(signingSecret, ts, body) {
			t.Fatalf("accepted a wrong signature %q", sig)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	body := []byte("payload=" + strings.Repeat("x", 2000))
	ts := strconv.FormatInt(now.Unix(), 10)
	s := &Slack{cfg: Config{SigningSecret: signingSecret, Now: func() time.Time { return now }}, seen: map[string]time.Time{}}
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
	b.ReportAllocs()
	for b.Loop() {
		s.verify(h, body)
	}
}

func TestClipKeepsRunesWhole(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc … (cut)"},
		{"ééé", 3, "é … (cut)"}, // é is 2 bytes: byte 3 is inside the second
		{"ééé", 4, "éé … (cut)"},
	} {
		if got := clip(c.in, c.n); got != c.want {
			t.Errorf("clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
