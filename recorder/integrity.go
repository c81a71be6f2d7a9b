package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/airlockhq/airlock/store"
)

// TypeIntegrity is the type of an acknowledgement record.
const TypeIntegrity = "integrity"

// EventAcknowledged is the Event of an acknowledgement record.
const EventAcknowledged = "acknowledged"

// metaAcknowledged holds the seq of the newest acknowledgement record, so
// running gateways notice it.
const metaAcknowledged = "integrity_acknowledged_seq"

// ErrIntegrity: the journal fails verification; no checkpoint is signed
// over it until an operator acts.
var ErrIntegrity = errors.New("journal: integrity failure")

// IntegrityError carries the verification report that failed.
type IntegrityError struct {
	Report *Report
}

func (e *IntegrityError) Error() string {
	n := len(e.Report.Findings) + e.Report.Omitted
	first := ""
	if len(e.Report.Findings) > 0 {
		first = "; first: " + e.Report.Findings[0].String()
	}
	return fmt.Sprintf("journal: refusing to sign a checkpoint: the journal fails verification (%d problem(s)%s). "+
		"Run `airlock journal verify` to list them; then restore the records from a backup and restart the gateway, "+
		"or, if they cannot be restored, record them with `airlock journal acknowledge --reason TEXT`", n, first)
}

// Is makes errors.Is(err, ErrIntegrity) hold.
func (e *IntegrityError) Is(target error) bool { return target == ErrIntegrity }

// Acknowledgement is an operator's signed statement that the listed
// findings are known damage (records lost for good): verification lists
// them as acknowledged instead of failing, and checkpoints are signed
// again. It is journaled as a TypeIntegrity record (Detail) and signed
// with the checkpoint key, so it cannot be forged by whoever can write the
// store but not read the key.
type Acknowledgement struct {
	Findings  []Finding `json:"findings"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"`
}

func (a *Acknowledgement) message() []byte {
	b, _ := json.Marshal(struct {
		Findings []Finding `json:"findings"`
		Reason   string    `json:"reason"`
		Actor    string    `json:"actor"`
		Time     string    `json:"time"`
		KeyID    string    `json:"key_id"`
	}{a.Findings, a.Reason, a.Actor, a.Time.UTC().Format(time.RFC3339Nano), a.KeyID})
	return append([]byte("airlock.journal.acknowledgement\n"), b...)
}

// Verify checks the signature against the trusted checkpoint key.
func (a *Acknowledgement) Verify(pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil || a.KeyID != KeyID(pub) || !ed25519.Verify(pub, a.message(), sig) {
		return errors.New("acknowledgement: bad signature, or signed by another key")
	}
	return nil
}

func decodeAcknowledgement(data []byte) (*Acknowledgement, error) {
	var r struct {
		Event  string          `json:"event"`
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(data, &r); err != nil || r.Event != EventAcknowledged {
		return nil, errors.New("not an acknowledgement")
	}
	var a Acknowledgement
	if err := json.Unmarshal(r.Detail, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ErrNothingToAcknowledge: the journal verifies.
var ErrNothingToAcknowledge = errors.New("journal: the chain verifies; nothing to acknowledge")

// Acknowledge records the findings of a full verification as known
// damage: it journals a signed acknowledgement naming them, reason and
// actor, then signs a checkpoint over the head, so the gateways sign
// again. It refuses when there is nothing to acknowledge, or when the
// findings are too many to list.
func Acknowledge(ctx context.Context, st store.Store, rec *Recorder, key ed25519.PrivateKey, reason, actor string, now time.Time) (*Report, *Checkpoint, error) {
	if reason == "" {
		return nil, nil, errors.New("journal: an acknowledgement needs a reason")
	}
	pub := key.Public().(ed25519.PublicKey)
	cps, err := StoredCheckpoints(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	rep, err := Verify(ctx, st, VerifyOptions{Checkpoints: cps, Key: pub})
	if err != nil {
		return nil, nil, err
	}
	if rep.OK() {
		return rep, nil, ErrNothingToAcknowledge
	}
	if rep.Omitted > 0 {
		return rep, nil, fmt.Errorf("journal: %d findings are too many to acknowledge one by one; restore the journal from a backup", len(rep.Findings)+rep.Omitted)
	}
	a := &Acknowledgement{Findings: rep.Findings, Reason: reason, Actor: actor, Time: now.UTC(), KeyID: KeyID(pub)}
	a.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, a.message()))
	detail, err := json.Marshal(a)
	if err != nil {
		return nil, nil, err
	}
	r := &Record{Type: TypeIntegrity, Event: EventAcknowledged, Actor: actor, Reason: reason, Detail: detail,
		CallID: "integrity-" + strconv.FormatInt(now.UnixNano(), 36)}
	if err := rec.Event(ctx, r); err != nil {
		return nil, nil, err
	}
	// Every finding must now be acknowledged, and nothing new found.
	after, err := Verify(ctx, st, VerifyOptions{Checkpoints: cps, Key: pub, To: r.Seq})
	if err != nil {
		return nil, nil, err
	}
	if !after.OK() {
		return after, nil, &IntegrityError{Report: after}
	}
	head, err := st.JournalAfter(ctx, r.Seq-1, 1)
	if err != nil {
		return nil, nil, err
	}
	if len(head) == 0 || head[0].Seq != r.Seq {
		return nil, nil, errors.New("journal: the acknowledgement record is gone")
	}
	_, holes, _, err := holesThrough(ctx, st, cps, r.Seq)
	if err != nil {
		return nil, nil, err
	}
	c := signCheckpoint(key, r.Seq, head[0].Hash, holes, now)
	if err := st.AddJournalCheckpoint(ctx, store.Checkpoint{Seq: c.Seq, Time: c.Time, Data: string(c.Marshal())}); err != nil {
		return nil, nil, err
	}
	if err := st.SetJournalMeta(ctx, metaAcknowledged, strconv.FormatInt(r.Seq, 10)); err != nil {
		return nil, nil, err
	}
	return rep, c, nil
}

// checkSince verifies the records from the newest trusted checkpoint
// (the stored ones, and known, a checkpoint the caller signed or saw) to
// the head, and counts the records at or before that checkpoint, which is
// cheap: a deletion anywhere below it changes the count. Edits below the
// checkpoint are the full verification's to find. It returns the head and
// the holes a checkpoint at the head would carry.
func checkSince(ctx context.Context, st store.Store, pub ed25519.PublicKey, known *Checkpoint) (*Report, store.Entry, int64, error) {
	head, err := st.JournalHead(ctx)
	if err != nil {
		return nil, head, 0, err
	}
	cps, err := StoredCheckpoints(ctx, st)
	if err != nil {
		return nil, head, 0, err
	}
	cps = trusted(cps, pub)
	if known != nil {
		cps = append(cps, known)
	}
	anchor := latestTrusted(cps, pub)
	rep := &Report{}
	add := func(seq int64, kind, format string, args ...any) {
		rep.Findings = append(rep.Findings, Finding{Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
	if head.Seq == 0 {
		if anchor != nil {
			add(1, FindingTruncated, "the journal is empty but the %s covers seq %d: every record was deleted", checkpointLabel(anchor), anchor.Seq)
			return rep, head, 0, nil
		}
		return rep, head, 0, ErrEmptyJournal
	}
	if anchor != nil && anchor.Seq > head.Seq {
		add(head.Seq+1, FindingTruncated, "the journal ends at seq %d but the %s covers seq %d: records %s are missing",
			head.Seq, checkpointLabel(anchor), anchor.Seq, span(head.Seq+1, anchor.Seq))
		return rep, head, 0, nil
	}
	o := VerifyOptions{Key: pub, To: head.Seq, Checkpoints: cps, Anchor: anchor}
	if rep, err = Verify(ctx, st, o); err != nil || !rep.OK() {
		return rep, head, 0, err
	}
	// Count what lies at or before the anchor (and the head).
	first, holes, baseHoles, err := holesThrough(ctx, st, cps, head.Seq)
	if err != nil {
		return nil, head, 0, err
	}
	if first > 1 && baseHoles < 0 {
		add(1, FindingMissing, "records %s are missing: the journal starts at seq %d and no checkpoint anchors it", span(1, first-1), first)
		return rep, head, 0, nil
	}
	if anchor != nil {
		_, n, err := st.JournalSpan(ctx, anchor.Seq)
		if err != nil {
			return nil, head, 0, err
		}
		if want := anchor.Seq - first + 1 - (anchor.Holes - baseHoles); n != want {
			add(first, FindingMissing, "%d record(s) between seq %d and seq %d (the %s) were deleted", want-n, first, anchor.Seq, checkpointLabel(anchor))
			return rep, head, 0, nil
		}
	}
	return rep, head, holes, nil
}

// holesThrough counts the seqs at or before through that have no record
// and no retention record for them: the gaps between the first record and
// through, plus the holes of the checkpoint the first record stands on
// after pruning (baseHoles; -1 when the journal starts after seq 1 and no
// checkpoint anchors its first record).
func holesThrough(ctx context.Context, st store.Store, cps []*Checkpoint, through int64) (first, holes, baseHoles int64, err error) {
	first, count, err := st.JournalSpan(ctx, through)
	if err != nil || count == 0 {
		return first, 0, 0, err
	}
	if first > 1 {
		baseHoles = -1
		for _, c := range cps {
			if c.Seq == first {
				baseHoles = max(baseHoles, c.Holes)
			}
		}
	}
	return first, through - first + 1 - count + max(baseHoles, 0), baseHoles, nil
}
