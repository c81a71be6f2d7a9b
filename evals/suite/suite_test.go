package suite_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/airlockhq/airlock/evals/suite"
	"github.com/airlockhq/airlock/internal/pgtest"
)

func TestCorpusLoads(t *testing.T) {
	cs, err := suite.Load()
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	benign := 0
	for _, c := range cs {
		per[c.Category]++
		if c.Benign {
			benign++
		}
	}
	t.Logf("%d cases, %d benign, per category: %v", len(cs), benign, per)
	if benign == 0 || len(per) < 5 {
		t.Fatalf("the corpus lost its benign cases or categories: %v", per)
	}
}

func TestCorpusInvalid(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":      "- {id: a, category: c, tool: t, expect: blocked, colour: red}",
		"no id":            "- {category: c, tool: t, expect: blocked}",
		"bad expect":       "- {id: a, category: c, tool: t, expect: maybe}",
		"benign blocked":   "- {id: a, category: c, tool: t, expect: blocked, benign: true}",
		"bad transport":    "- {id: a, category: c, tool: t, expect: allowed, transports: [carrier-pigeon]}",
		"bad grant":        "- {id: a, category: c, tool: t, expect: allowed, grants: [pg]}",
		"duplicate id":     "- {id: a, category: c, tool: t, expect: allowed}\n- {id: a, category: c, tool: t, expect: allowed}",
		"not a list":       "id: a",
		"no case anywhere": "[]",
	} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{"cases/x.yaml": {Data: []byte(body)}}
			if _, err := suite.LoadFS(fsys, "cases"); err == nil {
				t.Fatal("loaded")
			}
		})
	}
}

// The suite through a real gateway process, as `airlock eval` runs it: the
// gate every change must pass.
func TestEvalSuite(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "airlock")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/airlock").CombinedOutput(); err != nil {
		t.Fatalf("build airlock: %v\n%s", err, out)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sc, err := suite.Run(ctx, suite.Options{DSN: pgtest.DSN(t), Binary: bin, WorkDir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, log.String())
	}
	var table strings.Builder
	sc.WriteTable(&table)
	t.Logf("\n%s", table.String())
	// make test prints the scorecard after the run.
	if out := os.Getenv("AIRLOCK_EVAL_SCORECARD"); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Errorf("write the scorecard: %v", err)
		}
	}
	if err := sc.Gate(); err != nil {
		t.Fatal(err)
	}
}
