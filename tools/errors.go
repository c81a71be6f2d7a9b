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

// ErrUnknownConnection is returned by a ConnectionChecker for a connection
// it does not serve.
var ErrUnknownConnection = errors.New("unknown connection")
