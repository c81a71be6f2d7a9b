package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/airlockhq/airlock/policy/pgsql"
	"github.com/airlockhq/airlock/server"
)

// versionLine is what `airlock version` prints: the version, the commit
// and build date stamped by a release build (or, for a plain `go build`
// from a checkout, the commit Go recorded), the Go toolchain and platform,
// and which build of the SQL parser is linked in.
func versionLine() string {
	commit, date := server.Commit, server.BuildDate
	if commit == "" || date == "" {
		vcsCommit, vcsDate, modified := buildVCS()
		if commit == "" {
			commit = vcsCommit
			if commit != "" && modified {
				commit += "-dirty"
			}
		}
		if date == "" {
			date = vcsDate
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("airlock %s (commit %s, built %s, %s %s/%s, SQL parser %s)",
		server.Version, commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH, pgsql.ParserName)
}

// buildVCS reads the commit Go stamps into binaries built from a checkout.
func buildVCS() (commit, date string, modified bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", "", false
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			date = s.Value
		case "vcs.modified":
			modified = strings.EqualFold(s.Value, "true")
		}
	}
	return commit, date, modified
}
