package masking

import (
	"strings"
	"testing"
)

func TestInsertKeyContext(t *testing.T) {
	e, err := New(Config{Columns: map[string]Operator{"*.internal_ref": Redact}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
		gone     []string
		kept     []string
	}{
		{"one row", "INSERT INTO users (id, ssn, phone) VALUES (7, '536904398', '0301 2345678');",
			[]string{"536904398", "0301 2345678"}, []string{"(7,"}},
		{"multi row", "insert into t (Mobile, note) values ('98765 43210', 'ok'), ('(21) 3456-7890', 'fine')",
			[]string{"98765 43210", "3456-7890"}, []string{"'ok'", "'fine'"}},
		{"quoted identifiers", "INSERT INTO \"public\".\"users\" (\"id\", `SSN`, [db_password]) VALUES (7, 536904398, 'Hq4''Vn8Rt2Lx6Zp0W');",
			[]string{"536904398", "Vn8Rt2Lx6Zp0W"}, []string{"(7,"}},
		{"escaped quote kept", "INSERT INTO t (note, ssn) VALUES ('it''s 12', '536904398')",
			[]string{"536904398"}, []string{"'it''s 12'"}},
		{"column rule", "INSERT INTO t (internal_ref, n) VALUES ('abc-77', 3)", []string{"abc-77"}, []string{"3)"}},
		{"in a log line", "2026-01-02T03:04:05Z db: INSERT INTO acct (contact_number, ref) VALUES ('022-23456789', '536904399')\n",
			[]string{"23456789"}, []string{"'536904399'"}},
		{"multi line", "INSERT INTO t (\n  id,\n  ssn\n) VALUES\n  (1, '536904398'),\n  (2, '536904397');\n",
			[]string{"536904398", "536904397"}, nil},
		{"function values", "INSERT INTO t (ts, phone) VALUES (now(), '0301 2345678')", []string{"0301 2345678"}, []string{"now()"}},
		{"no column list", "INSERT INTO t VALUES (1, 'x')", nil, []string{"(1, 'x')"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMasked(t, e, tc.in, tc.gone, tc.kept)
		})
	}
}

func FuzzInsertEdits(f *testing.F) {
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("INSERT INTO t (a, ssn) VALUES (1, '536904398'), (2, 'x''y')")
	f.Add("insert into t (\"a\") values ((1), 'q")
	f.Add("INSERT INTO t (a,b VALUES (")
	f.Fuzz(func(t *testing.T, s string) {
		checkEdits(t, e.insertEdits(s, nil), len(s))
	})
}

func BenchmarkInsertEdits(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	s := "INSERT INTO users (id, ssn, phone, note) VALUES " + strings.Repeat("(1, '536904398', '0301 2345678', 'it''s fine'), ", 50) + "(2, '', '', '');"
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		e.MaskText(s, nil)
	}
}
