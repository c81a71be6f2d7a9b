package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/console"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/store"
	"github.com/airlockhq/airlock/tools/upstream"
)

// upstreamAdmin serves the pins of upstream MCP tools to admins
// (admin.groups): list them, and accept a reviewed definition.
func (g *Gateway) upstreamAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathAdminAPI+"upstream/pins", func(w http.ResponseWriter, r *http.Request) {
		if !g.isAdmin(w, r) {
			return
		}
		ps, err := g.store.ListPins(r.Context(), r.URL.Query().Get("connection"))
		if err != nil {
			g.adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"pins": upstream.ViewPins(ps)})
	})
	mux.HandleFunc("POST "+PathAdminAPI+"upstream/pins/{connection}/{tool}/accept", func(w http.ResponseWriter, r *http.Request) {
		if !g.isAdmin(w, r) {
			return
		}
		var body struct {
			Hash   string `json:"hash"`
			Reason string `json:"reason"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&body); err != nil || body.Hash == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON like {\"hash\": \"<seen_hash you reviewed>\", \"reason\": \"...\"}"})
			return
		}
		p, err := upstream.Accept(r.Context(), g.store, g.journal.Recorder(), r.PathValue("connection"), r.PathValue("tool"), body.Hash, identity.FromContext(r.Context()), body.Reason)
		switch {
		case errors.Is(err, upstream.ErrHashMismatch):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such upstream tool"})
		case err != nil:
			g.adminError(w, err)
		default:
			writeJSON(w, http.StatusOK, map[string]any{"pins": upstream.ViewPins([]*store.Pin{p})})
		}
	})
}

func (g *Gateway) isAdmin(w http.ResponseWriter, r *http.Request) bool {
	p := identity.FromContext(r.Context())
	if p != nil && slices.ContainsFunc(p.Groups, func(gr string) bool { return slices.Contains(g.cfg.Admin.Groups, gr) }) {
		return true
	}
	writeJSON(w, http.StatusForbidden, map[string]string{"error": "only admins (admin.groups) review upstream tools"})
	return false
}

// consolePins lets admins review and accept upstream tools in the console,
// through the same store and journal as the admin API.
type consolePins struct{ g *Gateway }

var _ console.UpstreamPins = consolePins{}

func (c consolePins) ListUpstreamPins(ctx context.Context) ([]console.UpstreamPin, error) {
	ps, err := c.g.store.ListPins(ctx, "")
	if err != nil {
		return nil, err
	}
	views := upstream.ViewPins(ps)
	byKey := make(map[[2]string]*store.Pin, len(ps))
	for _, p := range ps {
		byKey[[2]string{p.Connection, p.Tool}] = p
	}
	out := make([]console.UpstreamPin, 0, len(views))
	for _, v := range views {
		p := byKey[[2]string{v.Connection, v.Tool}]
		cp := console.UpstreamPin{Connection: v.Connection, Tool: v.Tool, State: v.State, SeenHash: v.SeenHash,
			AcceptedBy: v.AcceptedBy, Description: v.Description}
		if p != nil {
			cp.AcceptedAt = p.AcceptedAt
			var buf bytes.Buffer
			if json.Indent(&buf, []byte(p.SeenDefinition), "", "  ") == nil {
				cp.Definition = buf.String()
			} else {
				cp.Definition = p.SeenDefinition
			}
		}
		if len(v.Hints) > 0 {
			keys := slices.Sorted(maps.Keys(v.Hints))
			parts := make([]string, 0, len(keys))
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%v", k, v.Hints[k]))
			}
			cp.Hints = strings.Join(parts, ", ")
		}
		out = append(out, cp)
	}
	return out, nil
}

func (c consolePins) AcceptUpstreamPin(ctx context.Context, admin *identity.Principal, connection, tool, hash, reason string) error {
	_, err := upstream.Accept(ctx, c.g.store, c.g.journal.Recorder(), connection, tool, hash, admin, reason)
	switch {
	case errors.Is(err, upstream.ErrHashMismatch):
		return console.ErrPinChanged
	case errors.Is(err, store.ErrNotFound):
		return console.ErrPinUnknown
	}
	return err
}
