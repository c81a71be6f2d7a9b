package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/evals/bench"
	"github.com/airlockhq/airlock/internal/pgtest"
)

// The bench's smoke run: every target, every scenario, a few calls each,
// so `airlock bench` never rots. Performance itself is never asserted
// here (shared, noisy machines): docs/performance.md has the numbers.
func TestBenchSmoke(t *testing.T) {
	refDir, err := filepath.Abs("reference")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(refDir, bench.ReferenceEntry)); err != nil {
		t.Fatalf("the reference server is not installed (`make test` installs it with scripts/npm-interop.sh): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "airlock")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/airlock").CombinedOutput(); err != nil {
		t.Fatalf("build airlock: %v\n%s", err, out)
	}
	o := bench.DefaultOptions()
	o.DSN, o.Binary, o.ReferenceDir, o.WorkDir = pgtest.DSN(t), bin, refDir, t.TempDir()
	o.Rounds, o.Agents, o.CallsScale, o.Stages = 1, []int{1, 2}, 0.05, true
	var log bytes.Buffer
	o.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("\n%s", table.String())
	if n := rep.Errors(); n > 0 {
		t.Fatalf("%d calls failed", n)
	}
	seen := map[string]bool{}
	for _, c := range rep.Cells {
		seen[c.Target+"/"+c.Scenario] = true
		if c.Calls == 0 || c.P50MS <= 0 || c.P99MS < c.P50MS || c.PerSec <= 0 {
			t.Errorf("cell %s/%d/%s is empty or inconsistent: %+v", c.Scenario, c.Agents, c.Target, c)
		}
		if c.Target == bench.TargetHTTP && c.VsFloor == 0 {
			t.Errorf("cell %s/%d/%s has no ratio to the floor", c.Scenario, c.Agents, c.Target)
		}
		// --stages: the HTTP gateway's own timers, and only its.
		if (c.Target == bench.TargetHTTP) != (c.StageMS["execute"] > 0 && c.StageMS["identify"] > 0) {
			t.Errorf("cell %s/%d/%s stage times: %v", c.Scenario, c.Agents, c.Target, c.StageMS)
		}
	}
	for _, target := range o.Targets {
		for _, sc := range o.Scenarios {
			want := !(target == bench.TargetReference && sc == "rows10m")
			if seen[target+"/"+sc] != want {
				t.Errorf("%s/%s measured = %v, want %v", target, sc, seen[target+"/"+sc], want)
			}
		}
	}
	if rep.Startup == nil || rep.Startup.HealthzMS <= 0 || rep.Startup.IdleRSSMiB <= 0 {
		t.Errorf("start-up not measured: %+v", rep.Startup)
	}
	for _, target := range []string{bench.TargetHTTP, bench.TargetStdio, bench.TargetReference} {
		if rep.PeakRSSMiB[target] <= 0 {
			t.Errorf("no peak RSS for %s", target)
		}
	}
	for _, want := range []string{"airlock-http", "vs reference", "gateway start-up to /healthz", "where a call's time goes"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back bench.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Cells) != len(rep.Cells) {
		t.Fatalf("the JSON report does not round-trip: %v", err)
	}
}

func TestBenchOptionsInvalid(t *testing.T) {
	for name, mut := range map[string]func(*bench.Options){
		"no dsn":           func(o *bench.Options) { o.DSN = "" },
		"unknown target":   func(o *bench.Options) { o.Targets = []string{"nope"} },
		"unknown scenario": func(o *bench.Options) { o.Scenarios = []string{"nope"} },
		"no agents":        func(o *bench.Options) { o.Agents = nil },
		"too many agents":  func(o *bench.Options) { o.Agents = []int{1000} },
		"zero rounds":      func(o *bench.Options) { o.Rounds = 0 },
		"reference dir":    func(o *bench.Options) { o.ReferenceDir = "" },
	} {
		t.Run(name, func(t *testing.T) {
			o := bench.DefaultOptions()
			o.DSN, o.Binary, o.ReferenceDir, o.WorkDir = "postgres://x@127.0.0.1/x", "/bin/true", "/nonexistent", t.TempDir()
			mut(&o)
			if _, err := bench.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "bench:") {
				t.Fatalf("want a bench: error, got %v", err)
			}
		})
	}
}
