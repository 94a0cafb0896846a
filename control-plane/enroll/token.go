package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// TokenPrefix starts every version-1 enrollment token.
const TokenPrefix = "swt1_"

// maxTokenLen bounds what DecodeToken reads.
const maxTokenLen = 2048

// Token is an enrollment token's content.
type Token struct {
	Address string    // control plane address, host:port
	Pin     string    // CA pin, see PinOf
	Secret  []byte    // 32 random bytes
	Client  string    // hint only
	Site    string    // hint only
	Expires time.Time // hint only; the control plane checks its own record
}

type tokenJSON struct {
	A string `json:"a"`
	P string `json:"p"`
	S string `json:"s"`
	C string `json:"c"`
	T string `json:"t"`
	E int64  `json:"e"`
}

// Encode returns the token's string form.
func (t Token) Encode() string {
	b, _ := json.Marshal(tokenJSON{A: t.Address, P: t.Pin, S: base64.RawURLEncoding.EncodeToString(t.Secret),
		C: t.Client, T: t.Site, E: t.Expires.Unix()})
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken parses a token string (surrounding space is ignored).
func DecodeToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxTokenLen {
		return Token{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedToken, len(s), maxTokenLen)
	}
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return Token{}, fmt.Errorf("%w: it must start with %q; copy the whole line 'sitewarden token create' printed", ErrMalformedToken, TokenPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return Token{}, fmt.Errorf("%w: not base64url; was it cut or wrapped when copied?", ErrMalformedToken)
	}
	var j tokenJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return Token{}, fmt.Errorf("%w: %v", ErrMalformedToken, err)
	}
	secret, err := base64.RawURLEncoding.DecodeString(j.S)
	if err != nil || len(secret) != 32 {
		return Token{}, fmt.Errorf("%w: secret is not 32 bytes", ErrMalformedToken)
	}
	if j.A == "" || !strings.HasPrefix(j.P, "sha256/") {
		return Token{}, fmt.Errorf("%w: control plane address or CA pin missing", ErrMalformedToken)
	}
	return Token{Address: j.A, Pin: j.P, Secret: secret, Client: j.C, Site: j.T, Expires: time.Unix(j.E, 0).UTC()}, nil
}

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
	t := Token{Address: address, Pin: ca.Pin(), Secret: make([]byte, 32), Client: id.Client, Site: id.Site, Expires: now.Add(ttl).Truncate(time.Second)}
	if _, err := rand.Read(t.Secret); err != nil {
		return Token{}, fmt.Errorf("create token: %w", err)
	}
	if err := s.CreateToken(ctx, store.Token{Hash: SecretHash(t.Secret), Identity: id, CreatedAt: now, ExpiresAt: t.Expires}); err != nil {
		return Token{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}
