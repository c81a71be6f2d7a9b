package httpguard

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

func TestRouteValidate(t *testing.T) {
	good := []Route{
		{Methods: []string{"GET", "HEAD"}, Path: "/v1/customers/*/orders"},
		{Methods: []string{"*"}, Path: "/v1/**", Effect: EffectApprove},
		{Methods: []string{"post"}, Path: "/v1/search", Access: policy.Read},
		{Methods: []string{"DELETE"}, Path: "/v1/admin/**", Effect: EffectDeny},
		{Methods: []string{"GET"}, Path: "/"},
		{Methods: []string{"GET"}, Path: "/v1/a b/x@y/"},
		{Methods: []string{"PUT"}, Path: "/v1/**/items/*", Access: policy.Admin, Effect: EffectAllow},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", r, err)
		}
	}
	bad := []struct {
		r    Route
		want string
	}{
		{Route{Path: "/v1"}, "methods"},
		{Route{Methods: []string{"*", "GET"}, Path: "/v1"}, "alone"},
		{Route{Methods: []string{"TRACE"}, Path: "/v1"}, "TRACE"},
		{Route{Methods: []string{"connect"}, Path: "/v1"}, "CONNECT"},
		{Route{Methods: []string{"GE T"}, Path: "/v1"}, "upper-case"},
		{Route{Methods: []string{"GET"}}, "path"},
		{Route{Methods: []string{"GET"}, Path: "v1"}, "start with /"},
		{Route{Methods: []string{"GET"}, Path: "/v1//x"}, "//"},
		{Route{Methods: []string{"GET"}, Path: "/v1/x*"}, "whole segments"},
		{Route{Methods: []string{"GET"}, Path: "/v1/../x"}, "dots"},
		{Route{Methods: []string{"GET"}, Path: "/v1/a%20b"}, "decoded"},
		{Route{Methods: []string{"GET"}, Path: "/v1/a?b"}, "decoded"},
		{Route{Methods: []string{"GET"}, Path: "/v1/a\nb"}, "control"},
		{Route{Methods: []string{"GET"}, Path: "/v1", Access: "root"}, "access"},
		{Route{Methods: []string{"*"}, Path: "/v1", Access: policy.Read}, "writes pass as reads"},
		{Route{Methods: []string{"GET"}, Path: "/v1", Effect: "maybe"}, "effect"},
	}
	for _, c := range bad {
		err := c.r.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want error mentioning %q", c.r, err, c.want)
		}
	}
}

func TestMatchRoute(t *testing.T) {
	routes := []Route{
		0: {Methods: []string{"*"}, Path: "/v1/admin/**", Effect: EffectDeny},
		1: {Methods: []string{"GET", "HEAD"}, Path: "/v1/customers/*/orders"},
		2: {Methods: []string{"POST"}, Path: "/v1/search", Access: policy.Read},
		3: {Methods: []string{"DELETE"}, Path: "/v1/customers/*", Effect: EffectApprove},
		4: {Methods: []string{"get"}, Path: "/v1/reports/**/pdf"},
		5: {Methods: []string{"GET", "PUT"}, Path: "/v1/customers/**"},
		6: {Methods: []string{"GET"}, Path: "/"},
	}
	type want struct {
		idx    int
		access policy.Access
		effect string
		errHas string
	}
	cases := []struct {
		method, path string
		want         want
	}{
		{"GET", "/v1/customers/42/orders", want{1, policy.Read, EffectAllow, ""}},
		{"HEAD", "/v1/customers/42/orders/", want{1, policy.Read, EffectAllow, ""}},
		{"GET", "/v1/customers/%34%32/orders", want{1, policy.Read, EffectAllow, ""}},
		{"GET", "/v1/customers/42/orders/7", want{5, policy.Read, EffectAllow, ""}},
		{"PUT", "/v1/customers/42", want{5, policy.Write, EffectAllow, ""}},
		{"GET", "/v1/customers", want{5, policy.Read, EffectAllow, ""}}, // ** matches zero segments
		{"POST", "/v1/search", want{2, policy.Read, EffectAllow, ""}},
		{"DELETE", "/v1/customers/42", want{3, policy.Write, EffectApprove, ""}},
		{"DELETE", "/V1/CUSTOMERS/42", want{3, policy.Write, EffectApprove, ""}}, // restrictive routes fold case
		{"GET", "/v1/reports/pdf", want{4, policy.Read, EffectAllow, ""}},
		{"GET", "/v1/reports/2024/q1/pdf", want{4, policy.Read, EffectAllow, ""}},
		{"GET", "/v1/reports/2024/q1/csv", want{-1, "", "", "no route allows GET /v1/reports/2024/q1/csv"}},
		{"GET", "/", want{6, policy.Read, EffectAllow, ""}},
		{"GET", "/v1/admin", want{0, policy.Read, EffectDeny, "denied by route 0"}},
		{"POST", "/v1/admin/users/1", want{0, policy.Write, EffectDeny, "denied"}},
		{"GET", "/v1/ADMIN/users", want{0, policy.Read, EffectDeny, "denied"}},
		{"GET", "/v1/%61dmin/users", want{0, policy.Read, EffectDeny, "denied"}},
		{"GET", "/v1/admin/", want{0, policy.Read, EffectDeny, "denied"}},
		{"POST", "/v1/x", want{-1, "", "", "no route allows POST /v1/x"}},
		{"PATCH", "/v1/customers/42", want{-1, "", "", "no route allows"}},
		{"get", "/v1/customers/42/orders", want{-1, "", "", "upper-case"}},
		{"TRACE", "/v1/customers/42/orders", want{-1, "", "", "TRACE"}},
		{"GET", "/v1/customers/../admin", want{-1, "", "", "dots"}},
		{"GET", "/v1/customers/%2e%2e/admin", want{-1, "", "", "dots"}},
		{"GET", "/v1/admin;x/users", want{-1, "", "", ";"}},
		{"GET", "v1/customers", want{-1, "", "", "start with /"}},
	}
	for _, c := range cases {
		d, err := MatchRoute(routes, c.method, c.path)
		if d.RouteIndex != c.want.idx || d.Access != c.want.access || d.Effect != c.want.effect {
			t.Errorf("MatchRoute(%s %s) = %+v, want %+v", c.method, c.path, d, c.want)
		}
		if c.want.errHas == "" {
			if err != nil {
				t.Errorf("MatchRoute(%s %s) error %v", c.method, c.path, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, c.want.errHas) {
			t.Errorf("MatchRoute(%s %s) error %v, want *Error mentioning %q", c.method, c.path, err, c.want.errHas)
		}
	}
	if d, err := MatchRoute(nil, "GET", "/"); err == nil || d.RouteIndex != -1 {
		t.Errorf("MatchRoute(no routes) = %+v, %v", d, err)
	}
	// An unknown effect never allows, even when Validate was skipped.
	if _, err := MatchRoute([]Route{{Methods: []string{"GET"}, Path: "/**", Effect: "allwo"}}, "GET", "/x"); err == nil {
		t.Error("unknown effect allowed the call")
	}
	if _, err := MatchRoute([]Route{{Methods: []string{"GET"}, Path: "/**", Access: "root"}}, "GET", "/x"); err == nil {
		t.Error("unknown access class allowed the call")
	}
}

func TestMatchSegments(t *testing.T) {
	cases := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"/", "/", true},
		{"/", "/a", false},
		{"/**", "/", true},
		{"/**", "/a/b/c", true},
		{"/*", "/", false},
		{"/*", "/a", true},
		{"/*", "/a/b", false},
		{"/a/**/b", "/a/b", true},
		{"/a/**/b", "/a/x/y/b", true},
		{"/a/**/b", "/a/x/y/c", false},
		{"/a/**/b/**/c", "/a/b/x/b/y/c", true},
		{"/a/**/*/c", "/a/c", false},
		{"/a/**/*/c", "/a/x/c", true},
		{"/**/x", "/a/b/x", true},
		{"/**/**/x", "/x", true},
		{"/a/*/c/", "/a/b/c", true},
		{"/a/*/c", "/a/b/c/", true},
		{"/a", "/A", false},
	}
	for _, c := range cases {
		_, segs, err := parsePath(c.path, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchSegments(c.pattern, segs, false); got != c.want {
			t.Errorf("matchSegments(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
	// Many ** against a long path stays cheap (no exponential backtracking).
	long := "/" + strings.Repeat("a/", 500) + "b"
	_, segs, _ := parsePath(long, true)
	if matchSegments("/**/**/**/**/**/**/**/**/c", segs, false) {
		t.Error("matched")
	}
}
