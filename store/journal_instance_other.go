//go:build !unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// Instance marks a running gateway. Without flock, an instance counts as
// alive while its file exists: a gateway that crashed stays "alive", so its
// open calls are not closed as unknown automatically on this platform.
type Instance struct {
	ID   string
	path string
	// release, when set, is the whole of Release (a PostgreSQL instance).
	release func() error
}

func (s *SQLite) instanceDir() string { return s.path + ".instances" }

// AcquireInstance registers this process as a live writer of the journal.
func (s *SQLite) AcquireInstance() (*Instance, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("store: instance id: %w", err)
	}
	if err := os.MkdirAll(s.instanceDir(), 0o700); err != nil {
		return nil, fmt.Errorf("store: instance: %w", err)
	}
	p := filepath.Join(s.instanceDir(), id.String()+".lock")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return nil, fmt.Errorf("store: instance: %w", err)
	}
	return &Instance{ID: id.String(), path: p}, nil
}

// Release marks the instance as gone.
func (i *Instance) Release() error {
	if i != nil && i.release != nil {
		r := i.release
		i.release = nil
		return r()
	}
	if i == nil || i.path == "" {
		return nil
	}
	err := os.Remove(i.path)
	i.path = ""
	return err
}

// InstanceAlive reports whether the instance's file still exists.
func (s *SQLite) InstanceAlive(id string) (bool, error) {
	if len(id) != 36 {
		return false, nil
	}
	_, err := os.Stat(filepath.Join(s.instanceDir(), filepath.Base(id)+".lock"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
