package httprequest

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/masking"
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
		b := []byte(p)
		for _, f := range []string{p, jh, j, strings.ReplaceAll(jh, "/", `\/`), strings.ReplaceAll(j, "/", `\/`),
			url.QueryEscape(p), url.PathEscape(p), strings.ReplaceAll(url.QueryEscape(p), "+", "%20"),
			base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
			hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b))} {
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

// maxScrubDepth bounds how many encodings deep a credential is looked
// for (base64 of a percent-encoded token is two).
const maxScrubDepth = 3

// string scrubs s: every verbatim or directly encoded form of a credential,
// then every encoded run (base64, hex, percent-, HTML- or \u-escaped) whose
// decoded text holds one, replaced as a whole run or, for escapes, over
// the bytes that encode the credential.
func (s *scrubber) string(str string) string {
	if len(s.needles) == 0 {
		return str
	}
	return s.decoded(s.r.Replace(str), 0)
}

func (s *scrubber) decoded(str string, depth int) string {
	if depth >= maxScrubDepth {
		return str
	}
	var spans [][2]int
	masking.EncodedRuns(str, func(r *masking.DecodedRun) bool {
		if !s.holds(r.Text, depth+1) {
			return true
		}
		start, end := r.Start, r.End
		if at, n := s.first(r.Text); at >= 0 {
			start, end = r.Source(at, at+n)
			// Further credentials in the same run: mask the rest of it.
			if s.holds(r.Text[at+n:], depth+1) {
				end = r.End
			}
		}
		spans = append(spans, [2]int{start, end})
		return true
	})
	if len(spans) == 0 {
		return str
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp[0] < last {
			sp[0] = last
		}
		b.WriteString(str[last:sp[0]])
		b.WriteString(CredentialMark)
		last = sp[1]
	}
	b.WriteString(str[last:])
	return b.String()
}

// holds reports whether text holds a credential in any form, up to depth.
func (s *scrubber) holds(text string, depth int) bool {
	if s.r.Replace(text) != text {
		return true
	}
	return depth < maxScrubDepth && s.decoded(text, depth) != text
}

// first returns the position and length of the first needle in text, or
// -1 when only a further encoding holds one.
func (s *scrubber) first(text string) (int, int) {
	at, n := -1, 0
	for _, nd := range s.needles {
		if k := strings.Index(text, nd); k >= 0 && (at < 0 || k < at || k == at && len(nd) > n) {
			at, n = k, len(nd)
		}
	}
	return at, n
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
