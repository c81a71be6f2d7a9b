package deploy

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlockhq/airlock/identity"
)

// kubeIssuer stands in for a Kubernetes API server's service-account
// issuer: the discovery document and JWKS it serves at
// /.well-known/openid-configuration and /openid/v1/jwks, and tokens shaped
// like the kubelet's projected service-account tokens.
type kubeIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newKubeIssuer(t *testing.T) *kubeIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := &kubeIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                k.srv.URL,
			"jwks_uri":                              k.srv.URL + "/openid/v1/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k8s-1",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	k.srv = httptest.NewTLSServer(mux)
	t.Cleanup(k.srv.Close)
	return k
}

// token mints what the kubelet writes into a projected volume for
// serviceAccountToken{audience: aud}.
func (k *kubeIssuer) token(t *testing.T, ns, sa string, aud []string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"aud": aud,
		"exp": now.Add(ttl).Unix(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"iss": k.srv.URL,
		"jti": "6f1c3f1e-6c57-4d55-9f0f-3d2b8c1f0a11",
		"sub": "system:serviceaccount:" + ns + ":" + sa,
		"kubernetes.io": map[string]any{
			"namespace":      ns,
			"node":           map[string]any{"name": "node-1", "uid": "0d6e1f52-1111-4e0c-9a57-5a0e1b2c3d4e"},
			"pod":            map[string]any{"name": sa + "-7d9c5", "uid": "9a1b2c3d-2222-4e0c-9a57-5a0e1b2c3d4e"},
			"serviceaccount": map[string]any{"name": sa, "uid": "1b2c3d4e-3333-4e0c-9a57-5a0e1b2c3d4e"},
		},
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "kid": "k8s-1"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestKubernetesServiceAccountTokens checks the identity setup of
// docs/kubernetes.md with the gateway's own verifier: a projected token
// for audience "airlock" names the service account, which groups_claim:
// sub makes the caller's one group (what the worked example's rules
// match); the pod's default API token (another audience), an expired token
// and a token from another cluster are refused.
func TestKubernetesServiceAccountTokens(t *testing.T) {
	k := newKubeIssuer(t)
	ctx := context.Background()
	v, err := identity.NewVerifier(ctx, identity.VerifierConfig{
		Issuer: k.srv.URL, Audience: "airlock", GroupsClaim: "sub", HTTPClient: k.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}

	p, err := v.Verify(ctx, k.token(t, "agents", "report-bot", []string{"airlock"}, 10*time.Minute))
	if err != nil {
		t.Fatalf("projected token refused: %v", err)
	}
	const sub = "system:serviceaccount:agents:report-bot"
	if p.Subject != sub || !slices.Equal(p.Groups, []string{sub}) {
		t.Errorf("principal = %q groups %v, want %q in group %q", p.Subject, p.Groups, sub, sub)
	}

	// The worked example verifies tokens the same way, and its rules name
	// exactly this group.
	b, err := os.ReadFile("../examples/kubernetes/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config struct {
			Identity struct {
				Audience    string `yaml:"audience"`
				GroupsClaim string `yaml:"groups_claim"`
			} `yaml:"identity"`
			Rules []struct {
				Groups []string `yaml:"groups"`
			} `yaml:"rules"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	if id := values.Config.Identity; id.Audience != "airlock" || id.GroupsClaim != "sub" {
		t.Errorf("worked example identity = %+v, want audience airlock, groups_claim sub", id)
	}
	if !slices.ContainsFunc(values.Config.Rules, func(r struct {
		Groups []string `yaml:"groups"`
	}) bool {
		return slices.Contains(r.Groups, sub)
	}) {
		t.Errorf("the worked example has no rule for %s", sub)
	}

	refused := map[string]string{
		"default API token": k.token(t, "agents", "report-bot", []string{"https://kubernetes.default.svc.cluster.local"}, time.Hour),
		"expired":           k.token(t, "agents", "report-bot", []string{"airlock"}, -time.Minute),
	}
	other := newKubeIssuer(t)
	refused["another cluster"] = other.token(t, "agents", "report-bot", []string{"airlock"}, 10*time.Minute)
	for name, tok := range refused {
		if p, err := v.Verify(ctx, tok); err == nil {
			t.Errorf("%s: accepted as %q", name, p.Subject)
		}
	}
}
