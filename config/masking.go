package config

import (
	"errors"
	"strings"

	"github.com/airlockhq/airlock/masking"
)

// Masking is the masking section: detectors per entity, column rules and
// JSON-key rules (see masking.Config), plus the key for the hash operator.
type Masking struct {
	masking.Config `yaml:",inline"`
	// HashKey is the HMAC key (at least 16 bytes) for the hash operator,
	// by reference.
	HashKey *SecretRef `yaml:"hash_key"`
}

// Token budget defaults.
const (
	DefaultMaxResultTokens = 8000
	DefaultTokenEncoding   = masking.DefaultEncoding
)

func (m *Masking) validate() error {
	if err := m.HashKey.check("masking.hash_key"); err != nil {
		return err
	}
	if err := m.Config.Validate(); err != nil {
		// Each problem names its field relative to the section.
		var fe *masking.FieldError
		if errors.As(err, &fe) {
			return invalid("masking."+fe.Field, "%s", fe.Msg)
		}
		return invalid("masking", "%s", strings.TrimSpace(err.Error()))
	}
	return nil
}

// MaskingEngine builds the masking engine, resolving the hash key.
func (c *Config) MaskingEngine() (*masking.Engine, error) {
	mc := c.Masking.Config
	if c.Masking.HashKey != nil {
		k, err := c.Masking.HashKey.Resolve()
		if err != nil {
			return nil, errors.New("masking.hash_key: " + err.Error())
		}
		mc.HashKey = k
	}
	e, err := masking.New(mc)
	if err != nil {
		return nil, errors.New("masking: " + err.Error())
	}
	return e, nil
}

// ResultTokens is the token budget of a call on connection.
func (c *Config) ResultTokens(connection string) int {
	if conn := c.Connections[connection]; conn != nil && conn.MaxResultTokens > 0 {
		return conn.MaxResultTokens
	}
	return c.Limits.MaxResultTokens
}
