package protocol

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every version-1 enrollment token.
const TokenPrefix = "swt1_"

// MaxTokenLen bounds what DecodeToken reads, in bytes.
const MaxTokenLen = 2048

// TokenSecretSize is the size of a token's secret in bytes.
const TokenSecretSize = 32

// Token is an enrollment token's content: what 'sitewarden token create'
// prints and 'sitewarden-runner enroll --token' reads.
//
// Encoding (version 1): TokenPrefix followed by the unpadded base64url
// encoding of a JSON object with the keys
//
//	a  control plane enrollment address, host:port (required)
//	p  pin of the control plane's CA, "sha256/" + base64url(SHA-256(SPKI)) (required)
//	s  the secret, base64url, TokenSecretSize bytes (required)
//	c  client name (hint only)
//	t  site name (hint only)
//	e  expiry, Unix seconds (hint only: the control plane checks its own record)
//	f  1 for a fleet token (added 2026-11-26; absent or 0: a one-site token)
//
// A one-site token enrolls the one site it was made for, once. A fleet
// token names a client and no site ("t" is absent): it enrolls up to a
// number of new sites of that client, each named by the runner (its
// site_name, or its host name). A runner that predates "f" sends no site
// name, and the control plane refuses it with a hint to upgrade.
//
// Unknown keys are ignored, so a later version may add keys; a change to
// the meaning of a key takes a new prefix.
type Token struct {
	Address string
	Pin     string
	Secret  []byte
	Client  string
	Site    string
	Expires time.Time
	// Fleet marks a multi-use token for a client: Site is empty and the
	// runner names the site it enrolls.
	Fleet bool
}

type tokenJSON struct {
	A string `json:"a"`
	P string `json:"p"`
	S string `json:"s"`
	C string `json:"c"`
	T string `json:"t"`
	E int64  `json:"e"`
	F int    `json:"f,omitempty"`
}

// Encode returns the token's string form.
func (t Token) Encode() string {
	// Marshal cannot fail: the struct holds only strings and an integer.
	j := tokenJSON{A: t.Address, P: t.Pin, S: base64.RawURLEncoding.EncodeToString(t.Secret),
		C: t.Client, T: t.Site, E: t.Expires.Unix()}
	if t.Fleet {
		j.F = 1
	}
	b, _ := json.Marshal(j)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken parses a token string (surrounding space is ignored). Every
// failure wraps ErrMalformedToken and says what to do next.
func DecodeToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxTokenLen {
		return Token{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedToken, len(s), MaxTokenLen)
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
		return Token{}, fmt.Errorf("%w: %v; copy the whole line 'sitewarden token create' printed", ErrMalformedToken, err)
	}
	secret, err := base64.RawURLEncoding.DecodeString(j.S)
	if err != nil || len(secret) != TokenSecretSize {
		return Token{}, fmt.Errorf("%w: secret is not %d bytes; create a new token with 'sitewarden token create'", ErrMalformedToken, TokenSecretSize)
	}
	if j.A == "" || !strings.HasPrefix(j.P, "sha256/") {
		return Token{}, fmt.Errorf("%w: control plane address or CA pin missing; create a new token with 'sitewarden token create'", ErrMalformedToken)
	}
	if j.F != 0 && j.F != 1 {
		return Token{}, fmt.Errorf("%w: kind %d is not one this runner knows; upgrade the runner", ErrMalformedToken, j.F)
	}
	if j.F == 1 && j.T != "" {
		return Token{}, fmt.Errorf("%w: a fleet token names no site; create a new one with 'sitewarden token create --fleet'", ErrMalformedToken)
	}
	return Token{Address: j.A, Pin: j.P, Secret: secret, Client: j.C, Site: j.T, Expires: time.Unix(j.E, 0).UTC(), Fleet: j.F == 1}, nil
}
