// Package slackapprove lets approvers decide grant requests and per-call
// approvals from Slack: each new request is posted as a message with
// Approve and Deny buttons (Slack Web API, bot token), Slack's
// interaction callbacks are verified (signing secret, v0 HMAC-SHA256 over
// the timestamp and raw body, five-minute window, constant-time compare,
// replays refused), the Slack user is mapped to an approver identity (an
// explicit Slack user ID, or an email Slack reports as confirmed), and the
// decision goes through jit.Service.Decide — the same checks as the admin
// API and the console: no self-approval, approver groups, min_approvals.
// The message is then updated to show the decision and who made it.
package slackapprove

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/store"
)

// Issuer is the Principal.Issuer of approvers who act from Slack.
const Issuer = "slack"

// Action ids of the two buttons.
const (
	ActionApprove = "airlock_approve"
	ActionDeny    = "airlock_deny"
)

// MaxSkew is how far a request's timestamp may be from the clock.
const MaxSkew = 5 * time.Minute

const maxBody = 64 << 10

// Approver maps a Slack user to the identity that decides: by Slack user
// ID, or by an email address that Slack reports as confirmed. Subject must
// be the subject the person has at the identity provider, so that nobody
// approves their own request under two names.
type Approver struct {
	SlackUser string
	Email     string
	Subject   string
	Groups    []string
}

// Config configures Slack approvals. Secrets are values here; the caller
// resolves them from their references.
type Config struct {
	// BotToken (xoxb-…) posts and updates messages and reads users.info
	// (scopes chat:write, users:read, users:read.email).
	BotToken string
	// SigningSecret verifies interaction requests.
	SigningSecret []byte
	// Channel is where requests are posted (a channel ID).
	Channel string
	// TeamID, when set, refuses interactions from any other workspace.
	TeamID    string
	Approvers []Approver
	// APIBase is the Web API root (default https://slack.com/api/).
	APIBase string
	// ResponseBase is the prefix every interaction's response_url must
	// have (default https://hooks.slack.com/); others are not called.
	ResponseBase string
	HTTPClient   *http.Client
	Log          *slog.Logger
	Now          func() time.Time
	// Describe, when set, classifies a held call's masked arguments with
	// its tool's own parser, so an approver in Slack sees what the call
	// does (command, resources, why it needs approval) before deciding.
	Describe func(tool string, args json.RawMessage) (Action, bool)
}

// Action is what a held call does, as its tool's classifier reads it.
type Action struct {
	Command   string
	Resources []string
	Why       string
}

// maxShownArguments bounds the masked arguments shown in a message (a
// Slack text element holds at most 3,000 characters).
const maxShownArguments = 2000

// Decider is the part of jit.Service this package uses.
type Decider interface {
	Decide(ctx context.Context, approver *identity.Principal, id string, approve bool, reason string) (*store.Request, error)
}

var _ Decider = (*jit.Service)(nil)
var _ jit.Sink = (*Slack)(nil)

// Slack posts requests and serves the interactions endpoint. It is a
// jit.Sink and an http.Handler.
type Slack struct {
	cfg    Config
	decide Decider

	mu sync.Mutex
	// posted maps a request id to its message (channel, ts), for updates
	// when the request is decided through another door.
	posted map[string]message
	// seen holds verified signatures until they leave the time window.
	seen map[string]time.Time

	queue chan jit.Event
	stop  chan struct{}
	done  sync.WaitGroup
}

type message struct{ channel, ts string }

// New checks cfg and starts the poster. Close stops it.
func New(cfg Config, d Decider) (*Slack, error) {
	switch {
	case cfg.BotToken == "":
		return nil, errors.New("slack: bot token is empty")
	case len(cfg.SigningSecret) == 0:
		return nil, errors.New("slack: signing secret is empty")
	case cfg.Channel == "":
		return nil, errors.New("slack: channel is required")
	}
	for i, a := range cfg.Approvers {
		if a.Subject == "" || (a.SlackUser == "") == (a.Email == "") {
			return nil, fmt.Errorf("slack: approvers[%d]: needs a subject and exactly one of slack_user or email", i)
		}
	}
	if cfg.APIBase == "" {
		cfg.APIBase = "https://slack.com/api/"
	}
	if !strings.HasSuffix(cfg.APIBase, "/") {
		cfg.APIBase += "/"
	}
	if cfg.ResponseBase == "" {
		cfg.ResponseBase = "https://hooks.slack.com/"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Slack{cfg: cfg, decide: d, posted: map[string]message{}, seen: map[string]time.Time{},
		queue: make(chan jit.Event, 256), stop: make(chan struct{})}
	s.done.Add(1)
	go s.run()
	return s, nil
}

// Close stops the poster after the events already queued.
func (s *Slack) Close() {
	close(s.stop)
	s.done.Wait()
}

// Publish implements jit.Sink. It never blocks the call path: when the
// queue is full the event is dropped and logged (the journal is the
// record; Slack is a convenience).
func (s *Slack) Publish(_ context.Context, e jit.Event) {
	select {
	case s.queue <- e:
	default:
		s.cfg.Log.Warn("slack: queue full, event dropped", "event", e.Type, "request_id", e.Request.ID)
	}
}

func (s *Slack) run() {
	defer s.done.Done()
	for {
		select {
		case e := <-s.queue:
			s.handle(e)
		case <-s.stop:
			for {
				select {
				case e := <-s.queue:
					s.handle(e)
				default:
					return
				}
			}
		}
	}
}

func (s *Slack) handle(e jit.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r := e.Request
	if e.Type == jit.EventRequestCreated {
		var resp struct {
			Channel string `json:"channel"`
			TS      string `json:"ts"`
		}
		err := s.call(ctx, "chat.postMessage", map[string]any{
			"channel": s.cfg.Channel, "text": escape(e.Text()), "blocks": s.blocks(e, true),
		}, &resp)
		if err != nil {
			s.cfg.Log.Error("slack: post request", "request_id", r.ID, "err", err)
			return
		}
		s.mu.Lock()
		s.posted[r.ID] = message{resp.Channel, resp.TS}
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	m, ok := s.posted[r.ID]
	if ok && r.Status != store.StatusPending {
		delete(s.posted, r.ID)
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	s.update(ctx, m, e)
}

// update rewrites the request's message: buttons while it is pending,
// the decision and who made it once it is not.
func (s *Slack) update(ctx context.Context, m message, e jit.Event) {
	err := s.call(ctx, "chat.update", map[string]any{
		"channel": m.channel, "ts": m.ts, "text": escape(e.Text()),
		"blocks": s.blocks(e, e.Request.Status == store.StatusPending),
	}, nil)
	if err != nil {
		s.cfg.Log.Error("slack: update message", "request_id", e.Request.ID, "err", err)
	}
}

// blocks is the message: the event's summary and, while a held call's
// request is pending, what the call does and its masked arguments (never
// the raw ones: the request holds only what masking left), then the two
// buttons.
func (s *Slack) blocks(e jit.Event, buttons bool) []any {
	out := []any{map[string]any{
		"type": "section", "text": map[string]any{"type": "mrkdwn", "text": escape(e.Text())},
	}}
	if r := e.Request; buttons && r.Kind == store.KindApproval && len(r.Arguments) > 0 {
		out = append(out, s.callBlocks(r)...)
	}
	if buttons {
		out = append(out, map[string]any{
			"type": "actions", "block_id": "airlock_decision",
			"elements": []any{
				button("Approve", ActionApprove, e.Request.ID, "primary"),
				button("Deny", ActionDeny, e.Request.ID, "danger"),
			},
		})
	}
	return out
}

// callBlocks shows a held call: its classified action as fields and its
// masked arguments as preformatted rich text, which Slack renders as typed
// (no mrkdwn, so an agent's backticks or <!channel> cannot break out).
func (s *Slack) callBlocks(r *store.Request) []any {
	var out []any
	if s.cfg.Describe != nil {
		if a, ok := s.cfg.Describe(r.Tool, r.Arguments); ok {
			fields := []any{mrkdwn("*Command*\n" + escape(orNone(a.Command)))}
			if len(a.Resources) > 0 {
				fields = append(fields, mrkdwn("*Resources*\n"+escape(clip(strings.Join(a.Resources, ", "), 500))))
			}
			if a.Why != "" {
				fields = append(fields, mrkdwn("*Why*\n"+escape(clip(a.Why, 500))))
			}
			out = append(out, map[string]any{"type": "section", "fields": fields})
		}
	}
	args := string(r.Arguments)
	if ind, err := json.MarshalIndent(json.RawMessage(r.Arguments), "", "  "); err == nil {
		args = string(ind)
	}
	out = append(out, map[string]any{
		"type": "rich_text",
		"elements": []any{map[string]any{
			"type":     "rich_text_preformatted",
			"elements": []any{map[string]any{"type": "text", "text": clip(args, maxShownArguments)}},
		}},
	})
	return out
}

func mrkdwn(text string) map[string]any { return map[string]any{"type": "mrkdwn", "text": text} }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// clip cuts s to at most n bytes on a rune boundary, saying it did.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " … (cut)"
}

// escape keeps text that came from an agent (a request's reason) from
// being read as Slack markup: no <!channel> pings, no disguised links.
var escape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

func button(text, action, value, style string) map[string]any {
	return map[string]any{
		"type": "button", "action_id": action, "value": value, "style": style,
		"text": map[string]any{"type": "plain_text", "text": text},
	}
}

// call invokes a Web API method with a JSON body and decodes the answer
// into out. Slack reports failures as 200 with ok=false.
func (s *Slack) call(ctx context.Context, method string, body map[string]any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.APIBase+method, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+s.cfg.BotToken)
	return s.do(req, method, out)
}

func (s *Slack) do(req *http.Request, method string, out any) error {
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", method, resp.StatusCode)
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &status); err != nil {
		return fmt.Errorf("%s: answer is not JSON", method)
	}
	if !status.OK {
		return fmt.Errorf("%s: %s", method, status.Error)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Sign computes Slack's v0 signature of body sent at ts. Tests and relays
// use it; the handler compares against it in constant time.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// errRefused is a request that did not come from Slack (or came too late,
// or twice). The caller learns nothing more.
var errRefused = errors.New("request signature refused")

// verify checks the signature, the time window and replays.
func (s *Slack) verify(h http.Header, body []byte) error {
	tsHeader := h.Get("X-Slack-Request-Timestamp")
	sig := h.Get("X-Slack-Signature")
	sec, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil || sig == "" {
		return errRefused
	}
	now := s.cfg.Now()
	sent := time.Unix(sec, 0)
	if now.Sub(sent).Abs() > MaxSkew {
		return errRefused
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(s.cfg.SigningSecret, tsHeader, body))) {
		return errRefused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.seen {
		if now.After(exp) {
			delete(s.seen, k)
		}
	}
	if _, dup := s.seen[sig]; dup {
		return errRefused
	}
	// Kept until the timestamp leaves the window: past that the window
	// check refuses the request anyway.
	s.seen[sig] = sent.Add(MaxSkew + time.Second)
	return nil
}

// payload is the part of a block_actions interaction this package reads.
type payload struct {
	Type string `json:"type"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	Container struct {
		ChannelID string `json:"channel_id"`
		MessageTS string `json:"message_ts"`
	} `json:"container"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// ServeHTTP is the interactions endpoint (the Slack app's Request URL).
func (s *Slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := s.verify(r.Header, body); err != nil {
		s.cfg.Log.Warn("slack: interaction refused", "reason", "signature, timestamp or replay")
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form body", http.StatusBadRequest)
		return
	}
	var p payload
	if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil || p.Type != "block_actions" || len(p.Actions) != 1 {
		http.Error(w, "not a block_actions payload with one action", http.StatusBadRequest)
		return
	}
	if s.cfg.TeamID != "" && p.Team.ID != s.cfg.TeamID {
		http.Error(w, "another workspace", http.StatusForbidden)
		return
	}
	a := p.Actions[0]
	var approve bool
	switch a.ActionID {
	case ActionApprove:
		approve = true
	case ActionDeny:
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	// Slack wants an answer within 3 seconds; the decision itself is
	// quick, the Slack calls around it are bounded.
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	who, err := s.approver(ctx, p.User.ID)
	if err != nil {
		s.cfg.Log.Warn("slack: unknown approver", "slack_user", p.User.ID, "err", err)
		// Why the account is not an approver is the clicker's to know;
		// why it could not be looked up (Slack API codes, network detail)
		// is the operator's, in the log above.
		reason := "it could not be looked up; an operator can find why in the gateway's log"
		var nm notMapped
		if errors.As(err, &nm) {
			reason = string(nm)
		}
		s.ephemeral(ctx, p.ResponseURL, "Airlock: your Slack account is not mapped to an approver ("+reason+").")
		w.WriteHeader(http.StatusOK)
		return
	}
	req, err := s.decide.Decide(ctx, who, a.Value, approve, "via Slack")
	if err != nil {
		var je *jit.Error
		msg := "the decision could not be recorded; try again or use `airlock approvals`"
		if errors.As(err, &je) {
			msg = je.Msg
		} else {
			s.cfg.Log.Error("slack: decide", "request_id", a.Value, "err", err)
		}
		s.ephemeral(ctx, p.ResponseURL, "Airlock: "+msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	// The decision is recorded; rewrite the message wherever it was
	// posted (this replica may not be the one that posted it).
	ev := jit.Event{Type: eventOf(req, approve), Request: req, Actor: who.Subject}
	m := message{p.Container.ChannelID, p.Container.MessageTS}
	if m.channel != "" && m.ts != "" {
		s.update(ctx, m, ev)
		if req.Status != store.StatusPending {
			s.mu.Lock()
			delete(s.posted, req.ID)
			s.mu.Unlock()
		}
	}
	w.WriteHeader(http.StatusOK)
}

func eventOf(r *store.Request, approve bool) string {
	switch {
	case !approve:
		return jit.EventRequestDenied
	case r.Status == store.StatusPending:
		return jit.EventRequestVoted
	}
	return jit.EventRequestApproved
}

// notMapped is why a Slack user is not an approver, in words fit for
// that user; other approver errors are lookup failures for the log only.
type notMapped string

func (e notMapped) Error() string { return string(e) }

// approver maps a Slack user to an approver: an explicit mapping first,
// else the user's email from users.info when Slack says it is confirmed.
func (s *Slack) approver(ctx context.Context, slackUser string) (*identity.Principal, error) {
	if slackUser == "" {
		return nil, notMapped("no user in the payload")
	}
	for _, a := range s.cfg.Approvers {
		if a.SlackUser == slackUser {
			return principal(a), nil
		}
	}
	var info struct {
		User struct {
			Deleted          bool `json:"deleted"`
			IsBot            bool `json:"is_bot"`
			IsEmailConfirmed bool `json:"is_email_confirmed"`
			Profile          struct {
				Email string `json:"email"`
			} `json:"profile"`
		} `json:"user"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.APIBase+"users.info?"+url.Values{"user": {slackUser}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.BotToken)
	if err := s.do(req, "users.info", &info); err != nil {
		return nil, fmt.Errorf("could not look the user up: %w", err)
	}
	u := info.User
	switch {
	case u.Deleted || u.IsBot:
		return nil, notMapped("deactivated or bot account")
	case u.Profile.Email == "":
		return nil, notMapped("Slack did not give an email (the app needs users:read.email)")
	case !u.IsEmailConfirmed:
		return nil, notMapped("the account's email is not confirmed")
	}
	for _, a := range s.cfg.Approvers {
		if a.Email != "" && strings.EqualFold(a.Email, u.Profile.Email) {
			return principal(a), nil
		}
	}
	return nil, notMapped("no approver is configured for this account")
}

func principal(a Approver) *identity.Principal {
	return &identity.Principal{Subject: a.Subject, Groups: append([]string(nil), a.Groups...), Issuer: Issuer}
}

// ephemeral answers only the clicking user, through the interaction's
// response_url, without replacing the message.
func (s *Slack) ephemeral(ctx context.Context, responseURL, text string) {
	if responseURL == "" || !strings.HasPrefix(responseURL, s.cfg.ResponseBase) {
		return
	}
	b, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(b))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		// Never the URL: a response_url is a capability to post into the
		// conversation, and url.Error quotes it whole.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		s.cfg.Log.Warn("slack: response_url", "err", err)
		return
	}
	resp.Body.Close()
}
