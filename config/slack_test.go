package config

import (
	"strings"
	"testing"
)

func TestSlackConfig(t *testing.T) {
	const ok = `
approvals:
  slack:
    bot_token: {env: SLACK_BOT_TOKEN}
    signing_secret: {file: slack-signing.key}
    channel: C0123ABCD
    approvers:
      - {slack_user: U024BE7LH, subject: alice, groups: [dba-leads]}
      - {email: bob@example.com, subject: bob, groups: [dba-leads]}
`
	cfg, err := load(t, minimal+ok, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Approvals.Slack; s.SigningSecret.File != "/etc/airlock/slack-signing.key" || len(s.Approvers) != 2 {
		t.Errorf("slack = %+v", s)
	}
	cases := map[string]struct{ yaml, want string }{
		"inline token": {strings.Replace(ok, "{env: SLACK_BOT_TOKEN}", "xoxb-123-456", 1), "approvals.slack.bot_token"},
		"no secret":    {strings.Replace(ok, "    signing_secret: {file: slack-signing.key}\n", "", 1), "approvals.slack.signing_secret: required"},
		"no channel":   {strings.Replace(ok, "    channel: C0123ABCD\n", "", 1), "approvals.slack.channel: required"},
		"both ids":     {strings.Replace(ok, "slack_user: U024BE7LH,", "slack_user: U024BE7LH, email: a@example.com,", 1), "approvals.slack.approvers[0]: set exactly one"},
		"no subject":   {strings.Replace(ok, "subject: bob, ", "", 1), "approvals.slack.approvers[1].subject: required"},
		"no groups":    {strings.Replace(ok, "subject: alice, groups: [dba-leads]", "subject: alice", 1), "approvals.slack.approvers[0].groups: required"},
		"unknown key":  {strings.Replace(ok, "channel: C0123ABCD", "channel: C0123ABCD\n    chanel: x", 1), "approvals.slack.chanel"},
	}
	for name, tc := range cases {
		_, err := load(t, minimal+tc.yaml, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "xoxb-123") {
			t.Errorf("%s: the error quotes the secret: %v", name, err)
		}
	}
}
