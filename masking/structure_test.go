package masking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestStructureKeyContext(t *testing.T) {
	e, err := New(Config{JSONKeys: map[string]Operator{"**.internal_ref": Redact, "db.host": Redact}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
		gone     []string // must not survive
		kept     []string // must survive
	}{
		{"csv header", "id,name,ssn,phone\n1,Ann,536904399,4155550123\n2,Bo,078051120,12\n",
			[]string{"536904399", "4155550123"}, []string{"Ann", "078051120"}},
		{"tsv header", "id\tmobile\tnote\n7\t0301234567\tok\n", []string{"0301234567"}, []string{"ok"}},
		{"semicolon", "kunde;telefon;ssn\nA;x;536904399\n", []string{"536904399"}, []string{"kunde"}},
		{"markdown", "| user | SSN | api_key |\n|---|---|---|\n| ann | 536904399 | q8Zr2LmX0pVt7Yw3Kd9s |\n",
			[]string{"536904399", "q8Zr2LmX0pVt7Yw3Kd9s"}, []string{"ann"}},
		{"xml element", "<r><user><ssn>536904399</ssn><phone_number>4155550123</phone_number><n>536904399x</n></user></r>",
			[]string{"<ssn>536904399<", "4155550123"}, []string{"536904399x"}},
		{"xml attribute", `<user ssn="536904399" password="hunter2-Zq8!xx" id="536904399"/>`,
			[]string{`ssn="536904399"`, "hunter2-Zq8!xx"}, []string{`id="536904399"`}},
		{"xml name/value", `<field name="ssn" value="536904399"/><entry key="mobile">4155550123</entry>`,
			[]string{"536904399", "4155550123"}, nil},
		{"xml cdata", "<ssn><![CDATA[536904399]]></ssn>", []string{"536904399"}, nil},
		{"json numbers", `{"card":4111111111111111,"ssn":536904399,"short_ssn":1234567}`,
			[]string{"4111111111111111", ":536904399,", "1234567"}, nil},
		{"json number no context", `{"id":7,"count":536904399,"phone_count":2}`, nil, []string{`"count":536904399`, `"phone_count":2`}},
		{"yaml key rule", "db:\n  host: pg.internal\n  port: 5432\nother:\n  host: keep.me\n",
			[]string{"pg.internal"}, []string{"keep.me", "5432"}},
		{"logfmt key rule", "ts=1 level=info internal_ref=abc123 msg=ok\n", []string{"abc123"}, []string{"msg=ok"}},
		{"prose after a key", "note\nPhone: (415) 555-0132. Then ts 1765307653 and build 10.3.12606.8897.\n",
			[]string{"555-0132"}, []string{"1765307653", "10.3.12606.8897"}},
		{"curl echo", "< HTTP/2 200\n< x-social-security-number: 536904399\n", []string{"536904399"}, nil},
		{"log key field", "2025-01-01T00:00:00Z [audit] employeeSSN: 536904399\n", []string{"536904399"}, nil},
		{"psql", " id | ssn\n----+-----------\n  1 | 536904399\n(1 row)\n", []string{"536904399"}, nil},
		{"psql expanded", "-[ RECORD 1 ]--+----------------\nid             | 536904399\nssn            | 536904398\nmobile         | 0301234567\ndb_password    | Hq4Vn8Rt2Lx6Zp0W\nnote           | ok 12\n-[ RECORD 2 ]--+----------------\nssn            | 536904397\n",
			[]string{"536904398", "0301234567", "Hq4Vn8Rt2Lx6Zp0W", "536904397"}, []string{"| 536904399", "ok 12", "-[ RECORD 2 ]--+"}},
		{"psql expanded wrapped", "-[ RECORD 1 ]-\napi_secret | Hq4Vn8Rt2Lx6Zp0W+\n           | Kd93Lm20Xq\n",
			[]string{"Hq4Vn8Rt2Lx6Zp0W", "Kd93Lm20Xq"}, nil},
		{"yaml block scalar", "db:\n  password: |\n    Hq4Vn8Rt2Lx6Zp0W\n  user: app\n", []string{"Hq4Vn8Rt2Lx6Zp0W"}, []string{"user: app"}},
		{"yaml folded key", "tls:\n  private_key: >-\n    Kd93Lm20XqHq4Vn8Rt2L\n    x6Zp0W\n  port: 5432\n", []string{"Kd93Lm20XqHq4Vn8Rt2L", "x6Zp0W"}, []string{"5432"}},
		{"yaml lists", "ssn:\n- 536904398\n- '536904397'\nphones:\n  - 0301 2345678\nids:\n  - 536904399\n",
			[]string{"536904398", "536904397", "0301 2345678"}, []string{"- 536904399"}},
		{"field after words", "start\n2026-01-02 03:04:05 INFO user updated socialSecurityNumber: 536904398, contact_number: 98765 43210, note: 536904399\n",
			[]string{"536904398", "98765 43210"}, []string{"note: 536904399", "03:04:05"}},
		{"logfmt phone groups", "start\nINFO contact_number=98765 43210 done count=536904399 7\n", []string{"98765 43210"}, []string{"count=536904399 7"}},
		{"header echo", "X-Api-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0\nAccept: */*\n",
			[]string{"9f8e7d6c5b4a39281706f5e4d3c2b1a0"}, []string{"*/*"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMasked(t, e, tc.in, tc.gone, tc.kept)
		})
	}
}

func TestMaskJSONStream(t *testing.T) {
	e, err := New(Config{JSONKeys: map[string]Operator{"users.secret": Null, "**.blob": Redact}})
	if err != nil {
		t.Fatal(err)
	}
	in := `{"users":[{"ssn":"234-56-7890","secret":{"a":[1,2]},"n":1.5e3,"ok":true,"x":null,"mail\u0040":"a\"b"}],
"blob":[{"k":"v"}], "card": 4111111111111111, "jane@example.com": 1}
[1, "4111 1111 1111 1111"]`
	var b bytes.Buffer
	if err := e.MaskJSON(strings.NewReader(in), &b, nil); err != nil {
		t.Fatal(err)
	}
	want := `{"users":[{"ssn":"[SSN]","secret":null,"n":1.5e3,"ok":true,"x":null,"mail\u0040":"a\"b"}],
"blob":"[REDACTED]", "card": "[CREDIT_CARD]", "[EMAIL]": 1}
[1, "[CREDIT_CARD]"]`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	for _, bad := range []string{`{"a":}`, `{"a" 1}`, `[1,,]`, `{"a":"x`, `[tru]`, strings.Repeat("[", 2000)} {
		b.Reset()
		if err := e.MaskJSON(strings.NewReader(bad), &b, nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// Documents of every shape: no panic, masking is idempotent, and a value
// planted in a cell, element or field under a telling key never survives.
func FuzzMaskDocument(f *testing.F) {
	for _, s := range []string{
		"id,ssn\n1,536904399\n", "a\tb\n1\t2\n", "| a | ssn |\n|---|---|\n| x | 536904399 |\n",
		"<r><ssn>536904399</ssn><a b='c'/></r>", "<![CDATA[x]]><!-- y --><?z?>", `{"ssn":536904399,"a":[1,{"b":"c"}]}`,
		"db:\n  password: Zq8vN3wLx2\n", "ts=1 ssn=536904399 msg=\"a b\"\n", "HTTP/1.1 200 OK\nX-Ssn: 536904399\n\n{}",
		" id | ssn\n----+----\n 1 | 536904399\n(1 row)\n", "[1, 2", "<a", "|", "x,y\n\"unterminated,1\n",
	} {
		f.Add(s)
	}
	e := mustEngine(f, Config{JSONKeys: map[string]Operator{"**.ref": Redact}})
	f.Fuzz(func(t *testing.T, s string) {
		once := e.MaskText(s, nil)
		if twice := e.MaskText(once, nil); twice != once {
			t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", s, once, twice)
		}
		for _, doc := range []string{"id,ssn\n" + "1,536904399\n", "<r><ssn>536904399</ssn></r>"} {
			if strings.ContainsAny(s, "\n<>,\"|\t;") || strings.Contains(s, "536904399") {
				break
			}
			in := strings.Replace(doc, "1,", s+",", 1)
			if strings.Contains(e.MaskText(in, nil), "536904399") {
				t.Fatalf("planted SSN survived in %q", in)
			}
		}
	})
}

// MaskJSON on any input: no panic; on valid JSON the output is valid JSON
// and masking it again changes nothing.
func FuzzMaskJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"x",null,true]`, `{"ssn":"536-90-4399","n":{"password":"Zq8vN3wLx2"}}`,
		`"\u0041\ud83d\ude00"`, `1e5`, `{"a":`, `[`, `{"a":{"ref":[1,{"b":2}]}}`, "{} {}\n[]"} {
		f.Add(s)
	}
	e := mustEngine(f, Config{JSONKeys: map[string]Operator{"**.ref": Null}})
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		err := e.MaskJSON(strings.NewReader(s), &b, nil)
		if err != nil || !json.Valid([]byte(s)) {
			return
		}
		if !json.Valid(b.Bytes()) {
			t.Fatalf("invalid output %q for %q", b.String(), s)
		}
		var again bytes.Buffer
		if err := e.MaskJSON(bytes.NewReader(b.Bytes()), &again, nil); err != nil || again.String() != b.String() {
			t.Fatalf("not idempotent: %q then %q (%v)", b.String(), again.String(), err)
		}
	})
}

func BenchmarkMaskDocument(b *testing.B) {
	e := mustEngine(b, Config{})
	var csv, xml strings.Builder
	csv.WriteString("id,name,ssn,phone,email,note\n")
	xml.WriteString("<customers>")
	for i := 0; csv.Len() < 1<<20; i++ {
		fmt.Fprintf(&csv, "%d,customer %d,%09d,0301%06d,user%d@example.com,ordered %d items\n", i, i, 100000000+i, i, i, i%50)
		fmt.Fprintf(&xml, "<customer id=\"%d\"><name>customer %d</name><ssn>%09d</ssn><phone>0301%06d</phone><note>ordered %d items</note></customer>\n", i, i, 100000000+i, i, i%50)
	}
	xml.WriteString("</customers>")
	for _, doc := range []struct{ name, s string }{{"csv", csv.String()}, {"xml", xml.String()}} {
		b.Run(doc.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc.s)))
			b.ReportAllocs()
			for range b.N {
				e.MaskText(doc.s, nil)
			}
		})
	}
}

// A result that starts as a table is masked by the table pass alone (the
// text pass is skipped), so a private key block later in it must still be
// masked whole, not line by line (which leaves its base64 body).
func TestStructureTableThenPrivateKey(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	body1 := "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw"
	body2 := "7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFc"
	pem := "-----BEGIN RSA PRIVATE KEY-----\n" + body1 + "\n" + body2 + "\n-----END RSA PRIVATE KEY-----\n"
	for name, in := range map[string]string{
		"markdown":          "| file | owner |\n|---|---|\n| id_rsa | root |\n\n" + pem,
		"csv":               "name,key\nsvc,x\n" + pem,
		"csv after preface": "HTTP/1.1 200 OK\nContent-Type: text/csv\n\nname,key\nsvc,x\n" + pem,
	} {
		out := e.MaskText(in, nil)
		for _, b := range []string{body1, body2, "END RSA PRIVATE KEY"} {
			if strings.Contains(out, b) {
				t.Errorf("%s: private key material survived: %q\n%s", name, b, out)
			}
		}
	}
}

// Text between a quoted CSV field's closing quote and the delimiter is
// part of the cell: it must be masked too.
func TestStructureCSVTextAfterQuote(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"name,note\n\"a\" 078-05-1121 4111 1111 1111 1111,b\n",
		"name,note\n\"a\"078-05-1121,b\n",
		"name,note\nb,\"a\" 078-05-1121 4111 1111 1111 1111\n",
	} {
		out := e.MaskText(in, nil)
		if strings.Contains(out, "078-05-1121") || strings.Contains(out, "4111 1111 1111 1111") {
			t.Errorf("value after a closing quote survived:\n%s", out)
		}
	}
}

// A key that says what a value is not ("version", "build", "oid") keeps
// an IP-shaped value unmasked only when it is that word: "android_ip"
// holds "oid", "building_ip" "build" and "conversion_ip" "version" as
// parts of other words, and their addresses are still addresses.
func TestKeyHintsWholeWords(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"android_ip", "avoid", "building_ip", "conversion_ip", "released_from", "deviceAndroidIp"} {
		out, _ := json.Marshal(e.MaskValue(map[string]any{k: "203.0.113.7"}, nil))
		if strings.Contains(string(out), "203.0.113.7") {
			t.Errorf("key %s kept an IP address unmasked: %s", k, out)
		}
		if csv := e.MaskText(k+",user\n203.0.113.7,bob\n", nil); strings.Contains(csv, "203.0.113.7") {
			t.Errorf("column %s kept an IP address unmasked: %s", k, csv)
		}
	}
	for _, k := range []string{"version", "build", "oid", "app_version", "appVersion", "firmware", "build_id", "release", "snmp_oid"} {
		if keyHints(strings.ToLower(k)) != hintVersion {
			t.Errorf("key %s: no version context", k)
		}
	}
}

// A table is final after the table pass (no text pass follows), so a
// cell that merely contains "***" must still be read by the detectors.
func TestStructureTableCellLooksMasked(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"name,note\nann,*** 078-05-1121 4111 1111 1111 1111\n",
		"name,ssn\nann,*** 078051121\n",
		"| name | note |\n|---|---|\n| ann | card ***1234, new card 4111 1111 1111 1111, SSN 078-05-1121 |\n",
	} {
		out := e.MaskText(in, nil)
		if strings.Contains(out, "078-05-1121") || strings.Contains(out, "078051121") || strings.Contains(out, "4111 1111 1111 1111") {
			t.Errorf("a value in a cell holding *** survived:\n%s", out)
		}
		if again := e.MaskText(out, nil); again != out {
			t.Errorf("masking again changed the output:\n%s\n%s", out, again)
		}
	}
}
