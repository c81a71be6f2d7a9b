package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/airlockhq/airlock/identity"
)

// UpstreamPins is what the console needs of the pins of upstream MCP tools
// (tools/upstream): admins review what each upstream offers and accept a
// definition, as with `airlock upstream pins|accept`. The gateway
// implements it over its store; acceptance is journaled there.
type UpstreamPins interface {
	ListUpstreamPins(ctx context.Context) ([]UpstreamPin, error)
	// AcceptUpstreamPin accepts the definition with hash, which must be
	// the one last seen (else ErrPinChanged).
	AcceptUpstreamPin(ctx context.Context, admin *identity.Principal, connection, tool, hash, reason string) error
}

// ErrPinChanged: the upstream offers another definition than the one
// reviewed; review again.
var ErrPinChanged = errors.New("the upstream offers another definition of this tool now; review it again")

// ErrPinUnknown: no such upstream tool has been seen.
var ErrPinUnknown = errors.New("no such upstream tool")

// UpstreamPin is one upstream tool as admins review it. Description and
// Definition come from the upstream and are untrusted text (templates
// escape them).
type UpstreamPin struct {
	Connection, Tool string
	// State is accepted, new (never accepted) or changed (withheld until
	// an admin accepts the definition seen now).
	State      string
	SeenHash   string
	AcceptedBy string
	AcceptedAt time.Time
	// Hints are the upstream's own annotations (readOnlyHint and the
	// like): shown, never trusted for policy.
	Hints       string
	Description string
	Definition  string // the definition seen, as indented JSON
}

func (c *Console) handleUpstream(w http.ResponseWriter, r *http.Request, s *session) {
	pg := c.newPage(s, "Upstream tools", "upstream")
	pg.Flash = c.sessions.takeFlash(s)
	if c.o.Upstream != nil {
		pins, err := c.o.Upstream.ListUpstreamPins(r.Context())
		if err != nil {
			c.internal(w, r, s, err)
			return
		}
		pg.Data = pins
	}
	c.render(w, r, http.StatusOK, "upstream", pg)
}

func (c *Console) handleUpstreamAccept(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Upstream == nil {
		c.renderError(w, r, s, http.StatusNotFound, "No upstream MCP connection is configured.")
		return
	}
	conn, tool, hash := r.PostFormValue("connection"), r.PostFormValue("tool"), r.PostFormValue("hash")
	if conn == "" || tool == "" || hash == "" {
		c.renderError(w, r, s, http.StatusBadRequest, "Accepting needs the connection, the tool and the hash of the definition you reviewed.")
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch err := c.o.Upstream.AcceptUpstreamPin(r.Context(), s.p, conn, tool, hash, reason); {
	case errors.Is(err, ErrPinChanged):
		c.renderError(w, r, s, http.StatusConflict, err.Error())
	case errors.Is(err, ErrPinUnknown):
		c.renderError(w, r, s, http.StatusNotFound, "No such upstream tool has been seen.")
	case err != nil:
		c.internal(w, r, s, err)
	default:
		c.sessions.setFlash(s, "Accepted "+conn+" / "+tool+": agents see this definition from now on, on every gateway sharing the store.")
		http.Redirect(w, r, Path+"/upstream", http.StatusSeeOther)
	}
}
