package main

import (
	"strings"
	"testing"

	"github.com/airlockhq/airlock/server"
)

// TestVersionLine: what a release build stamps (make release sets these
// with -ldflags -X) is what `airlock version` and `--version` print.
func TestVersionLine(t *testing.T) {
	v, c, d := server.Version, server.Commit, server.BuildDate
	t.Cleanup(func() { server.Version, server.Commit, server.BuildDate = v, c, d })
	server.Version, server.Commit, server.BuildDate = "v1.2.3", "0123abcd", "2026-12-02T00:00:00Z"
	for _, arg := range []string{"version", "--version"} {
		out, err := runCmd(t, arg)
		if err != nil || !strings.HasPrefix(out, "airlock v1.2.3 (commit 0123abcd, built 2026-12-02T00:00:00Z, go") || !strings.Contains(out, "SQL parser") {
			t.Errorf("%s: %q %v", arg, out, err)
		}
	}
}
