// Command airlock is the Airlock gateway: an MCP server that stands between
// AI agents and production systems. See README.md for the quick start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `airlock — a guarded MCP gateway between AI agents and production systems

Usage:
  airlock serve   [--config F] [--listen ADDR] [--stdio]   run the gateway
  airlock init    --postgres URL | --sqlite PATH | --demo  write a starter airlock.yaml (masking rules
                                                           proposed by sampling the columns)
  airlock check   [--config F]                             validate config, try each connection, say
                                                           what each group may do
  airlock token mint [--config F] --subject S [--groups a,b] [--ttl 15m] [--agent NAME]
                                                           mint a dev-issuer token
  airlock tools   [--config F] [--groups a,b] [--json]     list the tools a config exposes, with schemas
  airlock mask    [--config F] [--json] < input            mask stdin with the configured rules
  airlock journal tail|show|search|replay|export|verify|checkpoint|prune
                                                           read, verify and export the journal
                                                           (airlock journal help)
  airlock login   [--config F] [--server URL] [--client-id ID]
                                                           log in in your browser (OAuth + PKCE); the
                                                           admin commands then need no --token
  airlock logout  [--config F] [--server URL]              forget that login
  airlock approvals list|approve ID|deny ID [--reason R]   decide pending requests (admin API)
  airlock grants list|revoke ID [--reason R]               list and revoke grants (admin API)
  airlock upstream pins|accept CONN TOOL --hash H          review upstream MCP tools (admin API)
  airlock bench   [--smoke] [--json] [--agents 1,8,32] [--targets …] [--scenarios …]
                                                           measure guarded calls next to direct pgx and
                                                           the reference MCP server (docs/performance.md)
  airlock eval    [--category C] [--case ID] [--json]     run the adversarial and benign suite, print
                                                           the scorecard; non-zero on any escape
  airlock version

Every command reads ./airlock.yaml unless --config says otherwise.
`

// signalCause is why the command's context ends on SIGINT or SIGTERM, so
// serve can say which signal stopped it.
type signalCause struct{ sig os.Signal }

func (c signalCause) Error() string { return "received " + signalName(c.sig) }

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	// Later signals stay caught (and serve logs them): a second Ctrl-C
	// does not cut a drain short and lose journal records.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { cancel(signalCause{<-sigs}) }()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "airlock:", err)
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError("airlock: a command is required")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout)
	case "init":
		return cmdInit(ctx, rest, stdout)
	case "token":
		if len(rest) == 0 || rest[0] != "mint" {
			return usageError("usage: airlock token mint --subject S [--groups a,b] [--ttl 15m]")
		}
		return cmdTokenMint(rest[1:], stdout)
	case "journal":
		return cmdJournal(ctx, rest, stdout)
	case "mask":
		return cmdMask(rest, os.Stdin, stdout, stderr)
	case "tools":
		return cmdTools(ctx, rest, stdout)
	case "login":
		return cmdLogin(ctx, rest, stdout, stderr)
	case "logout":
		return cmdLogout(rest, stdout)
	case "approvals":
		return cmdApprovals(ctx, rest, stdout)
	case "grants":
		return cmdGrants(ctx, rest, stdout)
	case "upstream":
		return cmdUpstream(ctx, rest, stdout)
	case "eval":
		return cmdEval(ctx, rest, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError(fmt.Sprintf("airlock: unknown command %q", cmd))
	}
}

// newFlags returns a flag set with the --config flag every command takes.
func newFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("airlock "+name, flag.ContinueOnError)
	cfg := fs.String("config", "airlock.yaml", "path to the config file")
	return fs, cfg
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usageError("")
		}
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0)))
	}
	return nil
}
