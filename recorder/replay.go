package recorder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ReplayOptions choose what to replay: a session (the MCP session id the
// calls arrived in) or a subject's calls, optionally from a time on.
type ReplayOptions struct {
	Session string
	Subject string
	Since   time.Time
	Until   time.Time
}

// Replay renders a session or a subject's calls as the agent experienced
// them: for each call, the request, the decision (rule, grant, approver)
// and the result as the agent saw it, with timings. Grant and approval
// events of the subject are shown where they happened. It returns how
// many calls it rendered.
func Replay(ctx context.Context, src Reader, o ReplayOptions, w io.Writer) (int, error) {
	f := Filter{Session: o.Session, Subject: o.Subject, Since: o.Since, Until: o.Until}
	var items []*Item
	// Who decided each grant or approval request, whatever the filter.
	deciders := map[string][]string{}
	err := Items(ctx, src, 0, func(it *Item) error {
		if e := it.Event; e != nil && e.RequestID != "" {
			switch {
			case e.Event == "grant.issued":
				deciders[e.RequestID] = []string{autoIssued}
			case (e.Event == "request.approved" || e.Event == "request.voted") && e.Actor != "" && !slices.Contains(deciders[e.RequestID], e.Actor):
				deciders[e.RequestID] = append(deciders[e.RequestID], e.Actor)
			}
		}
		if f.Match(it) && (it.Event == nil || o.Session == "") && (it.Event == nil || it.Event.Type != Pruned) {
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.SortStableFunc(items, func(a, b *Item) int { return a.Start().Compare(b.Start()) })
	calls := 0
	for _, it := range items {
		if it.Event == nil {
			calls++
		}
	}
	what := "subject " + o.Subject
	if o.Session != "" {
		what = "session " + o.Session
	}
	if len(items) == 0 {
		fmt.Fprintf(w, "Replay of %s: no calls.\n", what)
		return 0, nil
	}
	t0 := items[0].Start()
	fmt.Fprintf(w, "Replay of %s: %d call(s), %d event(s), %s to %s\n", what, calls, len(items)-calls,
		fmtTime(t0), fmtTime(items[len(items)-1].Start()))
	n := 0
	for _, it := range items {
		fmt.Fprintln(w)
		off := it.Start().Sub(t0).Seconds()
		if e := it.Event; e != nil {
			renderEvent(w, e, off)
			continue
		}
		n++
		renderCall(w, n, it, off, deciders)
	}
	return n, nil
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func renderEvent(w io.Writer, e *Record, off float64) {
	fmt.Fprintf(w, "[event] +%.3fs %s  %s %s", off, fmtTime(e.Time), e.Type, e.Event)
	if e.Actor != "" {
		fmt.Fprintf(w, " by %s", e.Actor)
	}
	fmt.Fprintln(w)
	var parts []string
	if e.RequestID != "" {
		parts = append(parts, "request "+e.RequestID)
	}
	if e.Access != "" || e.Connection != "" {
		parts = append(parts, fmt.Sprintf("%s access to %s", e.Access, e.Connection))
	}
	if e.Tool != "" && e.Type == TypeApproval {
		parts = append(parts, "tool "+e.Tool)
	}
	if e.Decision != "" {
		parts = append(parts, "status "+e.Decision)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "    %s\n", strings.Join(parts, ", "))
	}
	if e.Reason != "" {
		fmt.Fprintf(w, "    reason   %s\n", e.Reason)
	}
}

func renderCall(w io.Writer, n int, it *Item, off float64, deciders map[string][]string) {
	r := it.Record()
	fmt.Fprintf(w, "[%d] +%.3fs %s  call %s\n", n, off, fmtTime(it.Start()), r.CallID)
	var by []string
	if p := r.Principal; p != nil {
		who := p.Subject
		if len(p.Groups) > 0 {
			who += " [" + strings.Join(p.Groups, ", ") + "]"
		}
		by = append(by, who)
		if p.Agent != "" {
			by = append(by, "agent "+p.Agent)
		}
	}
	if r.Transport != "" {
		by = append(by, "via "+r.Transport)
	}
	if len(by) > 0 {
		fmt.Fprintf(w, "    by       %s\n", strings.Join(by, ", "))
	}
	fmt.Fprintf(w, "    request  %s %s\n", r.Tool, oneLine(r.Arguments))

	f := it.Finished
	if f == nil {
		fmt.Fprintf(w, "    result   no finished record: the call is in flight, or the gateway stopped and has not restarted yet\n")
		return
	}
	if f.Decision != "" {
		d := f.Decision
		if f.Rule != "" {
			d += " by rule " + f.Rule
		}
		if f.Access != "" {
			d += fmt.Sprintf(" (%s on %s)", f.Access, f.Connection)
		}
		if f.GrantID != "" {
			d += "; grant " + f.GrantID + approvedBy(deciders[f.GrantID])
		}
		if f.ApprovalID != "" {
			d += "; approval " + f.ApprovalID + approvedBy(deciders[f.ApprovalID])
		}
		fmt.Fprintf(w, "    decision %s\n", d)
		if f.Reason != "" && f.Decision != "allow" {
			fmt.Fprintf(w, "             %s\n", f.Reason)
		}
	}
	switch f.Outcome {
	case OutcomeOK:
		facts := []string{fmt.Sprintf("%d row(s)", f.Rows), fmt.Sprintf("%d bytes", f.Bytes)}
		if f.Truncated {
			facts = append(facts, "truncated")
		}
		fmt.Fprintf(w, "    result   ok in %.3f ms: %s\n", f.DurationMS, strings.Join(facts, ", "))
		writeBody(w, f.Result)
	case OutcomeUnknown:
		fmt.Fprintf(w, "    result   unknown: the gateway stopped before the call finished (recorded %s); it was not retried\n", fmtTime(f.Time))
	default:
		fmt.Fprintf(w, "    result   %s in %.3f ms\n", f.Outcome, f.DurationMS)
		writeText(w, f.Error)
	}
}

// autoIssued marks a grant no human decided (auto mode).
const autoIssued = "\x00auto"

func approvedBy(who []string) string {
	if len(who) == 0 {
		return ""
	}
	if who[0] == autoIssued {
		return " (issued automatically)"
	}
	return " approved by " + strings.Join(who, ", ")
}

func oneLine(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// writeBody prints a result as the agent got it: text as text, structured
// results as compact JSON.
func writeBody(w io.Writer, raw json.RawMessage) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		writeText(w, s)
		return
	}
	if len(raw) > 0 {
		writeText(w, oneLine(raw))
	}
}

func writeText(w io.Writer, s string) {
	for line := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(w, "             %s\n", line)
	}
}
