package recorder

import (
	"context"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/identity"
)

// Records written before trace_id existed and records that carry it sit
// in one chain that verifies: the chain hash covers the stored bytes, so
// the new field changes nothing for the old records. Editing a trace id is
// caught like any other edit.
func TestTraceIDBesideOlderRecords(t *testing.T) {
	j := newTestJournal(t)
	j.calls(t, 3) // as an older gateway wrote them: no trace_id
	j.checkpoint(t)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	rec := &Record{CallID: NewCallID(), Tool: "query_db", TraceID: trace,
		Principal: &identity.Principal{Subject: "alice", Issuer: "test"}}
	if err := j.rec.Begin(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Outcome = OutcomeOK
	if err := j.rec.Finish(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if rep := j.verify(t); len(rep.Findings) != 0 || rep.Records != 8 {
		t.Fatalf("mixed journal: %d records, findings %+v", rep.Records, rep.Findings)
	}
	entries, err := j.st.JournalAfter(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		r, err := Decode(&e)
		if err != nil {
			t.Fatal(err)
		}
		old := e.Seq <= 6
		if has := strings.Contains(string(e.Data), `"trace_id"`); has == old || (r.TraceID == trace) == old {
			t.Errorf("seq %d: trace_id %q in %s", e.Seq, r.TraceID, e.Data)
		}
	}
	exec(t, j.raw(t), `UPDATE journal SET data = replace(data, '`+trace+`', '00000000000000000000000000000001') WHERE seq = 7`)
	if got := findings(j.verify(t)); len(got) != 1 || got[0] != (want{7, FindingAltered}) {
		t.Errorf("edited trace_id: findings %+v", got)
	}
}
