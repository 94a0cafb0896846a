package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
)

// Token is an enrollment token's content; its string format lives in
// protocol (protocol.Token), shared with the runner.
type Token = protocol.Token

// DecodeToken parses a token string; see protocol.DecodeToken.
func DecodeToken(s string) (Token, error) { return protocol.DecodeToken(s) }

// SecretHash returns the hex SHA-256 of a token secret: what the store keeps.
func SecretHash(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a one-time token for id, valid for ttl from now, records
// its hash in s and returns the token.
func CreateToken(ctx context.Context, s store.Store, ca *CA, address string, id store.Identity, ttl time.Duration, now time.Time) (Token, error) {
	if err := checkName(id); err != nil {
		return Token{}, fmt.Errorf("create token: %w", err)
	}
	if ttl <= 0 || ttl > 30*24*time.Hour {
		return Token{}, fmt.Errorf("create token: ttl %s: use a duration between 1s and 720h", ttl)
	}
	if address == "" {
		return Token{}, errors.New("create token: control plane address is empty; pass --address host:port")
	}
	t := Token{Address: address, Pin: ca.Pin(), Secret: make([]byte, protocol.TokenSecretSize), Client: id.Client, Site: id.Site, Expires: now.Add(ttl).Truncate(time.Second)}
	if _, err := rand.Read(t.Secret); err != nil {
		return Token{}, fmt.Errorf("create token: %w", err)
	}
	if err := s.CreateToken(ctx, store.Token{Hash: SecretHash(t.Secret), Identity: id, CreatedAt: now, ExpiresAt: t.Expires}); err != nil {
		return Token{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}
