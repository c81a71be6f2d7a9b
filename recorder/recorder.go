// Package recorder writes and reads the journal: a "started" record made
// durable before a tool call runs, a "finished" record with what the agent
// was answered, and event records (grants, approvals, retention). Records
// are chained by hash (see store.ChainHash) and anchored by Ed25519-signed
// checkpoints; this package verifies the chain, recovers calls a crashed
// gateway left open, prunes behind checkpoints, and renders the journal for
// auditors (search, replay, JSON lines, OCSF). The journal is the audit
// record; logs are not.
package recorder

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/store"
)

// Record types. Started and Finished bracket a tool call; the others are
// events written with Recorder.Event.
const (
	Started  = "started"
	Finished = "finished"
	// Pruned records that retention deleted the records before
	// Detail.before_seq, anchored by a signed checkpoint.
	Pruned = "pruned"
)

// Outcomes of a finished call.
const (
	OutcomeOK      = "ok"      // executed and answered
	OutcomeDenied  = "denied"  // refused by policy
	OutcomeInvalid = "invalid" // refused: malformed or disallowed input
	OutcomeError   = "error"   // executed (or tried) and failed
	// OutcomeUnknown: the gateway stopped (crashed, was killed) between the
	// started record and the finished one. The call may or may not have
	// run; it is never retried.
	OutcomeUnknown = "unknown"
)

// Record is one journal record. Field names are stable: auditors and SIEM
// pipelines read them (README.md, "The journal").
type Record struct {
	Seq int64 `json:"seq,omitempty"`
	// PrevHash and Hash come from the store's chain; they are not part of
	// the stored document (the chain hash covers the document).
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`

	CallID    string              `json:"call_id"`
	Type      string              `json:"type"`
	Time      time.Time           `json:"time"`
	Principal *identity.Principal `json:"principal,omitempty"`
	Transport string              `json:"transport,omitempty"`
	// Session is the MCP session the call arrived in, when the transport
	// has one.
	Session string `json:"session,omitempty"`
	// Instance is the gateway process that wrote the record.
	Instance string `json:"instance,omitempty"`
	Tool     string `json:"tool"`
	// Arguments as the agent sent them, masked.
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

	Outcome   string          `json:"outcome,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Rows      int             `json:"rows,omitempty"`
	Bytes     int             `json:"bytes,omitempty"`
	Truncated bool            `json:"truncated,omitempty"`
	// Tokens is the size of the result the agent got; Masked counts the
	// values masked in it, per entity.
	Tokens     int            `json:"tokens,omitempty"`
	Masked     map[string]int `json:"masked,omitempty"`
	DurationMS float64        `json:"duration_ms,omitempty"`
	Error      string         `json:"error,omitempty"`

	// Detail holds type-specific data of event records.
	Detail json.RawMessage `json:"detail,omitempty"`

	// TraceID is the OpenTelemetry trace of the call (the client's, when
	// it sent a W3C trace context), to find its spans; absent when the
	// call was not traced and on records older than the field. The chain
	// hash covers the stored bytes, so old records verify unchanged.
	TraceID string `json:"trace_id,omitempty"`
}

// Journal is the durable sink the recorder writes to. AppendJournal must
// not return until e is durable, and sets e.Seq (and, for a chaining store,
// e.PrevHash and e.Hash).
type Journal interface {
	AppendJournal(ctx context.Context, e *store.Entry) (int64, error)
}

var (
	_ Journal = (*store.SQLite)(nil)
	_ Journal = (*store.Postgres)(nil)
)

// DefaultMaxRecordBytes caps a record when no option says otherwise.
const DefaultMaxRecordBytes = 256 << 10

// Recorder writes records.
type Recorder struct {
	j        Journal
	now      func() time.Time
	maxBytes int
	instance string
	late     lateQueue
}

// Option tunes a Recorder.
type Option func(*Recorder)

// WithMaxRecordBytes caps each record's encoding at n bytes: larger results
// and arguments are replaced by a TruncatedByJournal marker.
func WithMaxRecordBytes(n int) Option { return func(r *Recorder) { r.maxBytes = n } }

// WithInstance stamps every record with the writing gateway's instance id.
func WithInstance(id string) Option { return func(r *Recorder) { r.instance = id } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(r *Recorder) { r.now = now } }

// New returns a recorder writing to j.
func New(j Journal, opts ...Option) *Recorder {
	r := &Recorder{j: j, now: time.Now, maxBytes: DefaultMaxRecordBytes, late: lateQueue{wake: make(chan struct{}, 1)}}
	for _, o := range opts {
		o(r)
	}
	return r
}

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
	rec.Seq, rec.PrevHash, rec.Hash = 0, "", ""
	if rec.Instance == "" {
		rec.Instance = r.instance
	}
	data, err := r.encode(rec)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	e := &store.Entry{CallID: rec.CallID, Type: rec.Type, Time: rec.Time, Data: data}
	seq, err := r.j.AppendJournal(ctx, e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	rec.Seq, rec.PrevHash, rec.Hash = seq, e.PrevHash, e.Hash
	r.signalLate()
	return nil
}

// TruncatedByJournal replaces a result or arguments too large for the
// record cap. Head is the start of the original JSON text.
type TruncatedByJournal struct {
	TruncatedByJournal bool   `json:"truncated_by_journal"`
	OriginalBytes      int    `json:"original_bytes"`
	Head               string `json:"head"`
}

// encode marshals rec, replacing the result, then the arguments, then the
// tail of the error text, until the encoding fits the cap. rec itself is
// left as the caller made it.
func (r *Recorder) encode(rec *Record) ([]byte, error) {
	data, err := json.Marshal(rec)
	if err != nil || r.maxBytes <= 0 || len(data) <= r.maxBytes {
		return data, err
	}
	cp := *rec
	for _, field := range []*json.RawMessage{&cp.Result, &cp.Arguments, &cp.Detail} {
		if len(*field) == 0 {
			continue
		}
		orig := *field
		*field = nil
		base, err := json.Marshal(&cp)
		if err != nil {
			return nil, err
		}
		// Leave room for the marker's own fields; shrink the head until the
		// escaped encoding fits.
		room := r.maxBytes - len(base) - 96
		for room >= 0 {
			m, _ := json.Marshal(TruncatedByJournal{TruncatedByJournal: true, OriginalBytes: len(orig), Head: utf8Prefix(orig, room)})
			*field = m
			if data, err = json.Marshal(&cp); err != nil {
				return nil, err
			}
			if len(data) <= r.maxBytes {
				return data, nil
			}
			room -= len(data) - r.maxBytes + 16
		}
		m, _ := json.Marshal(TruncatedByJournal{TruncatedByJournal: true, OriginalBytes: len(orig)})
		*field = m
		if data, err = json.Marshal(&cp); err != nil {
			return nil, err
		}
		if len(data) <= r.maxBytes {
			return data, nil
		}
	}
	// Still too big: the free-text fields. Keep their starts.
	for _, s := range []*string{&cp.Error, &cp.Reason, &cp.Command} {
		if over := len(data) - r.maxBytes; over > 0 && len(*s) > 0 {
			*s = utf8Prefix([]byte(*s), max(0, len(*s)-over-64)) + " [truncated by journal]"
			if data, err = json.Marshal(&cp); err != nil {
				return nil, err
			}
		}
	}
	return data, nil
}

// utf8Prefix returns at most n bytes of b, cut at a rune boundary.
func utf8Prefix(b []byte, n int) string {
	if n >= len(b) {
		return string(b)
	}
	if n <= 0 {
		return ""
	}
	// Back up to the start of the rune that straddles the cut.
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n])
}

// Decode turns a stored entry back into a record.
func Decode(e *store.Entry) (*Record, error) {
	var rec Record
	if err := json.Unmarshal(e.Data, &rec); err != nil {
		return nil, fmt.Errorf("journal: record %d: %w", e.Seq, err)
	}
	rec.Seq, rec.PrevHash, rec.Hash = e.Seq, e.PrevHash, e.Hash
	return &rec, nil
}
