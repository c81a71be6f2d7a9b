package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/server"
)

// The quick start's customers come back masked over MCP, aliases or not,
// and the journal never holds a raw value from the seed.
func TestQuickstartResultsAreMasked(t *testing.T) {
	data, err := os.ReadFile("../examples/quickstart/airlock.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "airlock.yaml")
	os.WriteFile(p, data, 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.LoadOrCreateDevIssuer(cfg.DevIssuerURL(), cfg.Identity.DevIssuer.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{cfgPath: p, cfg: cfg, dev: dev}
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "demo", "read")

	all := callTool(t, c, "query_db", map[string]any{"connection": "demo", "sql": "SELECT * FROM customers"})
	aliased := callTool(t, c, "query_db", map[string]any{"connection": "demo", "sql": "SELECT ssn AS x, email AS y, card_number || '' AS z, phone AS w FROM customers"})
	for _, res := range []any{all, aliased} {
		if r, _ := json.Marshal(res); bytes.Contains(r, []byte(`"isError":true`)) {
			t.Fatalf("query failed: %s", r)
		}
	}
	seed := seedValues(t, filepath.Join(dir, "demo.db"))
	seen, _ := json.Marshal([]any{all, aliased})
	for _, v := range seed {
		if bytes.Contains(seen, []byte(v)) {
			t.Fatalf("the agent saw a raw seed value %q", v)
		}
	}
	if !strings.Contains(string(seen), "***-**-") {
		t.Errorf("ssn column not partially masked: %.400s", seen)
	}
	// Per-entity counts come back in the result's metadata.
	if all.Meta == nil || all.Meta.AdditionalFields["airlock/masked"] == nil {
		t.Errorf("no masked counts in the result metadata: %+v", all.Meta)
	}
	// Nothing raw in the journal: scan the store's files byte by byte.
	time.Sleep(100 * time.Millisecond)
	var store []byte
	for _, f := range []string{"airlock.db", "airlock.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		store = append(store, b...)
	}
	if len(store) == 0 {
		t.Fatal("no store files")
	}
	for _, v := range seed {
		if bytes.Contains(store, []byte(v)) {
			t.Fatalf("the store holds a raw seed value %q", v)
		}
	}
}

// seedValues are the sensitive values of the demo database.
func seedValues(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), "SELECT email, phone, ssn, card_number FROM customers")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b, c, d string
		if err := rows.Scan(&a, &b, &c, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, a, b, c, d)
	}
	if len(out) < 1000 {
		t.Fatalf("seed has %d values", len(out))
	}
	return out
}

// HTTP bodies are masked by JSON key and by detectors, before the agent
// and the journal see them.
func TestHTTPBodiesAreMasked(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/customers/text" {
			io.WriteString(w, "customer 7: ssn 234-56-7890, card 4111 1111 1111 1111\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"customer": {"id": 7, "email": "jane.doe@example.com", "ssn": "234-56-7890",
			"note": "call +1 415 555 0132", "password": "hunter2-correct-horse"}}`)
	}))
	t.Cleanup(api.Close)
	e := newEnvWith(t, httpConnYAML(api.URL+"/api")+`
masking:
  json_keys:
    "**.ssn": partial
rules:
  - {name: analysts-read, groups: [analysts], connections: [api], access: [read], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	c := httpClient(t, "streamable-http", base, e.token(t, "alice", "analysts"))
	grant(t, c, "api", "read")
	raw := []string{"jane.doe@example.com", "234-56-7890", "415 555 0132", "hunter2-correct-horse", "4111 1111 1111 1111"}
	var seen []byte
	for _, path := range []string{"/customers/7", "/customers/text"} {
		res := callTool(t, c, "http_request", map[string]any{"connection": "api", "method": "GET", "path": path})
		if res.IsError {
			t.Fatalf("%s: %s", path, text(res))
		}
		b, _ := json.Marshal(res)
		seen = append(seen, b...)
	}
	if !bytes.Contains(seen, []byte("***-**-7890")) {
		t.Errorf("ssn key not partially masked: %s", seen)
	}
	for _, r := range journal(t, e) {
		b, _ := json.Marshal(r)
		seen = append(seen, b...)
	}
	for _, v := range raw {
		if bytes.Contains(seen, []byte(v)) {
			t.Errorf("raw %q reached the agent or the journal", v)
		}
	}
}
