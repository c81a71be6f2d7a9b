package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/store"
)

// journalPage is how many items a search shows, newest first.
const journalPage = 200

// filterFrom reads a journal filter from the query string. Times are
// datetime-local values (taken as UTC) or RFC 3339.
func filterFrom(q url.Values) (recorder.Filter, error) {
	f := recorder.Filter{Subject: q.Get("subject"), Agent: q.Get("agent"), Tool: q.Get("tool"),
		Connection: q.Get("connection"), Decision: q.Get("decision"), Outcome: q.Get("outcome"),
		Session: q.Get("session"), Type: q.Get("type"), Text: q.Get("q")}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := q.Get(tf.name)
		if v == "" {
			continue
		}
		var err error
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
			var t time.Time
			if t, err = time.Parse(layout, v); err == nil {
				*tf.dst = t.UTC()
				break
			}
		}
		if err != nil {
			return f, fmt.Errorf("%s: not a time (use 2006-01-02T15:04 or RFC 3339)", tf.name)
		}
	}
	if len(f.Text) > 200 {
		return f, errors.New("text: at most 200 characters")
	}
	return f, nil
}

// outcomeOf is an item's outcome for the chart: a call's outcome, or
// "event" for grant and approval records.
func outcomeOf(it *recorder.Item) string {
	switch {
	case it.Event != nil:
		return "event"
	case it.Finished == nil:
		return "running"
	}
	return it.Finished.Outcome
}

type chartBar struct {
	X, W    float64
	Label   string
	Total   int
	Stacked []chartPart
}

type chartPart struct {
	Outcome string
	Y, H    float64
	N       int
}

type chart struct {
	Bars     []chartBar
	Outcomes []string
	Max      int
	From, To time.Time
}

// chartOutcomes orders outcomes in the chart and its legend.
var chartOutcomes = []string{recorder.OutcomeOK, recorder.OutcomeDenied, "pending", recorder.OutcomeInvalid, recorder.OutcomeError, recorder.OutcomeUnknown, "running"}

const (
	chartBuckets = 24
	chartW       = 720.0
	chartH       = 120.0
)

// buildChart counts calls per bucket and outcome between from and to.
func buildChart(times []time.Time, outcomes []string, from, to time.Time) *chart {
	if !to.After(from) {
		to = from.Add(time.Minute)
	}
	step := to.Sub(from) / chartBuckets
	counts := make([]map[string]int, chartBuckets)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	seen := map[string]bool{}
	for i, t := range times {
		b := int(t.Sub(from) / step)
		b = min(max(b, 0), chartBuckets-1)
		counts[b][outcomes[i]]++
		seen[outcomes[i]] = true
	}
	ch := &chart{From: from, To: to}
	for _, o := range chartOutcomes {
		if seen[o] {
			ch.Outcomes = append(ch.Outcomes, o)
		}
	}
	for o := range seen {
		if !slices.Contains(ch.Outcomes, o) {
			ch.Outcomes = append(ch.Outcomes, o)
		}
	}
	for _, m := range counts {
		n := 0
		for _, v := range m {
			n += v
		}
		ch.Max = max(ch.Max, n)
	}
	scale := chartH / float64(max(ch.Max, 1))
	w := chartW / chartBuckets
	for i, m := range counts {
		bar := chartBar{X: float64(i) * w, W: w - 2, Label: from.Add(time.Duration(i) * step).UTC().Format("01-02 15:04")}
		y := chartH
		for _, o := range ch.Outcomes {
			if n := m[o]; n > 0 {
				h := float64(n) * scale
				y -= h
				bar.Stacked = append(bar.Stacked, chartPart{Outcome: o, Y: y, H: h, N: n})
				bar.Total += n
			}
		}
		ch.Bars = append(ch.Bars, bar)
	}
	return ch
}

type journalView struct {
	Query     url.Values
	Items     []*recorder.Item
	Matched   int
	Chart     *chart
	Integrity recorder.IntegrityStatus
	Last      *recorder.Checkpoint
	LastErr   string
	Export    string
}

func (c *Console) handleJournal(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f, err := filterFrom(q)
	pg := c.newPage(s, "Journal", "journal")
	v := &journalView{Query: q, Export: q.Encode()}
	pg.Data = v
	if err != nil {
		pg.Error = err.Error()
		c.render(w, r, http.StatusBadRequest, "journal", pg)
		return
	}
	if f.Type == "" {
		f.Type = "call"
	}
	var times []time.Time
	var outcomes []string
	err = recorder.Items(r.Context(), c.o.Journal, 0, func(it *recorder.Item) error {
		if !f.Match(it) {
			return nil
		}
		v.Matched++
		times, outcomes = append(times, it.Start()), append(outcomes, outcomeOf(it))
		v.Items = append(v.Items, it)
		if len(v.Items) > 2*journalPage {
			v.Items = slices.Clone(v.Items[len(v.Items)-journalPage:])
		}
		return nil
	})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	slices.SortStableFunc(v.Items, func(a, b *recorder.Item) int { return b.Start().Compare(a.Start()) })
	v.Items = v.Items[:min(len(v.Items), journalPage)]
	from, to := f.Since, f.Until
	if to.IsZero() {
		to = c.now().UTC()
	}
	if from.IsZero() {
		from = to.Add(-time.Hour)
		for _, t := range times {
			if t.Before(from) {
				from = t
			}
		}
	}
	v.Chart = buildChart(times, outcomes, from, to)
	if c.o.Integrity != nil {
		v.Integrity = c.o.Integrity()
	}
	v.Last, err = c.lastCheckpoint(r.Context())
	if err != nil {
		v.LastErr = err.Error()
	}
	c.render(w, r, http.StatusOK, "journal", pg)
}

func (c *Console) lastCheckpoint(ctx context.Context) (*recorder.Checkpoint, error) {
	cps, err := c.o.Journal.JournalCheckpoints(ctx)
	if err != nil || len(cps) == 0 {
		return nil, err
	}
	last := slices.MaxFunc(cps, func(a, b store.Checkpoint) int { return int(a.Seq - b.Seq) })
	return recorder.ParseCheckpoint([]byte(last.Data))
}

// handleCall shows one call's full record (or one event's).
func (c *Console) handleCall(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	var found []*recorder.Item
	err := recorder.Items(r.Context(), c.o.Journal, 0, func(it *recorder.Item) error {
		if it.Record().CallID == id {
			found = append(found, it)
		}
		return nil
	})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	if len(found) == 0 {
		c.renderError(w, r, s, http.StatusNotFound, "No call "+id+" in the journal (it may have been pruned by retention).")
		return
	}
	pg := c.newPage(s, "Call "+id, "journal")
	pg.Data = found
	c.render(w, r, http.StatusOK, "call", pg)
}

type timelineEntry struct {
	*recorder.Item
	Offset string
}

// handleSession replays a session's calls as a timeline.
func (c *Console) handleSession(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	f := recorder.Filter{Session: id}
	var items []*recorder.Item
	err := recorder.Items(r.Context(), c.o.Journal, 0, func(it *recorder.Item) error {
		if it.Event == nil && f.Match(it) {
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	slices.SortStableFunc(items, func(a, b *recorder.Item) int { return a.Start().Compare(b.Start()) })
	var tl []timelineEntry
	for _, it := range items {
		tl = append(tl, timelineEntry{Item: it, Offset: fmt.Sprintf("+%.3fs", it.Start().Sub(items[0].Start()).Seconds())})
	}
	pg := c.newPage(s, "Session "+id, "journal")
	pg.Data = map[string]any{"Session": id, "Timeline": tl}
	c.render(w, r, http.StatusOK, "session", pg)
}

// handleExport downloads the filtered journal as JSON lines or OCSF.
func (c *Console) handleExport(w http.ResponseWriter, r *http.Request, s *session) {
	f, err := filterFrom(r.URL.Query())
	if err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	h := w.Header()
	switch r.PathValue("format") {
	case "jsonl":
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Content-Disposition", `attachment; filename="airlock-journal.jsonl"`)
		_, err = recorder.ExportJSONL(r.Context(), c.o.Journal, 0, f, w)
	case "ocsf":
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Content-Disposition", `attachment; filename="airlock-journal.ocsf.jsonl"`)
		_, err = recorder.ExportOCSF(r.Context(), c.o.Journal, 0, f, c.o.Version, w)
	default:
		c.renderError(w, r, s, http.StatusNotFound, "Export formats: jsonl, ocsf.")
		return
	}
	if err != nil {
		c.log.Error("console: export", "err", err) // the answer has started; it ends short
	}
	c.log.Info("console: journal exported", "subject", s.p.Subject, "format", r.PathValue("format"))
}

// connHealth is what the journal says of a connection lately: its last
// call and the outcomes of the last day's calls.
type connHealth struct {
	Last     time.Time
	Outcome  string
	Error    string
	OK, Fail int
}

func (c *Console) connectionHealth(ctx context.Context) (map[string]connHealth, error) {
	out := map[string]connHealth{}
	since := c.now().Add(-24 * time.Hour)
	err := recorder.Items(ctx, c.o.Journal, 0, func(it *recorder.Item) error {
		if it.Event != nil || it.Finished == nil || it.Start().Before(since) {
			return nil
		}
		rec := it.Finished
		if rec.Connection == "" || rec.Rule == "builtin:access-management" {
			return nil // access management never reaches the target
		}
		h := out[rec.Connection]
		switch rec.Outcome {
		case recorder.OutcomeOK:
			h.OK++
		case recorder.OutcomeError, recorder.OutcomeUnknown:
			h.Fail++
		default:
			return nil // refused by policy: says nothing of the target
		}
		h.Last, h.Outcome, h.Error = rec.Time, rec.Outcome, rec.Error
		out[rec.Connection] = h
		return nil
	})
	return out, err
}
