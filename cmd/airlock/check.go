package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/server"
	"github.com/airlockhq/airlock/tools"
)

func cmdCheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("check")
	token := fs.String("token", "", "also verify this token (default: $AIRLOCK_TOKEN) and say who it names, or exactly why it is refused")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("AIRLOCK_TOKEN")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.CheckSecrets(); err != nil {
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
	if err := g.Verifier().Pending(); err != nil {
		// serve would start and retry with backoff, refusing calls meanwhile.
		fmt.Fprintf(stdout, "%-20s %-10s FAIL: %v (serve starts anyway, refuses every call and retries until it answers)\n", "identity", "oidc", err)
		failed++
	}
	if *token != "" {
		if err := checkToken(ctx, g, *token, stdout); err != nil {
			failed++
		}
	}
	explainRules(stdout, cfg)
	if failed > 0 {
		return fmt.Errorf("%d checks failed", failed)
	}
	fmt.Fprintf(stdout, "config ok: %d connections, %d rules\n", len(cfg.Connections), len(cfg.Rules))
	return nil
}

// checkToken verifies a token as the gateway would and prints the
// principal, or the refusal with the detail an operator needs (expected vs
// received audience and issuer); never the token itself.
func checkToken(ctx context.Context, g *server.Gateway, token string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := g.Verifier().Verify(ctx, token)
	if err != nil {
		msg := err.Error()
		var ae *identity.AuthError
		if errors.As(err, &ae) {
			msg = ae.Reason
			if ae.Detail != "" {
				msg += " (" + ae.Detail + ")"
			}
		}
		fmt.Fprintf(stdout, "%-20s %-10s FAIL: %s\n", "token", "identity", msg)
		return err
	}
	fmt.Fprintf(stdout, "%-20s %-10s ok: subject %q, groups %v, issuer %s\n", "token", "identity", p.Subject, p.Groups, p.Issuer)
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
