package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"

	"github.com/airlockhq/airlock/server"
)

// JSON, XML and CSV bodies from http_request are masked through the
// gateway by what their structure says a value is — the JSON key, the XML
// element, the CSV header — with JSON key rules and column rules applied
// to them, within the token budget, and nothing raw reaches the agent or
// the journal.
func TestHTTPDocumentBodiesAreMasked(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	var big strings.Builder
	big.WriteString("id,ssn,note\n")
	for i := range 3000 {
		fmt.Fprintf(&big, "%d,%03d%02d%04d,order shipped\n", i, 100+i%500, 10+i%80, 1000+i)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/customers/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"customers": [{"ssn": 234567890, "card": 4111111111111111, "internal_ref": "REF-77-abc",
				"contact": {"telefon": "030 12345678"}}]}`)
		case "/api/customers/xml":
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, `<?xml version="1.0"?><customers><customer id="7"><ssn>345678901</ssn>`+
				`<internal_ref>REF-88-xyz</internal_ref><field name="mobile" value="0171 2345678"/>`+
				`<email>joan.x@example.com</email></customer></customers>`)
		case "/api/customers/csv":
			w.Header().Set("Content-Type", "text/csv")
			io.WriteString(w, "id,ssn,email,internal_ref,phone\n1,456789012,ann.b@example.com,REF-99-q,0301234567\n")
		case "/api/customers/big":
			w.Header().Set("Content-Type", "text/csv")
			io.WriteString(w, big.String())
		}
	}))
	t.Cleanup(api.Close)
	e := newEnvWith(t, httpConnYAML(api.URL+"/api")+`    max_result_tokens: 400
masking:
  json_keys:
    "**.internal_ref": redact
  columns:
    "*.email": partial
rules:
  - {name: analysts-read, groups: [analysts], connections: [api], access: [read], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			c := clientOver(t, e, transport, base, e.token(t, "alice", "analysts"))
			checkDocumentBodies(t, e, c)
		})
	}
}

func checkDocumentBodies(t *testing.T, e *env, c *client.Client) {
	t.Helper()
	grant(t, c, "api", "read")
	raw := []string{"234567890", "4111111111111111", "REF-77-abc", "030 12345678", "345678901", "REF-88-xyz",
		"0171 2345678", "joan.x@example.com", "456789012", "ann.b@example.com", "REF-99-q", "0301234567"}
	var seen []byte
	for _, path := range []string{"/customers/json", "/customers/xml", "/customers/csv"} {
		res := callTool(t, c, "http_request", map[string]any{"connection": "api", "method": "GET", "path": path})
		if res.IsError {
			t.Fatalf("%s: %s", path, text(res))
		}
		b, _ := json.Marshal(res)
		seen = append(seen, b...)
	}
	// The column rule on "*.email" keeps the CSV's email partially.
	if !bytes.Contains(seen, []byte("@example.com")) || !bytes.Contains(seen, []byte("[SSN]")) {
		t.Errorf("expected partial email and [SSN] labels: %s", seen)
	}
	// A body past the token budget is cut and still masked.
	res := callTool(t, c, "http_request", map[string]any{"connection": "api", "method": "GET", "path": "/customers/big"})
	if res.IsError {
		t.Fatalf("big: %s", text(res))
	}
	b, _ := json.Marshal(res)
	if !bytes.Contains(b, []byte("token budget")) {
		t.Errorf("a 3000-row body within 400 tokens was not cut: %.300s", b)
	}
	if bytes.Contains(b, []byte(",10010")) || !bytes.Contains(b, []byte("[SSN]")) {
		t.Errorf("bare SSNs under the ssn header were not masked: %.300s", b)
	}
	seen = append(seen, b...)
	recs := journal(t, e)
	if len(recs) < 4 {
		t.Fatalf("%d journal records", len(recs))
	}
	for _, r := range recs {
		b, _ := json.Marshal(r)
		seen = append(seen, b...)
	}
	for _, v := range raw {
		if bytes.Contains(seen, []byte(v)) {
			t.Errorf("raw %q reached the agent or the journal", v)
		}
	}
	for i := range 3000 {
		if v := fmt.Sprintf("%03d%02d%04d", 100+i%500, 10+i%80, 1000+i); bytes.Contains(seen, []byte(v)) {
			t.Fatalf("raw SSN %q of the big body reached the agent or the journal", v)
		}
	}
}

// Bodies past 4 MiB stream (a connection's max_response_bytes allows
// them): masked as they are read, over every transport — the CSV
// header's column rules and key context reach rows far past the first
// chunk, XML elements name their values, the token budget cuts what is
// shown, and the journal counts every value masked in the whole body.
func TestHTTPLargeBodiesStream(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_API_TOKEN", apiSecret)
	const rows = 60000 // about 6 MiB of CSV, 7 of XML, 9 of JSON
	ssn := func(i int) string { return fmt.Sprintf("%03d-%02d-%04d", 100+i%500, 10+i%80, 1000+i%9000) }
	var csvBody, xmlBody, jsonBody strings.Builder
	csvBody.WriteString("id,ssn,email,internal_ref\n")
	xmlBody.WriteString("<?xml version=\"1.0\"?>\n<customers>\n")
	jsonBody.WriteString("[")
	for i := range rows {
		fmt.Fprintf(&csvBody, "%d,%s,user%d@example.com,REF-%d-q\n", i, strings.ReplaceAll(ssn(i), "-", ""), i, i)
		fmt.Fprintf(&xmlBody, "<customer id=\"%d\"><ssn>%s</ssn><email>user%d@example.com</email><internal_ref>REF-%d-q</internal_ref></customer>\n", i, strings.ReplaceAll(ssn(i), "-", ""), i, i)
		if i > 0 {
			jsonBody.WriteString(",\n")
		}
		fmt.Fprintf(&jsonBody, `{"id":%d,"ssn":%s,"email":"user%d@example.com","internal_ref":"REF-%d-q","note":"seen with %s"}`,
			i, strings.ReplaceAll(ssn(i), "-", ""), i, i, apiSecret)
	}
	xmlBody.WriteString("</customers>\n")
	jsonBody.WriteString("]")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/customers/csv":
			w.Header().Set("Content-Type", "text/csv")
			io.WriteString(w, csvBody.String())
		case "/api/customers/xml":
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, xmlBody.String())
		case "/api/customers/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, jsonBody.String())
		}
	}))
	t.Cleanup(api.Close)
	e := newEnvWith(t, httpConnYAML(api.URL+"/api")+`    max_result_tokens: 2000
    max_response_bytes: 33554432
masking:
  json_keys:
    "**.internal_ref": redact
rules:
  - {name: analysts-read, groups: [analysts], connections: [api], access: [read], effect: allow}
`)
	_, base := e.start(t, server.Options{})
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			c := clientOver(t, e, transport, base, e.token(t, "alice", "analysts"))
			grant(t, c, "api", "read")
			for _, path := range []string{"/customers/csv", "/customers/xml", "/customers/json"} {
				res := callTool(t, c, "http_request", map[string]any{"connection": "api", "method": "GET", "path": path})
				if res.IsError {
					t.Fatalf("%s: %s", path, text(res))
				}
				seen, _ := json.Marshal(res)
				if !bytes.Contains(seen, []byte("token budget")) || !bytes.Contains(seen, []byte("[SSN]")) {
					t.Errorf("%s: not cut to the budget, or nothing masked: %.400s", path, seen)
				}
				recs := journal(t, e)
				rec := recs[len(recs)-1]
				if rec.Tool != "http_request" || !rec.Truncated || rec.Tokens > 2000 {
					t.Errorf("%s: journal record %s truncated=%v tokens=%d", path, rec.Tool, rec.Truncated, rec.Tokens)
				}
				// Every row's SSN, email and internal_ref was masked, not
				// only those shown.
				if rec.Masked["SSN"] != rows || rec.Masked["EMAIL"] != rows || rec.Masked["FIELD"] != rows {
					t.Errorf("%s: journal counts %v, want %d SSNs, emails and fields", path, rec.Masked, rows)
				}
				jr, _ := json.Marshal(rec)
				seen = append(seen, jr...)
				for _, raw := range []string{apiSecret, "@example.com", "REF-1-q", "REF-59999-q"} {
					if bytes.Contains(seen, []byte(raw)) {
						t.Errorf("%s: raw %q reached the agent or the journal", path, raw)
					}
				}
				for i := range rows {
					if v := strings.ReplaceAll(ssn(i), "-", ""); bytes.Contains(seen, []byte(v)) {
						t.Fatalf("%s: raw SSN %q reached the agent or the journal", path, v)
					}
				}
			}
		})
	}
}
