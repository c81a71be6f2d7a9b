package recorder

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// DigestKey is the HMAC-SHA256 key of the digests that cover unmasked
// data: a record's arguments_digest and the digest a per-call approval is
// bound to. A plain hash of unmasked arguments would let anyone holding
// the journal or an export recover a masked value by guessing (an SSN has
// 10^9 candidates); under a key the gateway keeps, the digests still say
// "these two calls had identical arguments" and nothing more.
//
// The key lives beside the checkpoint key (journal.digest_key_file), is
// created on first use, and is never logged, exported or journaled: its
// String and GoString print a placeholder.
type DigestKey struct {
	k []byte
	// macs holds HMAC states keyed with k, reset between uses: keying a
	// fresh HMAC costs two SHA-256 blocks and five allocations per digest.
	macs *sync.Pool
}

// digestMAC is one pooled HMAC state with room for a digest and a length
// prefix, so a Sum allocates only its hex string.
type digestMAC struct {
	h   hash.Hash
	buf [sha256.Size]byte
	num [20]byte
}

func newDigestKey(k []byte) DigestKey {
	return DigestKey{k: k, macs: &sync.Pool{New: func() any { return &digestMAC{h: hmac.New(sha256.New, k)} }}}
}

// digestKeySize is the size of a generated key; loaded keys must be at
// least minDigestKey bytes.
const (
	digestKeySize = 32
	minDigestKey  = 16
	digestPEMType = "AIRLOCK DIGEST KEY"
)

// NewDigestKey wraps raw key bytes (at least 16).
func NewDigestKey(k []byte) (DigestKey, error) {
	if len(k) < minDigestKey {
		return DigestKey{}, fmt.Errorf("digest key: %d bytes, want at least %d", len(k), minDigestKey)
	}
	return newDigestKey(append([]byte(nil), k...)), nil
}

// RandomDigestKey returns a fresh key that no other process shares
// (tests, and pipelines built without a store).
func RandomDigestKey() DigestKey {
	k := make([]byte, digestKeySize)
	rand.Read(k)
	return newDigestKey(k)
}

// IsZero reports whether the key is unset.
func (d DigestKey) IsZero() bool { return len(d.k) == 0 }

// String never shows the key.
func (DigestKey) String() string { return "[digest key]" }

// GoString never shows the key.
func (DigestKey) GoString() string { return "recorder.DigestKey{[redacted]}" }

// Sum returns the hex HMAC-SHA256 of the parts under the key. Each part
// is length-prefixed, so ("ab","c") and ("a","bc") differ; the first part
// should name the purpose ("arguments", "call") so digests made for one
// purpose never equal digests made for another. Sum panics on a zero key:
// an unkeyed digest of unmasked data must never be written.
func (d DigestKey) Sum(parts ...[]byte) string {
	if len(d.k) == 0 {
		panic("recorder: DigestKey.Sum with no key")
	}
	m := d.macs.Get().(*digestMAC)
	defer d.macs.Put(m)
	m.h.Reset()
	for _, p := range parts {
		m.h.Write(strconv.AppendInt(m.num[:0], int64(len(p)), 10))
		m.h.Write(colon)
		m.h.Write(p)
	}
	return hex.EncodeToString(m.h.Sum(m.buf[:0]))
}

var colon = []byte{':'}

// LoadOrCreateDigestKey reads the digest key at path (PEM, type AIRLOCK
// DIGEST KEY), creating it (0600) on first use. Creation is atomic:
// gateways that share a store folder and start together agree on one key,
// so an approval asked for on one binds the same call on the other.
func LoadOrCreateDigestKey(path string) (DigestKey, error) {
	k, err := LoadDigestKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	raw := make([]byte, digestKeySize)
	if _, err := rand.Read(raw); err != nil {
		return DigestKey{}, fmt.Errorf("digest key: %w", err)
	}
	if err := createKeyFile(path, pem.EncodeToMemory(&pem.Block{Type: digestPEMType, Bytes: raw})); err != nil {
		return DigestKey{}, fmt.Errorf("digest key: %w", err)
	}
	return LoadDigestKey(path)
}

// LoadDigestKey reads an existing digest key.
func LoadDigestKey(path string) (DigestKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return DigestKey{}, fmt.Errorf("digest key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != digestPEMType {
		return DigestKey{}, fmt.Errorf("digest key %s: not a PEM %q block", path, digestPEMType)
	}
	k, err := NewDigestKey(blk.Bytes)
	if err != nil {
		return DigestKey{}, fmt.Errorf("digest key %s: %w", path, err)
	}
	return k, nil
}

// createKeyFile writes data to path (0600) unless path exists: written to
// a temporary file, synced, then linked into place, so a concurrent
// creator either wins or adopts the other's file.
func createKeyFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".airlock-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	// Link fails if another process created the key first: use theirs.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
