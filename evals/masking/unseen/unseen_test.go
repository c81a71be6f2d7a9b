package unseen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/masking"
)

// EnforceGate turns the scorecard into a pass/fail gate. It is off: the
// test reports only, until the lead sets it. RecallGate is then the minimum
// recall (percent) per kind and per context, FPGate the maximum
// false-positive rate (percent) per look-alike shape.
const (
	EnforceGate = false
	RecallGate  = 99.0
	FPGate      = 1.0
)

func engine(t testing.TB) *masking.Engine {
	t.Helper()
	// The zero Config is what the gateway runs with when airlock.yaml has
	// no masking section: every detector on, every entity redacted.
	e, err := masking.New(masking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// maskDoc masks a document as `airlock mask` does: JSON through the JSON
// path, everything else as text.
func maskDoc(e *masking.Engine, d Doc) (string, error) {
	if d.JSON {
		var out bytes.Buffer
		if err := e.MaskJSON(strings.NewReader(d.Text), &out, nil); err != nil {
			return "", err
		}
		return out.String(), nil
	}
	return e.MaskText(d.Text, nil), nil
}

var uEsc = regexp.MustCompile(`\\u([0-9a-fA-F]{4})`)

// views are decodings of the output in which a raw value could still be
// read.
func views(out string) []string {
	v := []string{out}
	h := strings.ReplaceAll(html.UnescapeString(out), "\u00a0", " ")
	if h != out {
		v = append(v, h)
	}
	if q, err := url.QueryUnescape(out); err == nil && q != out {
		v = append(v, q)
	}
	j := uEsc.ReplaceAllStringFunc(out, func(m string) string {
		n, _ := strconv.ParseUint(m[2:], 16, 32)
		return string(rune(n))
	})
	j = strings.ReplaceAll(strings.ReplaceAll(j, `\/`, "/"), `\"`, `"`)
	if j != out {
		v = append(v, j)
	}
	return v
}

// digitRuns returns the digits of every run of digits and phone/card
// separators in s.
func digitRuns(s string) []string {
	var runs []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			runs = append(runs, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			cur.WriteByte(c)
		case strings.IndexByte(" -.()/+", c) >= 0:
		default:
			flush()
		}
	}
	flush()
	return runs
}

func survives(out string, it Item) bool {
	if strings.Contains(out, it.Enc) {
		return true
	}
	vs := views(out)
	for _, c := range it.Checks {
		for _, v := range vs {
			if strings.Contains(v, c) {
				return true
			}
			if it.DigitsNorm {
				dc := onlyDigits(c)
				if len(dc) >= 7 {
					for _, r := range digitRuns(v) {
						if strings.Contains(r, dc) {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

type tally struct{ hit, n int }

func (t tally) pct() float64 {
	if t.n == 0 {
		return 100
	}
	return 100 * float64(t.hit) / float64(t.n)
}

type scores struct {
	kind, ctx, kindCtx, negShape, negCtx map[string]*tally
	shape, kindKey                       map[string]*tally
	// missWhere lists, per kind|shape, the contexts (and keys) of misses;
	// fpWhere the same for changed negatives.
	missWhere, fpWhere map[string][]string
	pos, neg           tally
	// idem counts, per context, documents whose masked output changes when
	// masked again (masking is documented as idempotent); idemWhere names
	// the look-alikes the second pass masked.
	idem      map[string]*tally
	idemWhere map[string][]string
}

func add(m map[string]*tally, k string, hit bool) {
	t := m[k]
	if t == nil {
		t = &tally{}
		m[k] = t
	}
	t.n++
	if hit {
		t.hit++
	}
}

func score(t testing.TB, e *masking.Engine, docs []Doc) *scores {
	s := &scores{kind: map[string]*tally{}, ctx: map[string]*tally{}, kindCtx: map[string]*tally{},
		negShape: map[string]*tally{}, negCtx: map[string]*tally{}, shape: map[string]*tally{}, kindKey: map[string]*tally{},
		missWhere: map[string][]string{}, fpWhere: map[string][]string{},
		idem: map[string]*tally{}, idemWhere: map[string][]string{}}
	for _, d := range docs {
		out, err := maskDoc(e, d)
		if err != nil {
			// A document the engine refuses is a generator bug (the JSON is
			// ours); report the class, never the text.
			t.Errorf("doc %d (%s): mask error: %v", d.ID, d.Context, err)
			continue
		}
		again := d
		again.Text = out
		out2, err := maskDoc(e, again)
		add(s.idem, d.Context, err != nil || out2 != out)
		for _, it := range d.Items {
			if it.Neg && strings.Contains(out, it.Enc) && !strings.Contains(out2, it.Enc) {
				s.idemWhere[it.Shape] = append(s.idemWhere[it.Shape], where(it))
			}
		}
		for _, it := range d.Items {
			if it.Enc == "" {
				t.Errorf("doc %d: item %s/%s has no encoding", d.ID, it.Kind, it.Shape)
				continue
			}
			if !strings.Contains(d.Text, it.Enc) {
				t.Errorf("doc %d: item %s/%s not in its document", d.ID, it.Kind, it.Shape)
				continue
			}
			if it.Neg {
				changed := !strings.Contains(out, it.Enc)
				s.neg.n++
				if changed {
					s.neg.hit++
				}
				add(s.negShape, it.Shape, changed)
				add(s.negCtx, it.Context, changed)
				if changed {
					s.fpWhere[it.Shape] = append(s.fpWhere[it.Shape], where(it))
				}
				continue
			}
			masked := !survives(out, it)
			s.pos.n++
			if masked {
				s.pos.hit++
			}
			add(s.kind, it.Kind, masked)
			add(s.ctx, it.Context, masked)
			add(s.kindCtx, it.Kind+" | "+it.Context, masked)
			add(s.shape, it.Kind+" | "+it.Shape, masked)
			if it.KeyClass != "none" {
				add(s.kindKey, it.Kind+" | "+it.KeyClass+":"+it.Key, masked)
			}
			if !masked {
				s.missWhere[it.Kind+" | "+it.Shape] = append(s.missWhere[it.Kind+" | "+it.Shape], where(it))
			}
		}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Report renders the scorecard; it names classes, never values.
func (s *scores) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "positives %d, masked %d (recall %.1f%%); negatives %d, changed %d (FP %.1f%%)\n\n",
		s.pos.n, s.pos.hit, s.pos.pct(), s.neg.n, s.neg.hit, s.neg.pct())
	b.WriteString("| kind | masked/total | recall |\n|---|---|---|\n")
	for _, k := range sortedKeys(s.kind) {
		t := s.kind[k]
		fmt.Fprintf(&b, "| %s | %d/%d | %.1f%% |\n", k, t.hit, t.n, t.pct())
	}
	b.WriteString("\n| context | masked/total | recall |\n|---|---|---|\n")
	for _, k := range Contexts {
		if t := s.ctx[k]; t != nil {
			fmt.Fprintf(&b, "| %s | %d/%d | %.1f%% |\n", k, t.hit, t.n, t.pct())
		}
	}
	b.WriteString("\n| negative shape | changed/total | FP |\n|---|---|---|\n")
	for _, k := range sortedKeys(s.negShape) {
		t := s.negShape[k]
		fmt.Fprintf(&b, "| %s | %d/%d | %.1f%% |\n", k, t.hit, t.n, t.pct())
	}
	b.WriteString("\n| negative context | changed/total | FP |\n|---|---|---|\n")
	for _, k := range Contexts {
		if t := s.negCtx[k]; t != nil {
			fmt.Fprintf(&b, "| %s | %d/%d | %.1f%% |\n", k, t.hit, t.n, t.pct())
		}
	}
	b.WriteString("\n| kind | context | masked/total |\n|---|---|---|\n")
	for _, k := range sortedKeys(s.kindCtx) {
		if t := s.kindCtx[k]; t.hit < t.n {
			fmt.Fprintf(&b, "| %s | %d/%d |\n", k, t.hit, t.n)
		}
	}
	b.WriteString("\n| kind | key (rows below 100 %) | masked/total |\n|---|---|---|\n")
	for _, k := range sortedKeys(s.kindKey) {
		if t := s.kindKey[k]; t.hit < t.n {
			fmt.Fprintf(&b, "| %s | %d/%d |\n", k, t.hit, t.n)
		}
	}
	b.WriteString("\nMisses by shape (kind | shape: missed/total in its contexts; where: context[key class:key]):\n\n")
	for _, k := range sortedKeys(s.shape) {
		t := s.shape[k]
		if t.hit == t.n {
			continue
		}
		fmt.Fprintf(&b, "- %s: %d/%d missed; %s\n", k, t.n-t.hit, t.n, strings.Join(s.missWhere[k], ", "))
	}
	b.WriteString("\nFalse positives by shape (where: context[key]):\n\n")
	for _, k := range sortedKeys(s.fpWhere) {
		fmt.Fprintf(&b, "- %s: %d/%d changed; %s\n", k, s.negShape[k].hit, s.negShape[k].n, strings.Join(s.fpWhere[k], ", "))
	}
	b.WriteString("\nIdempotence (documents whose masked output changes when masked again):\n\n")
	changed := 0
	for _, k := range Contexts {
		if t := s.idem[k]; t != nil && t.hit > 0 {
			changed += t.hit
			fmt.Fprintf(&b, "- %s: %d/%d documents\n", k, t.hit, t.n)
		}
	}
	if changed == 0 {
		b.WriteString("- none\n")
	}
	for _, k := range sortedKeys(s.idemWhere) {
		fmt.Fprintf(&b, "- look-alike masked only by the second pass: %s: %s\n", k, strings.Join(s.idemWhere[k], ", "))
	}
	return b.String()
}

// where names an item's class position: context and key, never the value.
func where(it Item) string {
	if it.Neg {
		return it.Context + "[" + it.Key + "]"
	}
	if it.KeyClass == "none" {
		return it.Context
	}
	return it.Context + "[" + it.KeyClass + ":" + it.Key + "]"
}

// seed is Seed unless AIRLOCK_UNSEEN_SEED gives another: after fixing a
// class, check it on values the fix never saw.
func seed(t testing.TB) uint64 {
	if v := os.Getenv("AIRLOCK_UNSEEN_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("AIRLOCK_UNSEEN_SEED: %v", err)
		}
		return n
	}
	return Seed
}

func TestUnseenCorpus(t *testing.T) {
	docs := Generate(seed(t))
	e := engine(t)
	s := score(t, e, docs)
	t.Logf("unseen corpus scorecard\n%s", s.Report())
	// make test prints the scorecard after the run (like evals/masking's).
	if path := os.Getenv("AIRLOCK_MASKING_UNSEEN_SCORECARD"); path != "" {
		if err := os.WriteFile(path, []byte(s.Report()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if !EnforceGate {
		return
	}
	for k, v := range s.kind {
		if v.pct() < RecallGate {
			t.Errorf("recall for kind %s %.1f%% < %.1f%%", k, v.pct(), RecallGate)
		}
	}
	for k, v := range s.ctx {
		if v.pct() < RecallGate {
			t.Errorf("recall for context %s %.1f%% < %.1f%%", k, v.pct(), RecallGate)
		}
	}
	for k, v := range s.negShape {
		if v.pct() > FPGate {
			t.Errorf("false positives for %s %.1f%% > %.1f%%", k, v.pct(), FPGate)
		}
	}
}

// mixedText is every non-JSON document of the corpus, joined: the text
// path's input mix.
func mixedText() string {
	var b strings.Builder
	for _, d := range Generate(Seed) {
		if !d.JSON {
			b.WriteString(d.Text)
			b.WriteString("\n")
		}
	}
	return b.String()
}

func mixedJSON() string {
	var b strings.Builder
	for _, d := range Generate(Seed) {
		if d.JSON {
			b.WriteString(d.Text)
		}
	}
	return b.String()
}

func BenchmarkUnseenMaskText(b *testing.B) {
	e := engine(b)
	s := mixedText()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	c0 := cpuNanos()
	for b.Loop() {
		_ = e.MaskText(s, nil)
	}
	reportCPU(b, c0, len(s))
}

// reportCPU adds CPU time per op and MB per CPU second (0 where the
// platform cannot say).
func reportCPU(b *testing.B, c0 int64, n int) {
	cpu := cpuNanos() - c0
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n)*float64(b.N)/(float64(cpu)/1e9)/1e6, "MB/cpu-s")
}

func BenchmarkUnseenMaskJSON(b *testing.B) {
	e := engine(b)
	s := mixedJSON()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	var out bytes.Buffer
	c0 := cpuNanos()
	for b.Loop() {
		out.Reset()
		if err := e.MaskJSON(strings.NewReader(s), &out, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0, len(s))
}

// TestGeneratorValues checks the generator's own validators, so a score is
// not an artefact of invalid positives or accidentally valid negatives.
func TestGeneratorValues(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{{"4111111111111111", true}, {"4111111111111112", false}, {"378282246310005", true}, {"6011111111111117", true}} {
		if luhnValid(c.s) != c.want {
			t.Errorf("luhnValid(%s) = %v", c.s, !c.want)
		}
	}
	for _, c := range []struct {
		s    string
		want bool
	}{{"GB82 WEST 1234 5698 7654 32", true}, {"DE89370400440532013000", true}, {"DE89370400440532013001", false}} {
		if ibanValid(c.s) != c.want {
			t.Errorf("ibanValid(%s) = %v", c.s, !c.want)
		}
	}
	g := &gen{r: rand.New(rand.NewPCG(1, 2))}
	for _, s := range shapes() {
		for range 20 {
			v, _ := s.make(g)
			switch s.kind {
			case "card":
				if !luhnValid(onlyDigits(v)) {
					t.Errorf("%s: generated card fails Luhn", s.name)
				}
			case "iban":
				if !ibanValid(v) {
					t.Errorf("%s: generated IBAN fails mod-97", s.name)
				}
			}
		}
	}
	for _, n := range negShapes() {
		if n.name == "bad-check IBAN" {
			for range 20 {
				if ibanValid(n.make(g)) {
					t.Errorf("bad-check IBAN is valid")
				}
			}
		}
	}
	// Same seed, same corpus.
	a, b := Generate(Seed), Generate(Seed)
	if len(a) != len(b) {
		t.Fatal("generator is not deterministic")
	}
	for i := range a {
		if a[i].Text != b[i].Text {
			t.Fatalf("doc %d differs between runs", i)
		}
	}
}

// BenchmarkUnseenPerDocument masks every document on its own, through the
// path the test uses for it: how results reach the engine in the gateway.
// Small documents: this is per-call cost more than per-byte cost.
func BenchmarkUnseenPerDocument(b *testing.B) {
	e := engine(b)
	all := Generate(Seed)
	for _, path := range []string{"text", "json"} {
		var docs []Doc
		n := 0
		for _, d := range all {
			if d.JSON == (path == "json") {
				docs = append(docs, d)
				n += len(d.Text)
			}
		}
		b.Run(path, func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			c0 := cpuNanos()
			for b.Loop() {
				for _, d := range docs {
					if _, err := maskDoc(e, d); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCPU(b, c0, n)
			b.ReportMetric(float64(len(docs)), "docs/op")
		})
	}
}

// checkCorpus checks the generator's invariants for one seed: every label
// is in its document, JSON documents are valid JSON (NDJSON line by line).
func checkCorpus(t *testing.T, docs []Doc) {
	t.Helper()
	for _, d := range docs {
		for _, it := range d.Items {
			if it.Enc == "" || !strings.Contains(d.Text, it.Enc) {
				t.Fatalf("doc %d (%s): %s/%s label not in its document", d.ID, d.Context, it.Kind, it.Shape)
			}
		}
		if d.JSON {
			for _, line := range strings.Split(strings.TrimSpace(d.Text), "\n") {
				if d.Context == "ndjson" && !json.Valid([]byte(line)) {
					t.Fatalf("doc %d (%s): invalid JSON line", d.ID, d.Context)
				}
			}
			if d.Context != "ndjson" && !json.Valid([]byte(d.Text)) {
				t.Fatalf("doc %d (%s): invalid JSON", d.ID, d.Context)
			}
		}
	}
}

func TestGeneratorInvariants(t *testing.T) {
	for _, s := range []uint64{Seed, 1, 2, 3} {
		checkCorpus(t, Generate(s))
	}
}

// FuzzGenerate checks the invariants for any seed, and that the engine
// accepts every document (a JSON document it rejects is a generator bug).
func FuzzGenerate(f *testing.F) {
	f.Add(uint64(Seed))
	f.Add(uint64(0))
	e := engine(f)
	f.Fuzz(func(t *testing.T, seed uint64) {
		docs := Generate(seed)
		checkCorpus(t, docs)
		for _, d := range docs {
			if _, err := maskDoc(e, d); err != nil {
				t.Fatalf("doc %d (%s): mask error: %v", d.ID, d.Context, err)
			}
		}
	})
}
