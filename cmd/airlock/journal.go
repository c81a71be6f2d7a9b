package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

const journalUsage = `usage: airlock journal COMMAND [--config F] ...

  tail [-n N] [-f]                      print records as JSON lines (-f: keep following)
  show CALL_ID [--json]                 a call's (or grant/approval request's) records
  search [filters] [--json]             calls and events matching every filter given
  replay (--session ID | --subject S) [--since T] [--until T]
                                        a session as the agent experienced it
  export --format jsonl|ocsf [--after SEQ] [filters]
                                        records for a SIEM (see README, "The journal")
  verify [--checkpoints FILE] [--public-key KEY]
                                        check the hash chain and checkpoints; exit 1 on any finding
  checkpoint [--append-to FILE]         sign the head now; print it (and append it to FILE);
                                        refused (exit 1) while the journal fails verification
  acknowledge --reason TEXT [--actor NAME]
                                        record the findings of verify as known damage (records
                                        that cannot be restored), so checkpoints are signed again
  prune                                 apply journal.retention now

filters: --subject --agent --session --connection --tool --outcome --decision --type
         --since --until (RFC 3339, a date, or an age such as 24h or 7d)`

func cmdJournal(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError(journalUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "tail":
		return cmdJournalTail(ctx, rest, stdout)
	case "show":
		return cmdJournalShow(ctx, rest, stdout)
	case "search":
		return cmdJournalSearch(ctx, rest, stdout)
	case "replay":
		return cmdJournalReplay(ctx, rest, stdout)
	case "export":
		return cmdJournalExport(ctx, rest, stdout)
	case "verify":
		return cmdJournalVerify(ctx, rest, stdout)
	case "checkpoint":
		return cmdJournalCheckpoint(ctx, rest, stdout)
	case "prune":
		return cmdJournalPrune(ctx, rest, stdout)
	case "acknowledge":
		return cmdJournalAcknowledge(ctx, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, journalUsage)
		return nil
	}
	return usageError(fmt.Sprintf("airlock journal: unknown command %q\n%s", sub, journalUsage))
}

// openJournal loads the config and opens its store.
func openJournal(ctx context.Context, cfgPath string) (*config.Config, store.Store, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	dsn, err := cfg.StoreDSN()
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

func cmdJournalTail(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal tail")
	n := fs.Int("n", 20, "print the last N records (0: all)")
	follow := fs.Bool("f", false, "keep printing new records as they are written")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	after := int64(0)
	if *n > 0 {
		last, err := st.JournalLastSeq(ctx)
		if err != nil {
			return err
		}
		after = max(0, last-int64(*n))
	}
	enc := json.NewEncoder(stdout)
	for {
		err := recorder.Scan(ctx, st, after, func(r *recorder.Record) error {
			after = r.Seq
			return enc.Encode(r)
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !*follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func cmdJournalShow(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal show")
	asJSON := fs.Bool("json", false, "one JSON object per line instead of indented JSON")
	id, args := leadingArg(args)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if id == "" {
		return usageError("usage: airlock journal show CALL_ID [--json]")
	}
	_, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := st.JournalCall(ctx, id)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("no journal records for %q", id)
	}
	for i := range entries {
		r, err := recorder.Decode(&entries[i])
		if err != nil {
			return err
		}
		var b []byte
		if *asJSON {
			b, err = json.Marshal(r)
		} else {
			b, err = json.MarshalIndent(r, "", "  ")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return nil
}

// leadingArg splits off a positional argument given before the flags.
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// filterFlags registers the search filters on fs.
func filterFlags(fs *flag.FlagSet) func() (recorder.Filter, error) {
	var f recorder.Filter
	fs.StringVar(&f.Subject, "subject", "", "the caller's subject")
	fs.StringVar(&f.Agent, "agent", "", "the agent (token azp)")
	fs.StringVar(&f.Session, "session", "", "the MCP session id")
	fs.StringVar(&f.Connection, "connection", "", "connection name")
	fs.StringVar(&f.Tool, "tool", "", "tool name")
	fs.StringVar(&f.Outcome, "outcome", "", "ok, denied, invalid, error, pending or unknown")
	fs.StringVar(&f.Decision, "decision", "", "allow, deny or approve")
	fs.StringVar(&f.Type, "type", "", "call, or an event type (grant, approval, pruned)")
	since := fs.String("since", "", "from this time (RFC 3339, a date, or an age such as 24h or 7d)")
	until := fs.String("until", "", "before this time")
	return func() (recorder.Filter, error) {
		var err error
		now := time.Now()
		if f.Since, err = parseWhen(*since, now); err != nil {
			return f, usageError("--since: " + err.Error())
		}
		if f.Until, err = parseWhen(*until, now); err != nil {
			return f, usageError("--until: " + err.Error())
		}
		return f, nil
	}
}

// parseWhen accepts RFC 3339, a date (UTC), or an age before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(-d.Std()), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339, YYYY-MM-DD, or an age such as 24h or 7d)", s)
}

func cmdJournalSearch(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal search")
	filter := filterFlags(fs)
	asJSON := fs.Bool("json", false, "print each match's record as a JSON line")
	limit := fs.Int("limit", 0, "stop after N matches (0: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	_, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(stdout)
	n := 0
	errLimit := errors.New("limit")
	err = recorder.Items(ctx, st, 0, func(it *recorder.Item) error {
		if !f.Match(it) {
			return nil
		}
		if *limit > 0 && n >= *limit {
			return errLimit
		}
		n++
		if *asJSON {
			return enc.Encode(it.Record())
		}
		fmt.Fprintln(stdout, summary(it))
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "%d match(es)\n", n)
	}
	return nil
}

// summary is one line per call or event.
func summary(it *recorder.Item) string {
	r := it.Record()
	subject := "-"
	if r.Principal != nil {
		subject = r.Principal.Subject
	}
	if it.Event != nil {
		return fmt.Sprintf("%-8d %s  %-8s %-36s %-12s %s %s %s/%s %s",
			r.Seq, it.Start().UTC().Format(time.RFC3339), r.Type, r.CallID, subject, r.Event, r.Decision, r.Connection, r.Access, r.Actor)
	}
	outcome := r.Outcome
	if outcome == "" {
		outcome = "(open)"
	}
	return fmt.Sprintf("%-8d %s  call     %-36s %-12s %s %s/%s %s %s %.1fms",
		it.Seq(), it.Start().UTC().Format(time.RFC3339), r.CallID, subject, r.Tool, r.Connection, r.Access, dash(r.Decision), outcome, r.DurationMS)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdJournalReplay(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal replay")
	session := fs.String("session", "", "the MCP session to replay")
	subject := fs.String("subject", "", "replay this subject's calls (when there is no session)")
	since := fs.String("since", "", "from this time (RFC 3339, a date, or an age such as 24h)")
	until := fs.String("until", "", "before this time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*session == "") == (*subject == "") {
		return usageError("usage: airlock journal replay (--session ID | --subject S) [--since T] [--until T]")
	}
	o := recorder.ReplayOptions{Session: *session, Subject: *subject}
	var err error
	if o.Since, err = parseWhen(*since, time.Now()); err != nil {
		return usageError("--since: " + err.Error())
	}
	if o.Until, err = parseWhen(*until, time.Now()); err != nil {
		return usageError("--until: " + err.Error())
	}
	_, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = recorder.Replay(ctx, st, o, stdout)
	return err
}

func cmdJournalExport(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal export")
	format := fs.String("format", "jsonl", "jsonl or ocsf")
	after := fs.Int64("after", 0, "only records with seq > SEQ (incremental exports)")
	filter := filterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	if *format != "jsonl" && *format != "ocsf" {
		return usageError("airlock journal export: --format must be jsonl or ocsf")
	}
	_, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if *format == "ocsf" {
		_, err = recorder.ExportOCSF(ctx, st, *after, f, version(), stdout)
	} else {
		_, err = recorder.ExportJSONL(ctx, st, *after, f, stdout)
	}
	return err
}

// errFindings makes verify exit non-zero.
type errFindings int

func (e errFindings) Error() string {
	return fmt.Sprintf("journal verification failed: %d problem(s)", int(e))
}

func cmdJournalVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal verify")
	cpFile := fs.String("checkpoints", "", "a file of checkpoints kept outside the store (checkpoint --append-to)")
	pubKey := fs.String("public-key", "", "the trusted checkpoint key: base64 (a checkpoint's public_key) or a PEM file; default: journal.checkpoint_key_file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	cps, err := recorder.StoredCheckpoints(ctx, st)
	if err != nil {
		return err
	}
	if *cpFile != "" {
		f, err := os.Open(*cpFile)
		if err != nil {
			return err
		}
		more, err := recorder.ReadCheckpoints(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *cpFile, err)
		}
		cps = append(cps, more...)
	}
	key, err := trustedKey(*pubKey, cfg.Journal.CheckpointKeyFile)
	if err != nil {
		return err
	}
	if key == nil && len(cps) > 0 {
		return fmt.Errorf("no trusted checkpoint key: %s does not exist; pass --public-key", cfg.Journal.CheckpointKeyFile)
	}
	rep, err := recorder.Verify(ctx, st, recorder.VerifyOptions{Checkpoints: cps, Key: key})
	if err != nil {
		return err
	}
	if rep.Records == 0 {
		fmt.Fprintln(stdout, "journal: empty")
	} else {
		fmt.Fprintf(stdout, "journal: seq %d..%d, %d records\n", rep.First, rep.Last, rep.Records)
	}
	if rep.PrunedBefore > 1 {
		fmt.Fprintf(stdout, "retention: records before seq %d were pruned\n", rep.PrunedBefore)
	}
	if c := rep.Latest; c != nil {
		fmt.Fprintf(stdout, "checkpoints: %d valid, key %s; latest covers seq %d (%s)\n", rep.Checkpoints, c.KeyID, c.Seq, c.Time.Format(time.RFC3339))
		if rep.Last > c.Seq {
			fmt.Fprintf(stdout, "note: records %d..%d are after the latest checkpoint; a cut there cannot be detected until the next one\n", c.Seq+1, rep.Last)
		}
	} else {
		fmt.Fprintln(stdout, "checkpoints: none; a truncated tail cannot be detected (run `airlock journal checkpoint`)")
	}
	for _, f := range rep.Acknowledged {
		fmt.Fprintf(stdout, "ACKNOWLEDGED %s\n", f)
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(stdout, "FAIL %s\n", f)
	}
	if rep.Omitted > 0 {
		fmt.Fprintf(stdout, "FAIL ... and %d more\n", rep.Omitted)
	}
	if !rep.OK() {
		return errFindings(len(rep.Findings) + rep.Omitted)
	}
	if len(rep.Acknowledged) > 0 {
		fmt.Fprintf(stdout, "ok: the chain is intact apart from %d acknowledged problem(s) (see `airlock journal search --type integrity`)\n", len(rep.Acknowledged))
		return nil
	}
	fmt.Fprintln(stdout, "ok: the chain is intact")
	return nil
}

// trustedKey is --public-key (base64, or a file holding base64 or PEM),
// else the public half of the configured checkpoint key, else nil.
func trustedKey(flagVal, keyFile string) (ed25519.PublicKey, error) {
	if flagVal != "" {
		if b, err := os.ReadFile(flagVal); err == nil {
			flagVal = string(b)
		}
		return recorder.ParsePublicKey(flagVal)
	}
	k, err := recorder.LoadKey(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

func cmdJournalCheckpoint(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal checkpoint")
	appendTo := fs.String("append-to", "", "also append the checkpoint to this file (keep it away from the gateway)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := recorder.LoadOrCreateKey(cfg.Journal.CheckpointKeyFile)
	if err != nil {
		return err
	}
	// The whole chain, not only what followed the last checkpoint: an
	// operator's command can afford it, and an edit below the last
	// checkpoint must stop it too.
	cps, err := recorder.StoredCheckpoints(ctx, st)
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	rep, err := recorder.Verify(ctx, st, recorder.VerifyOptions{Checkpoints: cps, Key: pub})
	if err != nil {
		return err
	}
	if !rep.OK() {
		return &recorder.IntegrityError{Report: rep}
	}
	c, err := recorder.MakeCheckpoint(ctx, st, key, time.Now())
	if errors.Is(err, recorder.ErrEmptyJournal) {
		return errors.New("the journal is empty: nothing to checkpoint")
	}
	if err != nil {
		return err
	}
	if *appendTo != "" {
		if err := recorder.AppendCheckpoint(*appendTo, c); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s\n", c.Marshal())
	return nil
}

func cmdJournalPrune(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal prune")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.Journal.Retention == 0 {
		return errors.New("journal.retention is not set: nothing is ever pruned")
	}
	key, err := recorder.LoadOrCreateKey(cfg.Journal.CheckpointKeyFile)
	if err != nil {
		return err
	}
	rec := recorder.New(st, recorder.WithMaxRecordBytes(cfg.Journal.MaxRecordBytes))
	n, err := recorder.Prune(ctx, st, rec, key, cfg.Journal.Retention.Std(), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pruned %d record(s)\n", n)
	return nil
}

func cmdJournalAcknowledge(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal acknowledge")
	reason := fs.String("reason", "", "why the damage is accepted (incident id, what was lost); required")
	actor := fs.String("actor", "", "who acknowledges (default: $USER)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return usageError("usage: airlock journal acknowledge --reason TEXT [--actor NAME]")
	}
	if *actor == "" {
		*actor = os.Getenv("USER")
	}
	cfg, st, err := openJournal(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := recorder.LoadKey(cfg.Journal.CheckpointKeyFile)
	if err != nil {
		return fmt.Errorf("%w (acknowledging needs the checkpoint key)", err)
	}
	rec := recorder.New(st, recorder.WithMaxRecordBytes(cfg.Journal.MaxRecordBytes))
	rep, c, err := recorder.Acknowledge(ctx, st, rec, key, *reason, *actor, time.Now())
	if errors.Is(err, recorder.ErrNothingToAcknowledge) {
		fmt.Fprintln(stdout, "ok: the chain is intact; nothing to acknowledge")
		return nil
	}
	if err != nil {
		return err
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(stdout, "ACKNOWLEDGED %s\n", f)
	}
	fmt.Fprintf(stdout, "%d problem(s) acknowledged; checkpoint signed at seq %d; running gateways sign again at their next checkpoint interval\n",
		len(rep.Findings), c.Seq)
	return nil
}
