package masking

import (
	"strings"
	"testing"
)

// secretNameCases are real-world column and key names (from PostgreSQL's
// catalogs, Rails, Django, Laravel, Devise, Auth0, Keycloak, Supabase and
// common SaaS schemas): the strength each should get.
var secretNameCases = map[string]int{
	// Secrets.
	"rolpassword": keyStrong, "usepasswd": keyStrong, "password": keyStrong, "password_hash": keyStrong,
	"passwd_digest": keyStrong, "password_digest": keyStrong, "encrypted_password": keyStrong,
	"hashed_password": keyStrong, "PasswordHash": keyStrong, "passwordHash": keyStrong,
	"user_password": keyStrong, "db_password": keyStrong, "smtp_password": keyStrong, "pwd": keyStrong,
	"pwd_hash": keyStrong, "password_salted": keyStrong, "passphrase": keyStrong, "old_password": keyStrong,
	"password2": keyStrong, "api_key": keyStrong, "api_key_hash": keyStrong, "apiKey": keyStrong,
	"APIKey": keyStrong, "apikey": keyStrong, "api_key_sha256": keyStrong, "private_key": keyStrong,
	"privateKey": keyStrong, "private_key_pem": keyStrong, "ssh_private_key": keyStrong,
	"secret_token": keyStrong, "secret": keyStrong, "client_secret": keyStrong, "clientSecret": keyStrong,
	"client_secret_enc": keyStrong, "otp_secret": keyStrong, "totp_secret": keyStrong, "mfa_secret": keyStrong,
	"webhook_secret": keyStrong, "encrypted_otp_secret": keyStrong, "secret_key": keyStrong,
	"secret_access_key": keyStrong, "aws_secret_access_key": keyStrong, "signing_key": keyStrong,
	"encryption_key": keyStrong, "master_key": keyStrong, "hmac_key": keyStrong, "license_key": keyStrong,
	"access_key": keyStrong, "credentials": keyStrong, "db_credentials": keyStrong, "card_pin": keyStrong,
	"pin": keyStrong, "cvv": keyStrong, "cvv2": keyStrong, "recovery_codes": keyStrong,
	"backup_code": keyStrong, "otp_code": keyStrong, "seed_phrase": keyStrong, "mnemonic": keyStrong,
	"privkey": keyStrong, "userpassword": keyStrong, "clientsecret": keyStrong, "secretkey": keyStrong,
	"jwt_secret": keyStrong,
	"token":      keyWeak, "access_token": keyWeak, "refresh_token": keyWeak, "auth_token": keyWeak,
	"reset_password_token": keyStrong, "confirmation_token": keyWeak, "remember_token": keyWeak,
	"session_token": keyWeak, "accessToken": keyWeak, "refreshToken": keyWeak, "authtoken": keyWeak,
	"api_token_hash": keyWeak, "id_token": keyWeak, "unlock_token": keyWeak, "invitation_token": keyWeak,
	"session_key": keyWeak, "auth_key": keyWeak, "authorization": keyWeak,
	// Not secrets.
	"password_reset_at": 0, "password_changed_at": 0, "password_expires_at": 0, "password_updated_at": 0,
	"password_reset_sent_at": 0, "reset_password_sent_at": 0, "password_length": 0, "password_policy": 0,
	"password_min_length": 0, "rolvaliduntil": 0, "rolname": 0, "token_count": 0, "max_tokens": 0,
	"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "prompt_tokens": 0, "completion_tokens": 0,
	"token_type": 0, "token_expires_at": 0, "tokens_used": 0, "next_page_token": 0, "page_token": 0,
	"nextPageToken": 0, "secret_santa_id": 0, "secret_name": 0, "secret_id": 0, "secret_version": 0,
	"keyboard_layout": 0, "primary_key_id": 0, "primary_key": 0, "foreign_key": 0, "sort_key": 0,
	"partition_key": 0, "idempotency_key": 0, "cache_key": 0, "key": 0, "key_id": 0, "api_key_id": 0,
	"api_key_name": 0, "api_key_prefix": 0, "api_key_last_used_at": 0, "private_key_id": 0,
	"key_fingerprint": 0, "public_key": 0, "publicKey": 0, "zip_code": 0, "country_code": 0,
	"status_code": 0, "postal_code": 0, "passenger_count": 0, "pass_rate": 0, "bypass": 0,
	"passwordless": 0, "compass_heading": 0, "spinner": 0, "pinned": 0, "pin_count": 0, "id": 0,
	"email": 0, "monkey": 0, "turkey_count": 0, "author": 0, "authored_at": 0, "auth_method": 0,
	"auth_provider": 0, "credential_type": 0, "credentials_expire_at": 0, "secretary": 0,
	// A flag named like a secret is judged by its value (true/false are placeholders).
	"has_password": keyStrong, "password_set": 0, "pwd_changed": 0, "tokenizer": 0, "": 0, "ab": 0,
}

func TestSecretName(t *testing.T) {
	for name, want := range secretNameCases {
		if got := secretName(name); got != want {
			t.Errorf("%q: got %d, want %d", name, got, want)
		}
	}
}

func TestSplitName(t *testing.T) {
	cases := map[string]string{
		"rolPassword2_hash": "rol password 2 hash", "APIKey": "api key", "api-key.v2": "api key v2",
		"sha256_digest": "sha256 digest", "userID": "user id", "HTTPServer": "http server",
		"password2": "password 2", "2fa_secret": "2 fa secret", "ed25519_key": "ed25519 key",
	}
	for in, want := range cases {
		if got := strings.Join(splitName(in, nil), " "); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// A cell under a secret-named column is masked, through MaskCell.
func TestSecretColumnMasked(t *testing.T) {
	e := mustEngine(t, Config{})
	for _, col := range []string{"rolpassword", "password_hash", "passwd_digest", "api_key_hash", "secret_token", "private_key"} {
		v := "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$Zm9vYmFyYmF6cXV4"
		if got := e.MaskCell("t", col, v, nil); got == v {
			t.Errorf("%s: not masked", col)
		}
	}
	if got := e.MaskCell("t", "password_reset_at", "2026-01-02T03:04:05Z", nil); got != "2026-01-02T03:04:05Z" {
		t.Errorf("password_reset_at masked: %v", got)
	}
}

func FuzzSecretName(f *testing.F) {
	for name := range secretNameCases {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s := secretName(name)
		if s < 0 || s > keyStrong {
			t.Fatalf("strength %d", s)
		}
		if len(name) > 64 && s != 0 {
			t.Fatal("long name judged")
		}
		// Case does not matter for separated words.
		if strings.Contains(name, "_") && !strings.ContainsFunc(name, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 0x80 }) {
			if secretName(strings.ToUpper(name)) != s {
				t.Fatalf("%q and its upper case differ", name)
			}
		}
	})
}

func BenchmarkSecretName(b *testing.B) {
	names := []string{"password_hash", "customer_id", "api_key_last_used_at", "rolPassword", "created_at"}
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range names {
			secretName(n)
		}
	}
}
