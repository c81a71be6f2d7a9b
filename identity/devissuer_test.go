package identity

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDevIssuerKeyPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "airlock")
	keyFile := filepath.Join(dir, "dev-issuer.pem")

	d1, err := LoadOrCreateDevIssuer("http://127.0.0.1:8080/oidc", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("key file mode = %o, want 600", m)
		}
		st, err = os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o700 {
			t.Errorf("key dir mode = %o, want 700", m)
		}
	}
	if d1.key.N.BitLen() != 2048 {
		t.Errorf("key size = %d", d1.key.N.BitLen())
	}
	// No stray temporary files are left beside the key.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("dir holds %d entries, want 1", len(ents))
	}

	d2, err := LoadOrCreateDevIssuer("http://127.0.0.1:8080/oidc", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !d1.key.Equal(d2.key) || d1.kid != d2.kid {
		t.Fatal("second load produced a different key")
	}

	// A token from the first instance verifies against the second's JWKS.
	v, err := NewVerifier(t.Context(), VerifierConfig{
		Issuer: d2.Issuer(), Audience: testAudience, JWKSURL: d2.JWKSURL(), HTTPClient: d2.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), mint(t, d1, MintOptions{Subject: "alice", Audience: testAudience})); err != nil {
		t.Fatal(err)
	}
}

func TestDevIssuerConcurrentCreate(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "k", "dev.pem")
	const n = 4
	kids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := LoadOrCreateDevIssuer("http://127.0.0.1/oidc", keyFile)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = d.kid
		})
	}
	wg.Wait()
	for _, k := range kids[1:] {
		if k != kids[0] {
			t.Fatalf("racing creators disagree on the key: %v", kids)
		}
	}
}

func TestDevIssuerKeyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := otherKey()
	pkcs1 := write("pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	d, err := LoadOrCreateDevIssuer("http://127.0.0.1/oidc", pkcs1)
	if err != nil {
		t.Fatalf("PKCS#1 key: %v", err)
	}
	if !d.key.Equal(k) {
		t.Error("PKCS#1 key not loaded as written")
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"garbage.pem": []byte("not a key"),
		"cert.pem":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}),
		"broken.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"small.pem":   pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}),
	}
	for name, data := range bad {
		if _, err := LoadOrCreateDevIssuer("http://127.0.0.1/oidc", write(name, data)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestDevIssuerURLs(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "dev.pem")
	d, err := LoadOrCreateDevIssuer("http://127.0.0.1:8080/oidc/", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.Issuer() != "http://127.0.0.1:8080/oidc" || d.JWKSURL() != "http://127.0.0.1:8080/oidc/jwks" {
		t.Errorf("issuer %q jwks %q", d.Issuer(), d.JWKSURL())
	}
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x/oidc", "http:///oidc", "http://x/oidc?a=b", "http://u:p@x/oidc"} {
		if _, err := LoadOrCreateDevIssuer(u, keyFile); err == nil {
			t.Errorf("issuer URL %q accepted", u)
		}
	}
}

// rfc7638 computes the RSA thumbprint independently of go-jose.
func rfc7638(pub *rsa.PublicKey) string {
	enc := base64.RawURLEncoding.EncodeToString
	e := enc(big.NewInt(int64(pub.E)).Bytes())
	doc := `{"e":"` + e + `","kty":"RSA","n":"` + enc(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(doc))
	return enc(sum[:])
}

func TestDevIssuerHandler(t *testing.T) {
	d, srv := newServedIssuer(t)
	get := func(method, url string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, body := get("GET", d.Issuer()+"/.well-known/openid-configuration")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("discovery: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var disc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(body, &disc); err != nil {
		t.Fatal(err)
	}
	if disc.Issuer != d.Issuer() || disc.JWKSURI != d.JWKSURL() || len(disc.Algs) != 1 || disc.Algs[0] != "RS256" {
		t.Errorf("discovery = %+v", disc)
	}

	resp, body = get("GET", d.JWKSURL())
	if resp.StatusCode != 200 {
		t.Fatalf("jwks: %s", resp.Status)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("jwks has %d keys", len(set.Keys))
	}
	k := set.Keys[0]
	if k["kid"] != rfc7638(&d.key.PublicKey) || k["kid"] != d.kid || k["alg"] != "RS256" || k["use"] != "sig" || k["kty"] != "RSA" {
		t.Errorf("jwk = %v", k)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Errorf("jwks leaks private member %q", private)
		}
	}
	// The kid in minted tokens matches the JWKS.
	tok := mint(t, d, MintOptions{Subject: "alice", Audience: testAudience})
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var h map[string]any
	json.Unmarshal(hdr, &h)
	if h["kid"] != d.kid || h["alg"] != "RS256" || h["typ"] != "JWT" {
		t.Errorf("token header = %v", h)
	}

	if resp, body = get("HEAD", d.JWKSURL()); resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %s, %d body bytes", resp.Status, len(body))
	}
	if resp, _ = get("POST", d.JWKSURL()); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s allow=%q", resp.Status, resp.Header.Get("Allow"))
	}
	if resp, _ = get("GET", d.Issuer()+"/token"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %s", resp.Status)
	}

	// Behind StripPrefix the handler sees bare suffixes.
	rec := httptest.NewRecorder()
	http.StripPrefix("/oidc", d.Handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/oidc/jwks", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), d.kid) {
		t.Errorf("stripped mount: %d", rec.Code)
	}
}

func TestDevIssuerHTTPClient(t *testing.T) {
	d := newInProcessIssuer(t)
	c := d.HTTPClient()
	resp, err := c.Get(d.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), d.kid) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("jwks via in-process client: %d %s", resp.StatusCode, body)
	}
	resp, err = c.Get(d.Issuer() + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	for _, u := range []string{
		"http://example.com/oidc/jwks",
		"https://airlock-dev.invalid/oidc/jwks",
		"http://airlock-dev.invalid/oidcx/jwks",
		"http://airlock-dev.invalid/jwks",
		"http://airlock-dev.invalid:8080/oidc/jwks",
	} {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s: served", u)
		}
	}
}

func TestMintOptions(t *testing.T) {
	d := newInProcessIssuer(t)
	bad := map[string]MintOptions{
		"no subject":       {Audience: testAudience},
		"no audience":      {Subject: "alice"},
		"negative ttl":     {Subject: "alice", Audience: testAudience, TTL: -time.Second},
		"groups claim iss": {Subject: "alice", Audience: testAudience, GroupsClaim: "iss"},
		"groups claim exp": {Subject: "alice", Audience: testAudience, GroupsClaim: "exp"},
	}
	for name, o := range bad {
		if _, err := d.Mint(o); err == nil {
			t.Errorf("%s: minted", name)
		}
	}

	tok := mint(t, d, MintOptions{Subject: "alice", Audience: testAudience, TTL: 5 * time.Minute, Agent: "cli"})
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "groups", "azp"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %q missing", k)
		}
	}
	if ttl := c["exp"].(float64) - c["iat"].(float64); ttl != 300 {
		t.Errorf("exp-iat = %v, want 300", ttl)
	}
	tok2 := mint(t, d, MintOptions{Subject: "alice", Audience: testAudience})
	payload2, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok2, ".")[1])
	var c2 map[string]any
	json.Unmarshal(payload2, &c2)
	if c2["jti"] == c["jti"] {
		t.Error("jti repeated")
	}
	if _, ok := c2["azp"]; ok {
		t.Error("azp set without Agent")
	}
	if ttl := c2["exp"].(float64) - c2["iat"].(float64); ttl != 3600 {
		t.Errorf("default ttl = %v, want 3600", ttl)
	}
}
