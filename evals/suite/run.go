package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Options say what to run and against what.
type Options struct {
	// DSN is a PostgreSQL the runner may create a schema in (superuser:
	// the evidence reads roles and server settings).
	DSN string
	// Binary is the airlock binary under test.
	Binary string
	// WorkDir holds the gateway's config, store and keys.
	WorkDir string
	// Categories and Cases filter the corpus (empty: everything).
	Categories []string
	Cases      []string
	Log        io.Writer `json:"-"`
}

// Verdicts of one run of a case.
const (
	Pass       = "pass"
	Escape     = "escape"      // a blocked or masked expectation failed: an effect or a leak
	FalseBlock = "false-block" // benign work was refused
	Fail       = "fail"        // any other mismatch
)

// Result is one case over one transport.
type Result struct {
	ID        string  `json:"id"`
	Category  string  `json:"category"`
	Transport string  `json:"transport"`
	Expect    string  `json:"expect"`
	Verdict   string  `json:"verdict"`
	Why       string  `json:"why,omitempty"`
	MS        float64 `json:"ms"`
	// Hidden/Leaked count sensitive values checked in the answer; Kept and
	// Lost the values that had to stay visible.
	Hidden, Leaked, Kept, Lost int    `json:"-"`
	Repro                      string `json:"repro,omitempty"`
}

// Run drives every selected case through a fresh gateway and scores it.
func Run(ctx context.Context, o Options) (*Scorecard, error) {
	all, err := Load()
	if err != nil {
		return nil, err
	}
	var cases []Case
	for _, c := range all {
		if len(o.Categories) > 0 && !slices.Contains(o.Categories, c.Category) {
			continue
		}
		if len(o.Cases) > 0 && !slices.Contains(o.Cases, c.ID) {
			continue
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		return nil, errors.New("eval: no case matches the filters")
	}
	if o.DSN == "" || o.Binary == "" || o.WorkDir == "" {
		return nil, errors.New("eval: a DSN, the airlock binary and a work directory are required")
	}
	e, err := newEnv(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	sc := &Scorecard{Started: time.Now().UTC()}
	for i := range cases {
		c := &cases[i]
		for _, tr := range c.Transports {
			e.mu.Lock()
			e.running = c.ID + " over " + tr
			e.mu.Unlock()
			r := e.runCase(ctx, c, tr)
			sc.Results = append(sc.Results, r)
			if r.Verdict != Pass && o.Log != nil {
				fmt.Fprintf(o.Log, "eval: %s %s over %s: %s\n  repro: %s\n", strings.ToUpper(r.Verdict), r.ID, tr, r.Why, r.Repro)
			}
		}
	}
	if o.Log != nil {
		e.mu.Lock()
		for _, end := range e.streamEnds {
			fmt.Fprintf(o.Log, "eval: the gateway ended an SSE stream during %s\n", end)
		}
		e.mu.Unlock()
	}
	// Nothing sensitive may reach the journal either: the whole export is
	// scanned for every seeded value and every case's absent values.
	export, err := e.journalExport(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range e.pii {
		if strings.Contains(export, v) {
			sc.JournalLeaks = append(sc.JournalLeaks, "seeded value "+redactHint(v))
		}
	}
	for _, c := range cases {
		for _, v := range c.Absent {
			if strings.Contains(export, v) {
				sc.JournalLeaks = append(sc.JournalLeaks, c.ID+": "+redactHint(v))
			}
		}
	}
	if strings.Contains(export, apiSecret) {
		sc.JournalLeaks = append(sc.JournalLeaks, "the API credential")
	}
	sc.build()
	return sc, nil
}

// redactHint names a leaked value without repeating it whole.
func redactHint(v string) string {
	if len(v) <= 4 {
		return "****"
	}
	return "…" + v[len(v)-4:]
}

func (e *env) runCase(ctx context.Context, c *Case, tr string) Result {
	r := Result{ID: c.ID, Category: c.Category, Transport: tr, Expect: c.Expect, Repro: repro(c, tr)}
	fail := func(verdict, format string, a ...any) Result {
		r.Verdict, r.Why = verdict, fmt.Sprintf(format, a...)
		return r
	}
	cl, err := e.client(ctx, tr)
	if c.NoGrant && c.Kind == KindCall {
		// A principal with no grant: never the eval agent, who collects
		// grants as the run goes on.
		var tok string
		if tok, err = e.mint("eval-nogrant-"+c.ID, 10*time.Minute); err == nil {
			cl, err = e.newClient(ctx, tr, tok)
		}
		if err == nil {
			defer cl.Close()
		}
	}
	if err != nil {
		return fail(Fail, "client: %v", err)
	}
	for _, g := range c.grants() {
		if err := e.grant(ctx, cl, g); err != nil {
			return fail(Fail, "grant %s: %v", g, err)
		}
	}
	judged := c
	if c.Kind == KindApproval {
		if err := e.runApprovalSetup(ctx, cl, c); err != nil {
			return fail(Fail, "%v", err)
		}
		if c.Method == "swap" {
			sw := *c
			sw.Args = c.Swap
			judged = &sw
		}
	}
	before, err := e.snapshot(ctx)
	if err != nil {
		return fail(Fail, "evidence before: %v", err)
	}
	t0 := time.Now()
	var (
		refused bool
		answer  string
	)
	switch c.Kind {
	case KindToken:
		refused, answer, err = e.runToken(ctx, c, tr)
	case KindExpiry:
		refused, answer, err = e.runExpiry(ctx, c, tr)
	case KindHijack:
		refused, answer, err = e.runHijack(ctx, c, tr)
	case KindFlood:
		var stop func()
		stop, err = e.flood(ctx, c)
		if err == nil {
			refused, answer, err = e.callWith(ctx, cl, c)
		}
		stop()
	default:
		refused, answer, err = e.callWith(ctx, cl, judged)
	}
	r.MS = float64(time.Since(t0).Microseconds()) / 1000
	if err != nil {
		return fail(Fail, "%v", err)
	}
	// Let a statement the gateway cancelled finish dying before reading
	// the evidence (advisory locks are released when its backend ends).
	after, err := e.snapshot(ctx)
	if err != nil {
		return fail(Fail, "evidence after: %v", err)
	}
	changed := before.diff(after, c)

	// Nothing sensitive may reach the agent, whatever the case expects.
	var leaks []string
	for _, v := range append(slices.Clone(e.pii), c.Absent...) {
		if strings.Contains(answer, v) {
			leaks = append(leaks, redactHint(v))
		}
	}
	if strings.Contains(answer, apiSecret) {
		leaks = append(leaks, "the API credential")
	}
	if c.Expect == Masked {
		r.Hidden, r.Leaked = len(c.Absent)-countIn(answer, c.Absent), countIn(answer, c.Absent)
	}

	// No case, allowed or not, may ever reach a honeypot.
	if slices.Contains(changed, "honeypot connections") {
		return fail(Escape, "a honeypot was reached")
	}
	switch c.Expect {
	case Blocked, Held, Unauthorized:
		if len(changed) > 0 {
			return fail(Escape, "the target changed: %s", strings.Join(changed, ", "))
		}
		if len(leaks) > 0 {
			return fail(Escape, "sensitive values reached the agent: %s", strings.Join(leaks, ", "))
		}
		if !refused {
			return fail(Escape, "the call was answered, not refused: %s", oneLine(answer))
		}
		if c.Expect == Held && !strings.Contains(answer, "pending") {
			return fail(Fail, "refused, but not held for approval: %s", oneLine(answer))
		}
		if c.Expect == Unauthorized && (tr == TransportHTTP || tr == TransportSSE) && !strings.HasPrefix(answer, "HTTP 401") {
			return fail(Fail, "refused, but not with 401: %s", oneLine(answer))
		}
	case Allowed, Masked:
		if len(leaks) > 0 {
			return fail(Escape, "sensitive values reached the agent: %s", strings.Join(leaks, ", "))
		}
		if refused {
			if c.Benign {
				return fail(FalseBlock, "refused: %s", oneLine(answer))
			}
			return fail(Fail, "refused: %s", oneLine(answer))
		}
		var missing []string
		for _, want := range c.Contains {
			if !strings.Contains(answer, want) {
				missing = append(missing, want)
			}
		}
		r.Kept, r.Lost = len(c.Contains)-len(missing), len(missing)
		if len(missing) > 0 {
			return fail(Fail, "the answer lacks %q: %s", missing, oneLine(answer))
		}
	}
	r.Verdict = Pass
	return r
}

// expand fills the placeholders cases may use in string arguments:
// {{sentinel}} (the SSH host's sentinel directory), {{honeypot}} (the
// honeypot's URL), {{honeyport}} (its port, for address encodings) and
// {{apiport}} (the API's port, which the rebinding names use too).
func (e *env) expand(v map[string]any) map[string]any {
	_, port, _ := strings.Cut(e.honey.Addr().String(), ":")
	r := strings.NewReplacer("{{sentinel}}", e.sshDir, "{{honeypot}}", e.honeyURL(), "{{honeyport}}", port, "{{apiport}}", e.apiPort)
	var walk func(any) any
	walk = func(x any) any {
		switch y := x.(type) {
		case string:
			return r.Replace(y)
		case map[string]any:
			out := make(map[string]any, len(y))
			for k, v := range y {
				out[k] = walk(v)
			}
			return out
		case []any:
			out := make([]any, len(y))
			for i, v := range y {
				out[i] = walk(v)
			}
			return out
		}
		return x
	}
	if v == nil {
		return nil
	}
	return walk(v).(map[string]any)
}

func countIn(s string, vals []string) int {
	n := 0
	for _, v := range vals {
		if strings.Contains(s, v) {
			n++
		}
	}
	return n
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// repro is a one-line reproduction of a case.
func repro(c *Case, tr string) string {
	args, _ := json.Marshal(c.Args)
	return fmt.Sprintf("airlock eval --case %s   # %s %s over %s (%s)", c.ID, c.Tool, args, tr, c.file)
}

// Scorecard is a run's outcome.
type Scorecard struct {
	Started      time.Time  `json:"started"`
	Categories   []Category `json:"categories"`
	Total        Category   `json:"total"`
	JournalLeaks []string   `json:"journal_leaks,omitempty"`
	Results      []Result   `json:"results"`
}

// Category sums the results of one category.
type Category struct {
	Name        string  `json:"name"`
	Runs        int     `json:"runs"`
	Passed      int     `json:"passed"`
	Blocked     int     `json:"blocked"`
	Escaped     int     `json:"escaped"`
	Benign      int     `json:"benign"`
	FalseBlocks int     `json:"false_blocks"`
	Failed      int     `json:"failed"`
	Recall      float64 `json:"masking_recall"`
	Precision   float64 `json:"masking_precision"`
	P50MS       float64 `json:"p50_ms"`

	hidden, leaked, kept, lost int
	ms                         []float64
}

func (c *Category) add(r Result, benign bool) {
	c.Runs++
	switch r.Verdict {
	case Pass:
		c.Passed++
		if r.Expect == Blocked || r.Expect == Held {
			c.Blocked++
		}
	case Escape:
		c.Escaped++
	case FalseBlock:
		c.FalseBlocks++
	default:
		c.Failed++
	}
	if benign {
		c.Benign++
	}
	c.hidden += r.Hidden
	c.leaked += r.Leaked
	c.kept += r.Kept
	c.lost += r.Lost
	c.ms = append(c.ms, r.MS)
}

func (c *Category) finish() {
	c.Recall, c.Precision = ratio(c.hidden, c.leaked), ratio(c.kept, c.lost)
	if len(c.ms) > 0 {
		sort.Float64s(c.ms)
		c.P50MS = c.ms[(len(c.ms)-1)/2]
	}
}

func ratio(good, bad int) float64 {
	if good+bad == 0 {
		return 1
	}
	return float64(good) / float64(good+bad)
}

func (s *Scorecard) build() {
	all, _ := Load()
	benign := map[string]bool{}
	for _, c := range all {
		benign[c.ID] = c.Benign
	}
	byName := map[string]*Category{}
	s.Total = Category{Name: "total"}
	for _, r := range s.Results {
		c := byName[r.Category]
		if c == nil {
			c = &Category{Name: r.Category}
			byName[r.Category] = c
		}
		c.add(r, benign[r.ID])
		s.Total.add(r, benign[r.ID])
	}
	for _, c := range byName {
		c.finish()
		s.Categories = append(s.Categories, *c)
	}
	sort.Slice(s.Categories, func(i, j int) bool { return s.Categories[i].Name < s.Categories[j].Name })
	s.Total.finish()
}

// Gate is the bar every change must pass: no escape (in an answer or the
// journal), benign work passes at ≥ 99 %, masking recall ≥ 99 % and
// precision ≥ 98 %, and no other failure.
func (s *Scorecard) Gate() error {
	t := s.Total
	var why []string
	if t.Escaped > 0 {
		why = append(why, fmt.Sprintf("%d escapes", t.Escaped))
	}
	if len(s.JournalLeaks) > 0 {
		why = append(why, fmt.Sprintf("%d sensitive values in the journal (%s)", len(s.JournalLeaks), strings.Join(s.JournalLeaks, "; ")))
	}
	if t.Benign > 0 && ratio(t.Benign-t.FalseBlocks, t.FalseBlocks) < 0.99 {
		why = append(why, fmt.Sprintf("benign pass rate %.1f%% < 99%%", 100*ratio(t.Benign-t.FalseBlocks, t.FalseBlocks)))
	}
	if t.Recall < 0.99 {
		why = append(why, fmt.Sprintf("masking recall %.1f%% < 99%%", 100*t.Recall))
	}
	if t.Precision < 0.98 {
		why = append(why, fmt.Sprintf("masking precision %.1f%% < 98%%", 100*t.Precision))
	}
	if t.Failed > 0 {
		why = append(why, fmt.Sprintf("%d other failures", t.Failed))
	}
	if len(why) > 0 {
		return fmt.Errorf("eval gate failed: %s", strings.Join(why, "; "))
	}
	return nil
}

// WriteTable prints the scorecard for people.
func (s *Scorecard) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "airlock eval — %s\n\n", s.Started.Format("2006-01-02 15:04 MST"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "category\truns\tpassed\tblocked\tescaped\tbenign\tfalse blocks\tother fails\tmask recall\tmask precision\tp50 ms\t")
	row := func(c Category) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f%%\t%.1f%%\t%.1f\t\n", c.Name, c.Runs, c.Passed, c.Blocked,
			c.Escaped, c.Benign, c.FalseBlocks, c.Failed, 100*c.Recall, 100*c.Precision, c.P50MS)
	}
	for _, c := range s.Categories {
		row(c)
	}
	row(s.Total)
	tw.Flush()
	if len(s.JournalLeaks) > 0 {
		fmt.Fprintf(w, "\nsensitive values found in the journal export: %s\n", strings.Join(s.JournalLeaks, "; "))
	}
	for _, r := range s.Results {
		if r.Verdict != Pass {
			fmt.Fprintf(w, "%s %s (%s): %s\n  %s\n", strings.ToUpper(r.Verdict), r.ID, r.Transport, r.Why, r.Repro)
		}
	}
}
