package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/policy"
)

// explainRules prints, in plain words, what each group the rules name may
// do: which access on which connections, how grants come (at once, or
// after whose approval), how long they last, and which calls also need a
// human each time. Anyone else may do nothing: deny is the default.
func explainRules(w io.Writer, cfg *config.Config) {
	fmt.Fprintln(w, "who may do what:")
	groups := ruleGroups(cfg)
	anyone := false
	for _, r := range cfg.Rules {
		for _, g := range r.Groups {
			anyone = anyone || g == "*"
		}
	}
	if anyone {
		groups = append(groups, "*")
	}
	for _, g := range groups {
		who := "group " + g
		if g == "*" {
			who = "any authenticated caller"
		}
		for _, r := range cfg.Rules {
			if !containsGroup(r.Groups, g) {
				continue
			}
			fmt.Fprintf(w, "  %s: %s (rule %s)\n", who, ruleSentence(r), r.Name)
		}
	}
	if len(cfg.Admin.Groups) > 0 {
		fmt.Fprintf(w, "  group %s: may list and revoke anyone's grants (admin)\n", strings.Join(cfg.Admin.Groups, ", group "))
	}
	fmt.Fprintln(w, "  anyone else: nothing (deny by default)")
}

func containsGroup(gs []string, g string) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}

func ruleSentence(r policy.Rule) string {
	r.SetDefaults()
	var access []string
	for _, a := range r.Access {
		access = append(access, string(a))
	}
	what := strings.Join(access, ", ") + " on " + strings.Join(r.Connections, ", ")
	if len(r.Tools) > 0 {
		what += " through " + strings.Join(r.Tools, ", ") + " only"
	}
	if r.Effect == policy.Deny {
		return "may not " + what
	}
	var how string
	switch r.Grant.Mode {
	case policy.GrantApproval:
		n := ""
		if r.Grant.MinApprovals > 1 {
			n = fmt.Sprintf("%d distinct ", r.Grant.MinApprovals)
		}
		how = fmt.Sprintf("after asking (request_access) and once %smembers of %s approve, for at most %s",
			n, strings.Join(r.Grant.Approvers, " or "), shortDur(r.Grant.MaxDuration))
	case policy.GrantDeny:
		return "may not get a grant for " + what + " (grant.mode deny)"
	default:
		how = fmt.Sprintf("after asking (request_access), granted at once for at most %s", shortDur(r.Grant.MaxDuration))
	}
	s := "may " + what + " " + how
	if r.Effect == policy.Approve {
		s += "; each call also waits for a human approval from " + strings.Join(r.Grant.Approvers, " or ")
	}
	return s
}

// shortDur prints 1h, 30m, 1h30m rather than 1h0m0s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
