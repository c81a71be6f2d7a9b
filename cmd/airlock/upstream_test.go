package main

import (
	"errors"
	"strings"
	"testing"
)

func TestUpstreamCommandUsage(t *testing.T) {
	out, err := runCmd(t, "upstream", "--help")
	if err != nil || !strings.Contains(out, "airlock upstream accept CONNECTION TOOL --hash H") {
		t.Errorf("help: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"upstream"}, {"upstream", "bogus"}, {"upstream", "accept", "gh"}, {"upstream", "accept", "gh", "create_issue", "--token", "x", "--server", "http://127.0.0.1:1"}} {
		_, err := runCmd(t, args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "airlock upstream") {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
	}
}
