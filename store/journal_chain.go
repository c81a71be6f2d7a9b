package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// GenesisHash is the prev_hash of the first entry of a journal.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// chainDomain separates journal hashes from any other SHA-256 use.
const chainDomain = "airlock/journal/v1\x00"

// ChainHash returns the hex SHA-256 of e's canonical encoding: the domain
// string, then seq (8 bytes big-endian), prev_hash, call_id, type (each as
// an 8-byte big-endian length and the bytes), time as Unix seconds and
// nanoseconds (8 + 4 bytes big-endian, UTC), and the data bytes exactly as
// stored, length-prefixed. Every stored column is covered, so editing any of
// them, or moving the entry to another seq, changes the hash.
func ChainHash(e *Entry) string {
	h := sha256.New()
	var buf [12]byte
	h.Write([]byte(chainDomain))
	binary.BigEndian.PutUint64(buf[:8], uint64(e.Seq))
	h.Write(buf[:8])
	writeField(h, []byte(e.PrevHash))
	writeField(h, []byte(e.CallID))
	writeField(h, []byte(e.Type))
	t := e.Time.UTC()
	binary.BigEndian.PutUint64(buf[:8], uint64(t.Unix()))
	binary.BigEndian.PutUint32(buf[8:], uint32(t.Nanosecond()))
	h.Write(buf[:12])
	writeField(h, e.Data)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
