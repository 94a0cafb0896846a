package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 holds argon2id parameters. Memory is in KiB.
type Argon2 struct {
	Memory  uint32
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane).
func DefaultArgon2() Argon2 { return Argon2{Memory: 19 * 1024, Time: 2, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
	// MinPasswordLen is the shortest password accepted.
	MinPasswordLen = 12
	maxPasswordLen = 1024
)

var errHashFormat = errors.New("password hash is not an argon2id PHC string")

// HashPassword returns the argon2id hash of password in PHC form
// ($argon2id$v=19$m=...,t=...,p=...$salt$key).
func HashPassword(p Argon2, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC hash, in
// constant time. Parameters are taken from the hash.
func VerifyPassword(hash, password string) (bool, error) {
	p, salt, want, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parsePHC decodes an argon2id PHC string. It bounds the parameters (at
// most 256 MiB, 16 passes, 16 lanes, 64-byte salt, 128-byte key) so a
// corrupt row cannot make a login allocate without limit.
func parsePHC(hash string) (p Argon2, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Argon2{}, nil, nil, errHashFormat
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version || parts[2] != fmt.Sprintf("v=%d", v) {
		return Argon2{}, nil, nil, errHashFormat
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads) {
		return Argon2{}, nil, nil, errHashFormat
	}
	if p.Memory < 8 || p.Memory > 256<<10 || p.Time == 0 || p.Time > 16 || p.Threads == 0 || p.Threads > 16 {
		return Argon2{}, nil, nil, errHashFormat
	}
	enc := base64.RawStdEncoding.Strict()
	// base64 skips CR and LF; only the canonical encoding is accepted.
	if salt, err = enc.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 || b64(salt) != parts[4] {
		return Argon2{}, nil, nil, errHashFormat
	}
	if key, err = enc.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 || b64(key) != parts[5] {
		return Argon2{}, nil, nil, errHashFormat
	}
	return p, salt, key, nil
}

func checkPassword(password string) error {
	if len(password) < MinPasswordLen || len(password) > maxPasswordLen {
		return ErrWeakPassword
	}
	return nil
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }
