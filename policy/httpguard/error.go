package httpguard

import "fmt"

// Error is a refusal: the request, or part of it, is not allowed. Its message
// is written for the agent (and the journal) and names what to change; it
// never quotes credentials. Use errors.As to tell refusals from I/O failures,
// including when net/http wraps them in *url.Error or *net.OpError.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func refusef(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}
