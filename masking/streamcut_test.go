package masking

import (
	"strings"
	"testing"
)

// A streamed body is masked in chunks cut at line ends. Key context that
// lies before the cut (an XML element opened lines earlier, a YAML key
// whose value is nested below it) must survive every cut, including one
// placed exactly between the context and the value.
func TestStreamCutKeepsContext(t *testing.T) {
	e, err := New(Config{JSONKeys: map[string]Operator{"db.primary.host": Redact}})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Qm7Zr2Xp9Lk4Tv8Bn3Wc6Yh1Ds5"
	pad := strings.Repeat("<row><n>1</n></row>\n", 8)
	docs := []struct{ name, doc, gone string }{
		{"xml value on its own line", "<doc>\n" + pad + "<creds>\n<password>\n" + secret + "\n</password>\n</creds>\n</doc>\n", secret},
		{"xml value two lines under", "<doc>\n" + pad + "<password>\n\n  " + secret + "\n</password>\n</doc>\n", secret},
		{"yaml nested path", "a: 1\n" + strings.Repeat("k: v\n", 8) + "db:\n  primary:\n\n    host: internal-db-7.example\n", "internal-db-7"},
	}
	for _, d := range docs {
		if out := e.MaskText(d.doc, nil); strings.Contains(out, d.gone) {
			t.Fatalf("%s: masked whole, %q survived", d.name, d.gone)
		}
		for chunk := 8; chunk <= len(d.doc); chunk++ {
			var b strings.Builder
			if err := e.maskTextStream(strings.NewReader(d.doc), &b, nil, chunk, 1<<20); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), d.gone) {
				t.Errorf("%s: chunk %d: %q survived: %q", d.name, chunk, d.gone, b.String())
				break
			}
		}
	}
}

// A YAML block scalar or list under a telling key, and psql's expanded
// display, keep their key across every cut.
func TestStreamCutKeepsBlockContext(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Hq4Vn8Rt2Lx6Zp0Ws3Kd"
	pad := strings.Repeat("name: v\n", 6)
	docs := []struct{ name, doc, gone string }{
		{"yaml block scalar", "app:\n" + pad + "  password: |\n\n    " + secret + "\n", secret},
		{"yaml folded private key", pad + "private_key: >-\n  " + secret + "\n  " + secret + "Aa\n", secret},
		{"yaml list same indent", pad + "ssn:\n- 536904399\n- 536904398\n", "53690439"},
		{"yaml list nested", "people:\n" + pad + "  phones:\n    - 0301 2345678\n    - \"0301 2345679\"\n", "0301 234567"},
		{"psql expanded", "-[ RECORD 1 ]-+-----\n" + strings.Repeat("id         | 7\n", 4) + "db_password | " + secret + "\nssn        | 536904399\n", "5369"},
	}
	for _, d := range docs {
		if out := e.MaskText(d.doc, nil); strings.Contains(out, d.gone) || strings.Contains(out, secret) {
			t.Fatalf("%s: masked whole, %q survived: %q", d.name, d.gone, out)
		}
		for chunk := 8; chunk <= len(d.doc); chunk++ {
			var b strings.Builder
			if err := e.maskTextStream(strings.NewReader(d.doc), &b, nil, chunk, 1<<20); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), d.gone) || strings.Contains(b.String(), secret) {
				t.Errorf("%s: chunk %d: %q survived: %q", d.name, chunk, d.gone, b.String())
				break
			}
		}
	}
}
