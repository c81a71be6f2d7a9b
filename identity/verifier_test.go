package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

const testAudience = "airlock-test"

// otherKey is an attacker's RSA key, generated once because 2048-bit
// generation is slow.
var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// newServedIssuer runs a dev issuer on a real HTTP server, mounted the way
// the gateway mounts it: a ServeMux subtree at the issuer path.
func newServedIssuer(t testing.TB) (*DevIssuer, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d, err := LoadOrCreateDevIssuer(srv.URL+"/oidc", filepath.Join(t.TempDir(), "keys", "dev.pem"))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/oidc/", d.Handler())
	return d, srv
}

// newInProcessIssuer uses a host that cannot resolve, so passing tests
// prove no network was used.
func newInProcessIssuer(t testing.TB) *DevIssuer {
	t.Helper()
	d, err := LoadOrCreateDevIssuer("http://airlock-dev.invalid/oidc", filepath.Join(t.TempDir(), "dev.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type fixture struct {
	name string
	d    *DevIssuer
	v    *Verifier
}

// fixtures returns one verifier per supported wiring, each with its own
// issuer.
func fixtures(t *testing.T) []fixture {
	t.Helper()
	ctx := t.Context()

	served, srv := newServedIssuer(t)
	vDisc, err := NewVerifier(ctx, VerifierConfig{Issuer: served.Issuer(), Audience: testAudience, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}

	local := newInProcessIssuer(t)
	vJWKS, err := NewVerifier(ctx, VerifierConfig{
		Issuer: local.Issuer(), Audience: testAudience,
		JWKSURL: local.JWKSURL(), HTTPClient: local.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}

	local2 := newInProcessIssuer(t)
	vLocalDisc, err := NewVerifier(ctx, VerifierConfig{Issuer: local2.Issuer(), Audience: testAudience, HTTPClient: local2.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}

	return []fixture{
		{"discovery/http", served, vDisc},
		{"jwksurl/in-process", local, vJWKS},
		{"discovery/in-process", local2, vLocalDisc},
	}
}

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func baseClaims(d *DevIssuer) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": d.Issuer(),
		"sub": "alice",
		"aud": testAudience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(m, k)
		} else {
			m[k] = kv[i+1]
		}
	}
	return m
}

func signed(t testing.TB, d *DevIssuer, claims map[string]any) string {
	t.Helper()
	tok, err := d.sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mint(t testing.TB, d *DevIssuer, o MintOptions) string {
	t.Helper()
	tok, err := d.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signWith signs claims with an arbitrary key, algorithm and kid.
func signWith(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// hs256 hand-builds an HMAC token, as an attacker who treats the public
// key bytes as a shared secret would.
func hs256(t testing.TB, secret []byte, kid string, claims map[string]any) string {
	t.Helper()
	input := b64JSON(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + b64JSON(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifyRejects(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			d := fx.d
			pub := &d.key.PublicKey
			pkix, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
			pkcs1 := x509.MarshalPKCS1PublicKey(pub)
			now := time.Now()

			valid := mint(t, d, MintOptions{Subject: "alice", Audience: testAudience})
			parts := strings.Split(valid, ".")
			tampered := parts[0] + "." + b64JSON(t, with(baseClaims(d), "sub", "root")) + "." + parts[2]

			cases := []struct {
				name   string
				token  string
				reason string // expected AuthError.Reason; "" means any
			}{
				{"empty", "", "missing token"},
				{"garbage", "not a token", ""},
				{"garbage three parts", "a.b.c", ""},
				{"garbage dots", "..", ""},
				{"garbage base64", base64.RawURLEncoding.EncodeToString([]byte("{}")) + ".e30.e30", ""},
				{"oversized", strings.Repeat("a", maxTokenBytes+1), "token too large"},
				{"expired", signed(t, d, with(baseClaims(d), "exp", now.Add(-time.Minute).Unix())), "token expired"},
				{"no exp", signed(t, d, with(baseClaims(d), "exp", nil)), "token has no exp claim"},
				{"exp null", signed(t, d, with(baseClaims(d), "exp", json.RawMessage("null"))), ""},
				{"exp zero", signed(t, d, with(baseClaims(d), "exp", 0)), "token expired"},
				{"nbf in future", signed(t, d, with(baseClaims(d), "nbf", now.Add(time.Hour).Unix())), ""},
				{"wrong audience", mint(t, d, MintOptions{Subject: "alice", Audience: "someone-else"}), ""},
				{"no audience", signed(t, d, with(baseClaims(d), "aud", nil)), ""},
				{"wrong issuer", signed(t, d, with(baseClaims(d), "iss", "https://evil.example")), ""},
				{"issuer trailing slash", signed(t, d, with(baseClaims(d), "iss", d.Issuer()+"/")), ""},
				{"alg none", b64JSON(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64JSON(t, baseClaims(d)) + ".", ""},
				{"alg none with kid", b64JSON(t, map[string]any{"alg": "none", "kid": d.kid}) + "." + b64JSON(t, baseClaims(d)) + ".", ""},
				{"alg None", b64JSON(t, map[string]any{"alg": "None"}) + "." + b64JSON(t, baseClaims(d)) + ".", ""},
				{"HS256 with public key PEM", hs256(t, pubPEM, d.kid, baseClaims(d)), ""},
				{"HS256 with public key PKIX DER", hs256(t, pkix, d.kid, baseClaims(d)), ""},
				{"HS256 with public key PKCS1 DER", hs256(t, pkcs1, d.kid, baseClaims(d)), ""},
				{"other key same kid", signWith(t, jose.RS256, otherKey(), d.kid, baseClaims(d)), ""},
				{"other key no kid", signWith(t, jose.RS256, otherKey(), "", baseClaims(d)), ""},
				{"disallowed alg RS384", signWith(t, jose.RS384, d.key, d.kid, baseClaims(d)), ""},
				{"tampered payload", tampered, ""},
				{"missing sub", signed(t, d, with(baseClaims(d), "sub", nil)), "token has no sub claim"},
				{"empty sub", signed(t, d, with(baseClaims(d), "sub", "")), "token has no sub claim"},
				{"groups not strings", signed(t, d, with(baseClaims(d), "groups", []any{"eng", 7})), "invalid groups claim"},
				{"groups object", signed(t, d, with(baseClaims(d), "groups", map[string]any{"eng": true})), "invalid groups claim"},
				{"azp not string", signed(t, d, with(baseClaims(d), "azp", 12)), "invalid client claim"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					p, err := fx.v.Verify(t.Context(), tc.token)
					if err == nil {
						t.Fatalf("accepted: %+v", p)
					}
					t.Log(err)
					var ae *AuthError
					if !errors.As(err, &ae) {
						t.Fatalf("error %T %v is not *AuthError", err, err)
					}
					if ae.Reason == "" {
						t.Error("empty reason")
					}
					if tc.reason != "" && ae.Reason != tc.reason {
						t.Errorf("reason = %q, want %q (err: %v)", ae.Reason, tc.reason, err)
					}
					if len(tc.token) > 16 {
						for _, part := range strings.Split(tc.token, ".") {
							if len(part) > 16 && strings.Contains(err.Error(), part) {
								t.Errorf("error echoes the token: %v", err)
							}
						}
					}
				})
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	for _, fx := range fixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			d := fx.d
			cases := []struct {
				name  string
				token string
				want  Principal
			}{
				{
					"minted, array groups, azp",
					mint(t, d, MintOptions{Subject: "alice", Groups: []string{"eng", "oncall"}, Audience: testAudience, Agent: "claude-code", TTL: time.Minute}),
					Principal{Subject: "alice", Groups: []string{"eng", "oncall"}, Agent: "claude-code", Issuer: d.Issuer()},
				},
				{
					"string groups",
					signed(t, d, with(baseClaims(d), "groups", " eng, oncall  admins,, ")),
					Principal{Subject: "alice", Groups: []string{"eng", "oncall", "admins"}, Issuer: d.Issuer()},
				},
				{
					"client_id fallback",
					signed(t, d, with(baseClaims(d), "client_id", "ci-bot")),
					Principal{Subject: "alice", Agent: "ci-bot", Issuer: d.Issuer()},
				},
				{
					"azp wins over client_id",
					signed(t, d, with(baseClaims(d), "client_id", "ci-bot", "azp", "cursor")),
					Principal{Subject: "alice", Agent: "cursor", Issuer: d.Issuer()},
				},
				{
					"audience array containing ours",
					signed(t, d, with(baseClaims(d), "aud", []string{"other", testAudience})),
					Principal{Subject: "alice", Issuer: d.Issuer()},
				},
				{
					"no groups",
					mint(t, d, MintOptions{Subject: "bob", Audience: testAudience}),
					Principal{Subject: "bob", Issuer: d.Issuer()},
				},
				{
					"nbf within leeway",
					signed(t, d, with(baseClaims(d), "nbf", time.Now().Add(time.Minute).Unix())),
					Principal{Subject: "alice", Issuer: d.Issuer()},
				},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					p, err := fx.v.Verify(t.Context(), tc.token)
					if err != nil {
						t.Fatal(err)
					}
					if p.Subject != tc.want.Subject || p.Agent != tc.want.Agent || p.Issuer != tc.want.Issuer ||
						!slices.Equal(p.Groups, tc.want.Groups) {
						t.Errorf("got %+v, want %+v", *p, tc.want)
					}
				})
			}
		})
	}
}

func TestVerifyCustomGroupsClaim(t *testing.T) {
	d := newInProcessIssuer(t)
	v, err := NewVerifier(t.Context(), VerifierConfig{
		Issuer: d.Issuer(), Audience: testAudience, GroupsClaim: "roles",
		JWKSURL: d.JWKSURL(), HTTPClient: d.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, d, MintOptions{Subject: "alice", Audience: testAudience, Groups: []string{"sre"}, GroupsClaim: "roles"})
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Groups, []string{"sre"}) || !p.InGroup("sre") {
		t.Errorf("groups = %v", p.Groups)
	}
	// The default claim must not leak in when another is configured.
	p, err = v.Verify(t.Context(), mint(t, d, MintOptions{Subject: "alice", Audience: testAudience, Groups: []string{"sre"}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 0 {
		t.Errorf("groups from wrong claim: %v", p.Groups)
	}
}

func TestVerifyExplicitAlgorithms(t *testing.T) {
	d := newInProcessIssuer(t)
	v, err := NewVerifier(t.Context(), VerifierConfig{
		Issuer: d.Issuer(), Audience: testAudience, Algorithms: []string{oidc.ES256},
		JWKSURL: d.JWKSURL(), HTTPClient: d.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ae *AuthError
	if _, err := v.Verify(t.Context(), mint(t, d, MintOptions{Subject: "alice", Audience: testAudience})); !errors.As(err, &ae) {
		t.Fatalf("RS256 token accepted by ES256-only verifier: %v", err)
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	d, srv := newServedIssuer(t)
	ctx := t.Context()
	cases := []struct {
		name string
		cfg  VerifierConfig
	}{
		{"no issuer", VerifierConfig{Audience: testAudience, JWKSURL: d.JWKSURL()}},
		{"no audience", VerifierConfig{Issuer: d.Issuer(), JWKSURL: d.JWKSURL()}},
		{"HS256 allowed", VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, JWKSURL: d.JWKSURL(), Algorithms: []string{"RS256", "HS256"}}},
		{"none allowed", VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, JWKSURL: d.JWKSURL(), Algorithms: []string{"none"}}},
		{"bad JWKS URL", VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, JWKSURL: "file:///etc/passwd"}},
		{"discovery issuer mismatch", VerifierConfig{Issuer: d.Issuer() + "/", Audience: testAudience, HTTPClient: srv.Client()}},
		{"discovery 404", VerifierConfig{Issuer: srv.URL + "/nope", Audience: testAudience, HTTPClient: srv.Client()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(ctx, tc.cfg); err == nil {
				t.Fatal("NewVerifier succeeded")
			}
		})
	}
}

// TestNewVerifierJWKSURLNoIO checks the JWKS-URL path is lazy: building
// the verifier must not touch the network.
func TestNewVerifierJWKSURLNoIO(t *testing.T) {
	var calls atomic.Int32 // key fetches run on go-oidc's goroutine
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("no network")
	})}
	v, err := NewVerifier(t.Context(), VerifierConfig{
		Issuer: "https://issuer.invalid", Audience: testAudience,
		JWKSURL: "https://issuer.invalid/jwks", HTTPClient: client,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("NewVerifier made %d requests", n)
	}
	// A key fetch failure still surfaces as an AuthError.
	d := newInProcessIssuer(t)
	tok := signed(t, d, with(baseClaims(d), "iss", "https://issuer.invalid"))
	var ae *AuthError
	if _, err := v.Verify(t.Context(), tok); !errors.As(err, &ae) {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() == 0 {
		t.Error("Verify did not fetch keys")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestVerifyConcurrent(t *testing.T) {
	d := newInProcessIssuer(t)
	v, err := NewVerifier(t.Context(), VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, HTTPClient: d.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, d, MintOptions{Subject: "alice", Audience: testAudience})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func BenchmarkVerify(b *testing.B) {
	d, srv := newServedIssuer(b)
	v, err := NewVerifier(b.Context(), VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	tok := mint(b, d, MintOptions{Subject: "alice", Groups: []string{"eng", "oncall"}, Audience: testAudience, Agent: "claude-code"})
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil { // warm the key cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
