package config

import (
	"net/url"
	"testing"
)

// A postgres:// store gets its password from store_password; the file
// never holds it.
func TestStoreDSNFillsPassword(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_STORE_PW", "p@ss/word")
	cfg, err := load(t, minimal+"store: 'postgres://airlock@db.internal:5432/airlock?sslmode=disable'\nstore_password: {env: AIRLOCK_TEST_STORE_PW}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := cfg.StoreDSN()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != "p@ss/word" || u.User.Username() != "airlock" || u.Host != "db.internal:5432" {
		t.Fatalf("dsn %s", u.Redacted())
	}
	if cfg.Store != "postgres://airlock@db.internal:5432/airlock?sslmode=disable" {
		t.Fatalf("Store changed: %s", cfg.Store)
	}
	t.Setenv("AIRLOCK_TEST_STORE_PW", "")
	cfg.StorePassword = &SecretRef{Env: "AIRLOCK_TEST_STORE_PW_UNSET"}
	if _, err := cfg.StoreDSN(); err == nil {
		t.Fatal("unset password variable accepted")
	}
}
