package masking

import (
	"strings"
	"testing"
)

func TestExceptionKeyContext(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
		gone     []string
		kept     []string
	}{
		{"python word before", "Traceback (most recent call last):\n  File \"a.py\", line 2, in <module>\nValueError: invalid socialSecurityNumber 536904398\n",
			[]string{"536904398"}, []string{"line 2"}},
		{"java field had value", "java.lang.IllegalArgumentException: field 'db_password' had value 'Hq4Vn8Rt2Lx6Zp0W'\n\tat a.B.c(B.java:12)\n",
			[]string{"Hq4Vn8Rt2Lx6Zp0W"}, []string{"B.java:12"}},
		{"caused by", "Caused by: AuthError: SecretAccessKey Kd93Lm20XqHq4Vn8Rt2Lx6Zp0WsAa11Bb22Cc33 rejected\n",
			[]string{"Kd93Lm20Xq"}, []string{"rejected"}},
		{"go panic quoted", "panic: bad passphrase \"Hq4Vn8Rt2Lx6Zp0W\"\n\ngoroutine 1 [running]:\n", []string{"Hq4Vn8Rt2Lx6Zp0W"}, []string{"goroutine 1"}},
		{"phone with spaces", "RuntimeError: mobile 98765 43210 unreachable", []string{"98765 43210"}, []string{"unreachable"}},
		{"key=quoted", "KeyError: phoneNumber='(21) 3456-7890'", []string{"3456-7890"}, nil},
		{"spring rejected value", "BindException: Field error in object 'user' on field 'socialSecurityNumber': rejected value [536904398]; codes [a.b]",
			[]string{"536904398"}, []string{"codes [a.b]"}},
		{"go invalid value", "error: validate: field \"ssn\": invalid value \"536904398\"", []string{"536904398"}, nil},
		{"words between", "Exception: db_password too weak: Hq4Vn8Rt2Lx6Zp0W", []string{"Hq4Vn8Rt2Lx6Zp0W"}, nil},
		{"dict repr", "ValueError: bad record {'socialSecurityNumber': '536904398', 'id': '536904399'}", []string{"536904398"}, []string{"'536904399'"}},
		{"object repr", "IllegalStateException: User{ssn=536904398, passphrase=Hq4Vn8Rt2Lx6Zp0W, id=536904399}",
			[]string{"536904398", "Hq4Vn8Rt2Lx6Zp0W"}, []string{"id=536904399"}},
		{"masked label", "Exception: db_password [SECRET] rejected; ssn [SSN]. phone: [PHONE], card '[CARD]'", nil, []string{"[SECRET] rejected"}},
		{"label is no name", "Exception: [SSN] 536904399 and [PHONE] 12345678", nil, []string{"536904399", "12345678"}},
		{"no value", "ValueError: invalid password for user bob", nil, []string{"password for user bob"}},
		{"count is no ssn", "IndexError: ssn list index 3 out of range", nil, []string{"index 3"}},
		{"not an exception line", "note: the ssn field 536904399x", nil, []string{"536904399x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMasked(t, e, tc.in, tc.gone, tc.kept)
		})
	}
}

func FuzzExceptionEdits(f *testing.F) {
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("ValueError: field 'ssn' had value '536904398'")
	f.Add("Caused by: x: password \"abc")
	f.Add("Error: phone= 1 2 3 (4")
	f.Fuzz(func(t *testing.T, s string) {
		checkEdits(t, e.exceptionEdits(s, nil), len(s))
	})
}

func BenchmarkExceptionEdits(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	s := strings.Repeat("java.lang.IllegalStateException: field 'ssn' had value '536904398' for user 17\n\tat com.a.B.c(B.java:12)\n", 40)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		e.MaskText(s, nil)
	}
}
