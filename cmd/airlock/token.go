package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
)

// maxMintTTL keeps dev tokens short-lived.
const maxMintTTL = 24 * time.Hour

func cmdTokenMint(args []string, stdout io.Writer) error {
	fs, cfgPath := newFlags("token mint")
	subject := fs.String("subject", "", "token subject (required)")
	groups := fs.String("groups", "", "comma-separated groups")
	ttlFlag := fs.String("ttl", "15m", "lifetime, in the duration syntax of the config and journal filters (15m, 8h, 1d); at most 24h")
	agent := fs.String("agent", "", "agent name (azp claim)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *subject == "" {
		return usageError("airlock token mint: --subject is required")
	}
	// The same duration syntax as the config and the journal filters
	// (which accept 7d); dev tokens stay short-lived, so the cap is a day.
	d, err := config.ParseDuration(*ttlFlag)
	if err != nil {
		return usageError(fmt.Sprintf("airlock token mint: --ttl %q: %v", *ttlFlag, err))
	}
	ttl := new(d.Std())
	if *ttl <= 0 || *ttl > maxMintTTL {
		return usageError(fmt.Sprintf("airlock token mint: --ttl %s: dev tokens live between 1s and 24h (1d); "+
			"mint a new one when it expires, or use your OIDC provider for longer sessions", *ttlFlag))
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if !cfg.Identity.DevIssuer.Enabled {
		return errors.New("the dev issuer is not enabled in this config (identity.dev_issuer.enabled); mint tokens with your OIDC provider")
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		return err
	}
	var gs []string
	for g := range strings.SplitSeq(*groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			gs = append(gs, g)
		}
	}
	tok, err := dev.Mint(identity.MintOptions{
		Subject: *subject, Groups: gs, Audience: cfg.Identity.Audience, TTL: *ttl,
		Agent: *agent, GroupsClaim: cfg.Identity.GroupsClaim,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
