package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/store"
)

// page is what every template gets.
type page struct {
	Title string
	Nav   string
	P     *identity.Principal
	Roles roles
	CSRF  string
	// Live asks the page's script to refresh on change notices.
	Live  bool
	Flash string
	Error string
	Data  any
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"list": func(s ...string) []string { return s },
	"card": func(r requestView, csrf string) any {
		return struct {
			R    requestView
			CSRF string
		}{r, csrf}
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return humanDuration(time.Since(t)) + " ago"
	},
	"left": func(t time.Time) string {
		d := time.Until(t)
		if d <= 0 {
			return "expired"
		}
		return humanDuration(d)
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"pretty": prettyJSON,
	"ms": func(f float64) string {
		if f == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f ms", f)
	},
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

func parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(assets, "templates/_*.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if strings.HasPrefix(name, "_") {
			continue // partials, in every page
		}
		t, err := template.Must(base.Clone()).ParseFS(assets, n)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// Handler serves everything under /console.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path+"/static/", c.static)
	mux.HandleFunc("GET "+Path+"/login", c.handleLogin)
	mux.HandleFunc("GET "+Path+"/auth/callback", c.handleCallback)
	mux.HandleFunc("POST "+Path+"/logout", c.authed(c.handleLogout))
	mux.HandleFunc("GET "+Path+"/{$}", c.authed(c.handleHome))
	mux.HandleFunc("GET "+Path+"/events", c.authed(c.handleEvents))
	mux.HandleFunc("GET "+Path+"/approvals", c.authed(c.handleApprovals))
	mux.HandleFunc("GET "+Path+"/requests/{id}", c.authed(c.handleRequest))
	mux.HandleFunc("POST "+Path+"/requests/{id}/approve", c.authed(c.handleDecide(true)))
	mux.HandleFunc("POST "+Path+"/requests/{id}/deny", c.authed(c.handleDecide(false)))
	mux.HandleFunc("GET "+Path+"/grants", c.authed(c.admin(c.handleGrants)))
	mux.HandleFunc("POST "+Path+"/grants/{id}/revoke", c.authed(c.admin(c.handleRevoke)))
	mux.HandleFunc("GET "+Path+"/connections", c.authed(c.admin(c.handleConnections)))
	mux.HandleFunc("GET "+Path+"/upstream", c.authed(c.admin(c.handleUpstream)))
	mux.HandleFunc("POST "+Path+"/upstream/accept", c.authed(c.admin(c.handleUpstreamAccept)))
	mux.HandleFunc("GET "+Path+"/journal", c.authed(c.auditor(c.handleJournal)))
	mux.HandleFunc("GET "+Path+"/journal/calls/{id}", c.authed(c.auditor(c.handleCall)))
	mux.HandleFunc("GET "+Path+"/journal/sessions/{id}", c.authed(c.auditor(c.handleSession)))
	mux.HandleFunc("GET "+Path+"/journal/export/{format}", c.authed(c.auditor(c.handleExport)))
	mux.HandleFunc(Path, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Path+"/", http.StatusFound)
	})
	return securityHeaders(mux)
}

// securityHeaders: no framing, no inline script, no referrer to other
// sites (the login callback's URL holds a code), nothing cached.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: with no-referrer browsers send
		// "Origin: null" on the console's own form posts.
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, Path+"/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

type handler = func(http.ResponseWriter, *http.Request, *session)

func (c *Console) admin(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !c.rolesOf(s.p).Admin {
			c.renderError(w, r, s, http.StatusForbidden, "This page is for admins (admin.groups: "+strings.Join(c.o.Config.Admin.Groups, ", ")+").")
			return
		}
		h(w, r, s)
	}
}

func (c *Console) auditor(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !c.rolesOf(s.p).Auditor {
			c.renderError(w, r, s, http.StatusForbidden, "The journal is for auditors (admin.auditors: "+strings.Join(c.auditors, ", ")+").")
			return
		}
		h(w, r, s)
	}
}

func (c *Console) newPage(s *session, title, nav string) *page {
	pg := &page{Title: title, Nav: nav}
	if s != nil {
		pg.P, pg.Roles, pg.CSRF = s.p, c.rolesOf(s.p), s.csrf
	}
	return pg
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, pg *page) {
	t := c.tmpl[name]
	if t == nil {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	root := "layout"
	if r.URL.Query().Get("fragment") == "1" {
		root = "content"
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, root, pg); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	pg := c.newPage(s, "Error", "")
	pg.Error = msg
	c.render(w, r, status, "error", pg)
}

func (c *Console) handleHome(w http.ResponseWriter, r *http.Request, s *session) {
	ro := c.rolesOf(s.p)
	switch {
	case ro.Approver || ro.Admin:
		http.Redirect(w, r, Path+"/approvals", http.StatusFound)
	case ro.Auditor:
		http.Redirect(w, r, Path+"/journal", http.StatusFound)
	default:
		c.render(w, r, http.StatusOK, "home", c.newPage(s, "Airlock", ""))
	}
}

// requestView is a request as an approver sees it.
type requestView struct {
	*store.Request
	Args      string
	Agent     string
	Action    *Action
	Waited    string
	Yes       int
	CanDecide bool
	Own       bool
}

func (c *Console) view(p *identity.Principal, r *store.Request) requestView {
	v := requestView{Request: r, Args: prettyJSON(r.Arguments), Waited: humanDuration(c.now().Sub(r.CreatedAt))}
	for _, vote := range r.Votes {
		if vote.Approve {
			v.Yes++
		}
	}
	v.Own = r.Subject == p.Subject
	v.CanDecide = r.Status == store.StatusPending && !v.Own && jit.CanDecide(p, r) &&
		!slices.ContainsFunc(r.Votes, func(vt store.Vote) bool { return vt.Approver == p.Subject })
	if r.Kind == store.KindApproval && c.o.Describe != nil {
		if a, ok := c.o.Describe(r.Tool, r.Arguments); ok {
			v.Action = &a
		}
	}
	return v
}

// handleApprovals lists the pending requests the viewer may decide (an
// admin sees every pending request; buttons only where they may decide).
func (c *Console) handleApprovals(w http.ResponseWriter, r *http.Request, s *session) {
	list, err := c.o.Requests.List(r.Context(), s.p, store.RequestFilter{Statuses: []string{store.StatusPending}})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	admin := c.o.Requests.IsAdmin(s.p)
	shown := list[:0]
	for _, req := range list {
		if !admin && (req.Subject == s.p.Subject || !jit.CanDecide(s.p, req)) {
			continue // an approver sees only what they may decide
		}
		shown = append(shown, req)
	}
	agents := c.agentsOf(r.Context(), shown)
	var views []requestView
	for _, req := range shown {
		v := c.view(s.p, req)
		v.Agent = agents[req.ID]
		views = append(views, v)
	}
	slices.SortFunc(views, func(a, b requestView) int { return a.CreatedAt.Compare(b.CreatedAt) })
	pg := c.newPage(s, "Approvals", "approvals")
	pg.Live, pg.Data, pg.Flash = true, views, c.sessions.takeFlash(s)
	c.render(w, r, http.StatusOK, "approvals", pg)
}

func (c *Console) handleRequest(w http.ResponseWriter, r *http.Request, s *session) {
	req, err := c.o.Requests.Get(r.Context(), s.p, r.PathValue("id"))
	if err != nil {
		c.refusal(w, r, s, err)
		return
	}
	v := c.view(s.p, req)
	v.Agent = c.agentsOf(r.Context(), []*store.Request{req})[req.ID]
	pg := c.newPage(s, "Request "+req.ID, "approvals")
	pg.Live, pg.Data = true, v
	c.render(w, r, http.StatusOK, "request", pg)
}

func (c *Console) handleDecide(approve bool) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := r.PathValue("id")
		req, err := c.o.Requests.Decide(r.Context(), s.p, id, approve, r.PostFormValue("reason"))
		if err != nil {
			c.refusal(w, r, s, err)
			return
		}
		verb := "Approved"
		if !approve {
			verb = "Denied"
		}
		msg := fmt.Sprintf("%s %s: it is now %s.", verb, req.ID, req.Status)
		if req.Status == store.StatusPending {
			msg = fmt.Sprintf("Your approval of %s is recorded; it needs %d approvals in all.", req.ID, req.MinApprovals)
		}
		c.sessions.setFlash(s, msg)
		http.Redirect(w, r, Path+"/approvals", http.StatusSeeOther)
	}
}

func (c *Console) handleGrants(w http.ResponseWriter, r *http.Request, s *session) {
	list, err := c.o.Requests.List(r.Context(), s.p, store.RequestFilter{Kind: store.KindGrant, Statuses: []string{store.StatusActive}})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	slices.SortFunc(list, func(a, b *store.Request) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	pg := c.newPage(s, "Active grants", "grants")
	pg.Live, pg.Data, pg.Flash = true, list, c.sessions.takeFlash(s)
	c.render(w, r, http.StatusOK, "grants", pg)
}

// handleRevoke revokes through the access service, which also cancels the
// calls running under the grant.
func (c *Console) handleRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	req, err := c.o.Requests.Revoke(r.Context(), s.p, r.PathValue("id"), r.PostFormValue("reason"))
	if err != nil {
		c.refusal(w, r, s, err)
		return
	}
	c.sessions.setFlash(s, "Revoked "+req.ID+" ("+req.Subject+", "+req.Access+" on "+req.Connection+"); calls running under it were cancelled.")
	http.Redirect(w, r, Path+"/grants", http.StatusSeeOther)
}

type connView struct {
	Name, Kind, Description string
	Health                  connHealth
}

func (c *Console) handleConnections(w http.ResponseWriter, r *http.Request, s *session) {
	health, err := c.connectionHealth(r.Context())
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	var conns []connView
	for _, name := range slices.Sorted(maps.Keys(c.o.Config.Connections)) {
		cc := c.o.Config.Connections[name]
		conns = append(conns, connView{Name: name, Kind: cc.Kind, Description: cc.Description, Health: health[name]})
	}
	rules, err := yaml.Marshal(c.o.Config.Rules)
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	pg := c.newPage(s, "Connections and rules", "connections")
	pg.Data = map[string]any{"Connections": conns, "Rules": string(rules), "Admins": c.o.Config.Admin.Groups, "Auditors": c.auditors}
	c.render(w, r, http.StatusOK, "connections", pg)
}

// refusal shows an access-service refusal (not found, not allowed) as
// the service words it.
func (c *Console) refusal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var je *jit.Error
	if errors.As(err, &je) {
		status := http.StatusForbidden
		if je.NotFound {
			status = http.StatusNotFound
		}
		c.renderError(w, r, s, status, je.Msg)
		return
	}
	c.internal(w, r, s, err)
}

func (c *Console) internal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.log.Error("console", "path", r.URL.Path, "err", err)
	c.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong on the gateway; an operator can find the cause in its log.")
}
