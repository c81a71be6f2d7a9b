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
}

func (e *AgentError) Error() string { return e.Msg }

// Refuse returns an AgentError with the given outcome.
func Refuse(outcome, format string, args ...any) error {
	return &AgentError{Outcome: outcome, Msg: fmt.Sprintf(format, args...)}
}

// ErrJournalUnavailable means the journal could not be written, so the call
// was refused (or its result withheld): nothing runs unjournaled.
var ErrJournalUnavailable = errors.New("journal unavailable: call refused")

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
