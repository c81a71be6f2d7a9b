package httprequest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/config"
)

// encodings are the ways an API may echo a request header back.
var encodings = map[string]func(string) string{
	"plain":     func(s string) string { return s },
	"base64":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"base64raw": func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) },
	"base64url": func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
	"hex":       func(s string) string { return hex.EncodeToString([]byte(s)) },
	"HEX":       func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) },
	"query":     url.QueryEscape,
	"percent": func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02x", s[i])
		}
		return b.String()
	},
	"html": func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, "&#%d;", r)
		}
		return b.String()
	},
	"htmlhex": func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, "&#x%x;", r)
		}
		return b.String()
	},
	"htmlescape": html.EscapeString,
	"unicode": func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		return b.String()
	},
}

// forms are every encoding of every part of a credential that must never
// come back.
func forms(parts ...string) []string {
	var out []string
	for _, p := range parts {
		for _, enc := range encodings {
			out = append(out, enc(p))
		}
	}
	return out
}

// Issue 11 item 8: an API that echoes the request headers in any common
// encoding, alone or inside an encoded JSON dump, gets the credential
// scrubbed from the body and the headers.
func TestCredentialScrubbedInEveryEncoding(t *testing.T) {
	const user, pass = "svc-reporting", "pa55-W0rd_x"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		dump, _ := json.Marshal(map[string]any{"headers": r.Header})
		body := map[string]any{}
		for name, enc := range encodings {
			body[name] = enc(r.Header.Get("Authorization"))
			body["token_"+name] = enc(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			body["key_"+name] = enc(r.Header.Get("X-Api-Key"))
			body["dump_"+name] = enc(string(dump))
		}
		if strings.HasPrefix(r.URL.Path, "/basic") {
			_, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			dec, _ := base64.StdEncoding.DecodeString(cred)
			for name, enc := range encodings {
				body["userpass_"+name] = enc(string(dec))
				body["pass_"+name] = enc(pass)
			}
		}
		w.Header().Set("X-Request-Id", base64.StdEncoding.EncodeToString([]byte(r.Header.Get("Authorization"))))
		if strings.HasSuffix(r.URL.Path, ".txt") {
			w.Header().Set("Content-Type", "text/plain")
			for k, v := range body {
				fmt.Fprintf(w, "%s: %v\n", k, v)
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	})
	for _, tc := range []struct {
		name, auth, path string
		parts            []string
	}{
		{"bearer", "Bearer " + secret, "/echo", []string{"Bearer " + secret, secret}},
		{"bearer text", "Bearer " + secret, "/echo.txt", []string{"Bearer " + secret, secret}},
		{"basic", basic, "/basic", []string{basic, user + ":" + pass, pass}},
		{"basic text", basic, "/basic.txt", []string{basic, user + ":" + pass, pass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL, func(h *config.HTTPSettings) {
				h.Headers["Authorization"] = tc.auth
				h.Headers["X-Api-Key"] = "k3y-0f-the-gateway"
				h.MaxResponseBytes = 1 << 20
			})}, nil)
			_, r, err := call(t, tl, map[string]any{"connection": "api", "method": "GET", "path": tc.path})
			if err != nil {
				t.Fatal(err)
			}
			all := mustJSON(t, r.Structured) + r.Text
			if !strings.Contains(all, CredentialMark) {
				t.Fatalf("nothing scrubbed: %.300s", all)
			}
			for _, f := range forms(append(tc.parts, "k3y-0f-the-gateway")...) {
				if len(f) >= minSecretLen && strings.Contains(all, f) {
					t.Errorf("credential form %q came back: %.300s", f, all)
				}
				if j, _ := json.Marshal(f); strings.Contains(all, string(j[1:len(j)-1])) && len(f) >= minSecretLen {
					t.Errorf("JSON-escaped credential form %q came back", f)
				}
			}
		})
	}
}

func TestScrubberKeepsOtherText(t *testing.T) {
	s := newScrubber(http.Header{"Authorization": {"Bearer " + secret}})
	for _, in := range []string{
		"plain text with no secret", "aGVsbG8gd29ybGQgaGVsbG8=", "a=1&b=%2Fx", "&#65;&#66;", `\u0041BC`, "3f786850e387550fdab836ed7e6dc881",
	} {
		if got := s.string(in); got != in {
			t.Errorf("scrub(%q) = %q", in, got)
		}
	}
	// Only the bytes that encode the credential go, in an escaped run.
	in := "?a=1&t=" + url.QueryEscape(secret) + "&b=2"
	if got := s.string(in); got != "?a=1&t="+CredentialMark+"&b=2" {
		t.Errorf("scrub(%q) = %q", in, got)
	}
}

func FuzzScrubEncoded(f *testing.F) {
	s := newScrubber(http.Header{"Authorization": {"Bearer " + secret}, "X-Api-Key": {"k3y-0f-the-gateway"}})
	for _, in := range []string{"x", secret, base64.StdEncoding.EncodeToString([]byte("Bearer " + secret)), url.QueryEscape(secret), "&#115;" + secret[1:]} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := s.string(in)
		if strings.Contains(out, secret) || strings.Contains(out, "k3y-0f-the-gateway") {
			t.Fatalf("scrub(%q) = %q keeps a credential", in, out)
		}
		if again := s.string(out); again != out {
			t.Fatalf("scrub not stable: %q then %q", out, again)
		}
	})
}

func BenchmarkScrub(b *testing.B) {
	s := newScrubber(http.Header{"Authorization": {"Bearer " + secret}})
	var sb strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, `{"id":%d,"echo":"%s","q":"a=1&b=%%2Fx","name":"internationalization"}`+"\n", i, base64.StdEncoding.EncodeToString([]byte("Bearer "+secret)))
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		s.string(in)
	}
}
