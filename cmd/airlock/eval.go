package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"

	"github.com/airlockhq/airlock/evals/suite"
)

// cmdEval runs the adversarial and benign suite (evals/suite) through a
// fresh gateway and prints the scorecard; it fails when the gate does.
func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("airlock eval", flag.ContinueOnError)
	dsn := fs.String("dsn", envOr("AIRLOCK_EVAL_PG_DSN", benchDefaultDSN),
		"PostgreSQL the suite may create a throwaway schema in (a superuser: the evidence reads roles and settings)")
	category := fs.String("category", "", "run only these categories (comma-separated)")
	cases := fs.String("case", "", "run only these case ids (comma-separated)")
	asJSON := fs.Bool("json", false, "print the scorecard as JSON")
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "airlock-eval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sc, err := suite.Run(ctx, suite.Options{DSN: *dsn, Binary: bin, WorkDir: dir,
		Categories: splitList(*category), Cases: splitList(*cases), Log: stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sc); err != nil {
			return err
		}
	} else {
		sc.WriteTable(stdout)
	}
	return sc.Gate()
}
