package console

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// agentScan bounds how far back the journal is read for the agent
// behind a request.
const agentScan = 5000

// agentsOf names the agent (the token's azp or client_id) behind each
// request, as the journal recorded it: the started record of the call
// that asked — request_access for a grant, the held call itself for a
// per-call approval. Requests carry the subject, not the client, so this
// reads the recent journal; a request whose call is further back shows no
// agent.
func (c *Console) agentsOf(ctx context.Context, reqs []*store.Request) map[string]string {
	out := map[string]string{}
	if len(reqs) == 0 {
		return out
	}
	last, err := c.o.Journal.JournalLastSeq(ctx)
	if err != nil {
		return out
	}
	best := map[string]time.Time{}
	_ = recorder.Scan(ctx, c.o.Journal, max(0, last-agentScan), func(rec *recorder.Record) error {
		if rec.Type != recorder.Started || rec.Principal == nil || rec.Principal.Agent == "" {
			return nil
		}
		for _, r := range reqs {
			if asked(rec, r) && rec.Time.After(best[r.ID]) {
				best[r.ID], out[r.ID] = rec.Time, rec.Principal.Agent
			}
		}
		return nil
	})
	return out
}

// asked reports whether the started record rec is the call that made r.
func asked(rec *recorder.Record, r *store.Request) bool {
	if rec.Principal.Subject != r.Subject || rec.Time.After(r.CreatedAt.Add(time.Second)) || rec.Time.Before(r.CreatedAt.Add(-10*time.Minute)) {
		return false
	}
	if r.Kind == store.KindApproval {
		return rec.Tool == r.Tool && sameJSON(rec.Arguments, r.Arguments)
	}
	var a struct {
		Connection string `json:"connection"`
		Access     string `json:"access"`
	}
	_ = json.Unmarshal(rec.Arguments, &a)
	return rec.Tool == "request_access" && a.Connection == r.Connection && a.Access == r.Access
}

func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
