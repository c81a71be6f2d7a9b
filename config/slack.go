package config

import (
	"errors"
	"fmt"
	"strings"
)

// Slack configures approvals from Slack (approvals.slack): requests are
// posted with Approve and Deny buttons; Slack's interaction callbacks come
// to <public_url>/slack/interactions.
type Slack struct {
	// BotToken (xoxb-…) and SigningSecret, by reference.
	BotToken      *SecretRef `yaml:"bot_token"`
	SigningSecret *SecretRef `yaml:"signing_secret"`
	// Channel is the channel ID requests are posted to.
	Channel string `yaml:"channel"`
	// TeamID, when set, refuses interactions from other workspaces.
	TeamID string `yaml:"team_id"`
	// Approvers map Slack users to approver identities.
	Approvers []SlackApprover `yaml:"approvers"`
}

// SlackApprover maps one Slack user, by user ID or by an email Slack
// reports as confirmed, to the subject and groups that decide.
type SlackApprover struct {
	SlackUser string   `yaml:"slack_user"`
	Email     string   `yaml:"email"`
	Subject   string   `yaml:"subject"`
	Groups    []string `yaml:"groups"`
}

func (s *Slack) validate() error {
	if s == nil {
		return nil
	}
	const p = "approvals.slack."
	switch {
	case s.BotToken == nil:
		return invalid(p+"bot_token", "required: {env: SLACK_BOT_TOKEN} or {file: PATH}")
	case s.SigningSecret == nil:
		return invalid(p+"signing_secret", "required: the app's signing secret, {env: NAME} or {file: PATH}")
	case s.Channel == "":
		return invalid(p+"channel", "required: the channel ID requests are posted to (e.g. C0123ABCD)")
	case len(s.Approvers) == 0:
		return invalid(p+"approvers", "required: who may decide from Slack (slack_user or email, with subject and groups)")
	}
	if err := s.BotToken.check(p + "bot_token"); err != nil {
		return err
	}
	if err := s.SigningSecret.check(p + "signing_secret"); err != nil {
		return err
	}
	for i, a := range s.Approvers {
		f := fmt.Sprintf("%sapprovers[%d]", p, i)
		switch {
		case (a.SlackUser == "") == (a.Email == ""):
			return invalid(f, "set exactly one of slack_user and email")
		case a.Email != "" && !strings.Contains(a.Email, "@"):
			return invalid(f+".email", "not an email address")
		case a.Subject == "":
			return invalid(f+".subject", "required: the person's subject at the identity provider (so nobody approves their own request)")
		case len(a.Groups) == 0:
			return invalid(f+".groups", "required: the approver groups this person belongs to")
		}
	}
	return nil
}

// SlackSecrets resolves the bot token and signing secret.
func (c *Config) SlackSecrets() (token string, signing []byte, err error) {
	s := c.Approvals.Slack
	if s == nil {
		return "", nil, nil
	}
	token, err = s.BotToken.Resolve()
	if err != nil {
		return "", nil, errors.New("approvals.slack.bot_token: " + err.Error())
	}
	sec, err := s.SigningSecret.Resolve()
	if err != nil {
		return "", nil, errors.New("approvals.slack.signing_secret: " + err.Error())
	}
	if token == "" || sec == "" {
		return "", nil, errors.New("approvals.slack: bot_token and signing_secret must not be empty")
	}
	return token, []byte(sec), nil
}
