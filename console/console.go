// Package console is the people's side of the gateway: a web console at
// /console for approvers (pending requests, approve or deny, live), admins
// (active grants, revoke, connections, rules) and auditors (journal search,
// a call's record, session replay, chain status, export), and the login
// that gets them there (OIDC authorization code flow with PKCE, a
// server-side session, CSRF tokens on every state-changing request).
//
// The console holds no access logic of its own: every decision, revocation
// and visibility check goes through policy/jit, exactly as the admin API
// does, and every journal read through recorder. Pages are rendered on the
// server from embedded templates; a little JavaScript refreshes them when
// the server announces a change over SSE.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// Path roots the console.
const Path = "/console"

//go:embed templates/*.html static/*
var assets embed.FS

// Requests is the access service the console acts through: the same
// checks as the admin API (jit.Service implements it).
type Requests interface {
	List(ctx context.Context, p *identity.Principal, f store.RequestFilter) ([]*store.Request, error)
	Get(ctx context.Context, p *identity.Principal, id string) (*store.Request, error)
	Decide(ctx context.Context, approver *identity.Principal, id string, approve bool, reason string) (*store.Request, error)
	Revoke(ctx context.Context, actor *identity.Principal, id, reason string) (*store.Request, error)
	IsAdmin(p *identity.Principal) bool
}

var _ Requests = (*jit.Service)(nil)

// Journal is what the console reads of the journal.
type Journal interface {
	recorder.Reader
	JournalLastSeq(ctx context.Context) (int64, error)
	JournalCheckpoints(ctx context.Context) ([]store.Checkpoint, error)
}

// Changes reports requests changed since a time, so the console hears of
// decisions made by other gateway processes sharing the store.
type Changes interface {
	ChangedSince(ctx context.Context, t time.Time, statuses ...string) ([]*store.Request, error)
}

// Action describes a held call for approvers: the classified statement
// (command), what it touches (tables, argv, paths), for SQL the functions
// it calls, and why it is not a plain read.
type Action struct {
	Command   string
	Resources []string
	Functions []string
	Why       string
}

// Options wire the console to the gateway's services.
type Options struct {
	Config   *config.Config
	Requests Requests
	Journal  Journal
	Changes  Changes
	// Integrity is the journal chain's status.
	Integrity func() recorder.IntegrityStatus
	// Describe classifies a held call's masked arguments with its tool's
	// parser; nil or false when it cannot.
	Describe func(tool string, args json.RawMessage) (Action, bool)
	// Upstream reviews the pins of upstream MCP tools (nil: none).
	Upstream UpstreamPins
	// Login is how people prove who they are; nil builds the OIDC login
	// from Config (identity.issuer, console.client_id).
	Login Login
	// DevHTTPClient, when set, is used to reach the issuer in-process (the
	// built-in dev issuer).
	DevHTTPClient *http.Client
	Logger        *slog.Logger
	Version       string
	// Now is the clock (tests).
	Now func() time.Time
}

// Console serves /console. Subscribe it to the access service's events
// (it is a jit.Sink) so pages update the moment something changes.
type Console struct {
	o         Options
	log       *slog.Logger
	tmpl      map[string]*template.Template
	static    http.Handler
	sessions  *sessions
	login     Login
	approvers []string // every group named as an approver by some rule
	auditors  []string
	broker    *broker
	secure    bool
	now       func() time.Time
}

var _ jit.Sink = (*Console)(nil)

// New builds the console. It does no I/O: the OIDC provider is discovered
// at the first login.
func New(o Options) (*Console, error) {
	c := &Console{o: o, log: o.Logger, now: o.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	tm, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	c.tmpl = tm
	sub, _ := fs.Sub(assets, "static")
	c.static = http.StripPrefix(Path+"/static/", http.FileServerFS(sub))
	cfg := o.Config
	c.sessions = newSessions(cfg.Console.SessionTTL, c.now)
	c.secure = isHTTPS(cfg.Server.PublicURL)
	for _, r := range cfg.Rules {
		for _, g := range r.Grant.Approvers {
			if !slices.Contains(c.approvers, g) {
				c.approvers = append(c.approvers, g)
			}
		}
	}
	c.auditors = cfg.Admin.Auditors
	c.login = o.Login
	if c.login == nil {
		secret, err := cfg.Console.ClientSecret.Resolve()
		if err != nil {
			return nil, err
		}
		c.login = NewOIDCLogin(OIDCConfig{
			Issuer: cfg.Identity.Issuer, ClientID: cfg.Console.ClientID, ClientSecret: secret,
			RedirectURL: cfg.Server.PublicURL + Path + "/auth/callback", Scopes: cfg.Console.Scopes,
			GroupsClaim: cfg.Identity.GroupsClaim, HTTPClient: o.DevHTTPClient,
		})
	}
	c.broker = newBroker(o.Changes, c.log)
	return c, nil
}

// Publish implements jit.Sink: tell every open page that requests changed.
func (c *Console) Publish(_ context.Context, e jit.Event) { c.broker.announce(e.Type, e.Request) }

// Run watches the store for changes made by other gateway processes until
// ctx ends.
func (c *Console) Run(ctx context.Context) { c.broker.run(ctx) }

// CloseStreams ends the open live-update streams, so that a graceful
// shutdown does not wait on them; pages reconnect on their own.
func (c *Console) CloseStreams() { c.broker.closeOnce.Do(func() { close(c.broker.closing) }) }

// roles are what a person may do in the console.
type roles struct {
	Admin, Approver, Auditor bool
}

func (c *Console) rolesOf(p *identity.Principal) roles {
	return roles{
		Admin:    c.o.Requests.IsAdmin(p),
		Approver: slices.ContainsFunc(c.approvers, p.InGroup),
		Auditor:  slices.ContainsFunc(c.auditors, p.InGroup),
	}
}
