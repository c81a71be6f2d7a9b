package querydb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Demo data set sizes.
const (
	demoCustomers = 300
	demoOrders    = 900
)

var (
	demoFirst = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
		"Radia", "Leslie", "Katherine", "John", "Hedy", "Tim", "Shafi", "Niklaus", "Sophie", "Guido"}
	demoLast = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
		"Ritchie", "Perlman", "Lamport", "Johnson", "Backus", "Lamarr", "Berners", "Goldwasser", "Wirth", "Wilson", "Rossum"}
	demoStatus = []string{"pending", "paid", "shipped", "delivered", "refunded"}
)

// createDemo creates the quick start's demo database at path unless it
// exists: customers with well-formed fake personal data (Luhn-valid test
// card numbers, SSN-shaped values) and their orders. The data is the same
// on every machine.
func createDemo(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	db, err := sql.Open("sqlite", "file:"+tmp)
	if err != nil {
		return err
	}
	if err := fillDemo(ctx, db); err != nil {
		db.Close()
		os.Remove(tmp)
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	// Rename last so a half-built file is never mistaken for the demo.
	return os.Rename(tmp, path)
}

func fillDemo(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
CREATE TABLE customers (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL,
	email       TEXT NOT NULL,
	phone       TEXT NOT NULL,
	ssn         TEXT NOT NULL,
	card_number TEXT NOT NULL,
	created_at  TEXT NOT NULL
);
CREATE TABLE orders (
	id          INTEGER PRIMARY KEY,
	customer_id INTEGER NOT NULL REFERENCES customers(id),
	amount      NUMERIC NOT NULL,
	status      TEXT NOT NULL,
	created_at  TEXT NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id);`); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(2026, 11))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for id := 1; id <= demoCustomers; id++ {
		first, last := demoFirst[r.IntN(len(demoFirst))], demoLast[r.IntN(len(demoLast))]
		c := []any{
			id,
			first + " " + last,
			fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(first), strings.ToLower(last), id),
			fmt.Sprintf("+1-202-555-%04d", r.IntN(10000)),
			demoSSN(r),
			demoCard(r),
			base.Add(time.Duration(r.IntN(600*24)) * time.Hour).Format(time.RFC3339),
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)`, c...); err != nil {
			return err
		}
	}
	for id := 1; id <= demoOrders; id++ {
		amount := fmt.Sprintf("%d.%02d", 5+r.IntN(500), r.IntN(100))
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders VALUES (?, ?, ?, ?, ?)`,
			id, 1+r.IntN(demoCustomers), amount, demoStatus[r.IntN(len(demoStatus))],
			base.Add(time.Duration(r.IntN(700*24))*time.Hour).Format(time.RFC3339)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return errors.Join(errors.New("demo seed"), err)
	}
	return nil
}

// demoSSN returns an SSN-shaped value with a valid area (not 000, 666 or
// 9xx), group (not 00) and serial (not 0000).
func demoSSN(r *rand.Rand) string {
	area := 1 + r.IntN(899)
	if area == 666 {
		area = 667
	}
	return fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
}

// demoCard returns a 16-digit Visa-style number with a valid Luhn check
// digit.
func demoCard(r *rand.Rand) string {
	d := make([]byte, 16)
	d[0] = 4
	for i := 1; i < 15; i++ {
		d[i] = byte(r.IntN(10))
	}
	d[15] = luhnCheckDigit(d[:15])
	var b strings.Builder
	for _, x := range d {
		b.WriteByte('0' + x)
	}
	return b.String()
}

// luhnCheckDigit computes the digit that makes payload+digit Luhn-valid.
func luhnCheckDigit(payload []byte) byte {
	sum := 0
	for i := len(payload) - 1; i >= 0; i-- {
		v := int(payload[i])
		if (len(payload)-1-i)%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return byte((10 - sum%10) % 10)
}
