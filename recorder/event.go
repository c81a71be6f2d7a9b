package recorder

import "context"

// Record types besides a call's started and finished records.
const (
	TypeGrant    = "grant"    // a grant request, issue, decision, revocation or expiry
	TypeApproval = "approval" // a per-call approval request, decision, use or expiry
)

// Event writes a record that is not part of a call (grant and approval
// events), durably, like every other record.
func (r *Recorder) Event(ctx context.Context, rec *Record) error {
	return r.write(ctx, rec)
}
