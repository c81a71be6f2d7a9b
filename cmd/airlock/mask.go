package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/masking"
)

// cmdMask masks stdin with the configured rules, so operators can try
// their masking config: text as documents (a CSV header, an XML element,
// a log field gives its values context), or JSON with --json (JSON-key
// rules apply); both streamed in bounded memory. Counts per entity go to
// stderr.
func cmdMask(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("mask")
	asJSON := fs.Bool("json", false, "read JSON (one document or a stream of them) and apply json_keys rules too; streamed, so any size")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	m, err := cfg.MaskingEngine()
	if err != nil {
		return err
	}
	counts := masking.Counts{}
	if *asJSON {
		// Streamed value by value: a body of any size in bounded memory.
		if err := m.MaskJSON(stdin, stdout, counts); err != nil {
			return fmt.Errorf("mask --json: %w", err)
		}
	} else {
		// In chunks of lines, as documents: a CSV header's context
		// reaches every row, in bounded memory.
		w := bufio.NewWriter(stdout)
		if err := m.MaskTextStream(stdin, w, counts); err != nil {
			return fmt.Errorf("mask: %w", err)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	for _, ent := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(stderr, "masked %s: %d\n", ent, counts[ent])
	}
	return nil
}
