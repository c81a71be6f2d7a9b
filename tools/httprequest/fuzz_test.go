package httprequest

import (
	"strings"
	"testing"

	"github.com/airlockhq/airlock/config"
)

// FuzzParse checks that whatever the agent sends, an accepted call goes to
// the configured origin, under the base path, with no credential header of
// its own.
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ method, path, hdr, val string }{
		{"GET", "/v1/customers/42", "Accept", "application/json"},
		{"POST", "/../admin", "Host", "evil"},
		{"GET", "//evil.example/", "X-A", "b"},
		{"DELETE", "/ok@127.0.0.1", "Authorization", "x"},
		{"GET", "/%2e%2e/admin", "X-Forwarded-Host", "evil"},
		{"PUT", `/\evil`, "Content-Type", "text/plain"},
	} {
		f.Add(s.method, s.path, s.hdr, s.val)
	}
	tl := newTestTool(f, map[string]*config.Connection{"api": httpConn("http://127.0.0.1:9/base", nil)}, nil)
	f.Fuzz(func(t *testing.T, method, path, hdr, val string) {
		c, err := tl.Parse(map[string]any{"connection": "api", "method": method, "path": path, "headers": map[string]any{hdr: val}})
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("credential in error %v", err)
			}
			return
		}
		r := c.Args.(*request)
		if r.url.Scheme != "http" || r.url.Host != "127.0.0.1:9" || r.url.User != nil || r.url.Fragment != "" {
			t.Fatalf("%q escaped the origin: %s", path, r.url)
		}
		if p := r.url.EscapedPath(); p != "/base" && !strings.HasPrefix(p, "/base/") || strings.Contains(p, "/../") || strings.Contains(p, "//") {
			t.Fatalf("%q escaped the base path: %s", path, p)
		}
		for _, h := range []string{"Authorization", "Host", "Cookie"} {
			if r.header.Get(h) != "" {
				t.Fatalf("agent header %s passed", h)
			}
		}
	})
}

// FuzzScrub checks that a credential embedded anywhere never survives.
func FuzzScrub(f *testing.F) {
	f.Add("before ", " after", 10)
	f.Add(`{"a":"`, `"}`, 3)
	s := newScrubber(map[string][]string{"Authorization": {"Bearer " + secret}})
	f.Fuzz(func(t *testing.T, pre, post string, cut int) {
		if out := s.string(pre + secret + post); strings.Contains(out, secret) {
			t.Fatalf("survived: %q", out)
		}
		// A body truncated inside the credential leaves none of its
		// longer prefixes.
		if cut = 4 + abs(cut)%(len(secret)-4); cut < len(secret) {
			out := s.tail(pre + secret[:cut])
			if strings.HasSuffix(out, secret[:cut]) {
				t.Fatalf("prefix survived: %q", out)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
