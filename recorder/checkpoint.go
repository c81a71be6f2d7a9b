package recorder

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// CheckpointType names a checkpoint document.
const CheckpointType = "airlock.journal.checkpoint"

// Checkpoint is a signed statement that the journal's record at Seq had
// hash Hash at Time. It anchors the chain: records at or before Seq cannot
// be edited, removed or reordered, nor the tail cut short of Seq, without
// the verifier noticing — provided the auditor keeps a copy elsewhere
// (`airlock journal checkpoint --append-to FILE`).
type Checkpoint struct {
	Type string    `json:"type"`
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	// Holes counts the seqs at or before Seq whose records are gone
	// without a retention record for them — deletions an operator
	// acknowledged (`airlock journal acknowledge`); 0 in an intact
	// journal. With it, the records at or before a checkpoint can be
	// counted cheaply: a lower count means records were deleted since.
	Holes     int64  `json:"holes,omitempty"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"` // base64 (std) Ed25519 public key
	Signature string `json:"signature"`  // base64 (std) Ed25519 signature of message()
}

// message is what is signed: fixed, line-based, independent of JSON.
func (c *Checkpoint) message() []byte {
	m := fmt.Appendf(nil, "%s\nseq %d\nhash %s\ntime %s\nkey %s\n",
		CheckpointType, c.Seq, c.Hash, c.Time.UTC().Format(time.RFC3339Nano), c.KeyID)
	if c.Holes != 0 {
		m = fmt.Appendf(m, "holes %d\n", c.Holes)
	}
	return m
}

// KeyID names a public key: the first 16 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// SignCheckpoint signs (seq, hash, t) with key, for a journal without
// holes.
func SignCheckpoint(key ed25519.PrivateKey, seq int64, hash string, t time.Time) *Checkpoint {
	return signCheckpoint(key, seq, hash, 0, t)
}

func signCheckpoint(key ed25519.PrivateKey, seq int64, hash string, holes int64, t time.Time) *Checkpoint {
	pub := key.Public().(ed25519.PublicKey)
	c := &Checkpoint{Type: CheckpointType, Seq: seq, Hash: hash, Holes: holes, Time: t.UTC(), KeyID: KeyID(pub),
		PublicKey: base64.StdEncoding.EncodeToString(pub)}
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, c.message()))
	return c
}

// Marshal returns the checkpoint as one JSON line (no newline).
func (c *Checkpoint) Marshal() []byte {
	b, _ := json.Marshal(c)
	return b
}

// Checkpoint errors.
var (
	ErrCheckpointSyntax    = errors.New("checkpoint: malformed")
	ErrCheckpointSignature = errors.New("checkpoint: bad signature")
	ErrCheckpointKey       = errors.New("checkpoint: signed by an untrusted key")
)

// ParseCheckpoint parses one checkpoint line strictly: known fields only,
// a 64-hex hash, a positive seq, a 32-byte key whose id matches, and a
// 64-byte signature. It does not check the signature; Verify does.
func ParseCheckpoint(line []byte) (*Checkpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var c Checkpoint
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpointSyntax, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrCheckpointSyntax)
	}
	bad := func(what string) (*Checkpoint, error) { return nil, fmt.Errorf("%w: %s", ErrCheckpointSyntax, what) }
	if c.Type != CheckpointType {
		return bad(fmt.Sprintf("type %q, want %q", c.Type, CheckpointType))
	}
	if c.Seq <= 0 {
		return bad("seq must be positive")
	}
	if !isHexHash(c.Hash) {
		return bad("hash must be 64 lowercase hex digits")
	}
	if c.Time.IsZero() {
		return bad("time is missing")
	}
	if c.Holes < 0 || c.Holes >= c.Seq {
		return bad("holes must be between 0 and seq-1")
	}
	pub, err := base64.StdEncoding.DecodeString(c.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return bad("public_key must be a base64 Ed25519 public key")
	}
	if c.KeyID != KeyID(pub) {
		return bad("key_id does not match public_key")
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return bad("signature must be a base64 Ed25519 signature")
	}
	return &c, nil
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// Verify checks the signature, and that the signer is trusted (trusted
// nil: any key, i.e. only self-consistency).
func (c *Checkpoint) Verify(trusted ed25519.PublicKey) error {
	pub, err := base64.StdEncoding.DecodeString(c.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return ErrCheckpointSyntax
	}
	if trusted != nil && !bytes.Equal(pub, trusted) {
		return fmt.Errorf("%w (key %s, trusted %s)", ErrCheckpointKey, c.KeyID, KeyID(trusted))
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.message(), sig) {
		return ErrCheckpointSignature
	}
	return nil
}

// ReadCheckpoints reads a checkpoint file: one JSON checkpoint per line;
// blank lines and lines starting with # are skipped. A malformed line is an
// error naming its line number.
func ReadCheckpoints(r io.Reader) ([]*Checkpoint, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var out []*Checkpoint
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		c, err := ParseCheckpoint(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	return out, nil
}

// AppendCheckpoint appends c as one line to the file at path (created
// 0600), and fsyncs it.
func AppendCheckpoint(path string, c *Checkpoint) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint file: %w", err)
	}
	_, werr := f.Write(append(c.Marshal(), '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("checkpoint file: %w", err)
	}
	return nil
}

// LoadOrCreateKey reads the Ed25519 checkpoint key at path (PKCS#8 PEM),
// creating it (0600) on first use. Creation is atomic: concurrent first
// starts agree on one key.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	k, err := LoadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	if err := createKeyFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return LoadKey(path)
}

// LoadKey reads an existing checkpoint key.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("checkpoint key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("checkpoint key %s: not an Ed25519 key", path)
	}
	return priv, nil
}

// ParsePublicKey accepts an Ed25519 public key as base64 (the public_key
// of a checkpoint), or PEM ("PUBLIC KEY").
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("public key: not Ed25519")
		}
		return pub, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("public key: want base64 of 32 bytes, or a PEM public key")
	}
	return ed25519.PublicKey(b), nil
}

// checkpointLabel names a checkpoint in messages.
func checkpointLabel(c *Checkpoint) string {
	return "checkpoint of " + c.Time.UTC().Format(time.RFC3339) + " (seq " + strconv.FormatInt(c.Seq, 10) + ")"
}
