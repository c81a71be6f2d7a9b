package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/airlockhq/airlock/store"
)

// Reader reads the journal in seq order.
type Reader interface {
	JournalAfter(ctx context.Context, after int64, limit int) ([]store.Entry, error)
}

var (
	_ Reader = (*store.SQLite)(nil)
	_ Reader = (*store.Postgres)(nil)
)

// Kinds of verification finding.
const (
	FindingAltered    = "altered"    // a record's contents do not match its hash
	FindingChain      = "chain"      // a record does not link to the one before it
	FindingMissing    = "missing"    // records were deleted
	FindingInserted   = "inserted"   // records were inserted and later ones renumbered
	FindingReordered  = "reordered"  // records were moved to other positions
	FindingTruncated  = "truncated"  // the tail is shorter than a checkpoint says
	FindingCheckpoint = "checkpoint" // a checkpoint is invalid or disagrees with the journal
)

// Finding is one problem the verifier found, located by seq.
type Finding struct {
	Seq     int64  `json:"seq"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (f Finding) String() string { return fmt.Sprintf("seq %d: %s: %s", f.Seq, f.Kind, f.Message) }

// Report is the result of a verification.
type Report struct {
	First, Last int64 // seq range present (0, 0: empty)
	Records     int64
	// Checkpoints counts valid, trusted checkpoints; Latest is the newest.
	Checkpoints int
	Latest      *Checkpoint
	// PrunedBefore: records before this seq were removed by retention.
	PrunedBefore int64
	Findings     []Finding
	Omitted      int // findings beyond maxFindings, not listed
	// Acknowledged are findings an operator recorded with a signed
	// acknowledgement (`airlock journal acknowledge`): they are known
	// damage, listed but no longer failures.
	Acknowledged []Finding
}

// OK reports whether nothing was found.
func (r *Report) OK() bool { return len(r.Findings) == 0 && r.Omitted == 0 }

// VerifyOptions say what to trust.
type VerifyOptions struct {
	// Checkpoints from the store and from any file the auditor keeps.
	Checkpoints []*Checkpoint
	// Key is the trusted checkpoint signer. Checkpoints signed by another
	// key are findings. Nil trusts each checkpoint's own key (only useful
	// for tests and for self-consistency).
	Key ed25519.PublicKey

	// Anchor starts verification at a trusted checkpoint instead of the
	// first record; To stops after that seq. Either makes the run partial:
	// tail truncation and pruning accounts are not checked.
	Anchor *Checkpoint
	To     int64
}

// PruneDetail is the Detail of a Pruned record.
type PruneDetail struct {
	BeforeSeq      int64  `json:"before_seq"`
	Records        int64  `json:"records"`
	Retention      string `json:"retention"`
	CheckpointTime string `json:"checkpoint_time"`
}

const (
	maxFindings = 1000
	// moveWindow is how far from its position a record's original seq is
	// searched for when its hash does not match.
	moveWindow = 64
	pageSize   = 1000
)

// Verify walks the journal and reports every break in the chain:
//
//   - a record whose contents no longer match its hash (altered);
//   - a record that does not link to its predecessor (one of them was
//     rewritten with a recomputed hash, or inserted);
//   - gaps in seq (deleted), records whose hash matches another seq
//     (reordered, or renumbered after an insert or delete);
//   - a journal that starts after seq 1 without a checkpoint anchoring
//     its first record and a retention record accounting for the rest;
//   - a record disagreeing with a signed checkpoint, and a tail that ends
//     before the latest checkpoint (truncated).
//
// The error is for failures to read, never for findings.
//
// The journal is read a page at a time, each page its own snapshot: a
// retention prune (another process's, or a replica's) may delete records
// past the page the walk stands on. A gap between two pages is checked
// against the journal's first record: if the walk's own first record is
// gone meanwhile, the walk raced a prune, and starts over on the journal
// as it now is (at most maxRestarts times; then the gap is reported).
func Verify(ctx context.Context, src Reader, o VerifyOptions) (*Report, error) {
	for restarts := 0; ; restarts++ {
		rep, raced, err := verifyOnce(ctx, src, o, restarts < maxRestarts)
		if err != nil || !raced {
			return rep, err
		}
	}
}

// maxRestarts bounds how often one verification starts over after racing
// a prune.
const maxRestarts = 3

func verifyOnce(ctx context.Context, src Reader, o VerifyOptions, mayRestart bool) (rep *Report, raced bool, err error) {
	v := &verifier{o: o, rep: &Report{}, cps: map[int64][]*Checkpoint{}}
	v.loadCheckpoints()
	after := int64(0)
	if o.Anchor != nil {
		after = o.Anchor.Seq - 1
	}
	for {
		page, err := src.JournalAfter(ctx, after, pageSize)
		if err != nil {
			return nil, false, err
		}
		if len(page) > 0 && v.prev != nil && page[0].Seq != v.prev.seq+1 && mayRestart {
			if raced, err := prunedSince(ctx, src, v.rep.First); err != nil || raced {
				return nil, raced, err
			}
		}
		for i := range page {
			e := &page[i]
			if o.To > 0 && e.Seq > o.To {
				v.finish()
				return v.rep, false, nil
			}
			v.step(e)
			after = e.Seq
		}
		if len(page) < pageSize {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
	v.finish()
	return v.rep, false, nil
}

// prunedSince reports whether the record at seq first, where the walk
// started, has been deleted since (the journal now starts after it).
func prunedSince(ctx context.Context, src Reader, first int64) (bool, error) {
	head, err := src.JournalAfter(ctx, 0, 1)
	if err != nil {
		return false, err
	}
	return len(head) == 0 || head[0].Seq > first, nil
}

type link struct {
	seq     int64
	hash    string
	flagged bool // already reported: don't blame its successor's link
}

type moveRun struct {
	start, end int64
	delta      int64 // original seq = position + delta
}

type verifier struct {
	o         VerifyOptions
	rep       *Report
	cps       map[int64][]*Checkpoint
	latest    *Checkpoint
	prev      *link
	runs      []moveRun
	needPrune int64 // first seq when the journal starts after 1
	pruned    int64 // highest before_seq of a Pruned record
	acked     map[Finding]bool
}

func (v *verifier) add(seq int64, kind, format string, args ...any) {
	if len(v.rep.Findings) >= maxFindings {
		v.rep.Omitted++
		return
	}
	v.rep.Findings = append(v.rep.Findings, Finding{Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

func (v *verifier) partial() bool { return v.o.Anchor != nil || v.o.To > 0 }

func (v *verifier) loadCheckpoints() {
	seen := map[string]bool{}
	for _, c := range v.o.Checkpoints {
		if seen[c.Signature] {
			continue
		}
		seen[c.Signature] = true
		if err := c.Verify(v.o.Key); err != nil {
			v.add(c.Seq, FindingCheckpoint, "%s is not valid: %v", checkpointLabel(c), err)
			continue
		}
		v.cps[c.Seq] = append(v.cps[c.Seq], c)
		v.rep.Checkpoints++
		if v.latest == nil || c.Seq > v.latest.Seq || c.Seq == v.latest.Seq && c.Time.After(v.latest.Time) {
			v.latest = c
		}
	}
	v.rep.Latest = v.latest
}

func (v *verifier) step(e *store.Entry) {
	v.rep.Records++
	if v.rep.First == 0 {
		v.rep.First = e.Seq
	}
	v.rep.Last = e.Seq
	selfOK := store.ChainHash(e) == e.Hash
	flagged := !selfOK

	if v.prev == nil {
		v.first(e, selfOK)
	} else if e.Seq != v.prev.seq+1 {
		v.flushRuns()
		v.add(v.prev.seq+1, FindingMissing, "records %s are missing (deleted)", span(v.prev.seq+1, e.Seq-1))
	} else if selfOK && e.PrevHash != v.prev.hash && !v.prev.flagged {
		v.flushRuns()
		v.add(e.Seq, FindingChain, "does not link to seq %d: seq %d was rewritten (its hash recomputed), or seq %d was inserted",
			v.prev.seq, v.prev.seq, e.Seq)
		flagged = true
	}
	if selfOK {
		v.flushRuns()
	} else {
		v.mismatch(e)
	}
	if !flagged {
		for _, c := range v.cps[e.Seq] {
			if c.Hash != e.Hash {
				v.add(e.Seq, FindingCheckpoint, "differs from the signed %s: records at or before seq %d were rewritten", checkpointLabel(c), e.Seq)
				break
			}
		}
	}
	if e.Type == TypeIntegrity && selfOK && v.o.Key != nil {
		if a, err := decodeAcknowledgement(e.Data); err == nil && a.Verify(v.o.Key) == nil {
			if v.acked == nil {
				v.acked = map[Finding]bool{}
			}
			for _, f := range a.Findings {
				v.acked[f] = true
			}
		}
	}
	if e.Type == Pruned && selfOK {
		var r struct {
			Detail PruneDetail `json:"detail"`
		}
		if json.Unmarshal(e.Data, &r) == nil && r.Detail.BeforeSeq > v.pruned {
			v.pruned = r.Detail.BeforeSeq
		}
	}
	v.prev = &link{seq: e.Seq, hash: e.Hash, flagged: flagged}
}

// first checks where the walk starts: the genesis record, the anchor the
// caller gave, or a record anchored by a checkpoint after pruning.
func (v *verifier) first(e *store.Entry, selfOK bool) {
	if a := v.o.Anchor; a != nil {
		if e.Seq != a.Seq || e.Hash != a.Hash {
			v.add(a.Seq, FindingCheckpoint, "the record at seq %d is not the one the %s signed", a.Seq, checkpointLabel(a))
		}
		return
	}
	if e.Seq == 1 {
		if e.PrevHash != store.GenesisHash && selfOK {
			v.add(1, FindingChain, "the first record does not start a chain (prev_hash is not the genesis hash)")
		}
		return
	}
	for _, c := range v.cps[e.Seq] {
		if c.Hash == e.Hash && selfOK {
			v.needPrune = e.Seq
			v.rep.PrunedBefore = e.Seq
			return
		}
	}
	v.add(1, FindingMissing, "records %s are missing: the journal starts at seq %d and no checkpoint anchors it", span(1, e.Seq-1), e.Seq)
}

// mismatch explains a record whose hash does not match its contents:
// written at another seq (moved), or edited.
func (v *verifier) mismatch(e *store.Entry) {
	moved := *e
	for d := int64(1); d <= moveWindow; d++ {
		for _, delta := range []int64{d, -d} {
			moved.Seq = e.Seq + delta
			if moved.Seq <= 0 || store.ChainHash(&moved) != e.Hash {
				continue
			}
			if n := len(v.runs); n > 0 && v.runs[n-1].delta == delta && v.runs[n-1].end == e.Seq-1 {
				v.runs[n-1].end = e.Seq
			} else {
				v.runs = append(v.runs, moveRun{start: e.Seq, end: e.Seq, delta: delta})
			}
			return
		}
	}
	v.flushRuns()
	v.add(e.Seq, FindingAltered, "contents do not match the record's hash (edited, or forged)")
}

// flushRuns reports the pending runs of moved records. Two adjacent runs
// moved in opposite directions are a swap; a run reaching the end of the
// journal is the rest of it renumbered after an insert (moved up) or a
// delete (moved down); anything else is a record moved.
func (v *verifier) flushRuns() { v.flush(false) }

func (v *verifier) flush(atEnd bool) {
	runs := v.runs
	v.runs = nil
	for i := 0; i < len(runs); i++ {
		r := runs[i]
		if i+1 < len(runs) && runs[i+1].start == r.end+1 && r.delta > 0 && runs[i+1].delta < 0 {
			n := runs[i+1]
			v.add(r.start, FindingReordered, "records %s and %s have swapped places (the record at seq %d was written as seq %d)",
				span(r.start, r.end), span(n.start, n.end), r.start, r.start+r.delta)
			i++
			continue
		}
		last := atEnd && i == len(runs)-1
		switch {
		case last && r.delta < 0:
			v.add(r.start+r.delta, FindingInserted, "%d record(s) inserted at seq %s: records %s were written %d place(s) earlier",
				-r.delta, span(r.start+r.delta, r.start-1), span(r.start, r.end), -r.delta)
		case last && r.delta > 0:
			v.add(r.start, FindingMissing, "%d record(s) deleted before seq %d and the later ones renumbered: records %s were written as %s",
				r.delta, r.start, span(r.start, r.end), span(r.start+r.delta, r.end+r.delta))
		default:
			v.add(r.start, FindingReordered, "records %s were written as seq %s (moved)", span(r.start, r.end), span(r.start+r.delta, r.end+r.delta))
		}
	}
}

func (v *verifier) finish() {
	v.flush(true)
	if !v.partial() {
		v.finishFull()
	}
	if len(v.acked) > 0 {
		kept := v.rep.Findings[:0]
		for _, f := range v.rep.Findings {
			if v.acked[f] {
				v.rep.Acknowledged = append(v.rep.Acknowledged, f)
			} else {
				kept = append(kept, f)
			}
		}
		v.rep.Findings = kept
	}
}

func (v *verifier) finishFull() {
	if v.needPrune > 0 && v.pruned < v.needPrune {
		v.add(1, FindingMissing, "records %s are missing and no retention record accounts for them", span(1, v.needPrune-1))
	}
	if c := v.latest; c != nil && c.Seq > v.rep.Last {
		from := v.rep.Last + 1
		v.add(from, FindingTruncated, "the journal ends at seq %d but the %s covers seq %d: records %s are missing",
			v.rep.Last, checkpointLabel(c), c.Seq, span(from, c.Seq))
	}
}

func span(a, b int64) string {
	if a == b {
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d..%d", a, b)
}
