package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/server"
)

func version() string { return server.Version }

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs, cfgPath := newFlags("serve")
	listen := fs.String("listen", "", "listen address (overrides server.listen)")
	stdio := fs.Bool("stdio", false, "serve MCP over stdin/stdout instead of HTTP")
	logJSON := fs.Bool("log-json", false, "log as JSON lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(h)
	g, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	defer g.Close()
	if *stdio {
		log.Info("serving MCP over stdio", "config", *cfgPath)
		return g.ServeStdio(ctx, os.Stdin, os.Stdout)
	}
	addr := cfg.Server.Listen
	if *listen != "" {
		addr = *listen
	}
	return g.ServeHTTP(ctx, addr, func(a net.Addr) {
		log.Info("serving MCP", "addr", a.String(), "streamable_http", "http://"+a.String()+server.PathMCP,
			"sse", "http://"+a.String()+server.PathSSE)
		fmt.Fprintf(stderr, "airlock listening on %s\n", a)
	})
}
