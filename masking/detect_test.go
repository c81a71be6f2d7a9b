package masking

import (
	"strings"
	"testing"
)

// found returns the values the default engine masks in s, as
// "ENTITY:text", in order.
func found(t *testing.T, s string) []string {
	t.Helper()
	e := mustEngine(t, Config{})
	return e.findAll(s)
}

func (e *Engine) findAll(s string) []string {
	sc := e.getScanner()
	defer sc.release()
	var out []string
	for _, line := range strings.Split(s, "\n") {
		scanned, _ := sc.view(line)
		for _, r := range resolve(sc.scan(scanned, 0), nil) {
			out = append(out, string(r.ent)+":"+scanned[r.start:r.end])
		}
	}
	return out
}

func mustEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type detectCase struct {
	in   string
	want []string // "ENTITY:text"; nil means nothing is found
}

func runDetect(t *testing.T, cases []detectCase) {
	t.Helper()
	for _, tc := range cases {
		got := found(t, tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q:\n got  %q\n want %q", tc.in, got, tc.want)
		}
	}
}

func TestCreditCard(t *testing.T) {
	runDetect(t, []detectCase{
		{"visa 4111111111111111 ok", []string{"CREDIT_CARD:4111111111111111"}},
		{"4111 1111 1111 1111", []string{"CREDIT_CARD:4111 1111 1111 1111"}},
		{"4111-1111-1111-1111.", []string{"CREDIT_CARD:4111-1111-1111-1111"}},
		{"mc 5555555555554444", []string{"CREDIT_CARD:5555555555554444"}},
		{"mc2 2223003122003222", []string{"CREDIT_CARD:2223003122003222"}},
		{"amex 378282246310005", []string{"CREDIT_CARD:378282246310005"}},
		{"amex 3782 822463 10005", []string{"CREDIT_CARD:3782 822463 10005"}},
		{"diners 3056 930902 5904", []string{"CREDIT_CARD:3056 930902 5904"}},
		{"discover 6011-1111-1111-1117", []string{"CREDIT_CARD:6011-1111-1111-1117"}},
		{"jcb 3530111333300000", []string{"CREDIT_CARD:3530111333300000"}},
		{"visa13 4222222222222", []string{"CREDIT_CARD:4222222222222"}},
		{"card=4012888888881881,", []string{"CREDIT_CARD:4012888888881881"}},
		{"(4111 1111 1111 1111)", []string{"CREDIT_CARD:4111 1111 1111 1111"}},
		// full-width digits, ideographic spaces and zero-width spaces
		{"４１１１ １１１１ １１１１ １１１１", []string{"CREDIT_CARD:4111 1111 1111 1111"}},
		{"4111\u200b1111\u200b1111\u200b1111", []string{"CREDIT_CARD:4111111111111111"}},
		{"4111\u20131111\u20131111\u20131111", []string{"CREDIT_CARD:4111-1111-1111-1111"}},
		// negatives
		{"4111111111111112", nil},        // Luhn
		{"1234567812345670", nil},        // Luhn ok, no issuer starts with 1
		{"order 4111111111111111x", nil}, // glued to a word
		{"ORD-4111111111111111", nil},    // part of an identifier
		{"41111111111111111111", nil},    // 20 digits
		{"12-4111-1111-1111-1111", nil},  // longer dashed run
		{"4111 1111 1111 1111 0925", []string{"CREDIT_CARD:4111 1111 1111 1111"}},
		{"qty 2 4111 1111 1111 1111", []string{"CREDIT_CARD:4111 1111 1111 1111"}},
		{"FR70 4325 0276 3226 0868 6765 645", nil}, // an IBAN that failed mod-97
		{"1234 4111 1111 1111 1111", nil},          // 20 digits in fours
		{"3.4111111111111111", nil},                // decimal fraction
		{"4111 1111 111 11111", nil},               // bad grouping
		{"id a4111111111111111", nil},              // hex-ish token
		{"***********1111 ************1111", nil},
	})
}

func TestSSN(t *testing.T) {
	runDetect(t, []detectCase{
		{"ssn 078-05-1121", []string{"SSN:078-05-1121"}},
		{"SSN: 536 90 4399", []string{"SSN:536 90 4399"}},
		{"ssn=536904399", []string{"SSN:536904399"}},
		{"social security number 536904399", []string{"SSN:536904399"}},
		{"078\uff0d05\uff0d1121", []string{"SSN:078-05-1121"}},
		{"000-12-3456", nil}, {"666-12-3456", nil}, {"912-12-3456", nil},
		{"123-00-4567", nil}, {"123-45-0000", nil},
		{"078-05-1120", nil}, {"219-09-9999", nil}, {"123-45-6789", nil},
		{"536904399", nil}, // nine bare digits without context
		{"078-05-1121-7", nil},
		{"078-05 1121", nil},
		{"***-**-1121", nil},
	})
}

func TestEmail(t *testing.T) {
	runDetect(t, []detectCase{
		{"mail jane.doe@example.com.", []string{"EMAIL:jane.doe@example.com"}},
		{"<john+billing@mail.eu.example.org>", []string{"EMAIL:john+billing@mail.eu.example.org"}},
		{`"user":"a_b-c@example.co.uk"`, []string{"EMAIL:a_b-c@example.co.uk"}},
		{"mailto:ops@example.com", []string{"EMAIL:ops@example.com"}},
		{"josé@exämple.com", []string{"EMAIL:josé@exämple.com"}},
		{"user@xn--bcher-kva.example", []string{"EMAIL:user@xn--bcher-kva.example"}},
		{"用户@例子.广告", []string{"EMAIL:用户@例子.广告"}},
		{"jane\uff20example.com", []string{"EMAIL:jane@example.com"}},
		{"git@github.com:org/repo.git", nil},
		{"https://user@example.com/x", nil},
		{"npm i @types/node pkg@1.2.3", nil},
		{"image@sha256:abcdef", nil},
		{"a@localhost", nil},
		{"j***@example.com", nil},
		{"foo@bar.c0m", nil},
	})
}

func TestPhone(t *testing.T) {
	runDetect(t, []detectCase{
		{"call (555) 234-5678", []string{"PHONE:(555) 234-5678"}},
		{"555-234-5678", []string{"PHONE:555-234-5678"}},
		{"555.234.5678", []string{"PHONE:555.234.5678"}},
		{"1-800-555-0199", []string{"PHONE:1-800-555-0199"}},
		{"+1 415 555 2671", []string{"PHONE:+1 415 555 2671"}},
		{"+14155552671", []string{"PHONE:+14155552671"}},
		{"+44 20 7946 0958", []string{"PHONE:+44 20 7946 0958"}},
		{"+44 (0)20 7946 0958", []string{"PHONE:+44 (0)20 7946 0958"}},
		{"+49 30 901820", []string{"PHONE:+49 30 901820"}},
		{"0044 20 7946 0958", []string{"PHONE:0044 20 7946 0958"}},
		{"020 7946 0958", []string{"PHONE:020 7946 0958"}},
		{"07700 900123", []string{"PHONE:07700 900123"}},
		{"06 12 34 56 78", []string{"PHONE:06 12 34 56 78"}},
		{"555-234-5678 x204", []string{"PHONE:555-234-5678 x204"}},
		{"555-234-5678 ext. 7", []string{"PHONE:555-234-5678 ext. 7"}},
		{"phone: 5552345678", []string{"PHONE:5552345678"}},
		{"tel 234 5678", []string{"PHONE:234 5678"}},
		// negatives: ids, dates, versions, codes
		{"order 555-234-5678", nil},
		{"invoice #555-234-5678", nil},
		{"ORD-2024-555-1234", nil},
		{"2024-05-01 12:30:45", nil},
		{"01/02/2024", nil},
		{"5552345678", nil},
		{"version 1.2.3", nil},
		{"SKU 123-456-7890", nil},
		{"555-123-4567", nil}, // exchange cannot start with 1
		{"ISBN 978-3-16-148410-0", nil},
		{"1700000000", nil},
		{"550e8400-e29b-41d4-a716-446655440000", nil},
		{"+* (***) ***-5678", nil},
		{"0010000000", nil},                              // zero-padded id, not 00-international
		{"NL67 ABNA 0217 9920 22", nil},                  // tail of an invalid IBAN
		{"IBAN PL80 8207 5113 0050 7212 5679 9819", nil}, // ditto
		{"phone 0044207946095", []string{"PHONE:0044207946095"}},
	})
}

func TestIBAN(t *testing.T) {
	runDetect(t, []detectCase{
		{"DE89370400440532013000", []string{"IBAN:DE89370400440532013000"}},
		{"IBAN: DE89 3704 0044 0532 0130 00", []string{"IBAN:DE89 3704 0044 0532 0130 00"}},
		{"GB82 WEST 1234 5698 7654 32", []string{"IBAN:GB82 WEST 1234 5698 7654 32"}},
		{"fr1420041010050500013m02606", []string{"IBAN:fr1420041010050500013m02606"}},
		{"NO9386011117947", []string{"IBAN:NO9386011117947"}},
		{"DE89370400440532013001", nil}, // mod-97
		{"DE8937040044053201300", nil},  // length
		{"ZZ89370400440532013000", nil}, // country
		{"DE89 3704 00440532 0130 00", nil},
		{"DE****************3000", nil},
	})
}

func TestIP(t *testing.T) {
	runDetect(t, []detectCase{
		{"from 203.0.113.45:443", []string{"IP_ADDRESS:203.0.113.45"}},
		{"client=10.1.2.3,", []string{"IP_ADDRESS:10.1.2.3"}},
		{"net 10.0.0.0/8", []string{"IP_ADDRESS:10.0.0.0"}},
		{"[2001:db8::1]:8080", []string{"IP_ADDRESS:2001:db8::1"}},
		{"fe80::1ff:fe23:4567:890a%eth0 up", []string{"IP_ADDRESS:fe80::1ff:fe23:4567:890a%eth0"}},
		{"addr fe80::10e2:c5c6%eth0.", []string{"IP_ADDRESS:fe80::10e2:c5c6%eth0"}},
		{"2001:0db8:85a3:0000:0000:8a2e:0370:7334", []string{"IP_ADDRESS:2001:0db8:85a3:0000:0000:8a2e:0370:7334"}},
		{"::ffff:192.0.2.128", []string{"IP_ADDRESS:::ffff:192.0.2.128"}},
		{"127.0.0.1 0.0.0.0 ::1 :: 255.255.255.0", nil},
		{"256.1.1.1 1.2.3 01.2.3.4", nil},
		{"v1.2.3.4 version 10.2.3.4 1.2.3.4.5", nil},
		{"10:30:45 00:1a:2b:3c:4d:5e std::string", nil},
		{"dead::beef", nil},
		{"192.168.*.* 2001:db8:85a3:*:*:*:*:*", nil},
	})
}

func TestTokens(t *testing.T) {
	runDetect(t, []detectCase{
		{"AKIAIOSFODNN7EXAMPLE", []string{"AWS_ACCESS_KEY:AKIAIOSFODNN7EXAMPLE"}},
		{"id=ASIAY34FZKBOKMUTVV7A;", []string{"AWS_ACCESS_KEY:ASIAY34FZKBOKMUTVV7A"}},
		{"ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU", []string{"GITHUB_TOKEN:ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU"}},
		{"gho_16C7e42F292c6912E7710c838347Ae178B4a", []string{"GITHUB_TOKEN:gho_16C7e42F292c6912E7710c838347Ae178B4a"}},
		{"github_pat_11ABCDEFG0123456789abc_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456",
			[]string{"GITHUB_TOKEN:github_pat_11ABCDEFG0123456789abc_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456"}},
		{"glpat-xK9mP2vL7nQ4wR8tY1zA", []string{"GITLAB_TOKEN:glpat-xK9mP2vL7nQ4wR8tY1zA"}},
		{"xoxb-2930293029-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", []string{"SLACK_TOKEN:xoxb-2930293029-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"}},
		{"sk_live_4eC39HqLyjWDarjtT1zdp7dc", []string{"STRIPE_KEY:sk_live_4eC39HqLyjWDarjtT1zdp7dc"}},
		{"rk_test_51H8xQ2eZvKYlo2C0aB1cD2eF", []string{"STRIPE_KEY:rk_test_51H8xQ2eZvKYlo2C0aB1cD2eF"}},
		// negatives
		{"AKIA1234", nil},
		{"AKIAIOSFODNN7EXAMPLEX", nil},
		{"ghp_short", nil},
		{"glpat-short", nil},
		{"xoxb-nodigitshere-abc", nil},
		{"pk_live_4eC39HqLyjWDarjtT1zdp7dc", nil},
		{"sk_live_", nil},
		{"ghp_****0eU0 AKIA****MPLE", nil},
	})
}

const testJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

func TestJWTAndBearer(t *testing.T) {
	runDetect(t, []detectCase{
		{"token " + testJWT, []string{"JWT:" + testJWT}},
		{"Authorization: Bearer " + testJWT, []string{"JWT:" + testJWT}},
		{"Authorization: Bearer 2YotnFZFEjr1zCsicMWpAA", []string{"BEARER_TOKEN:2YotnFZFEjr1zCsicMWpAA"}},
		{"authorization: bearer abcDEF123456ghiJKL789", []string{"BEARER_TOKEN:abcDEF123456ghiJKL789"}},
		{"Authorization: Basic dXNlcjpwYXNzd29yZA==", []string{"SECRET:dXNlcjpwYXNzd29yZA=="}},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", []string{"JWT:eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}},
		// negatives
		{"eyJmb28iOiJiYXIifQ.eyJzdWIiOiJ4In0.abc", nil}, // header has no alg
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.", nil},  // unsigned but alg is not none
		{"eyJhbGciOiJIUzI1NiJ9", nil},
		{"uses Bearer authentication", nil},
		{`WWW-Authenticate: Bearer resource_metadata="https://x"`, nil},
		{"Basic configuration steps", nil},
		{"Basic aGVsbG8gd29ybGQ=", nil}, // "hello world" has no colon
		{"Bearer [BEARER_TOKEN] Bearer BEARER_TOKEN_3fa9c2d1e0b4", nil},
	})
}

func TestURIPassword(t *testing.T) {
	runDetect(t, []detectCase{
		{"postgres://app:s3cr3t@db.example.com:5432/app", []string{"DB_URI_PASSWORD:s3cr3t"}},
		{"mysql://root:pa:ss@10.0.0.5/db", []string{"DB_URI_PASSWORD:pa:ss", "IP_ADDRESS:10.0.0.5"}},
		{"mongodb+srv://u:p%40ss@cluster0.example.net/x", []string{"DB_URI_PASSWORD:p%40ss"}},
		{"redis://:hunter22@cache:6379/0", []string{"DB_URI_PASSWORD:hunter22"}},
		{"amqps://guest:guestpw@mq.example.com", []string{"DB_URI_PASSWORD:guestpw"}},
		{"postgres://app@db/app postgres://app:@db/app https://example.com/a:b@c", nil},
		{"postgres://app:[DB_URI_PASSWORD]@db/app postgres://app:${PGPASSWORD}@db/app", nil},
		{"postgres://app:DB_URI_PASSWORD_3fa9c2d1e0b4@db.example.com/app", nil},
	})
}

func TestKeyValueSecret(t *testing.T) {
	runDetect(t, []detectCase{
		{"password=hunter22", []string{"SECRET:hunter22"}},
		{`{"password": "correct horse"}`, []string{"SECRET:correct horse"}},
		{`{"api_key":"k_8f2a9c0b1d"}`, []string{"SECRET:k_8f2a9c0b1d"}},
		{"DB_PASSWORD='p@ss w0rd'", []string{"SECRET:p@ss w0rd"}},
		{"  client_secret: a8f5f167f44f4964e6c998dee827110c", []string{"SECRET:a8f5f167f44f4964e6c998dee827110c"}},
		{"X-Api-Key: 9f8e7d6c5b4a", []string{"SECRET:9f8e7d6c5b4a"}},
		{"clientSecret=Zm9vYmFy42", []string{"SECRET:Zm9vYmFy42"}},
		{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", []string{"SECRET:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
		{"auth_token=f81d4fae7dec11d0a76500a0c91e6bf6", []string{"SECRET:f81d4fae7dec11d0a76500a0c91e6bf6"}},
		{`login failed: {\"password\": \"hunter22\"}`, []string{"SECRET:hunter22"}},
		{"GET /x?user=bob&password=s3cret&x=1", []string{"SECRET:s3cret"}},
		// negatives: placeholders, references, already masked, non-secret keys
		{"password=", nil},
		{`password: ""`, nil},
		{"password: ${DB_PASSWORD}", nil},
		{"password: <your-password>", nil},
		{`"note":"password: \u003cyour-password\u003e"`, nil},
		{"password: null", nil},
		{"password=********", nil},
		{"password: [REDACTED]", nil},
		{"password=[SECRET] token=SECRET_3fa9c2d1e0b4", nil},
		{"password_changed_at=2024-05-01", nil},
		{"max_tokens=4096", nil},
		{"next_page_token=CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3", nil},
		{"token: expired", nil},
		{"auth: oidc", nil},
		{"if password == x", nil},
		{"token_type=bearer", nil},
		{"auth: method=oidc issuer=https://login.example.com token_ttl=3600", nil},
	})
}

func TestPEM(t *testing.T) {
	e := mustEngine(t, Config{})
	key := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234abcd\nZm9vYmFyYmF6\n-----END RSA PRIVATE KEY-----"
	cases := []struct{ in, want string }{
		{"before\n" + key + "\nafter", "before\n[PRIVATE_KEY]\nafter"},
		{`{"key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"}`, `{"key":"[PRIVATE_KEY]"}`},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA\nnext line of prose", "[PRIVATE_KEY]\nnext line of prose"},
		{"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0\n-----END PUBLIC KEY-----"},
		{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
	}
	for _, tc := range cases {
		if got := e.MaskText(tc.in, nil); got != tc.want {
			t.Errorf("%q:\n got  %q\n want %q", tc.in, got, tc.want)
		}
	}
}

func TestOverlapsAndPriorities(t *testing.T) {
	runDetect(t, []detectCase{
		// the card is more specific than the secret around it
		{"password=4111111111111111", []string{"CREDIT_CARD:4111111111111111"}},
		{"api_key=AKIAIOSFODNN7EXAMPLE", []string{"AWS_ACCESS_KEY:AKIAIOSFODNN7EXAMPLE"}},
		{"token: ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU", []string{"GITHUB_TOKEN:ghp_R6hBvq2KzYwT8mN3pL5sX9dF1gH4jK7aQ0eU"}},
		// the URI's password, not an email
		{"redis://u:pw@cache.example.com", []string{"DB_URI_PASSWORD:pw"}},
	})
}
