package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/store"
)

// Admins review upstream MCP tools in the console and accept the
// definition they reviewed: the same pins, checks and journal as
// `airlock upstream accept`. The upstream's text is untrusted and shown
// escaped; a stale hash is refused; others may not see or accept.
func TestAdminAcceptsUpstreamToolsInTheConsole(t *testing.T) {
	idp := newFakeIdP(t)
	s := startStack(t, idp, "")
	ctx := context.Background()
	st := s.G.Store()
	def := `{"name":"search","description":"Search issues <script>alert(1)</script>","inputSchema":{"type":"object","properties":{"q":{"type":"string"}}},"annotations":{"readOnlyHint":true}}`
	if _, _, err := st.ObservePin(ctx, "gh", "search", "h1", def, false); err != nil {
		t.Fatal(err)
	}

	dave := s.login(t, "dave", "dba")
	if code, _ := dave.get("/console/upstream"); code != http.StatusForbidden {
		t.Fatalf("non-admin on upstream tools: %d", code)
	}
	if code, _ := dave.post("/console/upstream/accept", url.Values{"csrf": {dave.csrf()}, "connection": {"gh"}, "tool": {"search"}, "hash": {"h1"}}); code != http.StatusForbidden {
		t.Fatalf("non-admin accepting: %d", code)
	}

	pat := s.login(t, "pat", "platform")
	code, body := pat.get("/console/upstream")
	if code != http.StatusOK || !strings.Contains(body, `id="pin-gh-search" class="state-new"`) || !strings.Contains(body, "readOnlyHint=true") ||
		!strings.Contains(body, "hash h1") {
		t.Fatalf("upstream page: %d\n%s", code, body)
	}
	if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)") {
		t.Fatalf("the upstream's description is not escaped:\n%s", body)
	}
	// Without the form's CSRF token: refused.
	if code, _ := pat.post("/console/upstream/accept", url.Values{"connection": {"gh"}, "tool": {"search"}, "hash": {"h1"}}); code != http.StatusForbidden {
		t.Fatalf("accept without CSRF token: %d", code)
	}
	// The upstream changed the tool after the admin reviewed it.
	if _, _, err := st.ObservePin(ctx, "gh", "search", "h2", strings.Replace(def, "Search issues", "Search and delete issues", 1), false); err != nil {
		t.Fatal(err)
	}
	if code, body := pat.post("/console/upstream/accept", url.Values{"csrf": {pat.csrf()}, "connection": {"gh"}, "tool": {"search"}, "hash": {"h1"}}); code != http.StatusConflict || !strings.Contains(body, "review it again") {
		t.Fatalf("accepting a stale definition: %d\n%s", code, body)
	}
	if code, _ := pat.post("/console/upstream/accept", url.Values{"csrf": {pat.csrf()}, "connection": {"gh"}, "tool": {"nope"}, "hash": {"h2"}}); code != http.StatusNotFound {
		t.Fatalf("accepting an unknown tool: %d", code)
	}
	code, body = pat.post("/console/upstream/accept", url.Values{"csrf": {pat.csrf()}, "connection": {"gh"}, "tool": {"search"}, "hash": {"h2"}, "reason": {"reviewed the new description"}})
	if code != http.StatusOK || !strings.Contains(body, "Accepted gh / search") || !strings.Contains(body, `class="state-accepted"`) {
		t.Fatalf("accept: %d\n%s", code, body)
	}
	ps, err := st.ListPins(ctx, "gh")
	if err != nil || len(ps) != 1 || ps[0].State() != store.PinAccepted || ps[0].AcceptedHash != "h2" || ps[0].AcceptedBy != "pat" {
		t.Fatalf("pins after accept: %+v %v", ps, err)
	}
	// The acceptance is journaled with the admin and the reason.
	entries, err := st.JournalAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var journaled bool
	for _, e := range entries {
		d := string(e.Data)
		journaled = journaled || strings.Contains(d, `"accepted_hash":"h2"`) && strings.Contains(d, "reviewed the new description") && strings.Contains(d, `"pat"`)
	}
	if !journaled {
		t.Fatal("the acceptance is not in the journal")
	}
}
