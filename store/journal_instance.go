//go:build unix

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/google/uuid"
)

// Instance marks one running gateway process as alive for as long as it
// holds an exclusive flock on a file beside the store. The kernel drops the
// lock when the process dies, however it dies, so a peer sharing the store
// can tell a call left "started" by a dead gateway from one still running
// in a live one.
type Instance struct {
	ID   string
	path string
	f    *os.File
	// release, when set, is the whole of Release (a PostgreSQL instance).
	release func() error
}

var instanceID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

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
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: instance: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("store: instance lock: %w", err)
	}
	return &Instance{ID: id.String(), path: p, f: f}, nil
}

var errLocked = errors.New("locked")

// lockFile takes an exclusive flock without waiting; errLocked if another
// open file holds it.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

// Release marks the instance as gone.
func (i *Instance) Release() error {
	if i != nil && i.release != nil {
		r := i.release
		i.release = nil
		return r()
	}
	if i == nil || i.f == nil {
		return nil
	}
	err := errors.Join(os.Remove(i.path), i.f.Close())
	i.f = nil
	return err
}

// InstanceAlive reports whether the gateway instance id still runs. An
// instance that released its lock, died, or never registered (including
// ids that are not instance ids at all) is not alive.
func (s *SQLite) InstanceAlive(id string) (bool, error) {
	if !instanceID.MatchString(id) {
		return false, nil
	}
	p := filepath.Join(s.instanceDir(), id+".lock")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: instance %s: %w", id, err)
	}
	defer f.Close()
	err = lockFile(f)
	if errors.Is(err, errLocked) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: instance %s: %w", id, err)
	}
	// We got the lock: its owner is gone. Tidy up its file.
	os.Remove(p)
	return false, nil
}
