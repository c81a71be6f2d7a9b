package masking

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

const testKey = "0123456789abcdef-test-key"

func TestOperatorsInText(t *testing.T) {
	in := "card 4111-1111-1111-1111 ssn 078-05-1121 mail Jane.Doe@Example.com phone +1 415-555-2671 " +
		"ip 203.0.113.45 ip6 2001:db8:85a3::8a2e:370:7334 iban DE89 3704 0044 0532 0130 00 " +
		"aws AKIAIOSFODNN7EXAMPLE gh ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc " +
		"password=hunter22 " + testJWT
	all := func(op Operator) Config {
		m := map[Entity]Operator{}
		for _, e := range Entities() {
			m[e] = op
		}
		return Config{Entities: m, HashKey: testKey}
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"redact", Config{}, "card [CREDIT_CARD] ssn [SSN] mail [EMAIL] phone [PHONE] ip [IP_ADDRESS] ip6 [IP_ADDRESS] " +
			"iban [IBAN] aws [AWS_ACCESS_KEY] gh [GITHUB_TOKEN] stripe [STRIPE_KEY] password=[SECRET] [JWT]"},
		{"partial", all(Partial), "card ************1111 ssn ***-**-1121 mail J***@Example.com phone +* ***-***-2671 " +
			"ip 203.0.*.* ip6 2001:db8:85a3:*:*:*:*:* iban DE****************3000 aws AKIA****MPLE " +
			"gh ghp_****Q0eU stripe sk_live_****p7dc password=[SECRET] [JWT]"},
		{"null degrades to redact in text", all(Null), "card [CREDIT_CARD] ssn [SSN] mail [EMAIL] phone [PHONE] ip [IP_ADDRESS] ip6 [IP_ADDRESS] " +
			"iban [IBAN] aws [AWS_ACCESS_KEY] gh [GITHUB_TOKEN] stripe [STRIPE_KEY] password=[SECRET] [JWT]"},
	}
	for _, tc := range cases {
		e := mustEngine(t, tc.cfg)
		c := Counts{}
		if got := e.MaskText(in, c); got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, got, tc.want)
		}
		if c[IPAddress] != 2 || c[CreditCard] != 1 || len(c) != 11 {
			t.Errorf("%s: counts %v", tc.name, c)
		}
	}
}

func TestHashOperator(t *testing.T) {
	e := mustEngine(t, Config{Entities: map[Entity]Operator{Email: Hash, CreditCard: Hash}, HashKey: testKey})
	a := e.MaskText("a Jane.Doe@example.com b 4111 1111 1111 1111", nil)
	b := e.MaskText("x jane.doe@EXAMPLE.com y 4111-1111-1111-1111", nil)
	fa, fb := strings.Fields(a), strings.Fields(b)
	if fa[1] != fb[1] || fa[3] != fb[3] {
		t.Errorf("pseudonyms differ across formats: %q vs %q", a, b)
	}
	if !strings.HasPrefix(fa[1], "EMAIL_") || len(fa[1]) != len("EMAIL_")+12 || !strings.HasPrefix(fa[3], "CREDIT_CARD_") {
		t.Errorf("pseudonym shape: %q", a)
	}
	other := mustEngine(t, Config{Entities: map[Entity]Operator{Email: Hash}, HashKey: testKey + "2"})
	if other.MaskText("Jane.Doe@example.com", nil) == fa[1] {
		t.Error("pseudonym does not depend on the key")
	}
	if e.MaskText("john@example.com", nil) == fa[1] {
		t.Error("different values share a pseudonym")
	}
}

func TestIdempotent(t *testing.T) {
	in := "card 4111 1111 1111 1111 ssn 078-05-1121 mail jane@example.com phone (555) 234-5678 ext 12 " +
		"ip 10.1.2.3 ip6 fe80::1 iban GB82WEST12345698765432 key AKIAIOSFODNN7EXAMPLE " +
		"postgres://u:pw1234@db.example.com/x Authorization: Bearer abcDEF1234567890xyz token=" + testJWT +
		" password=\"hunter22\" ssn: 536904399"
	for _, op := range []Operator{Redact, Partial, Hash, Null} {
		m := map[Entity]Operator{}
		for _, e := range Entities() {
			m[e] = op
		}
		e := mustEngine(t, Config{Entities: m, HashKey: testKey})
		once := e.MaskText(in, nil)
		c := Counts{}
		if twice := e.MaskText(once, c); twice != once || len(c) != 0 {
			t.Errorf("%s: not idempotent:\n once  %s\n twice %s (%v)", op, once, twice, c)
		}
	}
}

func TestNoChangeReturnsInput(t *testing.T) {
	e := mustEngine(t, Config{})
	in := "nothing to see here: order 42 shipped at 2024-05-01T10:00:00Z v1.2.3"
	c := Counts{}
	if got := e.MaskText(in, c); got != in || len(c) != 0 {
		t.Errorf("got %q %v", got, c)
	}
	var m Masker = e
	if m.MaskString("mail a@example.com") != "mail [EMAIL]" {
		t.Error("MaskString")
	}
	if (None{}).MaskString("a@example.com") != "a@example.com" {
		t.Error("None")
	}
}

func TestDisabledEntity(t *testing.T) {
	e := mustEngine(t, Config{Entities: map[Entity]Operator{IPAddress: Off, Email: Off}})
	in := "10.1.2.3 a@example.com 078-05-1121"
	if got := e.MaskText(in, nil); got != "10.1.2.3 a@example.com [SSN]" {
		t.Errorf("got %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Columns: map[string]Operator{"x.y": "blur"}}, `columns["x.y"]: unknown operator "blur"`},
		{Config{Columns: map[string]Operator{"email": Redact}}, `columns["email"]: pattern must have the form "table.column"`},
		{Config{Columns: map[string]Operator{"x.[": Redact}}, `columns["x.["]: bad pattern`},
		{Config{Columns: map[string]Operator{"x.y": Off}}, `columns["x.y"]: operator "off" is only valid under entities`},
		{Config{Columns: map[string]Operator{"x.y": ""}}, `columns["x.y"]: missing operator`},
		{Config{Entities: map[Entity]Operator{"PASSPORT": Redact}}, `entities["PASSPORT"]: unknown entity`},
		{Config{Entities: map[Entity]Operator{Email: "mask"}}, `entities["EMAIL"]: unknown operator "mask"`},
		{Config{JSONKeys: map[string]Operator{"a..b": Redact}}, `json_keys["a..b"]: empty segment 2`},
		{Config{JSONKeys: map[string]Operator{"": Redact}}, `json_keys[""]: empty key path`},
		{Config{JSONKeys: map[string]Operator{"a.b**": Redact}}, `json_keys["a.b**"]: "**" must be a whole segment`},
		{Config{JSONKeys: map[string]Operator{"a.[": Redact}}, `json_keys["a.["]: bad pattern`},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%v is not a *FieldError", err)
		}
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("New accepted %+v", tc.cfg)
		}
	}
	ok := Config{
		Entities: map[Entity]Operator{Email: Hash, IPAddress: Off, CreditCard: Partial},
		Columns:  map[string]Operator{"customers.ssn": Null, "*.email": Hash},
		JSONKeys: map[string]Operator{"user.ssn": Redact, "**.password": Null, "*.token": Redact},
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ok); err == nil || !strings.Contains(err.Error(), `hash_key: entities["EMAIL"] uses the hash operator`) {
		t.Errorf("hash without key: %v", err)
	}
	ok.HashKey = testKey
	if _, err := New(ok); err != nil {
		t.Error(err)
	}
	// Several problems are all reported, in a stable order.
	bad := Config{Columns: map[string]Operator{"b.b": "x", "a.a": "y"}}
	if err := bad.Validate(); err == nil || strings.Index(err.Error(), "a.a") > strings.Index(err.Error(), "b.b") {
		t.Errorf("got %v", err)
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
entities:
  CREDIT_CARD: partial
  IP_ADDRESS: "off"
columns:
  customers.ssn: "null"
  "*.email": hash
json_keys:
  "**.password": redact
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Entities: map[Entity]Operator{CreditCard: Partial, IPAddress: Off},
		Columns:  map[string]Operator{"customers.ssn": Null, "*.email": Hash},
		JSONKeys: map[string]Operator{"**.password": Redact},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v", cfg)
	}
}

func TestColumnOperator(t *testing.T) {
	e := mustEngine(t, Config{
		Columns: map[string]Operator{"customers.ssn": Null, "*.email": Partial, "users.*_token": Redact, "*.e*": Hash},
		HashKey: testKey,
	})
	cases := []struct {
		table, column string
		want          Operator
	}{
		{"customers", "ssn", Null},
		{"Customers", "SSN", Null},
		{"public.customers", "ssn", Null},
		{"orders", "email", Hash}, // *.email (partial) and *.e* (hash): the stricter wins
		{"", "email", Hash},       // a computed column
		{"users", "refresh_token", Redact},
		{"users", "name", ""},
	}
	for _, tc := range cases {
		op, ok := e.ColumnOperator(tc.table, tc.column)
		if op != tc.want || ok != (tc.want != "") {
			t.Errorf("%s.%s: got %q %v, want %q", tc.table, tc.column, op, ok, tc.want)
		}
	}
}

func TestMaskColumnValue(t *testing.T) {
	e := mustEngine(t, Config{HashKey: testKey})
	cases := []struct {
		op   Operator
		v    any
		hint Entity
		want any
		ent  Entity
	}{
		{Redact, "078-05-1121", "", "[SSN]", SSN},
		{Partial, "078-05-1121", "", "***-**-1121", SSN},
		{Partial, "4111111111111111", "", "************1111", CreditCard},
		{Partial, "Alice Example", "", "*********mple", Field},
		{Partial, "Bob", "", "****", Field},
		{Redact, "Alice", "", "[REDACTED]", Field},
		{Redact, "Alice", Email, "[EMAIL]", Email},
		{Null, "078-05-1121", "", nil, SSN},
		{Redact, int64(42), "", "[REDACTED]", Field},
		{Redact, map[string]any{"a": 1}, "", "[REDACTED]", Field},
		{Partial, []any{"x"}, "", "[REDACTED]", Field},
		{Redact, nil, "", nil, ""},
		{Redact, "[SSN]", "", "[SSN]", ""}, // already masked
		{Partial, "***-**-1121", "", "***-**-1121", ""},
		{"bogus", "secret", "", "[REDACTED]", Field}, // unknown operators redact
	}
	for _, tc := range cases {
		c := Counts{}
		got := e.MaskColumnValue(tc.op, tc.v, tc.hint, c)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: got %#v, want %#v", tc.op, tc.v, got, tc.want)
		}
		if tc.ent != "" && c[tc.ent] != 1 || tc.ent == "" && len(c) != 0 {
			t.Errorf("%s %v: counts %v", tc.op, tc.v, c)
		}
	}
	h1 := e.MaskColumnValue(Hash, "alice", "", nil)
	h2 := e.MaskColumnValue(Hash, "alice", "", nil)
	if h1 != h2 || !strings.HasPrefix(h1.(string), "FIELD_") {
		t.Errorf("hash: %v %v", h1, h2)
	}
	if e.MaskColumnValue(Hash, h1, "", nil) != h1 {
		t.Error("hash of a pseudonym changed it")
	}
}

func TestMaskCell(t *testing.T) {
	e := mustEngine(t, Config{Columns: map[string]Operator{"customers.ssn": Partial}})
	cases := []struct {
		table, column string
		v, want       any
	}{
		{"customers", "ssn", "078-05-1121", "***-**-1121"},
		{"people", "ssn", "536904399", "[SSN]"},        // the column name is context
		{"people", "tax_id", "536904399", "536904399"}, // nine bare digits mean nothing
		{"people", "phone", int64(4155552671), "[PHONE]"},
		{"people", "note", "call me at 415-555-2671", "call me at [PHONE]"},
		{"accounts", "password", "hunter22", "[SECRET]"},
		{"accounts", "api_key", "AKIAIOSFODNN7EXAMPLE", "[AWS_ACCESS_KEY]"},
		{"accounts", "password", nil, nil},
		{"payments", "card_number", int64(4111111111111111), "[CREDIT_CARD]"},
		{"payments", "amount", 4111.5, 4111.5},
	}
	for _, tc := range cases {
		if got := e.MaskCell(tc.table, tc.column, tc.v, nil); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s.%s %v: got %#v, want %#v", tc.table, tc.column, tc.v, got, tc.want)
		}
	}
}

func TestMaskValue(t *testing.T) {
	e := mustEngine(t, Config{
		JSONKeys: map[string]Operator{"user.ssn": Partial, "**.dob": Null, "*.internal": Redact, "users.email": Hash},
		HashKey:  testKey,
	})
	var in any
	src := `{
	  "user": {"ssn": "078-05-1121", "dob": "1990-01-01", "name": "Jane", "note": "mail jane@example.com"},
	  "users": [{"email": "a@example.com", "id": 7}, {"email": "b@example.com", "id": 8}],
	  "x": {"internal": {"deep": true}, "password": "hunter22", "password_hint": "pets"},
	  "payload": {"meta": {"dob": "2000-02-02"}},
	  "card": 4111111111111111,
	  "jane@example.com": "key that is an email",
	  "count": 12, "ok": true, "nothing": null
	}`
	d := json.NewDecoder(strings.NewReader(src))
	d.UseNumber()
	if err := d.Decode(&in); err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(in)
	c := Counts{}
	out := e.MaskValue(in, c).(map[string]any)
	after, _ := json.Marshal(in)
	if string(before) != string(after) {
		t.Fatal("MaskValue mutated its input")
	}
	user := out["user"].(map[string]any)
	if user["ssn"] != "***-**-1121" || user["dob"] != nil || user["name"] != "Jane" || user["note"] != "mail [EMAIL]" {
		t.Errorf("user: %#v", user)
	}
	users := out["users"].([]any)
	e0, e1 := users[0].(map[string]any)["email"].(string), users[1].(map[string]any)["email"].(string)
	if !strings.HasPrefix(e0, "EMAIL_") || e0 == e1 || users[0].(map[string]any)["id"] != json.Number("7") {
		t.Errorf("users: %#v", users)
	}
	x := out["x"].(map[string]any)
	if x["internal"] != "[REDACTED]" || x["password"] != "[SECRET]" || x["password_hint"] != "pets" {
		t.Errorf("x: %#v", x)
	}
	if out["payload"].(map[string]any)["meta"].(map[string]any)["dob"] != nil {
		t.Errorf("**.dob: %#v", out["payload"])
	}
	if out["card"] != "[CREDIT_CARD]" {
		t.Errorf("card: %#v", out["card"])
	}
	if out["[EMAIL]"] != "key that is an email" {
		t.Errorf("email key: %#v", out)
	}
	if out["count"] != json.Number("12") || out["ok"] != true || out["nothing"] != nil {
		t.Errorf("scalars: %#v", out)
	}
	if c[Email] != 4 || c[SSN] != 1 || c[Secret] != 1 || c[CreditCard] != 1 || c[Field] != 3 {
		t.Errorf("counts: %v", c)
	}
	// Masking the output again changes nothing.
	again := e.MaskValue(out, nil)
	if !reflect.DeepEqual(again, out) {
		t.Errorf("not idempotent:\n%#v\n%#v", out, again)
	}
}

func TestMaskValueNull(t *testing.T) {
	e := mustEngine(t, Config{Entities: map[Entity]Operator{SSN: Null, Email: Null}})
	out := e.MaskValue(map[string]any{"a": "078-05-1121", "b": "ssn 078-05-1121", "c": []any{"x@example.com"}}, nil)
	want := map[string]any{"a": nil, "b": "ssn [SSN]", "c": []any{nil}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("got %#v", out)
	}
}

func TestMaskValueTypes(t *testing.T) {
	e := mustEngine(t, Config{})
	type row struct {
		Email string `json:"email"`
		N     int    `json:"n"`
	}
	cases := []struct{ in, want any }{
		{[]string{"a@example.com", "x"}, []any{"[EMAIL]", "x"}},
		{map[string]string{"m": "a@example.com"}, map[string]any{"m": "[EMAIL]"}},
		{[]byte("a@example.com"), []byte("[EMAIL]")},
		{row{Email: "a@example.com", N: 3}, map[string]any{"email": "[EMAIL]", "n": json.Number("3")}},
		{&row{Email: "x"}, map[string]any{"email": "x", "n": json.Number("0")}},
		{float64(4111111111111111), "[CREDIT_CARD]"},
		{3.5, 3.5},
		{int64(7), int64(7)},
		{(*row)(nil), nil},
	}
	for _, tc := range cases {
		if got := e.MaskValue(tc.in, nil); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%#v: got %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestKeyPathMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"user.ssn", "user.ssn", true},
		{"user.ssn", "ssn", false},
		{"user.ssn", "a.user.ssn", false},
		{"*.password", "db.password", true},
		{"*.password", "a.b.password", false},
		{"**.password", "password", true},
		{"**.password", "a.b.password", true},
		{"**.token", "a.tokens", false},
		{"a.**.z", "a.z", true},
		{"a.**.z", "a.b.c.z", true},
		{"a.**", "a.b.c", true},
		{"*_token", "refresh_token", true},
		{"User.SSN", "user.ssn", true},
	}
	for _, tc := range cases {
		segs, err := compileKeyPattern(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchKeyPath(segs, strings.Split(strings.ToLower(tc.path), ".")); got != tc.want {
			t.Errorf("%s ~ %s: got %v", tc.pattern, tc.path, got)
		}
	}
}

func TestSecretKey(t *testing.T) {
	cases := map[string]int{
		"password": keyStrong, "DB_PASSWORD": keyStrong, "dbPassword": keyStrong, "X-Api-Key": keyStrong,
		"clientSecret": keyStrong, "aws_secret_access_key": keyStrong, "APIKey": keyStrong, "pwd": keyStrong,
		"token": keyWeak, "GITHUB_TOKEN": keyWeak, "accessToken": keyWeak, "Authorization": keyWeak,
		"password_changed_at": 0, "max_tokens": 0, "token_type": 0, "next_page_token": 0, "bypass": 0,
		"passwordless": 0, "secret_name": 0, "id": 0, "": 0, "sort_key": 0,
	}
	for k, want := range cases {
		if got := secretKey(k); got != want {
			t.Errorf("%q: got %d, want %d", k, got, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	e := mustEngine(t, Config{Entities: map[Entity]Operator{Email: Hash}, HashKey: testKey})
	in := mixedCorpus(64 << 10)
	want := e.MaskText(in, nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 4; k++ {
				if e.MaskText(in, Counts{}) != want {
					t.Error("concurrent results differ")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestLongLine(t *testing.T) {
	e := mustEngine(t, Config{})
	// A minified JSON document on one line, far longer than a window,
	// with non-ASCII text so the normalised path is taken.
	var b strings.Builder
	b.WriteString("[")
	for k := 0; k < 5000; k++ {
		b.WriteString(`{"name":"Zoë ｎａｍｅ","mail":"user@example.com","card":"4111 1111 1111 1111"},`)
	}
	b.WriteString("{}]")
	c := Counts{}
	out := e.MaskText(b.String(), c)
	if c[Email] != 5000 || c[CreditCard] != 5000 || strings.Contains(out, "4111") || strings.Contains(out, "@example") {
		t.Errorf("counts %v", c)
	}
}
