package httpguard

import (
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestJoinPathRefuses(t *testing.T) {
	base := mustURL(t, "http://api.internal/api/v2")
	cases := []struct{ path, want string }{
		{"", "empty"},
		{"v1/x", "must start with /"},
		{"http://evil.example/x", "not a URL"},
		{"/../admin", "dots"},
		{"/v1/../admin", "dots"},
		{"/v1/..", "dots"},
		{"/v1/.", "dots"},
		{"/v1/./x", "dots"},
		{"/%2e%2e/admin", "dots"},
		{"/%2E%2E/admin", "dots"},
		{"/%2E./admin", "dots"},
		{"/.%2e/admin", "dots"},
		{"/v1/.../x", "dots"},
		{"/v1/..%20/x", "dots"},
		{"/v1/%20/x", "dots or spaces"},
		{"//evil.example/", "//"},
		{"/v1//x", "//"},
		{"/v1/x//", "//"},
		{"/\\evil", "backslash"},
		{"/a\\b", "backslash"},
		{"/a%5cb", "backslash"},
		{"/a%5Cb", "backslash"},
		{"/ok@127.0.0.1", "@"},
		{"/v1/a@b", "@"},
		{"/a%2fb", "encoded slash"},
		{"/a%2Fb", "encoded slash"},
		{"/a%00", "control"},
		{"/a\x00", "control"},
		{"/a\r\nX: y", "control"},
		{"/a%0d%0aX:%20y", "control"},
		{"/a%0A", "control"},
		{"/a\t", "control"},
		{"/a%7f", "control"},
		{"/a%C2%85", "U+0085"}, // C1 NEL
		{"/a b", "%20"},
		{"/a#frag", "#"},
		{"/a%23b", "#"},
		{"/a?x=1", "query"},
		{"/a%3Fx=1", "%3F"},
		{"/admin;x", ";"},
		{"/v1/..;/admin", ";"},
		{"/admin%3bx", ";"},
		{"/a%", "malformed"},
		{"/a%4", "malformed"},
		{"/a%zz", "malformed"},
		{"/a%252e%252e", "double"},
		{"/%252e%252e/admin", "double"},
		{"/%c0%ae%c0%ae/admin", "UTF-8"},
		{"/a%c0%af", "UTF-8"},
		{"/a\xff", "UTF-8"},
		{"/%EF%BC%8Fadmin", "U+FF0F"},    // fullwidth solidus
		{"/x/%E2%80%A5/admin", "U+2025"}, // two dot leader
		{"/%EF%BC%8E%EF%BC%8E/admin", "U+FF0E"},
		{"/v1/ａｄｍｉｎ", "U+FF41"},
		{"/a%E2%80%8Bb", "U+200B"}, // zero width space
		{"/a%C2%A0b", "U+00A0"},    // no-break space
		{"/a%E2%80%AEb", "U+202E"}, // right-to-left override
		{"/http:evil.example", "scheme"},
		{"/javascript:alert(1)", "scheme"},
		{"/http%3A%2F%2Fevil", "encoded slash"},
		{"/" + strings.Repeat("a", MaxPathLen), "longer"},
		{"/" + strings.Repeat("é", 700), "once percent-encoded"},
	}
	for _, c := range cases {
		got, err := JoinPath(base, c.path)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("JoinPath(%q) = %q, %v; want *Error mentioning %q", c.path, got, err, c.want)
			continue
		}
		if !strings.Contains(e.Msg, c.want) {
			t.Errorf("JoinPath(%q) error %q does not mention %q", c.path, e.Msg, c.want)
		}
	}
}

func TestJoinPathAccepts(t *testing.T) {
	cases := []struct{ base, path, want string }{
		{"http://h", "/v1/customers/42", "/v1/customers/42"},
		{"http://h", "/v1/a%20b", "/v1/a%20b"},
		{"http://h", "/v1/caf%C3%A9", "/v1/caf%C3%A9"},
		{"http://h", "/v1/caf%c3%a9", "/v1/caf%C3%A9"},
		{"http://h", "/v1/café", "/v1/caf%C3%A9"},
		{"http://h", "/v1/%61dmin", "/v1/admin"},   // unreserved are decoded: the form routes saw
		{"http://h", "/v1/a%2Cb,c", "/v1/a%2Cb,c"}, // sub-delims keep the agent's form
		{"http://h", "/v1/x:batchGet", "/v1/x:batchGet"},
		{"http://h", "/v1/users/a%40b.example", "/v1/users/a%40b.example"},
		{"http://h", "/v1/50%25", "/v1/50%25"},
		{"http://h", "/v1/a\"b", "/v1/a%22b"},
		{"http://h", "/v1/a..b/.x/x.", "/v1/a..b/.x/x."},
		{"http://h", "/", "/"},
		{"http://h", "/v1/", "/v1/"},
		{"http://h/", "/x", "/x"},
		{"http://h/api/v2", "/users", "/api/v2/users"},
		{"http://h/api/v2/", "/users", "/api/v2/users"},
		{"http://h/api/v2", "/", "/api/v2/"},
		{"http://h/api%20x", "/y", "/api%20x/y"},
		{"http://h", "/v1/日本", "/v1/%E6%97%A5%E6%9C%AC"},
	}
	for _, c := range cases {
		got, err := JoinPath(mustURL(t, c.base), c.path)
		if err != nil || got != c.want {
			t.Errorf("JoinPath(%s, %q) = %q, %v; want %q", c.base, c.path, got, err, c.want)
		}
	}
}

func TestJoinPathBadBase(t *testing.T) {
	for _, b := range []string{"http://h/a/../b", "http://h/a%2fb", "http://h/a@b"} {
		if _, err := JoinPath(mustURL(t, b), "/x"); err == nil {
			t.Errorf("JoinPath with base %s: no error", b)
		}
	}
	if _, err := JoinPath(nil, "/x"); err == nil {
		t.Error("JoinPath(nil): no error")
	}
}

func TestCheckBaseURL(t *testing.T) {
	good := []string{"http://h", "https://h:8443/api/v2", "http://127.0.0.1:9/"}
	bad := []string{"ftp://h/", "http:///x", "http://u:p@h/", "http://h/?x=1", "http://h/#f", "http://h/a//b", "mailto:x@y", "/relative"}
	for _, s := range good {
		if err := CheckBaseURL(mustURL(t, s)); err != nil {
			t.Errorf("CheckBaseURL(%s) = %v", s, err)
		}
	}
	for _, s := range bad {
		if err := CheckBaseURL(mustURL(t, s)); err == nil {
			t.Errorf("CheckBaseURL(%s): no error", s)
		}
	}
}

func TestBuildURL(t *testing.T) {
	base := mustURL(t, "https://api.internal:8443/api/v2?ignored#x")
	base.RawQuery, base.Fragment = "", ""
	u, err := BuildURL(base, "/users/a%20b/caf%C3%A9", map[string]any{"limit": float64(10), "q": "x y"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), "https://api.internal:8443/api/v2/users/a%20b/caf%C3%A9?limit=10&q=x+y"; got != want {
		t.Errorf("BuildURL = %s, want %s", got, want)
	}
	if got, want := u.EscapedPath(), "/api/v2/users/a%20b/caf%C3%A9"; got != want {
		t.Errorf("EscapedPath = %s, want %s (RawPath must survive)", got, want)
	}
	if u.Path != "/api/v2/users/a b/café" {
		t.Errorf("Path = %q", u.Path)
	}
	if base.Path != "/api/v2" {
		t.Errorf("base modified: %s", base)
	}
	if _, err := BuildURL(base, "/../x", nil); err == nil {
		t.Error("BuildURL accepted ..")
	}
	if _, err := BuildURL(base, "/x", map[string]any{"a": map[string]any{}}); err == nil {
		t.Error("BuildURL accepted an object query value")
	}
}

func TestBuildQuery(t *testing.T) {
	good := []struct {
		q    map[string]any
		want string
	}{
		{nil, ""},
		{map[string]any{"a": "1", "b": true, "c": float64(42), "d": 1.5}, "a=1&b=true&c=42&d=1.5"},
		{map[string]any{"big": float64(1e21)}, "big=1000000000000000000000"},
		{map[string]any{"n": json.Number("12")}, "n=12"},
		{map[string]any{"id": []any{"1", float64(2), false}}, "id=1&id=2&id=false"},
		{map[string]any{"tag": []string{"a&b", "c=d"}}, "tag=a%26b&tag=c%3Dd"},
		{map[string]any{"q": "x y/?#&é"}, "q=x+y%2F%3F%23%26%C3%A9"},
		{map[string]any{"i": int64(-3), "u": uint8(7)}, "i=-3&u=7"},
		{map[string]any{"empty": []any{}}, ""},
	}
	for _, c := range good {
		got, err := BuildQuery(c.q)
		if err != nil || got != c.want {
			t.Errorf("BuildQuery(%v) = %q, %v; want %q", c.q, got, err, c.want)
		}
	}
	bad := []map[string]any{
		{"": "x"},
		{strings.Repeat("k", 257): "x"},
		{"a": nil},
		{"a": map[string]any{"b": 1}},
		{"a": []any{[]any{"nested"}}},
		{"a": []any{nil}},
		{"a": "x\r\nSet-Cookie: y"},
		{"a\n": "x"},
		{"a": "\xff"},
		{"a": math.NaN()},
		{"a": math.Inf(1)},
		{"a": json.Number("nope")},
		{"a": struct{}{}},
		{"a": make([]any, maxQueryValues+1)},
		{"a": strings.Repeat("x", MaxQueryLen)},
	}
	for _, q := range bad {
		if got, err := BuildQuery(q); err == nil {
			t.Errorf("BuildQuery(%.60v) = %q, want error", q, got)
		}
	}
}

var fuzzRoutes = []Route{{Methods: []string{"*"}, Path: "/**"}}

// FuzzJoinPath checks JoinPath's promises on arbitrary input: it never
// panics, and whatever it accepts stays under the base path, has no "//", no
// dot segment once decoded, no control characters or raw "@", "?", "#", "\",
// decodes to valid UTF-8, is canonical, and MatchRoute reads the same paths.
func FuzzJoinPath(f *testing.F) {
	for _, s := range []string{
		"/v1/customers/42", "/v1/a%20b", "/v1/caf%C3%A9", "/../admin", "/%2e%2e/admin",
		"//evil.example/", "/\\evil", "/ok@127.0.0.1", "/a%2fb", "/a%00", "/a\r\nX: y",
		"/.%2E/", "/a%252e", "/%c0%ae", "/x/%E2%80%A5", "/", "/a/", "/a;b", "/a%",
	} {
		f.Add(s)
	}
	base := mustURL(f, "http://h/api/v2")
	f.Fuzz(func(t *testing.T, p string) {
		got, err := JoinPath(base, p)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("JoinPath(%q): error %v is not *Error", p, err)
			}
			if _, err := MatchRoute(fuzzRoutes, "GET", p); err == nil {
				t.Fatalf("JoinPath refused %q (%v) but MatchRoute accepted it", p, e)
			}
			return
		}
		if !strings.HasPrefix(got, "/api/v2/") {
			t.Fatalf("JoinPath(%q) = %q escapes the base path", p, got)
		}
		if strings.Contains(got, "//") {
			t.Fatalf("JoinPath(%q) = %q contains //", p, got)
		}
		if strings.ContainsAny(got, "@?#\\; ") {
			t.Fatalf("JoinPath(%q) = %q contains a refused raw character", p, got)
		}
		dec, err := url.PathUnescape(got)
		if err != nil {
			t.Fatalf("JoinPath(%q) = %q does not decode: %v", p, got, err)
		}
		if !utf8.ValidString(dec) {
			t.Fatalf("JoinPath(%q) = %q decodes to invalid UTF-8", p, got)
		}
		for i := 0; i < len(dec); i++ {
			if dec[i] < 0x20 || dec[i] == 0x7f {
				t.Fatalf("JoinPath(%q) = %q decodes to a control character", p, got)
			}
		}
		if strings.Count(dec, "/") != strings.Count(got, "/") {
			t.Fatalf("JoinPath(%q) = %q hides a slash in an escape", p, got)
		}
		for _, seg := range strings.Split(dec, "/")[1:] {
			if seg == "." || seg == ".." || (seg != "" && strings.Trim(seg, ". ") == "") {
				t.Fatalf("JoinPath(%q) = %q has dot segment %q", p, got, seg)
			}
		}
		// Route matching reads paths exactly as joining does.
		if _, err := MatchRoute(fuzzRoutes, "GET", p); err != nil {
			t.Fatalf("JoinPath accepted %q but MatchRoute refused it: %v", p, err)
		}
		// Canonical: accepting the output again gives the same output.
		again, err := JoinPath(&url.URL{Scheme: "http", Host: "h"}, got[len("/api/v2"):])
		if err != nil || again != got[len("/api/v2"):] {
			t.Fatalf("JoinPath not idempotent on %q: %q, %v", got, again, err)
		}
	})
}
