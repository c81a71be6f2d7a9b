package server

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/slackapprove"
)

// initSlack starts Slack approvals when approvals.slack is configured,
// deciding through the same jit.Service as the admin API.
func (g *Gateway) initSlack(sink *lateSink) error {
	sc := g.cfg.Approvals.Slack
	if sc == nil {
		return nil
	}
	token, signing, err := g.cfg.SlackSecrets()
	if err != nil {
		return err
	}
	approvers := make([]slackapprove.Approver, 0, len(sc.Approvers))
	for _, a := range sc.Approvers {
		approvers = append(approvers, slackapprove.Approver{SlackUser: a.SlackUser, Email: a.Email, Subject: a.Subject, Groups: a.Groups})
	}
	s, err := slackapprove.New(slackapprove.Config{
		BotToken: token, SigningSecret: signing, Channel: sc.Channel, TeamID: sc.TeamID,
		Approvers: approvers, APIBase: slackAPIBase, ResponseBase: slackResponseBase, Log: g.log,
		Describe: func(tool string, args json.RawMessage) (slackapprove.Action, bool) {
			a, ok := g.describeCall(tool, args)
			return slackapprove.Action{Command: a.Command, Resources: a.Resources, Why: a.Why}, ok
		},
	}, g.jit)
	if err != nil {
		return err
	}
	g.slack = s
	sink.set(s)
	return nil
}

// PathSlackInteractions is the Slack app's interactivity Request URL.
const PathSlackInteractions = "/slack/interactions"

// The Slack endpoints; tests point them at a fake Slack.
var (
	slackAPIBase      = ""
	slackResponseBase = ""
)

// lateSink forwards events to a sink bound after the service was built.
type lateSink struct {
	mu   sync.Mutex
	sink jit.Sink
}

func (l *lateSink) set(s jit.Sink) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sink = s
}

func (l *lateSink) Publish(ctx context.Context, e jit.Event) {
	l.mu.Lock()
	s := l.sink
	l.mu.Unlock()
	if s != nil {
		s.Publish(ctx, e)
	}
}
