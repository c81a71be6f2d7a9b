package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/masking"
)

// cmdMask masks stdin with the configured rules, so operators can try
// their masking config: text line by line, or one JSON document with
// --json (JSON-key rules apply). Counts per entity go to stderr.
func cmdMask(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("mask")
	asJSON := fs.Bool("json", false, "read one JSON document and apply json_keys rules too")
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
		var v any
		d := json.NewDecoder(io.LimitReader(stdin, 256<<20))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("mask --json: %w", err)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m.MaskValue(v, counts)); err != nil {
			return err
		}
	} else {
		r := bufio.NewReaderSize(stdin, 64<<10)
		w := bufio.NewWriter(stdout)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				w.WriteString(m.MaskText(line, counts))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
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
