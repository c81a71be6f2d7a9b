package maskingeval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/masking"
)

const corpusPath = "testdata/corpus.jsonl"

func loadCorpus(t *testing.T) []Item {
	t.Helper()
	f, err := os.Open(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []Item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var it Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatalf("%s: %v", corpusPath, err)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return items
}

// The committed corpus is exactly what the generator makes.
func TestCorpusIsGenerated(t *testing.T) {
	items := loadCorpus(t)
	if !reflect.DeepEqual(items, Generate()) {
		t.Fatalf("%s is stale: run `go run ./evals/masking/gencorpus`", corpusPath)
	}
	pos, neg := 0, 0
	formats := map[string]int{}
	for _, it := range items {
		formats[it.Format]++
		if len(it.Spans) == 0 {
			neg++
		}
		for _, s := range it.Spans {
			pos++
			if it.Text[s.Start:s.End] != s.Value {
				t.Errorf("%s: span %d:%d is %q, labelled %q", it.ID, s.Start, s.End, it.Text[s.Start:s.End], s.Value)
			}
		}
	}
	if pos < 500 || neg < 500 || len(formats) != 4 {
		t.Errorf("corpus too small: %d positives, %d negatives, formats %v", pos, neg, formats)
	}
}

type score struct{ tp, fp, fn int }

func (s score) precision() float64 {
	if s.tp+s.fp == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fp)
}

func (s score) recall() float64 {
	if s.tp+s.fn == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fn)
}

// TestMaskingQuality scores the default engine: a finding is a true
// positive when its entity and byte span equal a label's.
func TestMaskingQuality(t *testing.T) {
	e, err := masking.New(masking.Config{})
	if err != nil {
		t.Fatal(err)
	}
	items := loadCorpus(t)
	scores := map[string]*score{}
	get := func(ent string) *score {
		if scores[ent] == nil {
			scores[ent] = &score{}
		}
		return scores[ent]
	}
	var misses []string
	for _, it := range items {
		type key struct {
			ent        string
			start, end int
		}
		labels := map[key]bool{}
		for _, s := range it.Spans {
			labels[key{s.Entity, s.Start, s.End}] = true
		}
		for _, f := range e.Find(it.Text) {
			k := key{string(f.Entity), f.Start, f.End}
			if labels[k] {
				get(k.ent).tp++
				delete(labels, k)
				continue
			}
			get(k.ent).fp++
			misses = append(misses, fmt.Sprintf("FP %s %s %q in %q", it.ID, k.ent, it.Text[f.Start:f.End], it.Text))
		}
		for k := range labels {
			get(k.ent).fn++
			misses = append(misses, fmt.Sprintf("FN %s %s %q in %q", it.ID, k.ent, it.Text[k.start:k.end], it.Text))
		}
		// Whatever the spans, a labelled value never survives masking.
		out := e.MaskText(it.Text, nil)
		for _, s := range it.Spans {
			if len(s.Value) >= 6 && strings.Contains(out, s.Value) {
				t.Errorf("%s: %s %q survived masking: %q", it.ID, s.Entity, s.Value, out)
			}
		}
	}
	var ents []string
	total := score{}
	for ent, s := range scores {
		ents = append(ents, ent)
		total.tp += s.tp
		total.fp += s.fp
		total.fn += s.fn
	}
	sort.Strings(ents)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-16s %5s %4s %4s %9s %7s\n", "entity", "tp", "fp", "fn", "precision", "recall")
	for _, ent := range ents {
		s := scores[ent]
		fmt.Fprintf(&b, "%-16s %5d %4d %4d %8.1f%% %6.1f%%\n", ent, s.tp, s.fp, s.fn, 100*s.precision(), 100*s.recall())
	}
	fmt.Fprintf(&b, "%-16s %5d %4d %4d %8.1f%% %6.1f%%", "ALL", total.tp, total.fp, total.fn, 100*total.precision(), 100*total.recall())
	t.Log(b.String())
	for _, m := range misses {
		t.Log(m)
	}
	if total.recall() < 0.99 || total.precision() < 0.98 {
		t.Errorf("recall %.3f (want ≥ 0.99), precision %.3f (want ≥ 0.98)", total.recall(), total.precision())
	}
	for _, ent := range ents {
		if s := scores[ent]; s.recall() < 0.95 || s.precision() < 0.95 {
			t.Errorf("%s: recall %.3f, precision %.3f (want ≥ 0.95 each)", ent, s.recall(), s.precision())
		}
	}
}
