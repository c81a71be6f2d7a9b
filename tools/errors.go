package tools

import (
	"errors"
	"fmt"
)

// AgentError is a refusal or failure the agent can act on. It becomes an
// MCP tool result with isError set; its text must hold no secret.
type AgentError struct {
	Outcome string // recorder outcome: denied, invalid or error
	Msg     string
	// Detail is the cause for operators (a database's own message): the
	// journal keeps it, masked, after Msg; the agent never sees it.
	Detail string
}

func (e *AgentError) Error() string { return e.Msg }

// Refuse returns an AgentError with the given outcome.
func Refuse(outcome, format string, args ...any) error {
	return &AgentError{Outcome: outcome, Msg: fmt.Sprintf(format, args...)}
}

// ErrJournalUnavailable means the journal could not be written, so the call
// was refused (or its result withheld): nothing runs unjournaled.
var ErrJournalUnavailable = errors.New("journal unavailable: call refused")

// UnrecordedError is returned for a call that ran but whose finished
// record could not be written: its result is withheld (the journal does
// not hold it), and the agent is told the truth — the call ran, and
// repeating it may repeat its effect. It matches ErrJournalUnavailable.
type UnrecordedError struct{ CallID string }

func (e *UnrecordedError) Error() string {
	return "journal unavailable: call " + e.CallID + " ran, but its outcome could not be recorded, so its result is withheld. " +
		"Do not retry it blindly: it may already have changed something. Check its effect first (or ask an operator to look up call " +
		e.CallID + " in the journal) before sending it again."
}

// Is makes errors.Is(err, ErrJournalUnavailable) hold.
func (e *UnrecordedError) Is(target error) bool { return target == ErrJournalUnavailable }

// UnknownConnection is the one answer to a connection name the caller
// may not see: one that does not exist and one that no rule could grant
// it read the same, and neither lists the others (tools/list and
// list_connections show each principal its own).
func UnknownConnection(name string) error {
	return fmt.Errorf("unknown connection %q; call list_connections to see the connections you may use", name)
}

// ErrUnknownConnection is returned by a ConnectionChecker for a connection
// it does not serve.
var ErrUnknownConnection = errors.New("unknown connection")

// notRun marks an execution error after which the target is known to be
// unchanged: the kind never reached it, or its transaction rolled back.
type notRun struct{ err error }

func (e *notRun) Error() string { return e.err.Error() }
func (e *notRun) Unwrap() error { return e.err }

// NotRun marks err as leaving the target unchanged, so the per-call
// approval the call held is released for an identical retry instead of
// being used up. Mark only what is certain: an error whose outcome is
// unknown (a lost COMMIT, a command that started) must stay unmarked.
func NotRun(err error) error {
	if err == nil {
		return nil
	}
	return &notRun{err: err}
}

// DidNotRun reports whether err was marked with NotRun.
func DidNotRun(err error) bool {
	var nr *notRun
	return errors.As(err, &nr)
}
