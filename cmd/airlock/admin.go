package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airlockhq/airlock/server"
)

// adminClient calls the gateway's admin API with the caller's own token.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// adminFlags adds the flags every admin command takes and returns a
// constructor for the client.
func adminFlags(fs *flag.FlagSet, cfgPath *string) func() (*adminClient, error) {
	srv := fs.String("server", "", "gateway URL (default: server.public_url from the config)")
	tok := fs.String("token", "", "bearer token (default: $AIRLOCK_TOKEN, else the token `airlock login` kept)")
	return func() (*adminClient, error) {
		base, err := gatewayBase(*srv, *cfgPath)
		if err != nil {
			return nil, err
		}
		t := *tok
		if t == "" {
			t = os.Getenv("AIRLOCK_TOKEN")
		}
		if t == "" {
			if t, err = cachedToken(base); err != nil {
				return nil, err
			}
		}
		return &adminClient{base: base, token: t, http: &http.Client{Timeout: 30 * time.Second}}, nil
	}
}

func (c *adminClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+server.PathAdminAPI+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(data, &e)
		msg := e.Error
		if e.ErrorDescription != "" {
			msg += ": " + e.ErrorDescription
		}
		if msg == "" {
			msg = resp.Status
		}
		return fmt.Errorf("admin API: %s", msg)
	}
	return json.Unmarshal(data, out)
}

const approvalsUsage = `usage: airlock approvals list [--all] [--json]
       airlock approvals approve ID [--reason R] [--json]
       airlock approvals deny ID [--reason R] [--json]

Pending grant requests and per-call approvals you may decide, through the
gateway's admin API. Every subcommand takes --token T (default
$AIRLOCK_TOKEN, else the token kept by "airlock login": your own token,
not an agent's) and --server URL (default server.public_url from
--config F).
`

const grantsUsage = `usage: airlock grants list [--status active|all|S1,S2] [--json]
       airlock grants revoke ID [--reason R] [--json]

Grants through the gateway's admin API; revoking one cancels the calls
running under it. Every subcommand takes --token T (default $AIRLOCK_TOKEN,
else the token kept by "airlock login") and --server URL (default
server.public_url from --config F).
`

// adminSubcommand checks an admin command's subcommand before any flag or
// config is read: help prints the usage (done is true), an unknown or
// missing one is a usage error naming the choices.
func adminSubcommand(name string, args []string, valid []string, usage string, stdout io.Writer) (done bool, err error) {
	if len(args) == 0 {
		return true, usageError(usage)
	}
	switch sub := args[0]; {
	case sub == "help" || sub == "-h" || sub == "--help" || sub == "-help":
		fmt.Fprint(stdout, usage)
		return true, nil
	case slices.Contains(valid, sub):
		return false, nil
	default:
		return true, usageError(fmt.Sprintf("airlock %s: unknown subcommand %q (%s)\n%s", name, sub, strings.Join(valid, ", "), usage))
	}
}

func cmdApprovals(ctx context.Context, args []string, stdout io.Writer) error {
	if done, err := adminSubcommand("approvals", args, []string{"list", "approve", "deny"}, approvalsUsage, stdout); done {
		return err
	}
	sub, rest := args[0], args[1:]
	fs, cfgPath := newFlags("approvals " + sub)
	client := adminFlags(fs, cfgPath)
	asJSON := fs.Bool("json", false, "print JSON")
	reason := fs.String("reason", "", "reason for the decision (recorded in the journal)")
	all := fs.Bool("all", false, "list requests in every status, not just pending")
	id, c, err := adminArgs(fs, client, rest, sub == "approve" || sub == "deny", "usage: airlock approvals "+sub+" ID [--reason R]")
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		path := "requests?status=pending"
		if *all {
			path = "requests"
		}
		return printRequests(ctx, c, path, *asJSON, stdout)
	case "approve", "deny":
		var r server.RequestJSON
		if err := c.do(ctx, http.MethodPost, "requests/"+url.PathEscape(id)+"/"+sub, map[string]string{"reason": *reason}, &r); err != nil {
			return err
		}
		return printOne(r, *asJSON, stdout)
	default:
		return usageError(fmt.Sprintf("airlock approvals: unknown subcommand %q (list, approve, deny)", sub))
	}
}

func cmdGrants(ctx context.Context, args []string, stdout io.Writer) error {
	if done, err := adminSubcommand("grants", args, []string{"list", "revoke"}, grantsUsage, stdout); done {
		return err
	}
	sub, rest := args[0], args[1:]
	fs, cfgPath := newFlags("grants " + sub)
	client := adminFlags(fs, cfgPath)
	asJSON := fs.Bool("json", false, "print JSON")
	reason := fs.String("reason", "", "reason for revoking (recorded in the journal)")
	status := fs.String("status", "active", "grant status to list, comma-separated, or all")
	id, c, err := adminArgs(fs, client, rest, sub == "revoke", "usage: airlock grants revoke ID [--reason R]")
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		return printRequests(ctx, c, "grants?status="+url.QueryEscape(*status), *asJSON, stdout)
	case "revoke":
		var r server.RequestJSON
		if err := c.do(ctx, http.MethodPost, "grants/"+url.PathEscape(id)+"/revoke", map[string]string{"reason": *reason}, &r); err != nil {
			return err
		}
		return printOne(r, *asJSON, stdout)
	default:
		return usageError(fmt.Sprintf("airlock grants: unknown subcommand %q (list, revoke)", sub))
	}
}

// adminArgs takes the request or grant id (when the subcommand needs one),
// parses the flags and builds the client.
func adminArgs(fs *flag.FlagSet, client func() (*adminClient, error), rest []string, needID bool, usage string) (string, *adminClient, error) {
	var id string
	if needID {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return "", nil, usageError(usage)
		}
		id, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return "", nil, err
	}
	c, err := client()
	return id, c, err
}

func printRequests(ctx context.Context, c *adminClient, path string, asJSON bool, stdout io.Writer) error {
	var out struct {
		Requests []server.RequestJSON `json:"requests"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(out.Requests)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tSUBJECT\tCONNECTION\tACCESS\tDETAIL")
	for _, r := range out.Requests {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Status, r.Subject, r.Connection, r.Access, detail(r))
	}
	return tw.Flush()
}

func detail(r server.RequestJSON) string {
	switch {
	case r.Kind == "approval":
		return fmt.Sprintf("%s %s", r.Tool, r.Arguments)
	case r.ExpiresAt != nil && r.Status == "active":
		return "until " + r.ExpiresAt.Format(time.RFC3339)
	default:
		return fmt.Sprintf("%q", r.Reason)
	}
}

func printOne(r server.RequestJSON, asJSON bool, stdout io.Writer) error {
	if asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	fmt.Fprintf(stdout, "%s %s: %s\n", r.Kind, r.ID, r.Status)
	return nil
}
