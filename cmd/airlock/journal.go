package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/store"
)

func cmdJournalTail(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("journal tail")
	n := fs.Int("n", 20, "print the last N records (0: all)")
	follow := fs.Bool("f", false, "keep printing new records as they are written")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	after := int64(0)
	if *n > 0 {
		last, err := st.JournalLastSeq(ctx)
		if err != nil {
			return err
		}
		after = max(0, last-int64(*n))
	}
	for {
		entries, err := st.JournalAfter(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, e := range entries {
			fmt.Fprintf(stdout, "%s\n", e.Data)
			after = e.Seq
		}
		if len(entries) == 1000 {
			continue
		}
		if !*follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}
