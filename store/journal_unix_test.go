//go:build unix

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// helperUnix is TestHelperAppend's unix-only part.
func helperUnix(t *testing.T) {
	if os.Getenv("AIRLOCK_STORE_HELPER") != "fsize" {
		return
	}
	// RLIMIT_FSIZE makes the kernel fail writes past the limit (EFBIG):
	// a real I/O error, as from a failing disk.
	st, err := OpenSQLite(context.Background(), "sqlite:"+os.Getenv("AIRLOCK_STORE_PATH"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lim := &syscall.Rlimit{Cur: 256 << 10, Max: 256 << 10}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, lim); err != nil {
		t.Skip("setrlimit:", err)
	}
	big := strings.Repeat("x", 8000)
	var first error
	for i := range 1000 {
		e := entry(i)
		e.Data = []byte(`{"pad":"` + big + `"}`)
		if _, err := st.AppendJournal(context.Background(), e); err != nil {
			first = err
			break
		}
	}
	if first == nil {
		t.Fatal("appends never failed past the file size limit")
	}
	if !errors.Is(first, ErrJournalBroken) {
		t.Fatalf("first failure %v is not ErrJournalBroken", first)
	}
	// Latched: later appends fail without touching the disk.
	if _, err := st.AppendJournal(context.Background(), entry(0)); !errors.Is(err, ErrJournalBroken) {
		t.Fatalf("append after an I/O error: %v", err)
	}
	fmt.Println("LATCHED")
}

// A write the storage fails with an I/O error disables the journal until
// restart (no acknowledged record may silently be lost).
func TestIOErrorDisablesJournal(t *testing.T) {
	if os.Getenv("AIRLOCK_STORE_HELPER") != "" {
		return
	}
	path := filepath.Join(t.TempDir(), "airlock.db")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperAppend$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "AIRLOCK_STORE_HELPER=fsize", "AIRLOCK_STORE_PATH="+path)
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "setrlimit") {
		t.Skip("no RLIMIT_FSIZE here")
	}
	if err != nil || !strings.Contains(string(out), "LATCHED") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}
