package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/tools"
)

func cmdCheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	g, err := server.New(ctx, cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer g.Close()
	failed := 0
	for _, name := range slices.Sorted(maps.Keys(cfg.Connections)) {
		c := cfg.Connections[name]
		status := "ok"
		if err := checkConnection(ctx, g.Tools(), name); err != nil {
			status, failed = "FAIL: "+err.Error(), failed+1
		}
		fmt.Fprintf(stdout, "%-20s %-10s %s\n", name, c.Kind, status)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d connections failed", failed, len(cfg.Connections))
	}
	fmt.Fprintf(stdout, "config ok: %d connections, %d rules\n", len(cfg.Connections), len(cfg.Rules))
	return nil
}

func checkConnection(ctx context.Context, ts []tools.Tool, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, t := range ts {
		if cc, ok := t.(tools.ConnectionChecker); ok {
			if err := cc.CheckConnection(ctx, name); !errors.Is(err, tools.ErrUnknownConnection) {
				return err
			}
		}
	}
	return fmt.Errorf("no tool serves this connection")
}
