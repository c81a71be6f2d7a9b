package server

import (
	"context"
	"log/slog"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// journalSink writes every grant and approval event to the journal, so an
// auditor sees who asked, who decided and why, linked by request id to the
// calls that ran under it.
type journalSink struct {
	rec *recorder.Recorder
	log *slog.Logger
}

func (s journalSink) Publish(ctx context.Context, e jit.Event) {
	r := e.Request
	typ := recorder.TypeGrant
	if r.Kind == store.KindApproval {
		typ = recorder.TypeApproval
	}
	reason := e.Reason
	if reason == "" {
		reason = r.Reason
	}
	rec := &recorder.Record{
		CallID: r.ID, Type: typ, RequestID: r.ID, Event: e.Type, Actor: e.Actor,
		Principal: &identity.Principal{Subject: r.Subject, Groups: r.Groups},
		Tool:      r.Tool, Connection: r.Connection, Access: r.Access, Rule: r.Rule, Reason: reason,
		Decision: r.Status, ArgumentsDigest: r.Digest,
	}
	if err := s.rec.Event(context.WithoutCancel(ctx), rec); err != nil {
		s.log.Error("journal write failed for an access event", "event", e.Type, "request_id", r.ID, "err", err)
	}
}
