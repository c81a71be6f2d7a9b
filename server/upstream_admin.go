package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

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
