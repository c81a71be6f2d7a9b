package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/lograte"
	"github.com/airlockhq/airlock/store"
)

// Options configure the journal service (config: the journal section).
type Options struct {
	// Retention prunes records older than this behind a checkpoint; 0
	// keeps everything.
	Retention time.Duration
	// CheckpointInterval is how often a checkpoint anchors the head (and
	// retention and recovery of dead peers' calls run).
	CheckpointInterval time.Duration
	// KeyFile holds the Ed25519 checkpoint key, created on first use.
	KeyFile string
	// DigestKeyFile holds the HMAC key of argument and approval digests,
	// created on first use (see DigestKey). Default: journal-digest.key
	// beside KeyFile.
	DigestKeyFile string
	// MaxRecordBytes caps one record (0: DefaultMaxRecordBytes).
	MaxRecordBytes int
	// Journal overrides the store as the sink records are written to
	// (fault injection in tests).
	Journal Journal
	Logger  *slog.Logger
}

// Service is the journal of one running gateway: its recorder, the
// instance lock that tells peers it is alive, and the background loop
// that checkpoints, prunes, and closes calls dead peers left open.
type Service struct {
	st     store.Store
	rec    *Recorder
	key    ed25519.PrivateKey
	digest DigestKey
	inst   *store.Instance
	o      Options
	log    *slog.Logger
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // serialises maintenance (loop, Close)
	// deadSince is when each peer instance was first seen gone (shared
	// stores; guarded by mu).
	deadSince map[string]time.Time
	logLimit  *lograte.Limiter
	lastHead  string
	// known is the newest checkpoint this process signed: verification
	// starts from it even if the stored copy is deleted.
	known *Checkpoint
	imu   sync.Mutex // guards integ
	integ integrity
}

// Start opens the journal for a gateway: it registers the instance,
// loads (or creates) the checkpoint key, writes an "unknown" outcome for
// every call a dead gateway left started, and starts the background loop.
// Call it before serving; Close it before closing the store.
func Start(ctx context.Context, st store.Store, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 5 * time.Minute
	}
	key, err := LoadOrCreateKey(o.KeyFile)
	if err != nil {
		return nil, err
	}
	if o.DigestKeyFile == "" {
		o.DigestKeyFile = filepath.Join(filepath.Dir(o.KeyFile), "journal-digest.key")
	}
	digest, err := LoadOrCreateDigestKey(o.DigestKeyFile)
	if err != nil {
		return nil, err
	}
	inst, err := st.AcquireInstance()
	if err != nil {
		return nil, err
	}
	sink := o.Journal
	if sink == nil {
		sink = st
	}
	s := &Service{st: st, key: key, digest: digest, inst: inst, o: o, log: o.Logger, logLimit: lograte.New(o.Logger, lograte.DefaultInterval),
		rec: New(sink, WithMaxRecordBytes(o.MaxRecordBytes), WithInstance(inst.ID))}
	s.integ.status = IntegrityStatus{OK: true}
	// Verify what followed the last checkpoint before serving (cheap), and
	// the whole chain in the background. A failure does not stop the
	// gateway — calls are still journaled — but it is logged loudly,
	// exposed by Integrity, and no checkpoint is signed over it.
	if err := s.checkStart(ctx); err != nil {
		inst.Release()
		return nil, err
	}
	if n, err := s.Recover(ctx); err != nil {
		inst.Release()
		return nil, err
	} else if n > 0 {
		s.log.Warn("journal: calls left open by a stopped gateway recorded with outcome unknown", "calls", n)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.wg.Add(3)
	go s.loop(bg)
	go s.lateLoop(bg)
	go func() { defer s.wg.Done(); s.verifyFull(bg) }()
	return s, nil
}

// Recorder returns the recorder calls are journaled with.
func (s *Service) Recorder() *Recorder { return s.rec }

// DigestKey is the key of argument and approval digests. Never log it.
func (s *Service) DigestKey() DigestKey { return s.digest }

// Instance is this gateway's instance id, stamped on its records.
func (s *Service) Instance() string { return s.inst.ID }

// Close stops the loop, anchors the head with a last checkpoint, and
// releases the instance. Drain calls first.
func (s *Service) Close() error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.wg.Wait()
	s.stop = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.flushLate(ctx)
	s.logLimit.Close()
	var err error
	if _, cerr := s.checkpointIfMoved(ctx, "shutdown"); cerr != nil && !errors.Is(cerr, ErrEmptyJournal) {
		s.log.Error("journal: no checkpoint signed at shutdown", "err", cerr)
		err = cerr
	}
	return errors.Join(err, s.inst.Release())
}

// lateRetry is how often finished records that failed are retried while
// the journal refuses writes.
const lateRetry = time.Second

// lateLoop writes the finished records that failed when their calls
// ended, as soon as the journal takes writes again: on the next
// successful write, or the next retry.
func (s *Service) lateLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(lateRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.rec.lateWake():
		}
		s.flushLate(ctx)
	}
}

func (s *Service) flushLate(ctx context.Context) {
	if s.rec.LatePending() == 0 {
		return
	}
	// Under the lock Recover holds: a peer closing this replica's calls
	// as unknown (it lost its instance lock with the store) and this
	// replica writing their finished records never both happen.
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.st.(recoveryLocker); ok {
		unlock, err := l.LockRecovery(ctx)
		if err != nil {
			s.logLimit.Error("journal.late", "journal: finished records still cannot be written; retrying", "pending", s.rec.LatePending(), "err", err)
			return
		}
		defer unlock()
	}
	n, err := s.rec.FlushLateSkipping(ctx, s.skipLate)
	if n > 0 {
		s.log.Warn("journal: finished records that failed when their calls ended were written late", "records", n)
	}
	if err != nil {
		s.logLimit.Error("journal.late", "journal: finished records still cannot be written; retrying", "pending", s.rec.LatePending(), "err", err)
	}
}

func (s *Service) loop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.o.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Tick(ctx)
		}
	}
}

// Tick runs one round of maintenance: close calls of dead peers,
// checkpoint a moved head, apply retention. Errors are logged: the loop
// must go on, and calls are protected by Begin failing, not by this.
func (s *Service) Tick(ctx context.Context) {
	if n, err := s.Recover(ctx); err != nil {
		s.log.Error("journal: recovery failed", "err", err)
	} else if n > 0 {
		s.log.Warn("journal: calls left open by a stopped gateway recorded with outcome unknown", "calls", n)
	}
	if _, err := s.checkpointIfMoved(ctx, "checkpoint interval"); err != nil && !errors.Is(err, ErrEmptyJournal) && !errors.Is(err, ErrIntegrity) {
		s.log.Error("journal: checkpoint failed", "err", err)
	}
	if s.o.Retention > 0 {
		if n, err := Prune(ctx, s.st, s.rec, s.key, s.o.Retention, time.Now()); err != nil {
			s.log.Error("journal: retention failed", "err", err)
		} else if n > 0 {
			s.log.Info("journal: retention pruned records", "records", n)
		}
	}
}

const metaRecoveredFrom = "recovered_from_seq"

// deadGrace is how long an instance of a shared store must be seen gone
// before its open calls are closed as unknown: a live replica that lost
// the store takes its instance lock again within seconds of its return,
// and its calls must not be closed under it.
const deadGrace = 10 * time.Second

// deadLongEnough records when instance was first seen gone and reports
// whether that was deadGrace ago. Callers hold s.mu.
func (s *Service) deadLongEnough(instance string, now time.Time) bool {
	if s.deadSince == nil {
		s.deadSince = map[string]time.Time{}
	}
	first, ok := s.deadSince[instance]
	if !ok {
		s.deadSince[instance] = now
		return false
	}
	return now.Sub(first) >= deadGrace
}

// skipLate reports whether the late finished record for callID is to
// be dropped: the journal already holds a finished record for it (a peer
// closed it as unknown meanwhile), or, for a refused call (RefusedLater:
// its started record's write failed), holds no started record (it never
// landed; the call never ran and there is nothing to close). A call that
// ran keeps its late record even when retention has pruned its started
// record meanwhile.
func (s *Service) skipLate(ctx context.Context, callID string, refused bool) (bool, error) {
	entries, err := s.st.JournalCall(ctx, callID)
	if err != nil {
		return false, err
	}
	started := false
	for _, e := range entries {
		switch e.Type {
		case Finished:
			s.log.Warn("journal: a call closed as unknown by a peer while its finished record waited; the late record is dropped", "call_id", callID)
			return true, nil
		case Started:
			started = true
		}
	}
	return refused && !started, nil
}

// recoveryLocker is a store shared by replicas (PostgreSQL): Recover
// holds its lock, so two replicas never both close one dead call.
type recoveryLocker interface {
	LockRecovery(ctx context.Context) (unlock func(), err error)
}

// Recover writes a finished record with outcome "unknown" for every call
// whose started record has no finished record and whose gateway is no
// longer running. It returns how many it closed. Calls of live gateways
// (this one included) are left alone; nothing is retried.
func (s *Service) Recover(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, shared := s.st.(recoveryLocker)
	if shared {
		unlock, err := l.LockRecovery(ctx)
		if err != nil {
			return 0, err
		}
		defer unlock()
	}
	now := time.Now()
	from := int64(0)
	if v, err := s.st.JournalMeta(ctx, metaRecoveredFrom); err != nil {
		return 0, err
	} else if v != "" {
		from, _ = strconv.ParseInt(v, 10, 64)
	}
	// Read the head first: anything started later has a higher seq, so
	// the watermark set below never skips it.
	head, err := s.st.JournalHead(ctx)
	if err != nil {
		return 0, err
	}
	open, err := s.st.JournalOpenCalls(ctx, from)
	if err != nil {
		return 0, err
	}
	watermark, n := head.Seq+1, 0
	for i := range open {
		e := &open[i]
		rec, err := Decode(e)
		if err != nil {
			rec = &Record{CallID: e.CallID} // still close it
		}
		alive := rec.Instance == s.inst.ID
		if !alive {
			if alive, err = s.st.InstanceAlive(rec.Instance); err != nil {
				return n, err
			}
			if alive {
				delete(s.deadSince, rec.Instance) // back: a later loss starts a new grace
			}
		}
		if !alive && shared && !s.deadLongEnough(rec.Instance, now) {
			// A replica cut off from the store loses its instance lock
			// until it takes it again (a second or two after the store
			// returns): only one seen gone for deadGrace is dead.
			alive = true
		}
		if alive {
			watermark = min(watermark, e.Seq)
			continue
		}
		detail, _ := json.Marshal(map[string]any{"started_seq": e.Seq, "instance": rec.Instance})
		unknown := &Record{
			CallID: rec.CallID, Principal: rec.Principal, Transport: rec.Transport, Session: rec.Session,
			Tool: rec.Tool, Arguments: rec.Arguments, ArgumentsDigest: rec.ArgumentsDigest,
			Outcome: OutcomeUnknown, Detail: detail,
			Error: "the gateway stopped before this call finished; whether it ran is unknown, and it was not retried",
		}
		if err := s.rec.Finish(ctx, unknown); err != nil {
			return n, err
		}
		n++
	}
	if err := s.st.SetJournalMeta(ctx, metaRecoveredFrom, strconv.FormatInt(watermark, 10)); err != nil {
		return n, err
	}
	return n, nil
}

// ErrEmptyJournal: there is nothing to checkpoint.
var ErrEmptyJournal = errors.New("journal: empty, nothing to checkpoint")

// StoredCheckpoints parses the checkpoints kept in the store. A stored
// checkpoint that does not parse is returned as an error naming it.
func StoredCheckpoints(ctx context.Context, st store.Store) ([]*Checkpoint, error) {
	rows, err := st.JournalCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Checkpoint, 0, len(rows))
	for _, r := range rows {
		c, err := ParseCheckpoint([]byte(r.Data))
		if err != nil {
			return nil, fmt.Errorf("stored checkpoint for seq %d: %w", r.Seq, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// trusted keeps the checkpoints signed by pub: maintenance only relies on
// its own signatures (a rotated key's checkpoints are the auditor's to
// judge, with verify --public-key).
func trusted(cps []*Checkpoint, pub ed25519.PublicKey) []*Checkpoint {
	var out []*Checkpoint
	for _, c := range cps {
		if c.Verify(pub) == nil {
			out = append(out, c)
		}
	}
	return out
}

// latestTrusted returns the newest stored checkpoint signed by pub.
func latestTrusted(cps []*Checkpoint, pub ed25519.PublicKey) *Checkpoint {
	var latest *Checkpoint
	for _, c := range cps {
		if c.Verify(pub) == nil && (latest == nil || c.Seq > latest.Seq) {
			latest = c
		}
	}
	return latest
}

// MakeCheckpoint verifies the records written since the last trusted
// checkpoint (all of them, the first time), counts the records before it
// (a deletion there changes the count), and signs the head. It refuses to
// sign a journal that fails verification — a checkpoint must never
// launder tampering — with an *IntegrityError. The checkpoint is stored
// and returned.
func MakeCheckpoint(ctx context.Context, st store.Store, key ed25519.PrivateKey, now time.Time) (*Checkpoint, error) {
	return makeCheckpoint(ctx, st, key, nil, now)
}

func makeCheckpoint(ctx context.Context, st store.Store, key ed25519.PrivateKey, known *Checkpoint, now time.Time) (*Checkpoint, error) {
	pub := key.Public().(ed25519.PublicKey)
	rep, head, holes, err := checkSince(ctx, st, pub, known)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return nil, &IntegrityError{Report: rep}
	}
	c := signCheckpoint(key, head.Seq, head.Hash, holes, now)
	if err := st.AddJournalCheckpoint(ctx, store.Checkpoint{Seq: c.Seq, Time: c.Time, Data: string(c.Marshal())}); err != nil {
		return nil, err
	}
	return c, nil
}

// Prune applies retention: it finds the newest trusted checkpoint older
// than now-retention, verifies every record up to it, writes a Pruned
// record saying what goes, and deletes the records before the
// checkpoint's seq. The checkpointed record stays as the new first
// record, so the chain still verifies from it. It returns how many
// records it deleted.
func Prune(ctx context.Context, st store.Store, rec *Recorder, key ed25519.PrivateKey, retention time.Duration, now time.Time) (int64, error) {
	if retention <= 0 {
		return 0, nil
	}
	pub := key.Public().(ed25519.PublicKey)
	cps, err := StoredCheckpoints(ctx, st)
	if err != nil {
		return 0, err
	}
	cps = trusted(cps, pub)
	cutoff := now.Add(-retention)
	var anchor *Checkpoint
	for _, c := range cps {
		if c.Time.Before(cutoff) && c.Verify(pub) == nil && (anchor == nil || c.Seq > anchor.Seq) {
			anchor = c
		}
	}
	first, err := st.JournalAfter(ctx, 0, 1)
	if err != nil || anchor == nil || len(first) == 0 || first[0].Seq >= anchor.Seq {
		return 0, err
	}
	// Never delete evidence: everything about to go must verify.
	rep, err := Verify(ctx, st, VerifyOptions{Key: pub, Checkpoints: cps, To: anchor.Seq})
	if err != nil {
		return 0, err
	}
	if !rep.OK() {
		return 0, fmt.Errorf("journal: retention refused: the records to prune fail verification (%d problem(s), first: %s)",
			len(rep.Findings)+rep.Omitted, rep.Findings[0])
	}
	detail, _ := json.Marshal(PruneDetail{BeforeSeq: anchor.Seq, Records: anchor.Seq - first[0].Seq,
		Retention: retention.String(), CheckpointTime: anchor.Time.Format(time.RFC3339Nano)})
	if err := rec.Event(ctx, &Record{Type: Pruned, Detail: detail,
		Reason: fmt.Sprintf("retention %s: records before seq %d, anchored by the %s", retention, anchor.Seq, checkpointLabel(anchor))}); err != nil {
		return 0, err
	}
	return st.JournalPrune(ctx, anchor.Seq, anchor.Hash)
}
