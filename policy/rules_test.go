package policy

import "testing"

func TestDecide(t *testing.T) {
	e := NewEngine([]Rule{
		{Name: "analysts-read", Groups: []string{"analysts"}, Connections: []string{"demo", "wh-*"}, Access: []Access{Read}, Effect: Allow},
		{Name: "dba-all", Groups: []string{"dba"}, Connections: []string{"*"}, Access: []Access{Read, Write, DDL}, Effect: Allow},
		{Name: "no-prod-ddl", Groups: []string{"*"}, Connections: []string{"prod"}, Access: []Access{DDL}, Effect: Deny},
	})
	cases := []struct {
		groups     []string
		conn       string
		access     Access
		want       Effect
		wantRuleIn string
	}{
		{[]string{"analysts"}, "demo", Read, Allow, "analysts-read"},
		{[]string{"analysts"}, "wh-eu", Read, Allow, "analysts-read"},
		{[]string{"analysts"}, "demo", Write, Deny, ""},
		{[]string{"analysts"}, "prod", Read, Deny, ""},
		{nil, "demo", Read, Deny, ""},
		{[]string{"dba"}, "prod", Write, Allow, "dba-all"},
		{[]string{"dba"}, "prod", DDL, Deny, "no-prod-ddl"},
		{[]string{"dba"}, "prod", Admin, Deny, ""},
		{[]string{"other", "analysts"}, "demo", Read, Allow, "analysts-read"},
	}
	for _, c := range cases {
		d := e.Decide(Request{Subject: "s", Groups: c.groups, Connection: c.conn, Access: c.access})
		if d.Effect != c.want || d.Rule != c.wantRuleIn {
			t.Errorf("%v %s %s: got %+v, want %s by %q", c.groups, c.conn, c.access, d, c.want, c.wantRuleIn)
		}
		if d.Reason == "" {
			t.Errorf("%v %s %s: empty reason", c.groups, c.conn, c.access)
		}
	}
	if got := e.MaxAccess("demo"); got != DDL {
		t.Errorf("MaxAccess(demo) = %q", got)
	}
	if got := NewEngine(nil).MaxAccess("demo"); got != "" {
		t.Errorf("MaxAccess with no rules = %q", got)
	}
}

func TestRuleValidate(t *testing.T) {
	bad := []Rule{
		{Connections: []string{"a"}, Access: []Access{Read}, Effect: Allow},
		{Groups: []string{"g"}, Access: []Access{Read}, Effect: Allow},
		{Groups: []string{"g"}, Connections: []string{"["}, Access: []Access{Read}, Effect: Allow},
		{Groups: []string{"g"}, Connections: []string{"a"}, Effect: Allow},
		{Groups: []string{"g"}, Connections: []string{"a"}, Access: []Access{"sudo"}, Effect: Allow},
		{Groups: []string{"g"}, Connections: []string{"a"}, Access: []Access{Read}},
	}
	for i, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	e := NewEngine([]Rule{
		{Groups: []string{"dba"}, Connections: []string{"*"}, Access: []Access{Read, Write}, Effect: Allow},
		{Groups: []string{"analysts"}, Connections: []string{"demo"}, Access: []Access{Read}, Effect: Allow},
	})
	r := Request{Subject: "s", Groups: []string{"analysts"}, Connection: "demo", Access: Read}
	b.ReportAllocs()
	for b.Loop() {
		if e.Decide(r).Effect != Allow {
			b.Fatal("denied")
		}
	}
}
