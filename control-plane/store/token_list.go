package store

import (
	"context"
	"fmt"
	"time"
)

// MaxTokenSites bounds how many enrolled sites TokenSites returns per
// token.
const MaxTokenSites = 100

// TokenSite is one site an enrollment token enrolled.
type TokenSite struct {
	TokenID    string // TokenID of the token's hash
	Site       string
	EnrolledAt time.Time
}

// TokenSites returns the sites the client's tokens enrolled, keyed by token
// ID, newest first within a token, at most perToken (1..MaxTokenSites;
// other values mean MaxTokenSites) per token; a token's Uses says how many
// there are in all. Sites enrolled before schema version 7 are not
// recorded. The code is portable SQL run on both engines.
func (s *SQLite) TokenSites(ctx context.Context, client string, perToken int) (map[string][]TokenSite, error) {
	if err := need("list token sites", client); err != nil {
		return nil, err
	}
	if perToken <= 0 || perToken > MaxTokenSites {
		perToken = MaxTokenSites
	}
	rows, err := s.db.QueryContext(ctx, `SELECT hash, site, enrolled_at FROM (
			SELECT hash, site, enrolled_at, ROW_NUMBER() OVER (PARTITION BY hash ORDER BY enrolled_at DESC, site) AS rn
			FROM token_enrollments WHERE client = ?) ranked
		WHERE rn <= ? ORDER BY hash, enrolled_at DESC, site LIMIT ?`, client, perToken, perToken*checkLimit(0))
	if err != nil {
		return nil, fmt.Errorf("list token sites of %s: %w", client, err)
	}
	defer rows.Close()
	out := map[string][]TokenSite{}
	for rows.Next() {
		var hash string
		var at int64
		var ts TokenSite
		if err := rows.Scan(&hash, &ts.Site, &at); err != nil {
			return nil, fmt.Errorf("list token sites of %s: %w", client, err)
		}
		ts.TokenID, ts.EnrolledAt = TokenID(hash), fromNanos(at)
		out[ts.TokenID] = append(out[ts.TokenID], ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list token sites of %s: %w", client, err)
	}
	return out, nil
}
