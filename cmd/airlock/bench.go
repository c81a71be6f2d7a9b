package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/airlockhq/airlock/evals/bench"
)

const benchDefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// cmdBench measures guarded calls side by side with direct pgx and the
// reference MCP server (evals/bench).
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := bench.DefaultOptions()
	fs := flag.NewFlagSet("airlock bench", flag.ContinueOnError)
	dsn := fs.String("dsn", envOr("AIRLOCK_BENCH_PG_DSN", benchDefaultDSN), "PostgreSQL to measure against (no password in the DSN: trust auth, or PGPASSWORD)")
	rounds := fs.Int("rounds", d.Rounds, "interleaved rounds")
	agents := fs.String("agents", joinInts(d.Agents), "concurrent agents, comma-separated")
	scenarios := fs.String("scenarios", strings.Join(d.Scenarios, ","), "scenarios: select1, rows100, limit200, maxrows, rows10m")
	targets := fs.String("targets", strings.Join(d.Targets, ","), "targets: pgx, airlock-http, airlock-stdio, reference")
	scale := fs.Float64("scale", d.CallsScale, "multiply each scenario's calls per agent and round")
	smoke := fs.Bool("smoke", false, "a few calls of everything (1 round, agents 1,2), to check the bench works")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	stages := fs.Bool("stages", false, "also print where a call's time goes: the HTTP gateway's per-stage timers (its metrics, on loopback)")
	refDir := fs.String("reference-dir", envOr("AIRLOCK_BENCH_REFERENCE_DIR", bench.DefaultReferenceDir()),
		"where the reference server ("+bench.ReferencePackage+") is installed; installed there with npm on first use")
	gateway := fs.String("gateway", "", "the airlock binary the gateway targets run (default: this one), e.g. an older build to compare")
	workDir := fs.String("work-dir", "", "keep the bench gateway's config, store and keys here (default: a temporary folder, removed)")
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o := d
	o.DSN, o.Rounds, o.CallsScale, o.Stages = *dsn, *rounds, *scale, *stages
	o.Scenarios, o.Targets = splitList(*scenarios), splitList(*targets)
	var err error
	if o.Agents, err = parseInts(*agents); err != nil {
		return usageError("airlock bench: --agents: " + err.Error())
	}
	if *smoke {
		o.Rounds, o.Agents, o.CallsScale = 1, []int{1, 2}, 0.05
	}
	if o.Binary, err = os.Executable(); err != nil {
		return err
	}
	if *gateway != "" {
		o.Binary = *gateway
	}
	if slices.Contains(o.Targets, bench.TargetReference) {
		o.ReferenceDir = *refDir
		if err := bench.InstallReference(ctx, *refDir); err != nil {
			return fmt.Errorf("bench: the reference server could not be installed (or leave it out: --targets pgx,airlock-http,airlock-stdio): %w", err)
		}
	}
	o.WorkDir = *workDir
	if o.WorkDir == "" {
		tmp, err := os.MkdirTemp("", "airlock-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.WorkDir = tmp
	}
	o.Log = stderr
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteTable(stdout)
	}
	if n := rep.Errors(); n > 0 {
		return fmt.Errorf("bench: %d calls failed (first errors are listed above)", n)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
