package httprequest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/identity"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/policy/httpguard"
	"github.com/airlockhq/airlock/recorder"
	"github.com/airlockhq/airlock/tools"
)

// seen is what the declared-tool target last received.
type seen struct {
	method, path, query, body, auth string
}

func declaredTarget(t *testing.T, routes []httpguard.Route) (*target, *Tool, *atomic.Value) {
	t.Helper()
	var last atomic.Value
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last.Store(seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Get("Authorization")})
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true,"token":"` + secret + `"}`))
	})
	tl := newTestTool(t, map[string]*config.Connection{"api": httpConn(tg.URL+"/api", func(h *config.HTTPSettings) {
		h.Routes = routes
	})}, nil)
	return tg, tl, &last
}

func declare(t *testing.T, tl *Tool, d *config.DeclaredTool) tools.Tool {
	t.Helper()
	if d.Connection == "" {
		d.Connection = "api"
	}
	if d.Description == "" {
		d.Description = "A declared tool."
	}
	dt, err := tl.Declare(d)
	if err != nil {
		t.Fatalf("Declare: %v", err)
	}
	return dt
}

func runDeclared(ctx context.Context, dt tools.Tool, args map[string]any) (*tools.Call, *tools.Result, error) {
	c, err := dt.Parse(args)
	if err != nil {
		return nil, nil, err
	}
	r, err := dt.Execute(ctx, c)
	return c, r, err
}

func TestDeclaredKinds(t *testing.T) {
	_, tl, _ := declaredTarget(t, nil)
	var d tools.Declarer = tl
	if k := d.DeclaredKinds(); len(k) != 1 || k[0] != config.DeclaredHTTP {
		t.Errorf("DeclaredKinds = %v", k)
	}
	if _, err := tl.Declare(&config.DeclaredTool{Name: "x", Kind: "http", Connection: "nope", Method: "GET", Path: "/x"}); err == nil {
		t.Error("Declare accepted an unknown connection")
	}
}

func TestDeclaredGetInteger(t *testing.T) {
	tg, tl, last := declaredTarget(t, nil)
	dt := declare(t, tl, &config.DeclaredTool{
		Name: "get_customer", Kind: "http", Method: "GET", Path: "/customers/{id}",
		Params: []config.DeclaredParam{{Name: "id", Type: "integer", Minimum: ptr(1.0)}},
	})
	if s, ok := dt.(tools.Scoped); !ok || len(s.Connections()) != 1 || s.Connections()[0] != "api" {
		t.Errorf("Connections: %v", dt)
	}
	def := dt.Definition()
	if def.Name != "get_customer" || !strings.Contains(def.Description, "read access to api") ||
		def.Annotations.ReadOnlyHint == nil || !*def.Annotations.ReadOnlyHint {
		t.Errorf("definition: %+v", def)
	}
	var schema map[string]any
	if err := json.Unmarshal(def.RawInputSchema, &schema); err != nil {
		t.Fatal(err)
	}
	if p := schema["properties"].(map[string]any)["id"].(map[string]any); p["type"] != "integer" {
		t.Errorf("schema: %v", schema)
	}

	c, r, err := runDeclared(context.Background(), dt, map[string]any{"id": 42.0})
	if err != nil {
		t.Fatal(err)
	}
	got := last.Load().(seen)
	if got.method != "GET" || got.path != "/api/customers/42" || got.auth != "Bearer "+secret {
		t.Errorf("target saw %+v", got)
	}
	if c.Connection != "api" || c.Access != policy.Read || c.Command != "get_customer" ||
		len(c.Resources) != 1 || c.Resources[0] != "GET /customers/42" || c.NeedsApproval {
		t.Errorf("action %+v", c.Action)
	}
	if strings.Contains(mustJSON(t, r.Structured), secret) || strings.Contains(r.Text, secret) {
		t.Errorf("credential leaked: %s", r.Text)
	}
	for _, bad := range []map[string]any{{"id": 4.5}, {"id": "42"}, {"id": 0.0}, {}, {"id": 1.0, "x": 1.0}} {
		if _, err := dt.Parse(bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	if n := tg.hits.Load(); n != 1 {
		t.Errorf("target hits = %d, want 1", n)
	}
}

func TestDeclaredPathValuesConfined(t *testing.T) {
	tg, tl, _ := declaredTarget(t, nil)
	dt := declare(t, tl, &config.DeclaredTool{
		Name: "get_customer", Kind: "http", Method: "GET", Path: "/customers/{id}/orders",
		Params: []config.DeclaredParam{{Name: "id", Type: "string"}},
	})
	for _, v := range []string{"../admin", "1/2", "..", ".", "", "a\nb", "a\x00", `a\b`, "%2e%2e", "%2F"} {
		if _, _, err := runDeclared(context.Background(), dt, map[string]any{"id": v}); err == nil {
			t.Errorf("accepted id %q", v)
		}
	}
	if n := tg.hits.Load(); n != 0 {
		t.Errorf("target contacted %d times", n)
	}
	// Characters that are data, not structure, are escaped into the segment.
	c, err := dt.Parse(map[string]any{"id": "a b:c@e"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Resources[0] != "GET /customers/a%20b:c%40e/orders" {
		t.Errorf("resource %q", c.Resources[0])
	}
}

func TestDeclaredBodyAndQuery(t *testing.T) {
	_, tl, last := declaredTarget(t, nil)
	dt := declare(t, tl, &config.DeclaredTool{
		Name: "create_note", Kind: "http", Method: "POST", Path: "/customers/{id}/notes",
		Query: map[string]string{"notify": "{notify}", "src": "agent-{id}"},
		Body: map[string]any{
			"text": "{text}", "priority": "{priority}", "urgent": "{notify}",
			"title": "Note for {id}", "tags": []any{"{text}", "fixed"}, "n": 3,
		},
		Params: []config.DeclaredParam{
			{Name: "id", Type: "integer"},
			{Name: "text", Type: "string", MaxLength: ptrInt(20)},
			{Name: "priority", Type: "number"},
			{Name: "notify", Type: "boolean", Optional: true, Default: false},
		},
	})
	if a := dt.Definition().Annotations; a.ReadOnlyHint == nil || *a.ReadOnlyHint {
		t.Error("a POST tool is not read-only")
	}
	c, _, err := runDeclared(context.Background(), dt, map[string]any{"id": 7.0, "text": `hi "there"`, "priority": 1.5, "notify": true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Access != policy.Write || c.Resources[0] != "POST /customers/7/notes" {
		t.Errorf("action %+v", c.Action)
	}
	got := last.Load().(seen)
	if got.path != "/api/customers/7/notes" || got.query != "notify=true&src=agent-7" {
		t.Errorf("target saw %+v", got)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("body %q: %v", got.body, err)
	}
	want := `{"n":3,"priority":1.5,"tags":["hi \"there\"","fixed"],"text":"hi \"there\"","title":"Note for 7","urgent":true}`
	if mustJSON(t, body) != want {
		t.Errorf("body = %s\nwant   %s", mustJSON(t, body), want)
	}
	// The default fills an omitted optional parameter.
	if _, _, err := runDeclared(context.Background(), dt, map[string]any{"id": 7.0, "text": "x", "priority": 2.0}); err != nil {
		t.Fatal(err)
	}
	if got := last.Load().(seen); got.query != "notify=false&src=agent-7" || !strings.Contains(got.body, `"urgent":false`) {
		t.Errorf("target saw %+v", got)
	}
	if _, err := dt.Parse(map[string]any{"id": 7.0, "text": strings.Repeat("x", 21), "priority": 2.0}); err == nil {
		t.Error("accepted a text over max_length")
	}
}

func TestDeclaredFromClaim(t *testing.T) {
	tg, tl, last := declaredTarget(t, nil)
	dt := declare(t, tl, &config.DeclaredTool{
		Name: "my_orders", Kind: "http", Method: "GET", Path: "/customers/{me}/orders",
		Query:  map[string]string{"status": "{status}"},
		Params: []config.DeclaredParam{{Name: "me", Type: "string", FromClaim: "sub"}, {Name: "status", Type: "string", Enum: []string{"open", "closed"}}},
	})
	var schema map[string]any
	json.Unmarshal(dt.Definition().RawInputSchema, &schema)
	if _, ok := schema["properties"].(map[string]any)["me"]; ok {
		t.Errorf("claim parameter in the schema: %v", schema)
	}
	if _, err := dt.Parse(map[string]any{"me": "someone-else", "status": "open"}); err == nil || !strings.Contains(err.Error(), "cannot be set") {
		t.Errorf("agent set a claim parameter: %v", err)
	}
	if _, err := dt.Parse(map[string]any{"status": "pending"}); err == nil {
		t.Error("accepted a value outside the enum")
	}
	c, err := dt.Parse(map[string]any{"status": "open"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Resources[0] != "GET /customers/{me}/orders" {
		t.Errorf("resource %q", c.Resources[0])
	}
	// No principal, no call.
	if _, err := dt.Execute(context.Background(), c); err == nil {
		t.Error("ran without a principal")
	}
	// A claim value is confined like an agent value.
	evil := identity.NewContext(context.Background(), &identity.Principal{Subject: "../admin"})
	if _, err := dt.Execute(evil, c); err == nil {
		t.Error("ran with a subject that escapes its segment")
	}
	if n := tg.hits.Load(); n != 0 {
		t.Fatalf("target contacted %d times", n)
	}
	ctx := identity.NewContext(context.Background(), &identity.Principal{Subject: "alice@example.com"})
	if _, err := dt.Execute(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := last.Load().(seen); got.path != "/api/customers/alice%40example.com/orders" || got.query != "status=open" {
		t.Errorf("target saw %+v", got)
	}
}

func TestDeclaredClaimHitsDenyRoute(t *testing.T) {
	tg, tl, _ := declaredTarget(t, []httpguard.Route{
		{Methods: []string{"*"}, Path: "/customers/root/**", Effect: httpguard.EffectDeny},
		{Methods: []string{"GET"}, Path: "/customers/**"},
	})
	dt := declare(t, tl, &config.DeclaredTool{
		Name: "my_orders", Kind: "http", Method: "GET", Path: "/customers/{me}/orders",
		Params: []config.DeclaredParam{{Name: "me", Type: "string", FromClaim: "sub"}},
	})
	c, err := dt.Parse(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := identity.NewContext(context.Background(), &identity.Principal{Subject: "root"})
	var ae *tools.AgentError
	if _, err := dt.Execute(ctx, c); !errors.As(err, &ae) || ae.Outcome != recorder.OutcomeDenied {
		t.Errorf("deny route at Execute: %v", err)
	}
	if n := tg.hits.Load(); n != 0 {
		t.Errorf("target contacted %d times", n)
	}
}

func TestDeclaredRoutes(t *testing.T) {
	tg, tl, _ := declaredTarget(t, []httpguard.Route{
		{Methods: []string{"*"}, Path: "/admin/**", Effect: httpguard.EffectDeny},
		{Methods: []string{"*"}, Path: "/customers/secret", Effect: httpguard.EffectDeny},
		{Methods: []string{"DELETE"}, Path: "/customers/*", Effect: httpguard.EffectApprove},
		{Methods: []string{"GET"}, Path: "/reports/**", Access: policy.Admin},
		{Methods: []string{"GET", "DELETE"}, Path: "/customers/**"},
	})
	// Denied whatever the parameters: refused at Declare.
	for _, d := range []*config.DeclaredTool{
		{Name: "admin_users", Kind: "http", Method: "GET", Path: "/admin/users"},
		{Name: "admin_user", Kind: "http", Method: "GET", Path: "/admin/users/{id}", Params: []config.DeclaredParam{{Name: "id", Type: "integer"}}},
		{Name: "orders", Kind: "http", Method: "GET", Path: "/orders"}, // no route allows it
	} {
		d.Connection, d.Description = "api", "x"
		if _, err := tl.Declare(d); err == nil {
			t.Errorf("Declare accepted %s %s", d.Method, d.Path)
		}
	}
	// Denied for some values: refused at Parse.
	dt := declare(t, tl, &config.DeclaredTool{
		Name: "get_customer", Kind: "http", Method: "GET", Path: "/customers/{id}",
		Params: []config.DeclaredParam{{Name: "id", Type: "string"}},
	})
	var ae *tools.AgentError
	for _, v := range []string{"secret", "SECRET"} {
		if _, err := dt.Parse(map[string]any{"id": v}); !errors.As(err, &ae) || ae.Outcome != recorder.OutcomeDenied || !strings.Contains(err.Error(), "denied") {
			t.Errorf("id %s: %v", v, err)
		}
	}
	// Approve routes and declared approval ask a human.
	del := declare(t, tl, &config.DeclaredTool{
		Name: "delete_customer", Kind: "http", Method: "DELETE", Path: "/customers/{id}",
		Params: []config.DeclaredParam{{Name: "id", Type: "integer"}},
	})
	if c, err := del.Parse(map[string]any{"id": 3.0}); err != nil || !c.NeedsApproval || c.Access != policy.Write {
		t.Errorf("approve route: %+v %v", c, err)
	}
	get := declare(t, tl, &config.DeclaredTool{
		Name: "get_customer2", Kind: "http", Method: "GET", Path: "/customers/{id}", Approve: true,
		Params: []config.DeclaredParam{{Name: "id", Type: "integer"}},
	})
	if c, err := get.Parse(map[string]any{"id": 3.0}); err != nil || !c.NeedsApproval || c.Access != policy.Read {
		t.Errorf("declared approve: %+v %v", c, err)
	}
	// A route's access class is never lowered by the declaration.
	rep := declare(t, tl, &config.DeclaredTool{Name: "report", Kind: "http", Method: "GET", Path: "/reports/q1", Access: policy.Read})
	if c, err := rep.Parse(nil); err != nil || c.Access != policy.Admin {
		t.Errorf("report: %+v %v", c, err)
	}
	if n := tg.hits.Load(); n != 0 {
		t.Errorf("target contacted %d times", n)
	}
}

func ptr(f float64) *float64 { return &f }
func ptrInt(n int) *int      { return &n }
