package masking

import "testing"

func TestClassifyCell(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		column, value string
		want          Entity
		ok            bool
	}{
		{"card_number", "4111111111111111", CreditCard, true},
		{"tracking_no", "1Z9999000000000014", "", false}, // not Luhn-valid, not a card
		{"ssn", "101-11-1007", SSN, true},
		{"ssn", "123-45-6789", "", false}, // a well-known invalid example SSN
		{"contact", "person1@example.org", Email, true},
		{"note", "mail person1@example.org today", "", false}, // not the whole value
		{"iban", "DE89370400440532013000", IBAN, true},
		{"full_name", "Customer Number1", "", false},
		{"x", "", "", false},
	}
	for _, tc := range cases {
		got, ok := e.ClassifyCell(tc.column, tc.value)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ClassifyCell(%q, %q) = %v %v, want %v %v", tc.column, tc.value, got, ok, tc.want, tc.ok)
		}
	}
}

func BenchmarkClassifyCell(b *testing.B) {
	e, _ := New(Config{})
	b.ReportAllocs()
	for b.Loop() {
		e.ClassifyCell("card_number", "4111111111111111")
	}
}
