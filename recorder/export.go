package recorder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ExportJSONL writes every record after seq after that passes f (by its
// item: a call's started and finished records pass together) as one JSON
// object per line, with the field names of Record (seq, prev_hash and hash
// included), in seq order.
func ExportJSONL(ctx context.Context, src Reader, after int64, f Filter, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	// A record's item is only known once its call finishes; started
	// records wait for their finished record to be matched together.
	pending := map[string]*Record{}
	var emit []*Record
	err := Scan(ctx, src, after, func(r *Record) error {
		if r.Type == Started {
			pending[r.CallID] = r
			return nil
		}
		it := &Item{Event: r}
		if r.Type == Finished {
			it = &Item{Started: pending[r.CallID], Finished: r}
			delete(pending, r.CallID)
		}
		if !f.Match(it) {
			return nil
		}
		emit = emit[:0]
		if it.Started != nil {
			emit = append(emit, it.Started)
		}
		emit = append(emit, it.Record())
		for _, r := range emit {
			if err := enc.Encode(r); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	// Calls still open: their started records, in order.
	open := make([]*Record, 0, len(pending))
	for _, r := range pending {
		open = append(open, r)
	}
	sortBySeq(open)
	for _, r := range open {
		if f.Match(&Item{Started: r}) {
			if err := enc.Encode(r); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// OCSFVersion is the OCSF schema version ExportOCSF maps to.
const OCSFVersion = "1.3.0"

// OCSF API Activity (class 6003) event, the subset Airlock fills. Field
// order is stable.
type ocsfEvent struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	StatusID     int    `json:"status_id"`
	Status       string `json:"status"`
	StatusCode   string `json:"status_code,omitempty"`
	StatusDetail string `json:"status_detail,omitempty"`
	Message      string `json:"message"`
	Time         int64  `json:"time"`
	StartTime    int64  `json:"start_time,omitempty"`
	EndTime      int64  `json:"end_time,omitempty"`
	Duration     int64  `json:"duration,omitempty"`

	Metadata    ocsfMetadata     `json:"metadata"`
	Actor       ocsfActor        `json:"actor"`
	API         ocsfAPI          `json:"api"`
	Resources   []ocsfResource   `json:"resources,omitempty"`
	SrcEndpoint ocsfEndpoint     `json:"src_endpoint"`
	Unmapped    map[string]any   `json:"unmapped,omitempty"`
	Observables []ocsfObservable `json:"observables,omitempty"`
}

type ocsfMetadata struct {
	Version        string      `json:"version"`
	Product        ocsfProduct `json:"product"`
	UID            string      `json:"uid"`
	CorrelationUID string      `json:"correlation_uid,omitempty"`
	Sequence       int64       `json:"sequence"`
	LogName        string      `json:"log_name"`
	EventCode      string      `json:"event_code"`
	OriginalTime   string      `json:"original_time"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

type ocsfActor struct {
	User           *ocsfUser   `json:"user,omitempty"`
	AppName        string      `json:"app_name,omitempty"`
	Session        *ocsfUIDObj `json:"session,omitempty"`
	IDP            *ocsfName   `json:"idp,omitempty"`
	Authorizations []ocsfAuthz `json:"authorizations,omitempty"`
}

type ocsfUser struct {
	UID    string     `json:"uid"`
	Name   string     `json:"name"`
	Groups []ocsfName `json:"groups,omitempty"`
}

type ocsfName struct {
	Name string `json:"name"`
}

type ocsfUIDObj struct {
	UID string `json:"uid"`
}

type ocsfAuthz struct {
	Decision string      `json:"decision"`
	Policy   *ocsfPolicy `json:"policy,omitempty"`
}

type ocsfPolicy struct {
	UID  string `json:"uid,omitempty"`
	Name string `json:"name,omitempty"`
	Desc string `json:"desc,omitempty"`
}

type ocsfAPI struct {
	Operation string        `json:"operation"`
	Service   *ocsfName     `json:"service,omitempty"`
	Request   *ocsfRequest  `json:"request,omitempty"`
	Response  *ocsfResponse `json:"response,omitempty"`
}

type ocsfRequest struct {
	UID  string          `json:"uid"`
	Data json.RawMessage `json:"data,omitempty"`
}

type ocsfResponse struct {
	Code         int             `json:"code,omitempty"`
	Error        string          `json:"error,omitempty"`
	ErrorMessage string          `json:"error_message,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
}

type ocsfResource struct {
	Name string `json:"name"`
	Type string `json:"type"`
	UID  string `json:"uid,omitempty"`
}

type ocsfEndpoint struct {
	Name string `json:"name,omitempty"`
}

type ocsfObservable struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
	Value  string `json:"value"`
}

// OCSF maps an item to an OCSF API Activity event. README.md ("The
// journal") documents the mapping field by field. product is Airlock's
// version for metadata.product.version.
func OCSF(it *Item, product string) any {
	r := it.Record()
	ev := &ocsfEvent{
		CategoryUID: 6, CategoryName: "Application Activity",
		ClassUID: 6003, ClassName: "API Activity",
		Time: r.Time.UnixMilli(),
		Metadata: ocsfMetadata{
			Version: OCSFVersion, Product: ocsfProduct{Name: "Airlock", VendorName: "Airlock", Version: product},
			UID: r.Hash, CorrelationUID: r.CallID, Sequence: r.Seq, LogName: "journal", EventCode: r.Type,
			OriginalTime: r.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"),
		},
		API:         ocsfAPI{Operation: r.Tool},
		SrcEndpoint: ocsfEndpoint{Name: r.Transport},
	}
	ev.ActivityID, ev.ActivityName = ocsfActivity(it)
	ev.TypeUID = 600300 + ev.ActivityID
	ev.TypeName = "API Activity: " + ev.ActivityName
	ev.StatusID, ev.Status, ev.SeverityID, ev.Severity = ocsfStatus(it)
	ev.StatusCode = r.Outcome
	ev.StatusDetail = r.Error
	if r.Outcome == "" && it.Event == nil {
		ev.StatusCode = "in_progress"
	}
	if it.Event != nil {
		ev.API.Operation = r.Type + "." + r.Event
		ev.StatusCode = r.Decision
		ev.StatusDetail = r.Reason
	}
	if r.DurationMS > 0 {
		ev.Duration = int64(r.DurationMS)
		ev.EndTime = r.Time.UnixMilli()
		ev.StartTime = it.Start().UnixMilli()
	}
	if p := r.Principal; p != nil {
		u := &ocsfUser{UID: p.Subject, Name: p.Subject}
		for _, g := range p.Groups {
			u.Groups = append(u.Groups, ocsfName{Name: g})
		}
		ev.Actor.User = u
		ev.Actor.AppName = p.Agent
		if p.Issuer != "" {
			ev.Actor.IDP = &ocsfName{Name: p.Issuer}
		}
		ev.Observables = append(ev.Observables, ocsfObservable{Name: "actor.user.uid", Type: "User Name", TypeID: 4, Value: p.Subject})
	}
	if r.Session != "" {
		ev.Actor.Session = &ocsfUIDObj{UID: r.Session}
	}
	if r.Decision != "" && it.Event == nil {
		ev.Actor.Authorizations = []ocsfAuthz{{Decision: r.Decision, Policy: &ocsfPolicy{UID: r.Rule, Name: r.Rule, Desc: r.Reason}}}
	}
	if r.Connection != "" {
		ev.API.Service = &ocsfName{Name: r.Connection}
		ev.Resources = append(ev.Resources, ocsfResource{Name: r.Connection, Type: "connection", UID: r.Connection})
	}
	for _, res := range r.Resources {
		ev.Resources = append(ev.Resources, ocsfResource{Name: res, Type: "resource", UID: r.Connection + "/" + res})
	}
	if r.CallID != "" && it.Event == nil {
		ev.API.Request = &ocsfRequest{UID: r.CallID, Data: r.Arguments}
	}
	if it.Finished != nil {
		resp := &ocsfResponse{Data: r.Result}
		if r.Outcome != OutcomeOK {
			resp.Error, resp.ErrorMessage = r.Outcome, r.Error
		}
		ev.API.Response = resp
	}
	ev.Message = ocsfMessage(it)
	ev.Unmapped = ocsfUnmapped(r)
	return ev
}

// ocsfActivity maps the access class (and, for writes, the command) to
// Create/Read/Update/Delete.
func ocsfActivity(it *Item) (int, string) {
	r := it.Record()
	if it.Event != nil {
		return 99, "Other"
	}
	switch r.Access {
	case "read":
		return 2, "Read"
	case "write":
		switch strings.ToUpper(r.Command) {
		case "INSERT":
			return 1, "Create"
		case "DELETE":
			return 4, "Delete"
		}
		return 3, "Update"
	case "":
		return 0, "Unknown"
	}
	return 99, "Other"
}

// ocsfStatus maps the outcome to status and severity.
func ocsfStatus(it *Item) (statusID int, status string, sevID int, sev string) {
	r := it.Record()
	if it.Event != nil {
		return 1, "Success", 1, "Informational"
	}
	switch r.Outcome {
	case OutcomeOK:
		return 1, "Success", 1, "Informational"
	case OutcomeDenied:
		return 2, "Failure", 3, "Medium"
	case OutcomeInvalid, "pending":
		return 2, "Failure", 1, "Informational"
	case OutcomeError:
		return 2, "Failure", 2, "Low"
	case OutcomeUnknown:
		return 0, "Unknown", 3, "Medium"
	}
	return 0, "Unknown", 1, "Informational" // in flight
}

func ocsfMessage(it *Item) string {
	r := it.Record()
	who := "unknown"
	if r.Principal != nil {
		who = r.Principal.Subject
	}
	if it.Event != nil {
		return fmt.Sprintf("%s %s %s: %s access to %s (%s)", r.Type, r.Event, who, r.Access, r.Connection, r.RequestID)
	}
	out := r.Outcome
	if out == "" {
		out = "in progress"
	}
	on := ""
	if r.Connection != "" {
		on = " on " + r.Connection
	}
	return fmt.Sprintf("%s called %s%s: %s", who, r.Tool, on, out)
}

func ocsfUnmapped(r *Record) map[string]any {
	m := map[string]any{}
	set := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	set("type", r.Type, true)
	set("access", r.Access, r.Access != "")
	set("command", r.Command, r.Command != "")
	set("arguments_digest", r.ArgumentsDigest, r.ArgumentsDigest != "")
	set("decision", r.Decision, r.Decision != "")
	set("rule", r.Rule, r.Rule != "")
	set("reason", r.Reason, r.Reason != "")
	set("grant_id", r.GrantID, r.GrantID != "")
	set("approval_id", r.ApprovalID, r.ApprovalID != "")
	set("request_id", r.RequestID, r.RequestID != "")
	set("event", r.Event, r.Event != "")
	set("actor", r.Actor, r.Actor != "")
	set("rows", r.Rows, r.Rows != 0)
	set("bytes", r.Bytes, r.Bytes != 0)
	set("truncated", r.Truncated, r.Truncated)
	set("transport", r.Transport, r.Transport != "")
	set("instance", r.Instance, r.Instance != "")
	set("trace_id", r.TraceID, r.TraceID != "")
	set("prev_hash", r.PrevHash, r.PrevHash != "")
	set("hash", r.Hash, r.Hash != "")
	set("detail", r.Detail, len(r.Detail) > 0)
	return m
}

// ExportOCSF writes one OCSF API Activity event per line: one per call
// (from its finished record, or its started record while it is open) and
// one per event record, for items after seq after that pass f.
func ExportOCSF(ctx context.Context, src Reader, after int64, f Filter, product string, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	err := Items(ctx, src, after, func(it *Item) error {
		if !f.Match(it) {
			return nil
		}
		n++
		return enc.Encode(OCSF(it, product))
	})
	return n, err
}
