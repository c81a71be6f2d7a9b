package recorder

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strconv"
	"time"
)

// IntegrityStatus is what a running gateway knows about its journal's
// chain: health and readiness checks read it (Service.Integrity).
type IntegrityStatus struct {
	// OK is false from the moment a verification fails until an operator
	// acts; meanwhile no checkpoint is signed.
	OK bool `json:"ok"`
	// CheckedAt is the last verification (at start, each checkpoint
	// interval, at shutdown); FullyVerified says the whole chain (not only
	// what followed the last checkpoint) verified since this start.
	CheckedAt     time.Time `json:"checked_at"`
	FullyVerified bool      `json:"fully_verified"`
	// When failed: since when, how many problems, the first, and what the
	// operator should do.
	FailedAt time.Time `json:"failed_at,omitzero"`
	Problems int       `json:"problems,omitempty"`
	Problem  string    `json:"problem,omitempty"`
	Action   string    `json:"action,omitempty"`
}

// IntegrityAction tells an operator what to do about a failed chain.
const IntegrityAction = "run `airlock journal verify` to list the problems; restore the records from a backup and restart the gateway, " +
	"or, if they cannot be restored, record them with `airlock journal acknowledge --reason TEXT` (the gateway then signs again)"

// integrity is the service's latch; guarded by Service.mu.
type integrity struct {
	status   IntegrityStatus
	report   *Report
	failHead int64 // the head when the failure was found: an acknowledgement must come after it
}

// Integrity reports the journal's chain status.
func (s *Service) Integrity() IntegrityStatus {
	s.imu.Lock()
	defer s.imu.Unlock()
	return s.integ.status
}

func (s *Service) latched() bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	return !s.integ.status.OK
}

// failIntegrity latches a verification failure and says so loudly.
func (s *Service) failIntegrity(when string, rep *Report) {
	now := time.Now().UTC()
	head, _ := s.st.JournalLastSeq(context.Background())
	s.imu.Lock()
	st := &s.integ.status
	first := st.OK
	st.CheckedAt = now
	if first {
		st.OK, st.FailedAt, st.Action = false, now, IntegrityAction
		s.integ.failHead = head
	}
	s.integ.report = rep
	st.Problems = len(rep.Findings) + rep.Omitted
	if len(rep.Findings) > 0 {
		st.Problem = rep.Findings[0].String()
	}
	problem, n := st.Problem, st.Problems
	s.imu.Unlock()
	s.log.Error("JOURNAL INTEGRITY FAILURE: the journal fails verification; checkpoints are refused until an operator acts",
		"when", when, "problems", n, "first", problem, "action", IntegrityAction)
}

func (s *Service) passIntegrity(full bool) {
	s.imu.Lock()
	defer s.imu.Unlock()
	if s.integ.status.OK {
		s.integ.status.CheckedAt = time.Now().UTC()
		if full {
			s.integ.status.FullyVerified = true
		}
	}
}

// checkAcknowledged clears the latch when an operator's signed
// acknowledgement was journaled after the failure was found.
func (s *Service) checkAcknowledged(ctx context.Context) {
	if !s.latched() {
		return
	}
	v, err := s.st.JournalMeta(ctx, metaAcknowledged)
	if err != nil || v == "" {
		return
	}
	seq, _ := strconv.ParseInt(v, 10, 64)
	s.imu.Lock()
	after := s.integ.failHead
	s.imu.Unlock()
	if seq <= after {
		return
	}
	es, err := s.st.JournalAfter(ctx, seq-1, 1)
	if err != nil || len(es) == 0 || es[0].Seq != seq {
		return
	}
	a, err := decodeAcknowledgement(es[0].Data)
	if err != nil || a.Verify(s.key.Public().(ed25519.PublicKey)) != nil {
		s.log.Error("journal: an acknowledgement record does not carry a valid signature; ignored", "seq", seq)
		return
	}
	s.imu.Lock()
	s.integ.status = IntegrityStatus{OK: true, CheckedAt: time.Now().UTC()}
	s.imu.Unlock()
	s.log.Warn("journal: integrity failure acknowledged by an operator; signing checkpoints again",
		"seq", seq, "actor", a.Actor, "reason", a.Reason, "findings", len(a.Findings))
}

// verifyFull verifies the whole chain (in the background after start).
func (s *Service) verifyFull(ctx context.Context) {
	pub := s.key.Public().(ed25519.PublicKey)
	cps, err := StoredCheckpoints(ctx, s.st)
	if err != nil {
		s.log.Error("journal: full verification could not read the checkpoints", "err", err)
		return
	}
	rep, err := Verify(ctx, s.st, VerifyOptions{Checkpoints: trusted(cps, pub), Key: pub})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("journal: full verification could not read the journal", "err", err)
		}
		return
	}
	if !rep.OK() {
		s.failIntegrity("full verification at start", rep)
		return
	}
	s.passIntegrity(true)
	s.log.Info("journal: the whole chain verifies", "records", rep.Records, "checkpoints", rep.Checkpoints)
}

// checkpointIfMoved verifies what followed the last checkpoint (and counts
// what precedes it) on every round, whether the head moved or not, and
// signs the head when it moved and everything verified.
func (s *Service) checkpointIfMoved(ctx context.Context, when string) (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkAcknowledged(ctx)
	if s.latched() {
		s.imu.Lock()
		st, rep := s.integ.status, s.integ.report
		s.imu.Unlock()
		err := &IntegrityError{Report: rep}
		s.log.Error("journal: checkpoint refused: the journal failed verification and no operator has acted yet",
			"when", when, "failed_at", st.FailedAt, "problem", st.Problem, "action", IntegrityAction)
		return nil, err
	}
	pub := s.key.Public().(ed25519.PublicKey)
	rep, head, _, err := checkSince(ctx, s.st, pub, s.known)
	if errors.Is(err, ErrEmptyJournal) {
		s.passIntegrity(false)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		s.failIntegrity(when, rep)
		return nil, &IntegrityError{Report: rep}
	}
	s.passIntegrity(false)
	if head.Hash == s.lastHead {
		return nil, nil
	}
	c, err := makeCheckpoint(ctx, s.st, s.key, s.known, time.Now())
	var ie *IntegrityError
	if errors.As(err, &ie) {
		s.failIntegrity(when, ie.Report)
	}
	if err == nil {
		s.lastHead, s.known = c.Hash, c
	}
	return c, err
}

// checkStart verifies from the last checkpoint at start.
func (s *Service) checkStart(ctx context.Context) error {
	rep, _, _, err := checkSince(ctx, s.st, s.key.Public().(ed25519.PublicKey), nil)
	switch {
	case errors.Is(err, ErrEmptyJournal):
		return nil
	case err != nil:
		return err
	case !rep.OK():
		s.failIntegrity("start", rep)
	default:
		s.passIntegrity(false)
	}
	return nil
}
