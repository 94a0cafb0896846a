package enroll

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// AuditKeyFile holds the site's audit log signing key in the state
// directory: the 32-byte ed25519 seed, raw, mode 0600. The runner signs its
// audit checkpoints with it; the public half goes to the control plane at
// enrollment, which verifies every checkpoint with it. The key never leaves
// the site, and a new key cannot sign the existing log: back it up with the
// state directory.
const AuditKeyFile = "audit.key"

// LoadOrCreateAuditKey returns the site's audit signing key from dir,
// creating dir and the key (mode 0600) when there is none. Concurrent
// callers get the same key: the file appears whole and exclusively, and a
// caller that loses the race loads the winner's key.
func LoadOrCreateAuditKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, AuditKeyFile)
	key, err := loadAuditKey(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit key: state directory: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("audit key: generate: %w", err)
	}
	tmp, err := os.CreateTemp(dir, AuditKeyFile+".tmp-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(seed); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("audit key: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("audit key: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("audit key: write %s: %w", tmp.Name(), err)
	}
	// Link, not rename: it fails when another caller created the key first,
	// and readers never see a partly written file.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return loadAuditKey(path)
		}
		return nil, fmt.Errorf("audit key: create %s: %w", path, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// loadAuditKey reads the key at path; an error wrapping os.ErrNotExist
// means there is none.
func loadAuditKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("audit key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if err := checkKeyMode(path, fi); err != nil {
		return nil, err
	}
	seed, err := io.ReadAll(io.LimitReader(f, ed25519.SeedSize+1))
	if err != nil {
		return nil, fmt.Errorf("audit key: read %s: %w", path, err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: %s is not a %d-byte ed25519 seed; restore it from backup (a new key cannot sign the existing log)",
			ErrBadAuditKey, path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
