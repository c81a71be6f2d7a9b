// Package recorder writes the journal: a "started" record made durable
// before a tool call runs, and a "finished" record with what the agent was
// answered. The journal is the audit record; logs are not.
package recorder

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/store"
)

// Record types.
const (
	Started  = "started"
	Finished = "finished"
)

// Outcomes of a finished call.
const (
	OutcomeOK      = "ok"      // executed and answered
	OutcomeDenied  = "denied"  // refused by policy
	OutcomeInvalid = "invalid" // refused: malformed or disallowed input
	OutcomeError   = "error"   // executed (or tried) and failed
)

// Record is one journal record. Field names are stable: auditors and SIEM
// pipelines read them.
type Record struct {
	Seq       int64               `json:"seq,omitempty"`
	CallID    string              `json:"call_id"`
	Type      string              `json:"type"`
	Time      time.Time           `json:"time"`
	Principal *identity.Principal `json:"principal,omitempty"`
	Transport string              `json:"transport,omitempty"`
	Tool      string              `json:"tool"`
	// Arguments as the agent sent them (masked once masking lands).
	Arguments       json.RawMessage `json:"arguments,omitempty"`
	ArgumentsDigest string          `json:"arguments_digest,omitempty"`

	Connection string   `json:"connection,omitempty"`
	Access     string   `json:"access,omitempty"`
	Command    string   `json:"command,omitempty"`
	Resources  []string `json:"resources,omitempty"`

	Decision string `json:"decision,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// GrantID is the grant a call ran under; ApprovalID the per-call
	// approval it consumed. On grant and approval records, RequestID.
	GrantID    string `json:"grant_id,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	// Event names what happened on a grant or approval record (see
	// policy/jit event types); Actor is who did it.
	Event string `json:"event,omitempty"`
	Actor string `json:"actor,omitempty"`

	Outcome    string          `json:"outcome,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Rows       int             `json:"rows,omitempty"`
	Bytes      int             `json:"bytes,omitempty"`
	Truncated  bool            `json:"truncated,omitempty"`
	DurationMS float64         `json:"duration_ms,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// Journal is the durable sink the recorder writes to.
type Journal interface {
	AppendJournal(ctx context.Context, e *store.Entry) (int64, error)
}

// Recorder writes call records.
type Recorder struct {
	j   Journal
	now func() time.Time
}

// New returns a recorder writing to j.
func New(j Journal) *Recorder { return &Recorder{j: j, now: time.Now} }

// NewCallID returns a new, time-ordered call id.
func NewCallID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// Begin writes the started record. When it returns nil the record is
// durable; when it returns an error the call must not run.
func (r *Recorder) Begin(ctx context.Context, rec *Record) error {
	rec.Type = Started
	return r.write(ctx, rec)
}

// Finish writes the finished record. It runs even when ctx is cancelled,
// under its own timeout, so a cancelled call is still recorded.
func (r *Recorder) Finish(ctx context.Context, rec *Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec.Type = Finished
	return r.write(ctx, rec)
}

func (r *Recorder) write(ctx context.Context, rec *Record) error {
	rec.Time = r.now().UTC()
	rec.Seq = 0
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	seq, err := r.j.AppendJournal(ctx, &store.Entry{CallID: rec.CallID, Type: rec.Type, Time: rec.Time, Data: data})
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	rec.Seq = seq
	return nil
}

// Decode turns a stored entry back into a record.
func Decode(e *store.Entry) (*Record, error) {
	var rec Record
	if err := json.Unmarshal(e.Data, &rec); err != nil {
		return nil, fmt.Errorf("journal: record %d: %w", e.Seq, err)
	}
	rec.Seq = e.Seq
	return &rec, nil
}
