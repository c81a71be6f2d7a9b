package masking

import "strings"

// secretName says how strongly a column or JSON key name marks its value
// as a secret, by the words it is made of rather than by a fixed list of
// names. The name is cut into words at "_", "-", ".", spaces, case changes
// (camelCase, "APIKey") and digits; trailing words that say how a secret
// is stored (hash, digest, enc, b64, ...) are set aside, and then the last
// word decides, as the head of the name: password_hash, passwd_digest,
// rolpassword, api_key_hash, secret_token and private_key are secrets;
// password_reset_at, token_count, secret_santa_id, keyboard_layout and
// primary_key_id are not. A word that ends in password, passwd,
// passphrase or secret (rolpassword, clientsecret) counts as that word.
func secretName(name string) int {
	if len(name) > 64 || len(name) < 3 {
		return 0
	}
	var buf [16]string
	words := splitName(name, buf[:0])
	for len(words) > 0 && isNumber(words[len(words)-1]) {
		words = words[:len(words)-1]
	}
	for len(words) > 1 && storedForm[words[len(words)-1]] {
		words = words[:len(words)-1]
	}
	if len(words) == 0 {
		return 0
	}
	last, prev := words[len(words)-1], ""
	if len(words) > 1 {
		prev = words[len(words)-2]
	}
	switch {
	case strongWords[last]:
		return keyStrong
	case last == "key" || last == "keys":
		if keyKinds[prev] {
			return keyStrong
		}
		if prev == "session" || prev == "auth" {
			return keyWeak
		}
		return 0
	case last == "token" || last == "tokens":
		switch {
		case strongWords[prev]:
			return keyStrong
		case notSecretTokens[prev]:
			return 0
		}
		return keyWeak
	case last == "code" || last == "codes":
		if codeKinds[prev] {
			return keyStrong
		}
		return 0
	case last == "phrase" && (prev == "seed" || prev == "recovery" || prev == "pass"):
		return keyStrong
	case last == "auth" || last == "authorization" || last == "bearer":
		return keyWeak
	}
	for _, w := range []string{"password", "passwd", "passphrase", "secret"} {
		if strings.HasSuffix(last, w) {
			return keyStrong // rolpassword, userpassword, clientsecret
		}
	}
	if k, ok := strings.CutSuffix(last, "key"); ok && (keyKinds[k] || strings.HasSuffix(k, "access") || strings.HasPrefix(k, "secret")) {
		return keyStrong // apikey, privatekey, secretkey, secretaccesskey
	}
	if k, ok := strings.CutSuffix(last, "token"); ok && k != "" && !notSecretTokens[k] {
		return keyWeak // accesstoken, authtoken
	}
	return 0
}

// strongWords are head words that name a secret on their own.
var strongWords = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "pass": true, "passphrase": true, "passcode": true,
	"secret": true, "secrets": true, "credential": true, "credentials": true, "creds": true,
	"pin": true, "cvv": true, "cvc": true, "cvv2": true, "mnemonic": true, "privkey": true,
}

// keyKinds qualify "key" as a secret key (api_key, private_key); other
// keys (sort_key, primary_key, foreign_key, idempotency_key) are names.
var keyKinds = map[string]bool{
	"api": true, "private": true, "secret": true, "signing": true, "encryption": true, "decryption": true,
	"master": true, "ssh": true, "gpg": true, "pgp": true, "hmac": true, "shared": true, "symmetric": true,
	"crypto": true, "access": true, "license": true, "client": true, "app": true, "webhook": true,
	"root": true, "wallet": true, "jwt": true, "aes": true, "rsa": true, "ed25519": true, "ecdsa": true,
	// Vendors whose keys are named after them: STRIPE_KEY, GOOGLE_MAPS_KEY.
	"stripe": true, "sendgrid": true, "maps": true, "google": true, "mailgun": true, "twilio": true, "openai": true,
	"mapbox": true, "algolia": true, "anthropic": true, "datadog": true, "mailchimp": true, "postmark": true,
}

// notSecretTokens qualify "token" as something other than a credential:
// paging cursors, counts of language-model tokens.
var notSecretTokens = map[string]bool{
	"page": true, "next": true, "prev": true, "previous": true, "continuation": true, "pagination": true,
	"sync": true, "resume": true, "cursor": true, "max": true, "input": true, "output": true,
	"prompt": true, "completion": true, "total": true, "num": true, "word": true,
}

// codeKinds qualify "code" as a one-time secret (recovery_code); other
// codes (zip_code, country_code, status_code) are not.
var codeKinds = map[string]bool{
	"recovery": true, "backup": true, "otp": true, "totp": true, "mfa": true, "pin": true,
	"verification": true, "auth": true, "authorization": true,
}

// storedForm are trailing words that say how a secret is kept: the word
// before them decides (password_hash, api_key_sha256, secret_enc).
var storedForm = map[string]bool{
	"hash": true, "hashed": true, "digest": true, "hmac": true, "enc": true, "encrypted": true,
	"crypt": true, "bcrypt": true, "scrypt": true, "argon2": true, "sha": true, "sha1": true,
	"sha256": true, "sha512": true, "md5": true, "b64": true, "base64": true, "hex": true,
	"plain": true, "plaintext": true, "raw": true, "value": true, "val": true, "text": true,
	"bytes": true, "blob": true, "data": true, "pem": true, "der": true, "cipher": true,
	"ciphertext": true, "salted": true, "v1": true, "v2": true, "old": true, "new": true,
	"prev": true, "previous": true, "current": true, "tmp": true, "temp": true,
}

// splitName cuts a name into lower-case words at separators, case changes
// and digit runs: "rolPassword2_hash" → rol, password, 2, hash;
// "APIKey" → api, key.
func splitName(s string, out []string) []string {
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			out = append(out, strings.ToLower(s[start:end]))
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLower(c) || isUpperASCII(c) || isDigit(c) || c >= 0x80:
			if start >= 0 && i > start {
				p := s[i-1]
				switch {
				case isUpperASCII(c) && (isLower(p) || isDigit(p)):
					flush(i) // camelCase, v2Key
				case isUpperASCII(p) && isLower(c) && i-1 > start && isUpperASCII(s[i-2]):
					// "APIKey": the last capital starts the next word.
					flush(i - 1)
					start = i - 1
				case isDigit(c) != isDigit(p) && !(isDigit(c) && isAlnumWord(s[start:i])):
					flush(i)
				}
			}
			if start < 0 {
				start = i
			}
		default:
			flush(i)
		}
	}
	flush(len(s))
	return out
}

// isAlnumWord keeps digits that belong to a word (sha256, cvv2, ed25519,
// argon2): letters followed by digits stay one word when the letters
// are a known word that takes digits.
func isAlnumWord(letters string) bool {
	switch strings.ToLower(letters) {
	case "sha", "md", "cvv", "ed", "argon", "v", "base", "b":
		return true
	}
	return false
}

func isLower(c byte) bool      { return c >= 'a' && c <= 'z' }
func isUpperASCII(c byte) bool { return c >= 'A' && c <= 'Z' }

func isNumber(w string) bool {
	for i := 0; i < len(w); i++ {
		if !isDigit(w[i]) {
			return false
		}
	}
	return w != ""
}
