package server

// SetSlackEndpoints points Slack approvals at a fake Slack for one test.
func SetSlackEndpoints(api, responses string) (restore func()) {
	oldAPI, oldResp := slackAPIBase, slackResponseBase
	slackAPIBase, slackResponseBase = api, responses
	return func() { slackAPIBase, slackResponseBase = oldAPI, oldResp }
}
