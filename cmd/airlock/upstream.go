package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/airlockhq/airlock/tools/upstream"
)

const upstreamUsage = `usage: airlock upstream pins [--connection C] [--json]
       airlock upstream accept CONNECTION TOOL --hash H [--reason R] [--json]

Pinned tools of upstream MCP servers (connections of kind mcp), through the
gateway's admin API (admins only). A tool that is new, or whose name,
description or schema changed since it was accepted, is withheld from
agents until an admin reviews it (pins shows the description and the
upstream's own hints) and accepts the hash reviewed. Every subcommand takes
--token T (default $AIRLOCK_TOKEN) and --server URL (default
server.public_url from --config F).
`

func cmdUpstream(ctx context.Context, args []string, stdout io.Writer) error {
	if done, err := adminSubcommand("upstream", args, []string{"pins", "accept"}, upstreamUsage, stdout); done {
		return err
	}
	sub, rest := args[0], args[1:]
	fs, cfgPath := newFlags("upstream " + sub)
	client := adminFlags(fs, cfgPath)
	asJSON := fs.Bool("json", false, "print JSON")
	conn := fs.String("connection", "", "only this connection's tools")
	hash := fs.String("hash", "", "the seen_hash of the definition you reviewed (from pins)")
	reason := fs.String("reason", "", "why it is accepted (recorded in the journal)")
	var connection, tool string
	if sub == "accept" {
		if len(rest) < 2 || strings.HasPrefix(rest[0], "-") || strings.HasPrefix(rest[1], "-") {
			return usageError("usage: airlock upstream accept CONNECTION TOOL --hash H [--reason R]")
		}
		connection, tool, rest = rest[0], rest[1], rest[2:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if sub == "accept" && *hash == "" {
		return usageError("airlock upstream accept: --hash is required: the seen_hash you reviewed (airlock upstream pins)")
	}
	c, err := client()
	if err != nil {
		return err
	}
	var out struct {
		Pins []upstream.PinView `json:"pins"`
	}
	if sub == "pins" {
		err = c.do(ctx, http.MethodGet, "upstream/pins?connection="+url.QueryEscape(*conn), nil, &out)
	} else {
		err = c.do(ctx, http.MethodPost, "upstream/pins/"+url.PathEscape(connection)+"/"+url.PathEscape(tool)+"/accept",
			map[string]string{"hash": *hash, "reason": *reason}, &out)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out.Pins)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tTOOL\tSTATE\tSEEN_HASH\tHINTS (untrusted)\tDESCRIPTION")
	for _, p := range out.Pins {
		hints, _ := json.Marshal(p.Hints)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%q\n", p.Connection, p.Tool, p.State, p.SeenHash, hints, p.Description)
	}
	return tw.Flush()
}
