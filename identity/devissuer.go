package identity

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	devKeyBits      = 2048
	defaultMintTTL  = time.Hour
	wellKnownSuffix = "/.well-known/openid-configuration"
	jwksSuffix      = "/jwks"
)

// reservedClaims may not be used as a groups claim name, or Mint would let
// the groups value overwrite a claim it sets or Verify reads, such as iss
// or exp.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "iat": true, "nbf": true,
	"exp": true, "jti": true, "azp": true, "client_id": true,
}

// DevIssuer is a minimal OIDC issuer for development, tests and the quick
// start: discovery, JWKS and token minting, RS256 with a key kept on disk.
// Tokens it mints are verified through the same go-oidc path as tokens
// from a production issuer. It is safe for concurrent use.
type DevIssuer struct {
	issuer    string
	issURL    *url.URL
	key       *rsa.PrivateKey
	kid       string
	signer    jose.Signer
	discovery []byte // pre-rendered: the documents never change
	jwks      []byte
	// authz, once EnableAuthorization has run, serves the authorization
	// code flow and replaces the discovery document.
	authz atomic.Pointer[devAuthz]
}

// LoadOrCreateDevIssuer reads the PEM RSA private key at keyFile, creating
// it (2048-bit, mode 0600, parent directory 0700) on first use. issuerURL
// is the issuer's public URL, e.g. "http://127.0.0.1:8080/oidc"; a trailing
// slash is dropped, so use Issuer() as the canonical value.
func LoadOrCreateDevIssuer(issuerURL, keyFile string) (*DevIssuer, error) {
	issuerURL = strings.TrimRight(issuerURL, "/")
	u, err := url.Parse(issuerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("identity: dev issuer: invalid issuer URL %q", issuerURL)
	}
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	return newDevIssuer(issuerURL, u, key)
}

func newDevIssuer(issuerURL string, u *url.URL, key *rsa.PrivateKey) (*DevIssuer, error) {
	pub := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	// RFC 7638 thumbprint: stable across restarts and changes only if the
	// key does, so verifiers' cached keys stay valid.
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("identity: dev issuer: key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("identity: dev issuer: signer: %w", err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, fmt.Errorf("identity: dev issuer: jwks: %w", err)
	}
	discovery, err := json.Marshal(map[string]any{
		"issuer":                                issuerURL,
		"jwks_uri":                              issuerURL + jwksSuffix,
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
	})
	if err != nil {
		return nil, fmt.Errorf("identity: dev issuer: discovery: %w", err)
	}
	return &DevIssuer{
		issuer:    issuerURL,
		issURL:    u,
		key:       key,
		kid:       pub.KeyID,
		signer:    signer,
		discovery: discovery,
		jwks:      jwks,
	}, nil
}

// loadOrCreateKey returns the key in path, generating and persisting one
// if the file does not exist.
func loadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return parseKeyPEM(path, data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("identity: dev issuer: read key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("identity: dev issuer: key dir: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, devKeyBits)
	if err != nil {
		return nil, fmt.Errorf("identity: dev issuer: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: dev issuer: encode key: %w", err)
	}
	err = writeNewFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first; use theirs so both agree.
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("identity: dev issuer: read key: %w", err)
		}
		return parseKeyPEM(path, data)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: dev issuer: write key: %w", err)
	}
	return key, nil
}

// writeNewFile creates path with mode 0600 holding data, failing with
// fs.ErrExist if it already exists. The data is written to a temporary
// file and hard-linked into place, so a concurrent reader never sees a
// partial key.
func writeNewFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".devkey-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	err = os.Link(tmp.Name(), path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// Some filesystems lack hard links; fall back to an exclusive create.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseKeyPEM accepts PKCS#8 ("PRIVATE KEY") and PKCS#1 ("RSA PRIVATE
// KEY") encodings, so a key made with openssl also works.
func parseKeyPEM(path string, data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("identity: dev issuer: %s: no PEM block", path)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: dev issuer: %s: %w", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("identity: dev issuer: %s: not an RSA key", path)
		}
		key = rk
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: dev issuer: %s: %w", path, err)
		}
		key = k
	default:
		return nil, fmt.Errorf("identity: dev issuer: %s: unexpected PEM type %q", path, block.Type)
	}
	if key.N.BitLen() < devKeyBits {
		return nil, fmt.Errorf("identity: dev issuer: %s: RSA key shorter than %d bits", path, devKeyBits)
	}
	return key, nil
}

// Issuer returns the canonical issuer URL (the token iss value).
func (d *DevIssuer) Issuer() string { return d.issuer }

// JWKSURL returns the URL of the issuer's key set.
func (d *DevIssuer) JWKSURL() string { return d.issuer + jwksSuffix }

// Handler serves the discovery document and the JWKS and, once
// EnableAuthorization has run, the authorization, token and registration
// endpoints and RFC 8414 metadata (see devauthz.go). Requests are matched
// on the suffix of the path, so the handler works mounted at the issuer
// URL's path prefix (e.g. http.ServeMux pattern "/oidc/") as well as
// behind http.StripPrefix. Documents allow only GET and HEAD.
func (d *DevIssuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := d.authz.Load()
		var body []byte
		switch {
		case a != nil && (r.URL.Path == a.metaPath || strings.HasSuffix(r.URL.Path, wellKnownSuffix)):
			body = a.discovery
		case strings.HasSuffix(r.URL.Path, wellKnownSuffix):
			body = d.discovery
		case strings.HasSuffix(r.URL.Path, jwksSuffix):
			body = d.jwks
		case a != nil && strings.HasSuffix(r.URL.Path, authorizeSuffix):
			a.authorize(w, r)
			return
		case a != nil && strings.HasSuffix(r.URL.Path, tokenSuffix):
			a.token(w, r)
			return
		case a != nil && strings.HasSuffix(r.URL.Path, registerSuffix):
			a.register(w, r)
			return
		default:
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if a != nil {
			// Browser-based MCP clients (the MCP Inspector) read the
			// metadata and keys from another origin; they carry no
			// credentials.
			setCORS(h)
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	})
}

// MintOptions describes a token to mint.
type MintOptions struct {
	Subject  string // required
	Groups   []string
	Audience string        // required
	TTL      time.Duration // default one hour; negative is an error
	// Agent, when set, becomes the azp claim (Principal.Agent).
	Agent string
	// GroupsClaim names the groups claim (default "groups").
	GroupsClaim string
}

// Mint returns a signed RS256 JWT with iss, sub, aud, iat, nbf, exp, jti,
// the groups claim (always present, possibly empty) and azp when Agent is
// set.
func (d *DevIssuer) Mint(o MintOptions) (string, error) {
	if o.Subject == "" {
		return "", errors.New("identity: mint: subject is required")
	}
	if o.Audience == "" {
		return "", errors.New("identity: mint: audience is required")
	}
	if o.TTL < 0 {
		return "", errors.New("identity: mint: negative TTL")
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = defaultMintTTL
	}
	groupsClaim := o.GroupsClaim
	if groupsClaim == "" {
		groupsClaim = "groups"
	}
	if reservedClaims[groupsClaim] {
		return "", fmt.Errorf("identity: mint: groups claim %q collides with a registered claim", groupsClaim)
	}
	jti := make([]byte, 16)
	rand.Read(jti) // crypto/rand.Read never returns an error
	groups := o.Groups
	if groups == nil {
		groups = []string{}
	}
	now := time.Now()
	claims := map[string]any{
		"iss":       d.issuer,
		"sub":       o.Subject,
		"aud":       o.Audience,
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       base64.RawURLEncoding.EncodeToString(jti),
		groupsClaim: groups,
	}
	if o.Agent != "" {
		claims["azp"] = o.Agent
	}
	return d.sign(claims)
}

// sign serialises claims and signs them with the issuer key. Tests use it
// directly to build malformed-but-signed tokens.
func (d *DevIssuer) sign(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("identity: mint: %w", err)
	}
	jws, err := d.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("identity: mint: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// HTTPClient returns a client that serves this issuer's endpoints
// in-process: requests under the issuer URL go to Handler and any other
// request fails. A stdio gateway uses it to verify AIRLOCK_TOKEN through
// go-oidc's remote key set without opening a listener.
func (d *DevIssuer) HTTPClient() *http.Client {
	return &http.Client{Transport: devTransport{d}}
}

type devTransport struct{ d *DevIssuer }

func (t devTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The RoundTripper contract requires closing the body, even on error.
	if req.Body != nil {
		defer req.Body.Close()
	}
	if !t.d.owns(req.URL) {
		return nil, fmt.Errorf("identity: dev issuer client: refusing request outside %s", t.d.issuer)
	}
	rw := &memResponse{header: http.Header{}}
	t.d.Handler().ServeHTTP(rw, req)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", rw.status, http.StatusText(rw.status)),
		StatusCode:    rw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.header,
		Body:          io.NopCloser(bytes.NewReader(rw.body.Bytes())),
		ContentLength: int64(rw.body.Len()),
		Request:       req,
	}, nil
}

// owns reports whether u lies under the issuer URL. Comparing parsed
// parts (rather than a string prefix) keeps "…/oidcx" or "…/oidc@evil"
// from matching "…/oidc".
func (d *DevIssuer) owns(u *url.URL) bool {
	if u == nil || u.Scheme != d.issURL.Scheme || !strings.EqualFold(u.Host, d.issURL.Host) || u.User != nil {
		return false
	}
	base := strings.TrimRight(d.issURL.Path, "/")
	return u.Path == base || strings.HasPrefix(u.Path, base+"/")
}

// memResponse is a minimal in-memory http.ResponseWriter.
type memResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memResponse) Header() http.Header { return m.header }

func (m *memResponse) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}

func (m *memResponse) Write(p []byte) (int, error) {
	m.WriteHeader(http.StatusOK)
	return m.body.Write(p)
}

// SignRaw signs payload exactly as given with the issuer key. It exists
// for tests and evals that need tokens which are correctly signed but
// malformed (claims of the wrong type, duplicate members); never use it to
// mint real tokens.
func (d *DevIssuer) SignRaw(payload []byte) (string, error) {
	jws, err := d.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// PublicKeyPEM is the issuer's public key in PKIX PEM form, as an attacker
// who read the JWKS would have it (for tests of algorithm confusion).
func (d *DevIssuer) PublicKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(d.key.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
