package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/internal/lograte"
	"github.com/airlockhq/airlock/internal/telemetry"
	"github.com/airlockhq/airlock/masking"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// Invocation is the state of one tool call as it moves through the
// pipeline. Each stage fills in its part.
type Invocation struct {
	CallID    string
	Principal *identity.Principal
	Transport string
	Tool      Tool
	Name      string
	Args      map[string]any

	Call     *Call
	Decision policy.Decision
	// Grant is the active grant the call runs under; Approval the
	// consumed per-call approval, when one was needed.
	Grant    *store.Request
	Approval *store.Request
	Digest   string
	// canonical is the arguments' canonical encoding, for Digest.
	canonical []byte
	// MaskedArgs are the arguments as the journal and approvers see them,
	// masked once by the journal stage.
	MaskedArgs json.RawMessage
	Result     *Result
	// Masked counts the values masked in the result, per entity; Tokens
	// is the size of what the agent got, when it was counted exactly (0
	// when the result fit its budget uncounted; see capTokens).
	Masked masking.Counts
	Tokens int
	// Executed is set once the call is handed to the tool: from then on
	// it may have had effects, whatever the outcome.
	Executed bool

	// obs is the call's span and stage timings; record its finished
	// journal record once written (what metrics count).
	obs    *telemetry.Call
	record *recorder.Record
}

// Handler runs (the rest of) the pipeline for an invocation.
type Handler func(ctx context.Context, inv *Invocation) error

// Middleware is one pipeline stage: it wraps the stages after it.
type Middleware func(Handler) Handler

// Pipeline is the guard chain, built once and applied to every tool.
type Pipeline struct {
	rec    *recorder.Recorder
	policy *policy.Engine
	jit    *jit.Service
	masker *masking.Engine
	tokens *masking.TokenCounter
	budget func(connection string) int
	log    *slog.Logger
	// logLimit keeps an error that repeats on every call (the journal
	// unavailable) to one line and a count per interval.
	logLimit    *lograte.Limiter
	callTimeout time.Duration
	digest      recorder.DigestKey
	handler     Handler
	tel         *telemetry.Telemetry

	inflight sync.WaitGroup
	calls    atomic.Int64 // calls in flight, for shutdown logs
	draining atomic.Bool
}

// PipelineConfig holds what the pipeline needs.
type PipelineConfig struct {
	Recorder *recorder.Recorder
	Policy   *policy.Engine
	JIT      *jit.Service
	// Masker masks results, arguments in the journal and error text; nil
	// means the default detectors.
	Masker *masking.Engine
	// Tokens counts tokens for the budget; Budget gives a connection's
	// budget (0: unlimited).
	Tokens      *masking.TokenCounter
	Budget      func(connection string) int
	Logger      *slog.Logger
	CallTimeout time.Duration
	// DigestKey keys the digests of the unmasked arguments (the journal's
	// arguments_digest, the approval binding). Gateways that share a
	// store must share it; zero: a random key of this pipeline's own.
	DigestKey recorder.DigestKey
	// Telemetry gets each call's span, stage spans and metrics; nil: none.
	Telemetry *telemetry.Telemetry
}

// NewPipeline composes the stages, outermost first.
func NewPipeline(c PipelineConfig) *Pipeline {
	if c.Recorder == nil || c.Policy == nil || c.JIT == nil {
		panic("tools: NewPipeline needs a recorder, a policy engine and a JIT service")
	}
	p := &Pipeline{rec: c.Recorder, policy: c.Policy, jit: c.JIT, masker: c.Masker, tokens: c.Tokens, budget: c.Budget,
		log: c.Logger, callTimeout: c.CallTimeout, digest: c.DigestKey, tel: c.Telemetry}
	if p.digest.IsZero() {
		p.digest = recorder.RandomDigestKey()
	}
	if p.masker == nil {
		m, err := masking.New(masking.Config{})
		if err != nil {
			panic(err)
		}
		p.masker = m
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.logLimit = lograte.New(p.log, lograte.DefaultInterval)
	stages := []Middleware{p.identify, p.journal, p.classify, p.decide, p.approve, p.capTokens, p.mask}
	h := p.execute
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	p.handler = h
	return p
}

// ErrShuttingDown refuses calls that arrive while the gateway drains.
var ErrShuttingDown = errors.New("the gateway is shutting down; retry against another instance")

// Run sends inv through the whole pipeline.
func (p *Pipeline) Run(ctx context.Context, inv *Invocation) error {
	p.inflight.Add(1)
	defer p.inflight.Done()
	p.calls.Add(1)
	defer p.calls.Add(-1)
	ctx, inv.obs = p.tel.StartCall(ctx, inv.Name, inv.Transport)
	err := ErrShuttingDown
	if !p.draining.Load() {
		err = p.handler(ctx, inv)
	}
	inv.obs.End(done(inv, err))
	return err
}

// done is what metrics and the call's span say of a finished call: its
// journal record when one was written, else what the pipeline knew.
func done(inv *Invocation, err error) telemetry.Done {
	if r := inv.record; r != nil {
		return telemetry.Done{Tool: inv.Name, Connection: r.Connection, Access: r.Access, Decision: r.Decision, Rule: r.Rule,
			Outcome: r.Outcome, Masked: r.Masked, Tokens: r.Tokens, Rows: r.Rows, Bytes: r.Bytes, Journaled: true}
	}
	d := telemetry.Done{Tool: inv.Name, Decision: string(inv.Decision.Effect), Rule: inv.Decision.Rule, Journaled: inv.CallID != ""}
	if c := inv.Call; c != nil {
		d.Connection, d.Access = c.Connection, string(c.Access)
	}
	var ae *AgentError
	var ue *UnrecordedError
	switch {
	case errors.Is(err, ErrShuttingDown):
		d.Outcome = "shutting_down"
	case errors.Is(err, ErrJournalUnavailable):
		d.Outcome = "journal_unavailable"
	case errors.As(err, &ue):
		d.Outcome = "unrecorded"
	case errors.As(err, &ae):
		d.Outcome = ae.Outcome
	case err == nil:
		d.Outcome = recorder.OutcomeOK
	default:
		d.Outcome = recorder.OutcomeError
	}
	return d
}

// InFlight is the number of calls the pipeline is running now.
func (p *Pipeline) InFlight() int64 { return p.calls.Load() }

// Drain refuses new calls and waits until calls in flight, and their
// journal records, are done, or ctx ends.
func (p *Pipeline) Drain(ctx context.Context) error {
	p.draining.Store(true)
	done := make(chan struct{})
	go func() { p.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain: calls still in flight: %w", ctx.Err())
	}
}

type transportKey struct{}

// WithTransport records the MCP transport a call arrived on.
func WithTransport(ctx context.Context, transport string) context.Context {
	return context.WithValue(ctx, transportKey{}, transport)
}

// Handle adapts t to an mcp-go tool handler that runs the pipeline.
// Agent errors become isError results; anything else becomes a JSON-RPC
// error whose text names only the call id, never the cause.
func (p *Pipeline) Handle(t Tool) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		transport, _ := ctx.Value(transportKey{}).(string)
		inv := &Invocation{Tool: t, Name: req.Params.Name, Args: req.GetArguments(), Transport: transport}
		if m := req.Params.Meta; m != nil {
			if m.ProgressToken != nil {
				ctx = withProgress(ctx, m.ProgressToken)
			}
			// W3C trace context, when the client sends one: the call's span
			// becomes its child.
			ctx = telemetry.ExtractMeta(ctx, m.AdditionalFields)
		}
		err := p.Run(ctx, inv)
		var ae *AgentError
		switch {
		case err == nil:
			meta := map[string]any{"airlock/call_id": inv.CallID}
			if len(inv.Masked) > 0 {
				meta["airlock/masked"] = inv.Masked
			}
			if inv.Tokens > 0 {
				meta["airlock/tokens"] = inv.Tokens
			}
			return render(inv.Result, meta), nil
		case errors.As(err, &ae):
			return mcp.NewToolResultError(ae.Msg), nil
		case errors.Is(err, ErrJournalUnavailable), errors.Is(err, ErrShuttingDown):
			return nil, err
		case inv.CallID != "":
			return nil, errors.New("internal error; the journal has details under call " + inv.CallID)
		default:
			return nil, errors.New("internal error")
		}
	}
}

// identify refuses a call without a verified principal.
// The credential is checked again for every call (expiry always; a stdio
// token is re-verified), because a transport may have resolved it long
// before: stdio once per process, an SSE or HTTP stream once per
// connection. A refused credential that still names someone is journaled
// as a denied call under that name.
func (p *Pipeline) identify(next Handler) Handler {
	return func(ctx context.Context, inv *Invocation) error {
		_, st := inv.obs.StartStage(ctx, telemetry.StageIdentify)
		who, err := identity.Current(ctx)
		st.End()
		if err == nil && who.Subject == "" {
			err = errors.New("no subject")
		}
		if err != nil {
			reason := "no verified identity"
			var ae *identity.AuthError
			if errors.As(err, &ae) {
				reason = ae.Reason
			}
			refusal := Refuse(recorder.OutcomeDenied, "unauthenticated (%s): this gateway needs a valid token for every call. "+
				"Get a fresh token: over HTTP send it as Authorization: Bearer; over stdio restart the gateway with a new AIRLOCK_TOKEN.", reason)
			if who == nil || who.Subject == "" {
				return refusal
			}
			inv.Principal = who
			inv.Decision = policy.Decision{Effect: policy.Deny, Reason: "credential refused: " + reason}
			return p.journal(func(context.Context, *Invocation) error { return refusal })(ctx, inv)
		}
		inv.Principal = who
		return next(identity.NewContext(ctx, who), inv)
	}
}

// journal makes a started record durable before anything else runs and
// writes the finished record afterwards, whatever happened.
func (p *Pipeline) journal(next Handler) Handler {
	return func(ctx context.Context, inv *Invocation) error {
		inv.CallID = recorder.NewCallID()
		inv.obs.SetCallID(inv.CallID)
		ctx = telemetry.WithCallID(ctx, inv.CallID)
		_, st := inv.obs.StartStage(ctx, telemetry.StageJournal, attribute.String("airlock.journal.record", recorder.Started))
		args := canonicalArgs(inv.Args)
		digest := argumentsDigest(p.digest, args)
		inv.canonical = args
		inv.MaskedArgs, _ = json.Marshal(p.masker.MaskValue(jsonValue(inv.Args), nil))
		rec := &recorder.Record{
			CallID: inv.CallID, Principal: inv.Principal, Transport: inv.Transport, Tool: inv.Name, Session: sessionID(ctx),
			Arguments: inv.MaskedArgs, ArgumentsDigest: digest, TraceID: traceID(ctx),
		}
		err := p.rec.Begin(ctx, rec)
		st.End()
		if err != nil {
			p.logLimit.Error("journal.begin", "journal write failed; call refused", "call_id", inv.CallID, "tool", inv.Name, "err", err)
			// The write may have landed with only its answer lost (a
			// connection cut after COMMIT): close the call once the journal
			// takes writes, rather than leave it open until a restart.
			p.rec.RefusedLater(rec)
			return ErrJournalUnavailable
		}
		start := time.Now()
		err = next(ctx, inv)
		// Refusals can quote the agent's input (a parser's "syntax error at
		// or near ..."): mask every message before the agent or the journal
		// sees it.
		var ae *AgentError
		if errors.As(err, &ae) {
			ae.Msg = p.masker.MaskString(ae.Msg)
		}
		rec.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		fillFinished(rec, inv, err)
		rec.Error = p.masker.MaskString(rec.Error)
		// Resources echo the agent's input (argv, paths): mask them too.
		for i, r := range rec.Resources {
			rec.Resources[i] = p.masker.MaskString(r)
		}
		_, st = inv.obs.StartStage(ctx, telemetry.StageJournal, attribute.String("airlock.journal.record", recorder.Finished))
		ferr := p.rec.Finish(ctx, rec)
		st.End()
		if ferr != nil {
			// The agent must not see what the journal does not hold, but it
			// must hear the truth: a call that ran is not "refused". The
			// record is written late, as soon as the journal takes writes.
			p.logLimit.Error("journal.finish", "journal write failed; result withheld", "call_id", inv.CallID, "tool", inv.Name, "err", ferr)
			if !p.rec.FinishLater(lateRecord(rec, inv.Executed, time.Now())) {
				p.logLimit.Error("journal.late-full", "journal: too many finished records wait to be written; the oldest will be closed as unknown at the next start")
			}
			if inv.Executed {
				return &UnrecordedError{CallID: inv.CallID}
			}
			return ErrJournalUnavailable
		}
		inv.record = rec
		if p.log.Enabled(ctx, slog.LevelInfo) {
			p.log.InfoContext(ctx, "call", "call_id", inv.CallID, "tool", inv.Name, "subject", inv.Principal.Subject,
				"connection", rec.Connection, "access", rec.Access, "decision", rec.Decision,
				"outcome", rec.Outcome, "duration_ms", rec.DurationMS)
		}
		return err
	}
}

// lateRecord is the finished record written late for a call whose
// finished record failed. A call that ran gets outcome unknown — the
// agent was told it ran and that its outcome was not recorded, and got no
// result — with what is known kept (the outcome it had, rows, duration)
// and the result left out. A call refused before it ran keeps its outcome.
func lateRecord(rec *recorder.Record, executed bool, failedAt time.Time) *recorder.Record {
	late := *rec
	detail := map[string]any{"recorded_late": true, "finish_failed_at": failedAt.UTC().Format(time.RFC3339Nano), "ran": executed}
	if executed {
		detail["outcome"] = rec.Outcome
		late.Outcome, late.Result = recorder.OutcomeUnknown, nil
		late.Error = "the call ran (outcome " + rec.Outcome + "), but the journal could not record its end when it finished; " +
			"the agent was told so, was not given the result, and was told not to retry blindly" + errSuffix(rec.Error)
	}
	late.Detail, _ = json.Marshal(detail)
	return &late
}

// traceID is the trace the call's span belongs to (the client's, when it
// sent a trace context), for the journal record; "" when there is none.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ". Error: " + s
}

func fillFinished(rec *recorder.Record, inv *Invocation, err error) {
	if c := inv.Call; c != nil {
		rec.Connection, rec.Access, rec.Command, rec.Resources = c.Connection, string(c.Access), c.Command, c.Resources
	}
	rec.Decision, rec.Rule, rec.Reason = string(inv.Decision.Effect), inv.Decision.Rule, inv.Decision.Reason
	if len(inv.Masked) > 0 {
		rec.Masked = map[string]int{}
		for ent, n := range inv.Masked {
			rec.Masked[string(ent)] = n
		}
	}
	if inv.Grant != nil {
		rec.GrantID = inv.Grant.ID
	}
	if inv.Approval != nil {
		rec.ApprovalID = inv.Approval.ID
	}
	var ae *AgentError
	switch {
	case err == nil:
		rec.Outcome = recorder.OutcomeOK
		if r := inv.Result; r != nil {
			rec.Result = resultJSON(r)
			rec.Rows, rec.Bytes, rec.Truncated = r.Rows, len(rec.Result), r.Truncated
			rec.Tokens = inv.Tokens
		}
	case errors.As(err, &ae):
		rec.Outcome, rec.Error = ae.Outcome, ae.Msg
		if ae.Detail != "" {
			rec.Error += " [cause: " + ae.Detail + "]"
		}
	default:
		rec.Outcome, rec.Error = recorder.OutcomeError, err.Error()
	}
}

func resultJSON(r *Result) json.RawMessage {
	if b, ok := tableViewJSON(r, true); ok {
		return b // encoded once; render shows the agent the same bytes
	}
	b, err := json.Marshal(structuredOf(r))
	if err != nil {
		b, _ = json.Marshal(err.Error())
	}
	return b
}

// canonicalArgs encodes args with sorted keys (encoding/json sorts map
// keys).
func canonicalArgs(args map[string]any) []byte {
	b, err := json.Marshal(args)
	if err != nil {
		b = []byte("null")
	}
	return b
}

// argumentsDigest is the journal's arguments_digest: an HMAC of the
// unmasked canonical arguments, so equal calls are recognisable in the
// journal while a masked value cannot be recovered from its digest by
// guessing (README, "The journal").
func argumentsDigest(key recorder.DigestKey, canonical []byte) string {
	return key.Sum([]byte("arguments"), canonical)
}

// sessionID is the MCP session the call arrived on, for replay. Sessions
// are not identities: grants and approvals key on the verified subject.
func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}

// callDigest binds a per-call approval to who calls which tool with which
// canonical arguments (the connection is one of the arguments). It is
// keyed like argumentsDigest: the digest is stored with the approval and
// journaled with its events.
func callDigest(key recorder.DigestKey, subject, tool string, canonical []byte) string {
	return key.Sum([]byte("call"), []byte(subject), []byte(tool), canonical)
}

// classify parses the arguments into an Action.
func (p *Pipeline) classify(next Handler) Handler {
	return func(ctx context.Context, inv *Invocation) error {
		if inv.Args == nil {
			return Refuse(recorder.OutcomeInvalid, "arguments must be a JSON object")
		}
		_, st := inv.obs.StartStage(ctx, telemetry.StageClassify)
		c, err := inv.Tool.Parse(inv.Args)
		st.End()
		if err != nil {
			var ae *AgentError
			if errors.As(err, &ae) {
				return err
			}
			return Refuse(recorder.OutcomeInvalid, "%s", err.Error())
		}
		inv.Call = c
		return next(ctx, inv)
	}
}

// decide applies the access rules (deny by default) and requires an
// active grant covering the call's connection and access class.
func (p *Pipeline) decide(next Handler) Handler {
	return func(ctx context.Context, inv *Invocation) error {
		_, st := inv.obs.StartStage(ctx, telemetry.StageDecide)
		err := p.decideCall(ctx, inv)
		st.End()
		if err != nil {
			return err
		}
		return next(ctx, inv)
	}
}

// decideCall is decide's own work.
func (p *Pipeline) decideCall(ctx context.Context, inv *Invocation) error {
	c := inv.Call
	if c.Meta {
		// Access-management tools decide for themselves (request_access
		// applies the same rules to what is asked for).
		inv.Decision = policy.Decision{Effect: policy.Allow, Rule: "builtin:access-management", Reason: "access management"}
		return nil
	}
	inv.Decision = p.policy.Decide(policy.Request{
		Subject: inv.Principal.Subject, Groups: inv.Principal.Groups, Tool: inv.Name,
		Connection: c.Connection, Access: c.Access,
	})
	if inv.Decision.Effect == policy.Deny {
		// A connection no rule could ever grant this caller on this
		// tool reads exactly like one that does not exist.
		if !p.policy.Visible(inv.Principal.Groups, inv.Name, []string{c.Connection}) {
			return Refuse(recorder.OutcomeDenied, "%s", UnknownConnection(c.Connection).Error())
		}
		return Refuse(recorder.OutcomeDenied, "denied: %s. This call needs %s access to connection %q; ask an operator for a rule that grants it, or rephrase the call so it needs less.",
			inv.Decision.Reason, c.Access, c.Connection)
	}
	// From memory unless a grant changed (here at once, elsewhere
	// within a second: jit.Service.CachedActiveGrant); expiry is
	// checked every call.
	g, err := p.jit.CachedActiveGrant(ctx, inv.Principal.Subject, c.Connection, c.Access)
	if err != nil {
		p.tel.StoreError("grant_lookup")
		return fmt.Errorf("grant lookup: %w", err)
	}
	if g == nil {
		// Policy would allow the call, but nothing grants it now: the
		// journal says deny (reason no_grant), not allow.
		inv.Decision = policy.Decision{Effect: policy.Deny, Reason: ReasonNoGrant} // no rule denies it: no grant covers it
		if r, rerr := p.jit.RevokedGrant(ctx, inv.Principal.Subject, c.Connection, c.Access); rerr == nil && r != nil {
			inv.Decision.Reason = ReasonGrantRevoked
			why := ""
			if r.Note != "" {
				why = fmt.Sprintf(" (reason: %q)", r.Note)
			}
			return Refuse(recorder.OutcomeDenied, "your grant %s for %s access to %q was revoked by %s at %s%s. Nothing was run. Ask again only if the reason allows it: call request_access with {\"connection\": %q, \"access\": %q, \"duration\": \"15m\", \"reason\": \"<why you need it>\"}.",
				r.ID, r.Access, c.Connection, r.RevokedBy, r.RevokedAt.UTC().Format(time.RFC3339), why, c.Connection, c.Access)
		}
		return Refuse(recorder.OutcomeDenied, "no active grant for %s access to %q. Ask for one first: call request_access with {\"connection\": %q, \"access\": %q, \"duration\": \"15m\", \"reason\": \"<why you need it>\"}, then retry this call.",
			c.Access, c.Connection, c.Connection, c.Access)
	}
	inv.Grant = g
	if c.NeedsApproval && inv.Decision.Effect == policy.Allow {
		if len(inv.Decision.Grant.Approvers) == 0 {
			return Refuse(recorder.OutcomeDenied, "denied: this call needs a human approval for each call, but rule %s names no approvers (grant.approvers); ask an operator to add them. Nothing was run.", inv.Decision.Rule)
		}
		inv.Decision.Effect = policy.Approve
		inv.Decision.Reason = "the tool asks a human to approve this call; " + inv.Decision.Reason
	}
	return nil
}

// approve holds a call that policy says needs a human: an approval bound
// to the digest of (subject, tool, connection, canonical arguments), used
// once.
func (p *Pipeline) approve(next Handler) Handler {
	return func(ctx context.Context, inv *Invocation) error {
		if inv.Decision.Effect != policy.Approve || inv.Call.Meta {
			// A span all the same: every call's tree has every stage.
			_, st := inv.obs.StartStage(ctx, telemetry.StageApprove, attribute.Bool("airlock.approval.required", false))
			st.End()
			return next(ctx, inv)
		}
		_, st := inv.obs.StartStage(ctx, telemetry.StageApprove, attribute.Bool("airlock.approval.required", true))
		// The binding digest is only needed here, for calls held for a human.
		inv.Digest = callDigest(p.digest, inv.Principal.Subject, inv.Name, inv.canonical)
		// Approvers see the arguments masked, as the journal holds them.
		r, err := p.jit.HoldCall(ctx, jit.Hold{
			Principal: inv.Principal, Tool: inv.Name, Connection: inv.Call.Connection, Access: inv.Call.Access,
			Digest: inv.Digest, Arguments: inv.MaskedArgs, Rule: inv.Decision.Rule,
			Spec: inv.Decision.Grant, Reason: "per-call approval: " + inv.Decision.Reason,
		}, ProgressReporter(ctx, "waiting for a human to approve this call"))
		st.End()
		if err != nil {
			if ctx.Err() == nil {
				p.tel.StoreError("approval")
			}
			return fmt.Errorf("approval: %w", err)
		}
		switch r.Status {
		case store.StatusUsed:
			// The approval is reserved for this call alone; it is used up
			// only if the call reached its target. A failure that left the
			// target unchanged gives it back, for an identical retry.
			inv.Approval = r
			err := next(ctx, inv)
			if err == nil || !DidNotRun(err) {
				return err
			}
			ok, rerr := p.jit.ReleaseApproval(context.WithoutCancel(ctx), r, inv.Principal.Subject)
			if rerr != nil || !ok {
				return err
			}
			inv.Approval = nil
			var ae *AgentError
			if errors.As(err, &ae) {
				return &AgentError{Outcome: ae.Outcome, Msg: fmt.Sprintf("%s — nothing was changed, so the approval %s is still valid: "+
					"fix the cause and send exactly the same call again.", ae.Msg, r.ID)}
			}
			return err
		case store.StatusPending:
			return Refuse(OutcomePending, "pending: this call needs a human approval (request %s, approvers: %s). Nothing was run. Once it is approved, send exactly the same call again; check with access_status {\"request_id\": %q}.",
				r.ID, strings.Join(r.Approvers, ", "), r.ID)
		case store.StatusApproved:
			return Refuse(recorder.OutcomeDenied, "the approval %s was used by an identical call that ran first; nothing was run. Send the call again to ask for a new approval.", r.ID)
		default:
			return Refuse(recorder.OutcomeDenied, "not approved: request %s is %s%s. Nothing was run.", r.ID, r.Status, noteSuffix(r.Note))
		}
	}
}

// Journal reasons of a call that policy allows but no grant covers: none
// was ever asked for (or it expired), or it was revoked.
const (
	ReasonNoGrant      = "no_grant"
	ReasonGrantRevoked = "grant_revoked"
)

// OutcomePending is the outcome of a call held for approval.
const OutcomePending = "pending"

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

// capTokens bounds the result to the connection's token budget, cutting
// at a row or line boundary and saying so.
func (p *Pipeline) capTokens(next Handler) Handler {
	return func(ctx context.Context, inv *Invocation) error {
		if err := next(ctx, inv); err != nil || p.tokens == nil {
			return err
		}
		_, st := inv.obs.StartStage(ctx, telemetry.StageCap)
		defer st.End()
		budget := 0
		if p.budget != nil {
			budget = p.budget(inv.Call.Connection)
		}
		if budget > 0 {
			// The journal's tokens is an exact count or nothing: a result
			// that fits its budget by its size in bytes is not counted, and
			// its record's bytes (the result as journaled, JSON) bound its
			// tokens.
			if n, exact := capResult(p.tokens, inv.Result, budget); exact {
				inv.Tokens = n
			}
		}
		return nil
	}
}

// mask rewrites sensitive values in the result before the agent or the
// journal sees it.
func (p *Pipeline) mask(next Handler) Handler {
	return func(ctx context.Context, inv *Invocation) error {
		// Refusal text is masked once, for every stage, by the journal stage.
		if err := next(ctx, inv); err != nil {
			return err
		}
		_, st := inv.obs.StartStage(ctx, telemetry.StageMask)
		inv.Masked = masking.Counts{}
		if r := inv.Result; r.Masked {
			maps.Copy(inv.Masked, r.MaskCounts)
		} else {
			maskResult(p.masker, r, inv.Masked)
		}
		st.End()
		return nil
	}
}

// execute runs the call with a deadline of min(call timeout, grant
// expiry); revoking the grant cancels it.
func (p *Pipeline) execute(ctx context.Context, inv *Invocation) error {
	// The stage's context goes to the tool: database and HTTP client
	// spans sit beneath execute.
	ctx, st := inv.obs.StartStage(ctx, telemetry.StageExecute)
	defer st.End()
	if p.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.callTimeout)
		defer cancel()
	}
	if g := inv.Grant; g != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, g.ExpiresAt)
		defer cancel()
		var untrack func()
		ctx, untrack = p.jit.Track(ctx, g.ID)
		defer untrack()
	}
	inv.Call.Shaping = Shaping{Masker: p.masker, Tokens: p.tokens}
	if p.tokens != nil && p.budget != nil {
		inv.Call.Shaping.Budget = p.budget(inv.Call.Connection)
	}
	inv.Executed = true
	r, err := inv.Tool.Execute(ctx, inv.Call)
	if cause := context.Cause(ctx); errors.Is(cause, jit.ErrRevoked) {
		return Refuse(recorder.OutcomeDenied, "cancelled: the grant %s was revoked while the call ran", inv.Grant.ID)
	}
	if err != nil {
		if inv.Grant != nil && !inv.Grant.ExpiresAt.After(time.Now()) {
			return Refuse(recorder.OutcomeDenied, "cancelled: the grant %s expired while the call ran; request a new one with request_access", inv.Grant.ID)
		}
		return err
	}
	if r == nil {
		return errors.New("tool returned no result")
	}
	inv.Result = r
	return nil
}
