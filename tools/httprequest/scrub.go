package httprequest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CredentialMark replaces every occurrence of an injected credential in what
// the agent and the journal see.
const CredentialMark = "[CREDENTIAL]"

// minSecretLen is the shortest header value (or part of one) treated as a
// credential: shorter strings would scrub ordinary text.
const minSecretLen = 6

// plainHeaders carry no credentials; their values are not scrubbed (a
// configured Accept: application/json must not erase every Content-Type).
var plainHeaders = map[string]bool{
	"Accept": true, "Accept-Language": true, "Content-Type": true, "User-Agent": true,
	"Cache-Control": true, "Prefer": true,
}

// scrubber replaces the configured header values, and the forms a target
// might echo them in, with CredentialMark.
type scrubber struct {
	needles []string // longest first
	r       *strings.Replacer
}

// newScrubber builds a scrubber for operator headers: each value, the
// credential after an auth scheme ("Bearer x" → x), the decoded user:password
// and password of Basic credentials, and their JSON- and URL-escaped forms.
func newScrubber(headers http.Header) *scrubber {
	var raw []string
	for name, vs := range headers {
		if plainHeaders[name] {
			continue
		}
		for _, v := range vs {
			raw = append(raw, credentialParts(v)...)
		}
	}
	set := map[string]bool{}
	for _, p := range raw {
		jh, j := jsonEscaped(p, true), jsonEscaped(p, false)
		for _, f := range []string{p, jh, j, strings.ReplaceAll(jh, "/", `\/`), strings.ReplaceAll(j, "/", `\/`),
			url.QueryEscape(p), url.PathEscape(p)} {
			if len(f) >= minSecretLen {
				set[f] = true
			}
		}
	}
	s := &scrubber{}
	for n := range set {
		s.needles = append(s.needles, n)
	}
	// Longest first: strings.Replacer tries old strings in argument order.
	slices.SortFunc(s.needles, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	pairs := make([]string, 0, 2*len(s.needles))
	for _, n := range s.needles {
		pairs = append(pairs, n, CredentialMark)
	}
	s.r = strings.NewReplacer(pairs...)
	return s
}

func credentialParts(v string) []string {
	v = strings.TrimSpace(v)
	parts := []string{v}
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok {
		return parts
	}
	cred = strings.TrimSpace(cred)
	parts = append(parts, cred)
	if strings.EqualFold(scheme, "Basic") {
		if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
			parts = append(parts, string(dec))
			if _, pw, ok := strings.Cut(string(dec), ":"); ok {
				parts = append(parts, pw)
			}
		}
	}
	return parts
}

func jsonEscaped(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		return s
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// string scrubs s.
func (s *scrubber) string(str string) string {
	if len(s.needles) == 0 {
		return str
	}
	return s.r.Replace(str)
}

// tail scrubs s and then a credential cut short at its end (a body
// truncated at the cap may end inside one).
func (s *scrubber) tail(str string) string {
	str = s.string(str)
	for _, n := range s.needles {
		for k := len(n) - 1; k >= 4; k-- {
			if strings.HasSuffix(str, n[:k]) {
				return str[:len(str)-k] + CredentialMark
			}
		}
	}
	return str
}

// value scrubs every string and key of a decoded JSON value in place and
// returns it.
func (s *scrubber) value(v any) any {
	if len(s.needles) == 0 {
		return v
	}
	switch v := v.(type) {
	case string:
		return s.string(v)
	case []any:
		for i := range v {
			v[i] = s.value(v[i])
		}
		return v
	case map[string]any:
		for k, e := range v {
			sk := s.string(k)
			if sk != k {
				delete(v, k)
			}
			v[sk] = s.value(e)
		}
		return v
	}
	return v
}

// err returns err unchanged when its text holds no credential, else an
// error with the scrubbed text.
func (s *scrubber) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if c := s.string(msg); c != msg {
		return errors.New(c)
	}
	return err
}
