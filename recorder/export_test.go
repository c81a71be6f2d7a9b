package recorder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/identity"
)

type ed25519PublicKey = ed25519.PublicKey

// journalOfEverything: an ok read, a denied write, an INSERT with a grant
// and an approval (and its approval events), one call left open.
func journalOfEverything(t *testing.T) *testJournal {
	t.Helper()
	j := newTestJournal(t)
	ctx := context.Background()
	alice := &identity.Principal{Subject: "alice", Groups: []string{"analysts"}, Agent: "claude", Issuer: "https://idp.example/"}
	call := func(r *Record, finish func(*Record)) {
		r.Principal, r.Transport, r.Session = alice, "streamable-http", "sess-1"
		if err := j.rec.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		if finish != nil {
			finish(r)
			if err := j.rec.Finish(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	call(&Record{CallID: "c1", Tool: "query_db", Arguments: json.RawMessage(`{"connection":"demo","sql":"SELECT 1"}`)}, func(r *Record) {
		r.Connection, r.Access, r.Command, r.Resources = "demo", "read", "SELECT", []string{"orders"}
		r.Decision, r.Rule, r.Outcome, r.Rows, r.DurationMS = "allow", "analysts-read", OutcomeOK, 1, 2.5
		r.Result = json.RawMessage(`{"rows":[[1]]}`)
	})
	call(&Record{CallID: "c2", Tool: "query_db", Arguments: json.RawMessage(`{"connection":"demo","sql":"DELETE FROM orders"}`)}, func(r *Record) {
		r.Connection, r.Access, r.Command = "demo", "write", "DELETE"
		r.Decision, r.Reason, r.Outcome, r.Error = "deny", "no rule allows write", OutcomeDenied, "denied: no rule allows write"
	})
	for _, ev := range []*Record{
		{Type: TypeApproval, Event: "request.created", RequestID: "ap1", CallID: "ap1", Principal: alice, Connection: "demo", Access: "write", Decision: "pending"},
		{Type: TypeApproval, Event: "request.approved", RequestID: "ap1", CallID: "ap1", Principal: alice, Connection: "demo", Access: "write", Actor: "bob", Decision: "approved"},
	} {
		if err := j.rec.Event(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	call(&Record{CallID: "c3", Tool: "query_db", Arguments: json.RawMessage(`{"connection":"demo","sql":"INSERT INTO notes VALUES (1)"}`)}, func(r *Record) {
		r.Connection, r.Access, r.Command = "demo", "write", "INSERT"
		r.Decision, r.Rule, r.GrantID, r.ApprovalID, r.Outcome = "approve", "writes-need-approval", "g1", "ap1", OutcomeOK
		r.Result = json.RawMessage(`"inserted 1 row"`)
	})
	call(&Record{CallID: "c4", Tool: "query_db", Arguments: json.RawMessage(`{"connection":"demo","sql":"SELECT pg_sleep(1)"}`)}, nil)
	return j
}

func TestOCSFMapping(t *testing.T) {
	j := journalOfEverything(t)
	var out bytes.Buffer
	n, err := ExportOCSF(context.Background(), j.st, 0, Filter{}, "1.2.3", &out)
	if err != nil || n != 6 {
		t.Fatalf("%d events, %v", n, err)
	}
	var events []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		events = append(events, m)
	}
	get := func(m map[string]any, path string) any {
		var v any = m
		for k := range strings.SplitSeq(path, ".") {
			mm, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = mm[k]
		}
		return v
	}
	// Items come in the order their calls finish, events as written; open
	// calls last.
	cases := []struct {
		i    int
		path string
		want any
	}{
		{0, "class_uid", 6003.0}, {0, "category_uid", 6.0}, {0, "activity_id", 2.0}, {0, "type_uid", 600302.0},
		{0, "status_id", 1.0}, {0, "severity_id", 1.0}, {0, "api.operation", "query_db"}, {0, "api.service.name", "demo"},
		{0, "api.request.uid", "c1"}, {0, "metadata.correlation_uid", "c1"}, {0, "metadata.version", OCSFVersion},
		{0, "metadata.product.version", "1.2.3"}, {0, "actor.user.uid", "alice"}, {0, "actor.app_name", "claude"},
		{0, "actor.session.uid", "sess-1"}, {0, "actor.idp.name", "https://idp.example/"}, {0, "src_endpoint.name", "streamable-http"},
		{0, "duration", 2.0}, {0, "unmapped.rows", 1.0},
		{1, "activity_id", 4.0}, {1, "status_id", 2.0}, {1, "severity_id", 3.0}, {1, "status_code", "denied"},
		{1, "api.response.error", "denied"}, {1, "status_detail", "denied: no rule allows write"},
		{2, "activity_id", 99.0}, {2, "api.operation", "approval.request.created"},
		{3, "unmapped.actor", "bob"},
		{4, "activity_id", 1.0}, {4, "unmapped.grant_id", "g1"}, {4, "unmapped.approval_id", "ap1"},
		{5, "status_id", 0.0}, {5, "status_code", "in_progress"},
	}
	for _, tc := range cases {
		if got := get(events[tc.i], tc.path); got != tc.want {
			t.Errorf("event %d %s = %v, want %v", tc.i, tc.path, got, tc.want)
		}
	}
	authz := get(events[0], "actor.authorizations").([]any)[0].(map[string]any)
	if authz["decision"] != "allow" || authz["policy"].(map[string]any)["name"] != "analysts-read" {
		t.Errorf("authorizations: %v", authz)
	}
	if uid := get(events[0], "metadata.uid").(string); len(uid) != 64 {
		t.Errorf("metadata.uid is not the record hash: %q", uid)
	}
}

func TestExportJSONLKeepsCallsTogether(t *testing.T) {
	j := journalOfEverything(t)
	var out bytes.Buffer
	n, err := ExportJSONL(context.Background(), j.st, 0, Filter{Outcome: OutcomeDenied}, &out)
	if err != nil || n != 2 {
		t.Fatalf("%d records, %v\n%s", n, err, out.String())
	}
	var recs []Record
	for line := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var r Record
		json.Unmarshal([]byte(line), &r)
		recs = append(recs, r)
	}
	if recs[0].Type != Started || recs[1].Type != Finished || recs[0].CallID != "c2" || recs[1].Hash == "" || recs[1].Seq == 0 {
		t.Fatalf("records %+v", recs)
	}
	out.Reset()
	if n, _ := ExportJSONL(context.Background(), j.st, 0, Filter{}, &out); n != 9 {
		t.Fatalf("export all: %d records", n)
	}
}

func TestFilter(t *testing.T) {
	j := journalOfEverything(t)
	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"c1", "c2", "ap1", "ap1", "c3", "c4"}},
		{"outcome", Filter{Outcome: OutcomeOK}, []string{"c1", "c3"}},
		{"decision", Filter{Decision: "deny"}, []string{"c2"}},
		{"type approval", Filter{Type: TypeApproval}, []string{"ap1", "ap1"}},
		{"type call", Filter{Type: "call"}, []string{"c1", "c2", "c3", "c4"}},
		{"subject", Filter{Subject: "bob"}, nil},
		{"agent and tool", Filter{Agent: "claude", Tool: "query_db"}, []string{"c1", "c2", "c3", "c4"}},
		{"session", Filter{Session: "sess-1", Connection: "demo"}, []string{"c1", "c2", "c3"}},
		{"until", Filter{Until: t0.Add(2 * time.Second)}, []string{"c1"}},
		{"since", Filter{Since: t0.Add(8 * time.Second)}, []string{"c4"}},
		{"text in arguments, any case", Filter{Text: "delete from"}, []string{"c2"}},
		{"text in result", Filter{Text: "INSERTED 1"}, []string{"c3"}},
		{"text in an event's actor", Filter{Text: "bob", Type: TypeApproval}, []string{"ap1"}},
		{"text nowhere", Filter{Text: "<no such text>"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			Items(context.Background(), j.st, 0, func(it *Item) error {
				if tc.f.Match(it) {
					got = append(got, it.Record().CallID)
				}
				return nil
			})
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReplayRendersCallsAsTheAgentSawThem(t *testing.T) {
	j := journalOfEverything(t)
	var out bytes.Buffer
	n, err := Replay(context.Background(), j.st, ReplayOptions{Session: "sess-1"}, &out)
	if err != nil || n != 4 {
		t.Fatalf("%d calls, %v", n, err)
	}
	s := out.String()
	for _, want := range []string{
		"Replay of session sess-1: 4 call(s), 0 event(s)",
		"request  query_db {\"connection\":\"demo\",\"sql\":\"SELECT 1\"}",
		"decision allow by rule analysts-read (read on demo)",
		"result   ok in 2.500 ms: 1 row(s), 0 bytes",
		`{"rows":[[1]]}`,
		"decision deny (write on demo)",
		"result   denied in 0.000 ms",
		"denied: no rule allows write",
		"grant g1; approval ap1 approved by bob",
		"             inserted 1 row",
		"no finished record",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("replay lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	if _, err := Replay(context.Background(), j.st, ReplayOptions{Subject: "alice"}, &out); err != nil || !strings.Contains(out.String(), "[event]") {
		t.Errorf("subject replay shows no events: %v\n%s", err, out.String())
	}
}
