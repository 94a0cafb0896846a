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
	if ttl <= 0 || ttl > MaxTokenTTL {
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

// MaxTokenTTL is the longest a token of either kind stays valid.
const MaxTokenTTL = 30 * 24 * time.Hour

// CreateFleetToken makes a fleet token for a client of tenant: it enrolls
// up to uses (1..store.MaxFleetUses) new sites, each named by its runner,
// until ttl from now. It records the token's hash in s and returns the
// token (whose string carries no site).
func CreateFleetToken(ctx context.Context, s store.Store, ca *CA, address, tenant, client string, uses int, ttl time.Duration, now time.Time) (Token, error) {
	for _, n := range []string{tenant, client} {
		if !ValidName(n) {
			return Token{}, fmt.Errorf("create fleet token: name %q: %s", n, protocol.NameRule)
		}
	}
	if uses < 1 || uses > store.MaxFleetUses {
		return Token{}, fmt.Errorf("create fleet token: %d uses: allow 1-%d enrollments (--uses)", uses, store.MaxFleetUses)
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return Token{}, fmt.Errorf("create fleet token: ttl %s: use a duration between 1s and 720h", ttl)
	}
	if address == "" {
		return Token{}, errors.New("create fleet token: control plane address is empty; pass --address host:port")
	}
	t := Token{Address: address, Pin: ca.Pin(), Secret: make([]byte, protocol.TokenSecretSize), Client: client, Fleet: true, Expires: now.Add(ttl).Truncate(time.Second)}
	if _, err := rand.Read(t.Secret); err != nil {
		return Token{}, fmt.Errorf("create fleet token: %w", err)
	}
	if err := s.CreateToken(ctx, store.Token{Hash: SecretHash(t.Secret), Identity: store.Identity{Tenant: tenant, Client: client},
		Fleet: true, MaxUses: uses, CreatedAt: now, ExpiresAt: t.Expires}); err != nil {
		return Token{}, fmt.Errorf("create fleet token: %w", err)
	}
	return t, nil
}

// TokenID returns the ID of a token (store.TokenID of its secret's hash):
// what lists, logs and 'sitewarden token revoke' name it by.
func TokenID(t Token) string { return store.TokenID(SecretHash(t.Secret)) }
