package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/store"
)

// chromiumPath finds headless Chromium (scripts/test-chromium.sh installs
// Debian's chromium; make test exports AIRLOCK_TEST_CHROMIUM).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AIRLOCK_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("AIRLOCK_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal("chromium not found: run scripts/test-chromium.sh (make test does) or set AIRLOCK_TEST_CHROMIUM")
	}
	t.Skip("chromium not found; run scripts/test-chromium.sh")
	return ""
}

// artifactDir is where screenshots go: AIRLOCK_TEST_ARTIFACTS, else
// .testenv/console-screenshots at the repository root.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AIRLOCK_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", ".testenv", "console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// browser starts a headless Chromium with a fresh profile; each
// newPerson in it is a separate browser context (own cookies).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	if err := chromedp.Do(bctx); err != nil { // start the browser
		t.Fatalf("chromium: %v", err)
	}
	return bctx
}

type tab struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newTab(t *testing.T, bctx context.Context, dir string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab for the life of ctx: never under a
	// timeout, or the tab closes when the timeout's context ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, dir: dir}
}

func (b *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *tab) fail(what string, err error) {
	b.t.Helper()
	sctx, scancel := context.WithTimeout(b.ctx, 5*time.Second)
	loc, _ := chromedp.Run(sctx, chromedp.Location())
	body, _ := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("body")))
	scancel()
	b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
	b.t.Fatalf("%s: %v (at %s)\n%s", what, err, loc, body)
}

// eval evaluates a JavaScript expression (awaiting a promise) in the tab.
func eval[T any](b *tab, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// shot writes a full-page PNG screenshot as a test artifact.
func (b *tab) shot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return s
}

// login goes through the dev issuer's login form (development only) and
// lands on the console.
func (b *tab) login(base, subject, groups string) {
	b.t.Helper()
	b.run("open the console", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#subject")))
	b.shot("00-dev-issuer-login-" + subject)
	b.run("log in as "+subject,
		chromedp.SendKeys(chromedp.CSS("#subject"), subject),
		chromedp.SetValue(chromedp.CSS("#groups"), groups),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#whoami")),
	)
	if got := b.text("#whoami"); got != subject {
		b.t.Fatalf("logged in as %q, want %q", got, subject)
	}
}

// TestBrowserConsole drives the real console in headless Chromium: log in
// through the dev issuer, watch a held call's approval request arrive
// live, approve it and see the call complete; revoke a grant and see the
// next call refused; search the journal and open the call; and check that
// someone who is not an approver can neither see nor decide a request.
func TestBrowserConsole(t *testing.T) {
	bctx := browser(t)
	dir := artifactDir(t)
	s := startStack(t, nil, "")
	dev := s.G.DevIssuer()
	mint := func(subject string, groups ...string) string {
		tok, err := dev.Mint(identity.MintOptions{Subject: subject, Groups: groups, Audience: "airlock", TTL: 10 * time.Minute, Agent: "claude-code"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice := agent(t, s.Base, mint("alice", "analysts"))

	dave := newTab(t, bctx, dir)
	dave.login(s.Base, "dave", "dba platform audit")
	dave.run("approvals page", chromedp.WaitVisible(chromedp.CSS("#no-pending")),
		// The live stream is open before anything happens.
		chromedp.WaitVisible(chromedp.CSS("#live-status")))
	dave.shot("01-approvals-empty")

	// The agent gets a write grant by itself, but each write needs a dba.
	if r := call(t, alice, "request_access", map[string]any{"connection": "demo", "access": "write", "duration": "30m", "reason": "refund order 7 (ticket 42)"}); r.IsError {
		t.Fatal(text(r))
	}
	// Mark the page: a reload would lose the mark, a live update keeps it.
	eval[bool](dave, "mark the page", `window.__notReloaded = true`)
	held := goCall(t, alice, "query_db", map[string]any{"connection": "demo", "sql": "UPDATE orders SET status = 'refunded' WHERE id = 7"})
	dave.run("the request appears live", chromedp.WaitVisible(chromedp.CSS("section.request")))
	if !eval[bool](dave, "no reload", `window.__notReloaded === true`) {
		t.Fatal("the page reloaded instead of updating live")
	}
	card := dave.text("section.request")
	for _, want := range []string{"alice", "claude-code", "demo", "write", "UPDATE", "orders", "0 of 1", "refunded"} {
		if !strings.Contains(card, want) {
			t.Errorf("request card lacks %q:\n%s", want, card)
		}
	}
	select {
	case r := <-held:
		t.Fatalf("the call did not wait for approval: %v", r)
	default:
	}
	shot := dave.shot("02-approvals-pending")
	if os.Getenv("AIRLOCK_UPDATE_DOCS_SCREENSHOT") == "1" {
		data, _ := os.ReadFile(shot)
		if err := os.WriteFile(filepath.Join("..", "docs", "console.png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dave.run("approve",
		chromedp.SendKeys(chromedp.CSS("section.request .reason-input"), "refund checked against ticket 42"),
		chromedp.Click(chromedp.CSS("section.request button.approve")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if f := dave.text("#flash"); !strings.Contains(f, "Approved") {
		t.Fatalf("flash: %s", f)
	}
	dave.shot("03-approved")
	select {
	case r := <-held:
		if r == nil || r.IsError {
			t.Fatalf("the approved call did not complete: %v", r)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the approved call is still held")
	}

	// Revoke the agent's grant: its next call is refused.
	dave.run("grants page", chromedp.Navigate(s.Base+"/console/grants"), chromedp.WaitVisible(chromedp.CSS("table.grants")))
	if g := dave.text("table.grants"); !strings.Contains(g, "alice") {
		t.Fatalf("grants: %s", g)
	}
	dave.shot("04-grants")
	dave.run("revoke",
		chromedp.SendKeys(chromedp.CSS("table.grants form.revoke input[name=reason]"), "done with the refund"),
		chromedp.Click(chromedp.CSS("table.grants form.revoke button")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	dave.shot("05-revoked")
	if r := call(t, alice, "query_db", map[string]any{"connection": "demo", "sql": "SELECT status FROM orders WHERE id = 7"}); !r.IsError || !strings.Contains(text(r), "was revoked by dave") {
		t.Fatalf("call after revocation: %s", text(r))
	}

	// Search the journal and open the call.
	dave.run("journal search",
		chromedp.Navigate(s.Base+"/console/journal"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), "refunded"),
		chromedp.SetValue(chromedp.CSS("select[name=outcome]"), "ok"),
		chromedp.Click(chromedp.CSS("#search-button")),
		// The unfiltered page has call links too: wait for the page the
		// search loads (its form carries the query as an attribute) before
		// reading, or the read races the navigation.
		chromedp.WaitVisible(chromedp.CSS(`input#q[value="refunded"]`)),
		chromedp.WaitVisible(chromedp.CSS("#results a.call-link")),
	)
	if m := dave.text("#matched"); !strings.HasPrefix(m, "1 match") {
		t.Fatalf("search: %s", m)
	}
	dave.shot("06-journal")
	dave.run("open the call", chromedp.Click(chromedp.CSS("#results a.call-link")), chromedp.WaitVisible(chromedp.CSS("#record")))
	rec := dave.text("#record")
	for _, want := range []string{"UPDATE", "orders", "approve", "analysts-write-approved", "alice", "claude-code", "ap_", "gr_"} {
		if !strings.Contains(rec, want) {
			t.Errorf("call record lacks %q:\n%s", want, rec)
		}
	}
	dave.shot("07-call")
	dave.run("connections", chromedp.Navigate(s.Base+"/console/connections"), chromedp.WaitVisible(chromedp.CSS("#rules")))
	dave.shot("08-connections")

	// A second person, not an approver, while a request is pending.
	if r := call(t, alice, "request_access", map[string]any{"connection": "demo", "access": "write", "duration": "30m", "reason": "second refund"}); r.IsError {
		t.Fatal(text(r))
	}
	goCall(t, alice, "query_db", map[string]any{"connection": "demo", "sql": "UPDATE orders SET status = 'refunded' WHERE id = 8"})
	id := s.pending(t, "alice")
	dave.run("dave sees it", chromedp.Navigate(s.Base+"/console/approvals"), chromedp.WaitVisible(chromedp.CSS("#req-"+id)))

	mallory := newTab(t, bctx, dir)
	mallory.login(s.Base, "mallory", "analysts")
	mallory.run("mallory's console", chromedp.Navigate(s.Base+"/console/approvals"), chromedp.WaitVisible(chromedp.CSS("#content")))
	if c := mallory.text("#content"); strings.Contains(c, id) || strings.Contains(c, "alice") {
		t.Fatalf("a non-approver sees the request:\n%s", c)
	}
	mallory.shot("09-non-approver-approvals")
	mallory.run("open the request by id", chromedp.Navigate(s.Base+"/console/requests/"+id), chromedp.WaitVisible(chromedp.CSS("#error")))
	mallory.shot("10-non-approver-request")
	// She tries to decide it anyway, with her own valid CSRF token.
	status := eval[int](mallory, "decide without the right", `fetch("/console/requests/`+id+`/approve", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value)}).then(r => r.status)`)
	if status != 403 {
		t.Fatalf("a non-approver's decision answered %d", status)
	}
	if r, err := s.G.Store().GetRequest(context.Background(), id); err != nil || r.Status != store.StatusPending || len(r.Votes) != 0 {
		t.Fatalf("request after the refused decision: %+v %v", r, err)
	}
	t.Logf("screenshots in %s", dir)
}
