package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/config"
	"github.com/airlockhq/airlock/internal/pgtest"
)

// initDatabase creates a database of its own (init samples every schema)
// holding a table that mixes PII columns with columns that look like PII
// but are not (digits that fail Luhn, bare 9-digit references, free
// text), and returns its URL (no password) and every value inserted.
func initDatabase(t *testing.T) (string, []string) {
	t.Helper()
	base := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL is required: %v", err)
	}
	defer admin.Close(context.Background())
	b := make([]byte, 5)
	rand.Read(b)
	db := "firstrun_init_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(base)
	u.Path = "/" + db
	c, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, `CREATE TABLE customers (
		id int PRIMARY KEY, full_name text, ssn text, card_number text, contact text, mobile text, iban text,
		api_secret text, tracking_no text, order_ref text, note text, created date)`); err != nil {
		t.Fatal(err)
	}
	cards := []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4012888888881881"}
	ibans := []string{"DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NL91ABNA0417164300"}
	var values []string
	for i := 1; i <= 40; i++ {
		row := []string{
			fmt.Sprintf("Customer Number%d", i),
			fmt.Sprintf("%03d-%02d-%04d", 100+i, 10+i%80, 1000+i*7),
			cards[i%len(cards)],
			fmt.Sprintf("person%d@example.org", i),
			fmt.Sprintf("+1 415-555-%04d", 100+i),
			ibans[i%len(ibans)],
			fmt.Sprintf("ghp_%036d", i),
			fmt.Sprintf("1Z%016d", 9999000000000000+i*13+1), // a parcel number, not a card
			fmt.Sprintf("%09d", 500000000+i*17),             // a bare 9-digit order reference
			fmt.Sprintf("called on day %d, all fine", i),
		}
		if _, err := c.Exec(ctx, `INSERT INTO customers VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11, current_date)`,
			i, row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9]); err != nil {
			t.Fatal(err)
		}
		values = append(values, row...)
	}
	return u.String(), values
}

func TestInitPostgresProposesExactlyThePIIColumns(t *testing.T) {
	dsn, values := initDatabase(t)
	u, _ := url.Parse(dsn)
	if _, has := u.User.Password(); has {
		t.Fatal("test DSN holds a password")
	}
	t.Setenv("FIRSTRUN_DB_PASSWORD", "")
	out := filepath.Join(t.TempDir(), "airlock.yaml")
	stdout, err := runCmd(t, "init", "--postgres", dsn, "--password-env", "FIRSTRUN_DB_PASSWORD", "--config", out, "--name", "crm")
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^    "(customers\.\w+)": (\w+)   # (\d+) of (\d+) sampled values are (\w+)$`).FindAllStringSubmatch(string(file), -1) {
		got[m[1]] = m[2] + " " + m[5] + " " + m[3] + "/" + m[4]
	}
	want := map[string]string{
		"customers.ssn":         "partial SSN 40/40",
		"customers.card_number": "partial CREDIT_CARD 40/40",
		"customers.contact":     "partial EMAIL 40/40",
		"customers.mobile":      "partial PHONE 40/40",
		"customers.iban":        "partial IBAN 40/40",
		"customers.api_secret":  "redact GITHUB_TOKEN 40/40",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rules:\n got %v\nwant %v\nfile:\n%s", got, want, file)
	}
	for _, v := range values {
		if strings.Contains(string(file), v) || strings.Contains(stdout, v) {
			t.Errorf("sampled value %q copied into the file or the terminal", v)
		}
	}
	if !strings.Contains(string(file), "password: {env: FIRSTRUN_DB_PASSWORD}") {
		t.Errorf("the file does not name the password variable:\n%s", file)
	}
	cfg, err := config.Load(out)
	if err != nil {
		t.Fatalf("the written config does not load: %v\n%s", err, file)
	}
	if cfg.Connections["crm"] == nil || len(cfg.Masking.Columns) != len(want) {
		t.Errorf("loaded: %+v", cfg.Masking.Columns)
	}
	// It does not overwrite without --force.
	if _, err := runCmd(t, "init", "--postgres", dsn, "--config", out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("overwrote: %v", err)
	}
	// A password in the URL is refused.
	u.User = url.UserPassword("postgres", "pw-in-url")
	if _, err := runCmd(t, "init", "--postgres", u.String(), "--config", out+".2"); err == nil || strings.Contains(err.Error(), "pw-in-url") {
		t.Errorf("password in URL: %v", err)
	}
}

func TestInitSQLiteAndDemo(t *testing.T) {
	// The quick start's demo database: its PII columns get rules.
	p := quickstart(t)
	if _, err := runCmd(t, "check", "--config", p); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "airlock.yaml")
	stdout, err := runCmd(t, "init", "--sqlite", filepath.Join(filepath.Dir(p), "demo.db"), "--config", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	file, _ := os.ReadFile(out)
	for _, col := range []string{`"customers.ssn": partial`, `"customers.card_number": partial`, `"customers.email": partial`, `"customers.phone": partial`} {
		if !strings.Contains(string(file), col) {
			t.Errorf("no rule %s:\n%s", col, file)
		}
	}
	if strings.Contains(string(file), `"customers.name"`) || strings.Contains(string(file), `orders.`) {
		t.Errorf("a rule for a column that holds no PII:\n%s", file)
	}
	if _, err := config.Load(out); err != nil {
		t.Fatal(err)
	}
	// init --demo writes the quick start, byte for byte.
	demo := filepath.Join(t.TempDir(), "airlock.yaml")
	if _, err := runCmd(t, "init", "--demo", "--config", demo); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(demo)
	b, _ := os.ReadFile("../../examples/quickstart/airlock.yaml")
	if string(a) != string(b) {
		t.Error("init --demo differs from examples/quickstart/airlock.yaml")
	}
}
