package recorder

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func validCheckpoint() *Checkpoint {
	return SignCheckpoint(testKey(), 42, strings.Repeat("ab", 32), t0)
}

// edit returns the checkpoint JSON with one field changed.
func edit(c *Checkpoint, field string, v any) []byte {
	var m map[string]any
	json.Unmarshal(c.Marshal(), &m)
	if v == nil {
		delete(m, field)
	} else {
		m[field] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func TestParseCheckpoint(t *testing.T) {
	c := validCheckpoint()
	other := SignCheckpoint(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), 42, c.Hash, t0)
	cases := []struct {
		name string
		in   []byte
		err  string // "" = valid
	}{
		{"valid", c.Marshal(), ""},
		{"not json", []byte("seq=42"), "malformed"},
		{"empty", []byte(""), "malformed"},
		{"unknown field", edit(c, "extra", 1), "unknown field"},
		{"trailing data", append(c.Marshal(), []byte(` {}`)...), "trailing"},
		{"wrong type", edit(c, "type", "other"), "type"},
		{"zero seq", edit(c, "seq", 0), "seq"},
		{"negative seq", edit(c, "seq", -5), "seq"},
		{"short hash", edit(c, "hash", "abcd"), "hash"},
		{"uppercase hash", edit(c, "hash", strings.Repeat("AB", 32)), "hash"},
		{"no time", edit(c, "time", nil), "time"},
		{"bad key", edit(c, "public_key", "AAAA"), "public_key"},
		{"key id mismatch", edit(c, "key_id", other.KeyID), "key_id"},
		{"bad signature encoding", edit(c, "signature", "!!"), "signature"},
		{"short signature", edit(c, "signature", "AAAA"), "signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheckpoint(tc.in)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Seq != c.Seq || got.Hash != c.Hash || !got.Time.Equal(c.Time) || got.Verify(testKey().Public().(ed25519.PublicKey)) != nil {
					t.Fatalf("round trip: %+v", got)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrCheckpointSyntax) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error about %q", err, tc.err)
			}
		})
	}
}

func TestCheckpointVerify(t *testing.T) {
	c := validCheckpoint()
	pub := testKey().Public().(ed25519.PublicKey)
	if err := c.Verify(pub); err != nil {
		t.Fatal(err)
	}
	tampered := *c
	tampered.Seq = 43
	if err := tampered.Verify(pub); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("edited seq: %v", err)
	}
	tampered = *c
	tampered.Hash = strings.Repeat("cd", 32)
	if err := tampered.Verify(pub); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("edited hash: %v", err)
	}
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	forged := SignCheckpoint(otherKey, c.Seq, c.Hash, c.Time)
	if err := forged.Verify(pub); !errors.Is(err, ErrCheckpointKey) {
		t.Errorf("other key: %v", err)
	}
	if err := forged.Verify(nil); err != nil {
		t.Errorf("self-consistency: %v", err)
	}
}

func TestReadCheckpoints(t *testing.T) {
	a, b := validCheckpoint(), SignCheckpoint(testKey(), 50, strings.Repeat("cd", 32), t0)
	file := "# auditor's copy\n\n" + string(a.Marshal()) + "\n  " + string(b.Marshal()) + "\n"
	cps, err := ReadCheckpoints(strings.NewReader(file))
	if err != nil || len(cps) != 2 || cps[1].Seq != 50 {
		t.Fatalf("%v %v", cps, err)
	}
	_, err = ReadCheckpoints(strings.NewReader(string(a.Marshal()) + "\nnot a checkpoint\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line: %v", err)
	}
}

func TestAppendCheckpointFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kept.jsonl")
	for range 2 {
		if err := AppendCheckpoint(p, validCheckpoint()); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.Open(p)
	defer f.Close()
	cps, err := ReadCheckpoints(f)
	if err != nil || len(cps) != 2 {
		t.Fatalf("%v %v", cps, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

// The key is created once, 0600, and concurrent first starts agree on it.
func TestLoadOrCreateKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "journal-checkpoint.key")
	var wg sync.WaitGroup
	keys := make([]ed25519.PrivateKey, 8)
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(p)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !k.Equal(keys[0]) {
			t.Fatal("concurrent first use created different keys")
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	pub, err := ParsePublicKey(validCheckpointFor(keys[0]).PublicKey)
	if err != nil || !pub.Equal(keys[0].Public()) {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if _, err := ParsePublicKey("nope"); err == nil {
		t.Error("ParsePublicKey accepted garbage")
	}
}

func validCheckpointFor(k ed25519.PrivateKey) *Checkpoint {
	return SignCheckpoint(k, 1, strings.Repeat("00", 32), t0)
}

func FuzzParseCheckpoint(f *testing.F) {
	c := validCheckpoint()
	f.Add(c.Marshal())
	f.Add(edit(c, "seq", -1))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"airlock.journal.checkpoint"`))
	pub := testKey().Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseCheckpoint(in)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to something that parses the same.
		again, err := ParseCheckpoint(got.Marshal())
		if err != nil || again.Seq != got.Seq || again.Hash != got.Hash || again.Signature != got.Signature {
			t.Fatalf("round trip of %q: %v", in, err)
		}
		// And is only valid if it is the real signed statement.
		if got.Verify(pub) == nil && (got.Seq != c.Seq || got.Hash != c.Hash || !got.Time.Equal(c.Time)) {
			t.Fatalf("forged checkpoint verified: %q", in)
		}
	})
}

func FuzzReadCheckpoints(f *testing.F) {
	f.Add(string(validCheckpoint().Marshal()) + "\n# note\n\n")
	f.Add("garbage\n")
	f.Fuzz(func(t *testing.T, in string) {
		cps, err := ReadCheckpoints(strings.NewReader(in))
		if err == nil {
			for _, c := range cps {
				if c.Seq <= 0 || len(c.Hash) != 64 {
					t.Fatalf("accepted %+v", c)
				}
			}
		}
	})
}

func BenchmarkParseCheckpoint(b *testing.B) {
	line := validCheckpoint().Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCheckpoint(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckpointVerify(b *testing.B) {
	c := validCheckpoint()
	pub := testKey().Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
}
