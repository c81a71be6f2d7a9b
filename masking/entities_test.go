package masking

import "testing"

func TestEntityKeyContext(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in string
		gone     []string
		kept     []string
	}{
		{"escaped xml", "&lt;r&gt;&lt;socialSecurityNumber&gt;536904398&lt;/socialSecurityNumber&gt;&lt;id&gt;536904399&lt;/id&gt;&lt;/r&gt;",
			[]string{"536904398"}, []string{"&lt;id&gt;536904399&lt;"}},
		{"escaped json", "<pre>{&quot;phoneNumber&quot;: &quot;5511987654321&quot;, &quot;db_password&quot;: &quot;Hq4Vn8Rt2Lx6Zp0W&quot;, &quot;n&quot;: &quot;536904399&quot;}</pre>",
			[]string{"5511987654321", "Hq4Vn8Rt2Lx6Zp0W"}, []string{"&quot;536904399&quot;", "<pre>"}},
		{"escaped attribute", "&lt;user ssn=&#34;536904398&#34; id=&#34;536904399&#34;/&gt;", []string{"536904398"}, []string{"536904399"}},
		{"numeric entities", "<r>&#60;ssn&#62;&#53;&#51;&#54;&#57;&#48;&#52;&#51;&#57;&#56;&#60;/ssn&#62;</r>", []string{"&#53;&#51;&#54;"}, []string{"&#60;ssn&#62;"}},
		{"ampersand only", "fish &amp; chips 536904399", nil, []string{"fish &amp; chips 536904399"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMasked(t, e, tc.in, tc.gone, tc.kept)
		})
	}
}

func FuzzEntityEdits(f *testing.F) {
	e, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("&lt;ssn&gt;536904398&lt;/ssn&gt;")
	f.Add("{&quot;phone&quot;: &quot;0301 2345678&quot;}&#x")
	f.Fuzz(func(t *testing.T, s string) {
		checkEdits(t, e.entityEdits(s, nil), len(s))
	})
}
