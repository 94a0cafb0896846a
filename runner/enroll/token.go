package enroll

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every version-1 enrollment token.
const TokenPrefix = "swt1_"

const maxTokenLen = 2048

// Token is an enrollment token's content.
type Token struct {
	Address string
	Pin     string
	Secret  []byte
	Client  string
	Site    string
	Expires time.Time
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
	var j struct {
		A string `json:"a"`
		P string `json:"p"`
		S string `json:"s"`
		C string `json:"c"`
		T string `json:"t"`
		E int64  `json:"e"`
	}
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
