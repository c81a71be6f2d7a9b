package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Journal configures the audit journal.
type Journal struct {
	// Retention prunes records older than this behind a checkpoint; 0 keeps
	// everything. Accepts Go durations and days, e.g. 90d.
	Retention Duration `yaml:"retention"`
	// CheckpointInterval is how often a signed checkpoint anchors the head.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// CheckpointKeyFile holds the Ed25519 checkpoint signing key, created
	// on first use. Default: journal-checkpoint.key beside the store.
	CheckpointKeyFile string `yaml:"checkpoint_key_file"`
	// DigestKeyFile holds the HMAC key of the digests of unmasked
	// arguments (arguments_digest, approval binding), created on first
	// use. Default: journal-digest.key beside the store. Gateways sharing
	// a store must share this file.
	DigestKeyFile string `yaml:"digest_key_file"`
	// MaxRecordBytes caps one record; larger results are cut with an
	// explicit marker.
	MaxRecordBytes int `yaml:"max_record_bytes"`
}

// Journal defaults.
const (
	DefaultCheckpointInterval = Duration(5 * time.Minute)
	DefaultMaxRecordBytes     = 256 << 10
)

// Duration is a time.Duration that also accepts a whole number of days
// ("90d").
type Duration time.Duration

// ParseDuration parses a Go duration or N days ("90d").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 15m, 12h or 90d)", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (j *Journal) setDefaults(c *Config) {
	if j.CheckpointInterval == 0 {
		j.CheckpointInterval = DefaultCheckpointInterval
	}
	if j.CheckpointKeyFile == "" {
		j.CheckpointKeyFile = "journal-checkpoint.key"
		if c.StoreDir() != "" {
			j.CheckpointKeyFile = filepath.Join(c.StoreDir(), "journal-checkpoint.key")
		}
	}
	j.CheckpointKeyFile = c.Resolve(j.CheckpointKeyFile)
	if j.DigestKeyFile == "" {
		j.DigestKeyFile = "journal-digest.key"
		if c.StoreDir() != "" {
			j.DigestKeyFile = filepath.Join(c.StoreDir(), "journal-digest.key")
		}
	}
	j.DigestKeyFile = c.Resolve(j.DigestKeyFile)
	if j.MaxRecordBytes == 0 {
		j.MaxRecordBytes = DefaultMaxRecordBytes
	}
}

func (j *Journal) validate() error {
	if j.Retention < 0 {
		return invalid("journal.retention", "must be positive")
	}
	if j.Retention != 0 && j.Retention.Std() < time.Hour {
		return invalid("journal.retention", "must be at least 1h (or 0 to keep everything)")
	}
	if j.CheckpointInterval.Std() < time.Second {
		return invalid("journal.checkpoint_interval", "must be at least 1s")
	}
	if j.MaxRecordBytes < 4096 {
		return invalid("journal.max_record_bytes", "must be at least 4096")
	}
	return nil
}
