package recorder

import (
	"context"
	"errors"
)

// Record types besides a call's started and finished records.
const (
	TypeGrant    = "grant"    // a grant request, issue, decision, revocation or expiry
	TypeApproval = "approval" // a per-call approval request, decision, use or expiry
)

// ErrEventType is returned by Event for a record without a type, or with a
// call record's type (use Begin and Finish for those).
var ErrEventType = errors.New("journal: an event needs a type other than started/finished")

// Event writes a record that is not part of a call — a grant request, an
// approval, a revocation — with rec.Type saying which (TypeGrant,
// TypeApproval, ...). It is chained and durable like call records: when it
// returns nil the record is on disk; an error means it was not written.
func (r *Recorder) Event(ctx context.Context, rec *Record) error {
	if rec.Type == "" || rec.Type == Started || rec.Type == Finished {
		return ErrEventType
	}
	return r.write(ctx, rec)
}
