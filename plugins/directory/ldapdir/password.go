package ldapdir

import (
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
)

// Character classes of generated passwords. Symbols avoid quotes, backslash
// and space so that the value survives shells, LDIF and AD's quoted unicodePwd.
const (
	lowerChars  = "abcdefghijkmnopqrstuvwxyz" // no l
	upperChars  = "ABCDEFGHJKLMNPQRSTUVWXYZ"  // no I, O
	digitChars  = "23456789"                  // no 0, 1
	symbolChars = "!#%+-=?@_*"
	allChars    = lowerChars + upperChars + digitChars + symbolChars
)

// maxPasswordAttempts bounds generation; a 16-character draw misses a class
// with probability < 0.02, so 64 attempts never run out in practice.
const maxPasswordAttempts = 64

var errPasswordGeneration = errors.New("could not generate a password")

// generatePassword draws n characters uniformly from allChars with
// crypto/rand until every class is present (AD complexity needs three of four).
// About 6.1 bits per character: 16 characters carry over 97 bits.
func generatePassword(n int) (string, error) {
	if n < MinPasswordLength || n > MaxPasswordLength {
		return "", errPasswordGeneration
	}
	limit := big.NewInt(int64(len(allChars)))
	for range maxPasswordAttempts {
		b := make([]byte, n)
		for i := range b {
			k, err := rand.Int(rand.Reader, limit)
			if err != nil {
				return "", errPasswordGeneration
			}
			b[i] = allChars[k.Int64()]
		}
		pw := string(b)
		if strings.ContainsAny(pw, lowerChars) && strings.ContainsAny(pw, upperChars) &&
			strings.ContainsAny(pw, digitChars) && strings.ContainsAny(pw, symbolChars) {
			return pw, nil
		}
	}
	return "", errPasswordGeneration
}
