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

// ErrUnknownConnection is returned by a ConnectionChecker for a connection
// it does not serve.
var ErrUnknownConnection = errors.New("unknown connection")
