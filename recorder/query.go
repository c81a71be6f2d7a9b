package recorder

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Scan calls fn with every record after seq after, in order.
func Scan(ctx context.Context, src Reader, after int64, fn func(*Record) error) error {
	for {
		page, err := src.JournalAfter(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for i := range page {
			r, err := Decode(&page[i])
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
			after = page[i].Seq
		}
		if len(page) < pageSize {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Item is a call (its started and finished records; either may be absent:
// pruned, or not written yet) or an event.
type Item struct {
	Started  *Record
	Finished *Record
	Event    *Record
}

// Record is the item's most complete record: the finished record holds
// the request as well as the answer.
func (it *Item) Record() *Record {
	switch {
	case it.Event != nil:
		return it.Event
	case it.Finished != nil:
		return it.Finished
	}
	return it.Started
}

// Start is when the item began.
func (it *Item) Start() time.Time {
	if it.Started != nil {
		return it.Started.Time
	}
	return it.Record().Time
}

// Seq is the seq of the item's first record.
func (it *Item) Seq() int64 {
	if it.Started != nil {
		return it.Started.Seq
	}
	return it.Record().Seq
}

// Items streams the journal as items: a call when its finished record is
// read, an event as it is read, and, at the end, each call still open in
// the order it started.
func Items(ctx context.Context, src Reader, after int64, fn func(*Item) error) error {
	open := map[string]*Record{}
	err := Scan(ctx, src, after, func(r *Record) error {
		switch r.Type {
		case Started:
			open[r.CallID] = r
			return nil
		case Finished:
			it := &Item{Started: open[r.CallID], Finished: r}
			delete(open, r.CallID)
			return fn(it)
		default:
			return fn(&Item{Event: r})
		}
	})
	if err != nil {
		return err
	}
	rest := make([]*Record, 0, len(open))
	for _, r := range open {
		rest = append(rest, r)
	}
	sortBySeq(rest)
	for _, r := range rest {
		if err := fn(&Item{Started: r}); err != nil {
			return err
		}
	}
	return nil
}

func sortBySeq(rs []*Record) {
	slices.SortFunc(rs, func(a, b *Record) int { return cmp.Compare(a.Seq, b.Seq) })
}

// Filter selects items; empty fields match anything.
type Filter struct {
	Subject    string
	Agent      string
	Session    string
	Connection string
	Tool       string
	Outcome    string
	Decision   string
	Type       string // a record type: started, finished (calls), grant, approval, pruned, ...
	CallID     string
	Since      time.Time // items that started at or after
	Until      time.Time // items that started before
	// Text matches items whose record (masked, as journaled) contains it,
	// ignoring case: arguments, result, reason, error, names.
	Text string
}

// Match reports whether the item passes the filter.
func (f *Filter) Match(it *Item) bool {
	r := it.Record()
	var subject, agent string
	if p := r.Principal; p != nil {
		subject, agent = p.Subject, p.Agent
	}
	typ := r.Type
	if it.Event == nil {
		typ = "" // a call matches started and finished
	}
	switch {
	case !eq(f.Subject, subject), !eq(f.Agent, agent), !eq(f.Session, r.Session),
		!eq(f.Connection, r.Connection), !eq(f.Tool, r.Tool), !eq(f.Outcome, r.Outcome),
		!eq(f.Decision, r.Decision), !eq(f.CallID, r.CallID):
		return false
	case f.Type != "" && typ != f.Type && !(it.Event == nil && (f.Type == Started || f.Type == Finished || f.Type == "call")):
		return false
	case !f.Since.IsZero() && it.Start().Before(f.Since):
		return false
	case !f.Until.IsZero() && !it.Start().Before(f.Until):
		return false
	case f.Text != "" && !containsText(it, f.Text):
		return false
	}
	return true
}

// containsText reports whether any field of the item's records contains
// text, ignoring case. Raw JSON (arguments, result, detail) is searched as
// stored, with the HTML escapes of <, > and & read as those characters.
func containsText(it *Item, text string) bool {
	needle := strings.ToLower(text)
	for _, r := range []*Record{it.Started, it.Finished, it.Event} {
		if r != nil && recordContains(r, needle) {
			return true
		}
	}
	return false
}

func recordContains(r *Record, needle string) bool {
	for _, s := range []string{r.CallID, r.Type, r.Transport, r.Session, r.Tool, r.Connection, r.Access, r.Command,
		r.Decision, r.Rule, r.Reason, r.GrantID, r.ApprovalID, r.RequestID, r.Event, r.Actor, r.Outcome, r.Error} {
		if containsFold(s, needle) {
			return true
		}
	}
	if p := r.Principal; p != nil && (containsFold(p.Subject, needle) || containsFold(p.Agent, needle) || slices.ContainsFunc(p.Groups, func(g string) bool { return containsFold(g, needle) })) {
		return true
	}
	if slices.ContainsFunc(r.Resources, func(s string) bool { return containsFold(s, needle) }) {
		return true
	}
	for _, raw := range [][]byte{r.Arguments, r.Result, r.Detail} {
		if len(raw) == 0 {
			continue
		}
		s := string(raw)
		if strings.Contains(s, `\u00`) {
			s = jsonHTMLEscapes.Replace(s)
		}
		if containsFold(s, needle) {
			return true
		}
	}
	return false
}

var jsonHTMLEscapes = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

// containsFold reports whether s contains needle (already lower case),
// ignoring case; without allocating when needle is ASCII.
func containsFold(s, needle string) bool {
	if needle == "" {
		return true
	}
	for i := 0; i < len(needle); i++ {
		if needle[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), needle)
		}
	}
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func eq(want, got string) bool { return want == "" || want == got }
