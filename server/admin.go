package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy/jit"
	"github.com/airlockhq/airlock/store"
)

// PathAdminAPI roots the admin API: approvers and admins act on requests
// and grants here, with their own bearer tokens; the CLI is a client.
const PathAdminAPI = "/admin/api/"

// RequestJSON is a grant or request as the admin API shows it. Field names
// are stable; arguments are masked.
type RequestJSON struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	Status       string          `json:"status"`
	Subject      string          `json:"subject"`
	Groups       []string        `json:"groups,omitempty"`
	Connection   string          `json:"connection"`
	Access       string          `json:"access"`
	Tool         string          `json:"tool,omitempty"`
	Arguments    json.RawMessage `json:"arguments,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	Rule         string          `json:"rule,omitempty"`
	Approvers    []string        `json:"approvers,omitempty"`
	MinApprovals int             `json:"min_approvals,omitempty"`
	Votes        []store.Vote    `json:"votes,omitempty"`
	Duration     string          `json:"duration,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	DecideBy     *time.Time      `json:"decide_by,omitempty"`
	DecidedAt    *time.Time      `json:"decided_at,omitempty"`
	ExpiresAt    *time.Time      `json:"expires_at,omitempty"`
	UsedAt       *time.Time      `json:"used_at,omitempty"`
	RevokedAt    *time.Time      `json:"revoked_at,omitempty"`
	RevokedBy    string          `json:"revoked_by,omitempty"`
	Note         string          `json:"note,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func requestJSON(r *store.Request) RequestJSON {
	v := RequestJSON{ID: r.ID, Kind: r.Kind, Status: r.Status, Subject: r.Subject, Groups: r.Groups,
		Connection: r.Connection, Access: r.Access, Tool: r.Tool, Arguments: r.Arguments, Reason: r.Reason, Rule: r.Rule,
		Approvers: r.Approvers, MinApprovals: r.MinApprovals, Votes: r.Votes, CreatedAt: r.CreatedAt,
		DecideBy: optTime(r.DecideBy), DecidedAt: optTime(r.DecidedAt), ExpiresAt: optTime(r.ExpiresAt),
		UsedAt: optTime(r.UsedAt), RevokedAt: optTime(r.RevokedAt), RevokedBy: r.RevokedBy, Note: r.Note}
	if r.Kind == store.KindGrant {
		v.Duration = r.Duration.String()
	}
	return v
}

func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathAdminAPI+"requests", func(w http.ResponseWriter, r *http.Request) {
		f := store.RequestFilter{Kind: r.URL.Query().Get("kind"), Subject: r.URL.Query().Get("subject")}
		if st := r.URL.Query().Get("status"); st != "" {
			f.Statuses = strings.Split(st, ",")
		}
		g.adminList(w, r, f)
	})
	mux.HandleFunc("GET "+PathAdminAPI+"grants", func(w http.ResponseWriter, r *http.Request) {
		f := store.RequestFilter{Kind: store.KindGrant, Subject: r.URL.Query().Get("subject")}
		st := r.URL.Query().Get("status")
		if st == "" {
			st = store.StatusActive
		}
		if st != "all" {
			f.Statuses = strings.Split(st, ",")
		}
		g.adminList(w, r, f)
	})
	mux.HandleFunc("GET "+PathAdminAPI+"requests/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, err := g.jit.Get(r.Context(), identity.FromContext(r.Context()), r.PathValue("id"))
		g.adminReply(w, req, err)
	})
	mux.HandleFunc("POST "+PathAdminAPI+"requests/{id}/approve", g.adminDecide(true))
	mux.HandleFunc("POST "+PathAdminAPI+"requests/{id}/deny", g.adminDecide(false))
	mux.HandleFunc("POST "+PathAdminAPI+"grants/{id}/revoke", func(w http.ResponseWriter, r *http.Request) {
		body, ok := decodeReason(w, r)
		if !ok {
			return
		}
		req, err := g.jit.Revoke(r.Context(), identity.FromContext(r.Context()), r.PathValue("id"), body.Reason)
		g.adminReply(w, req, err)
	})
	g.upstreamAdmin(mux)
	return mux
}

func (g *Gateway) adminList(w http.ResponseWriter, r *http.Request, f store.RequestFilter) {
	list, err := g.jit.List(r.Context(), identity.FromContext(r.Context()), f)
	if err != nil {
		g.adminError(w, err)
		return
	}
	out := make([]RequestJSON, 0, len(list))
	for _, req := range list {
		out = append(out, requestJSON(req))
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": out})
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func decodeReason(w http.ResponseWriter, r *http.Request) (reasonBody, bool) {
	var b reasonBody
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&b); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON like {\"reason\": \"...\"}"})
			return b, false
		}
	}
	return b, true
}

func (g *Gateway) adminDecide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := decodeReason(w, r)
		if !ok {
			return
		}
		req, err := g.jit.Decide(r.Context(), identity.FromContext(r.Context()), r.PathValue("id"), approve, body.Reason)
		g.adminReply(w, req, err)
	}
}

func (g *Gateway) adminReply(w http.ResponseWriter, req *store.Request, err error) {
	if err != nil {
		g.adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, requestJSON(req))
}

func (g *Gateway) adminError(w http.ResponseWriter, err error) {
	var je *jit.Error
	if errors.As(err, &je) {
		status := http.StatusForbidden
		if je.NotFound {
			status = http.StatusNotFound
		}
		writeJSON(w, status, map[string]string{"error": je.Msg})
		return
	}
	g.log.Error("admin API", "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}
