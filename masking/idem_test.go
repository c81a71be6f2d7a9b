package masking

import "testing"

// TestMaskIdempotent: masking a masked result changes nothing. A masked
// label ("[PHONE]") must not give the values around it a context the
// original did not have.
func TestMaskIdempotent(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"name,mobile,isbn\nAnn,0301234567,978-3-16-148410-0\n",
		"id\tphone\tp99_ms\n7\t+49 30 1234567\t123.456\n",
		"| user | phone | eventTime |\n|---|---|---|\n| ann | (415) 555-0132 | 1733059200123 |\n",
		" ticket_id | phone          | case_no\n-----------+----------------+-------------\n 536904399 | (415) 555-0132 | 1234/567890\n(1 row)\n",
		"a,b,c\nphone,4155550132,9781234567897\n",
	} {
		once := e.MaskText(in, nil)
		if twice := e.MaskText(once, nil); twice != once {
			t.Errorf("not stable:\nin:    %q\nonce:  %q\ntwice: %q", in, once, twice)
		}
	}
}

func FuzzMaskIdempotent(f *testing.F) {
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("name,mobile,isbn\nAnn,0301234567,978-3-16-148410-0\n")
	f.Add("ssn: 536904399 ts=1733059200")
	f.Add("ValueError: field 'socialSecurityNumber' had value '536904398' at 12")
	f.Add("Caused by: x.AuthException: db_password too weak: Hq4Vn8Rt2Lx6Zp0W (code 7)\n\tat a.B(B.java:12)")
	f.Add("Error: contact_number 022-23456789 rejected; api_key [9f8e7d6c5b4a39281706f5e4d3c2b1a0]")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		once := e.MaskText(s, nil)
		if twice := e.MaskText(once, nil); twice != once {
			t.Errorf("a second pass changes %q", once)
		}
	})
}
