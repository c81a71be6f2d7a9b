package masking

import (
	"strings"
	"testing"
)

// Issue 11 item 7: a North American number in parentheses is a phone even
// after a short identifier key, and numbers that merely sit after a
// contact-like word must read as a phone, not as a ZIP+4, a timestamp, a
// version, an ISBN, a GTIN or an SSN-shaped serial.
func TestPhonePrecisionAndRecall(t *testing.T) {
	runDetect(t, []detectCase{
		// Recall: short keys that veto look-alikes do not veto "(NXX) NXX-XXXX".
		{"ref=(212) 555-0182;status=ok", []string{"PHONE:(212) 555-0182"}},
		{"id (212) 555-0182", []string{"PHONE:(212) 555-0182"}},
		{`{"ref":"(212) 555-0182"}`, []string{"PHONE:(212) 555-0182"}},
		{"no. (212)555-0182", []string{"PHONE:(212)555-0182"}},
		{"ref=+1 212 555 0182", []string{"PHONE:+1 212 555 0182"}},
		// ... while the same digits without the parentheses stay an identifier.
		{"ref 212-555-0182", nil},
		{"order 212-555-0182", nil},
		// Precision: a contact-like word is not enough for these shapes.
		{`{"contact":"94105-1234"}`, nil},
		{`{"contact":"1733059200000"}`, nil},
		{`{"contact":"1733059200"}`, nil},
		{`{"contact":"10.0.19045.3803"}`, nil},
		{`{"contact":"1.2.3.4567"}`, nil},
		{`{"contact":"978-0-306-40615-7"}`, nil},
		{`{"contact":"9780306406157"}`, nil},
		{`{"contact":"0-306-40615-2"}`, nil},
		{`{"contact":"4006381333931"}`, nil},
		{`{"contact":"036000291452"}`, nil},
		{`{"contact":"000-00-0000"}`, nil},
		{`{"contact":"123-45-0000"}`, nil},
		{`{"contact":"SKU 123-4567-890"}`, nil},
		{`call 10345678901`, nil},
		// ... but real numbers after such words still are phones.
		{`{"contact":"4155550182"}`, []string{"PHONE:4155550182"}},
		{`{"contact":"415 555 0182"}`, []string{"PHONE:415 555 0182"}},
		{`{"contact":"555-0182"}`, []string{"PHONE:555-0182"}},
		{`{"contact":"14155550182"}`, []string{"PHONE:14155550182"}},
		{`{"contact":"+447911123456"}`, []string{"PHONE:+447911123456"}},
		{`{"contact":"447911123456"}`, []string{"PHONE:447911123456"}},
		{`call 0171 555 0123`, []string{"PHONE:0171 555 0123"}},
		{`fax 555 01 82 33`, []string{"PHONE:555 01 82 33"}},
	})
}

// A phone key or column is stronger evidence than a word in the text: any
// 7–15 digits that are not a date are masked there.
func TestPhoneColumnKeepsRecall(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, v := range []string{"94105-1234", "4155550182", "555-0182", "07700 900123", "1.555.234.5678", "4006381333931"} {
		got := e.MaskValue(map[string]any{"phone": v}, nil).(map[string]any)["phone"]
		if got == v {
			t.Errorf("phone column value %q was not masked", v)
		}
	}
	if got := e.MaskValue(map[string]any{"phone": "2024-05-01"}, nil).(map[string]any)["phone"]; got != "2024-05-01" {
		t.Errorf("date in a phone column masked: %v", got)
	}
}

func TestISBNAndGTIN(t *testing.T) {
	for _, tc := range []struct {
		d          string
		isbn, gtin bool
	}{
		{"0306406152", true, false},
		{"0306406153", false, false},
		{"9780306406157", true, true},
		{"9780306406158", false, false},
		{"4006381333931", false, true},
		{"036000291452", false, true},
		{"036000291453", false, false},
		{"4155550181", false, false},
		{"00000000000000", false, true},
	} {
		if got := isbn([]byte(tc.d)); got != tc.isbn {
			t.Errorf("isbn(%s) = %v", tc.d, got)
		}
		if got := gtin([]byte(tc.d)); got != tc.gtin {
			t.Errorf("gtin(%s) = %v", tc.d, got)
		}
	}
}

// FuzzPhoneContext puts arbitrary digits and separators after a contact
// key and a phone key: nothing panics, a finding is a span of the input,
// and masking twice changes nothing more.
func FuzzPhoneContext(f *testing.F) {
	for _, s := range []string{"94105-1234", "(212) 555-0182", "978-0-306-40615-7", "1733059200000", "10.0.19045.3803", "+44 20 7946 0958", "000-00-0000"} {
		f.Add(s)
	}
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, text := range []string{`{"contact":"` + v + `"}`, "ref=" + v + ";ok", "call " + v} {
			for _, r := range e.Find(text) {
				if r.Start < 0 || r.End > len(text) || r.Start >= r.End {
					t.Fatalf("finding %+v out of %q", r, text)
				}
			}
			once := e.MaskText(text, nil)
			if twice := e.MaskText(once, nil); twice != once {
				t.Fatalf("masking %q twice: %q then %q", text, once, twice)
			}
		}
		e.MaskValue(map[string]any{"phone": v}, nil)
	})
}

func BenchmarkPhoneContext(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for _, v := range []string{"94105-1234", "(212) 555-0182", "978-0-306-40615-7", "1733059200000", "10.0.19045.3803",
		"4155550182", "4006381333931", "000-00-0000", "SKU 123-4567-890", "+44 20 7946 0958"} {
		sb.WriteString(`{"contact":"` + v + `","ref":"(646) 555-0127"}` + "\n")
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		e.MaskText(text, nil)
	}
}
