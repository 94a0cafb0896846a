package store

import (
	"context"
	"time"
)

// User is a local account. PasswordHash is an argon2id hash in its encoded
// form (empty until the account is set up); SetupHash is the SHA-256 (hex)
// of a one-time setup secret, empty once used.
type User struct {
	Name         string
	Role         string
	Client       string
	PasswordHash string
	SetupHash    string
	SetupExpires time.Time
	Disabled     bool
	CreatedAt    time.Time
}

// Session is a server-side login session, kept by the SHA-256 (hex) of its
// cookie secret.
type Session struct {
	Hash      string
	User      string
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIToken is a CLI token, kept by the SHA-256 (hex) of its secret. ID is a
// public handle to list and revoke it.
type APIToken struct {
	ID        string
	Hash      string
	User      string
	Name      string
	CreatedAt time.Time
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time
}

// EscalationState is what supervisors did with one escalation.
type EscalationState struct {
	Client     string
	ID         string
	ClaimedBy  string
	ClaimedAt  time.Time
	ResolvedBy string
	ResolvedAt time.Time
	Note       string
}

// People keeps accounts, sessions, API tokens and escalation states. It is
// part of Store; the same rules apply (ErrInvalid, ErrNotFound).
type People interface {
	// CreateUser adds an account; ErrConflict when the name exists.
	CreateUser(ctx context.Context, u User) error
	// UpdateUser replaces an account's role, client, hashes and disabled flag.
	UpdateUser(ctx context.Context, u User) error
	// User returns one account.
	User(ctx context.Context, name string) (User, error)
	// Users lists accounts ordered by name, at most limit after offset.
	Users(ctx context.Context, offset, limit int) ([]User, error)
	// CountUsers returns how many accounts exist.
	CountUsers(ctx context.Context) (int, error)

	// CreateSession stores a session; ErrConflict when the hash exists.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with this hash if it expires after now:
	// an expired one is ErrNotFound.
	Session(ctx context.Context, hash string, now time.Time) (Session, error)
	// DeleteSession removes a session (no error when absent).
	DeleteSession(ctx context.Context, hash string) error
	// DeleteExpiredSessions removes sessions whose expiry is not after now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// CreateAPIToken stores a token; ErrConflict when its id or hash exists.
	CreateAPIToken(ctx context.Context, t APIToken) error
	// APITokenByHash returns the token with this hash.
	APITokenByHash(ctx context.Context, hash string) (APIToken, error)
	// APITokens lists a user's tokens (all users' when user is empty) by id.
	APITokens(ctx context.Context, user string) ([]APIToken, error)
	// DeleteAPIToken revokes a token; ErrNotFound when absent.
	DeleteAPIToken(ctx context.Context, id string) error

	// ClaimEscalation records that user took an escalation. Claiming again
	// by the same user changes nothing; ErrConflict when another user holds
	// it or it is resolved.
	ClaimEscalation(ctx context.Context, client, id, user string, now time.Time) error
	// ResolveEscalation closes an escalation with a note; ErrConflict when it
	// is resolved already or claimed by another user.
	ResolveEscalation(ctx context.Context, client, id, user, note string, now time.Time) error
	// EscalationState returns an escalation's state; the zero state (with
	// Client and ID set) when nobody acted on it yet.
	EscalationState(ctx context.Context, client, id string) (EscalationState, error)

	// ItemsPage lists at most limit items of one kind and client after
	// skipping offset, oldest first.
	ItemsPage(ctx context.Context, kind Kind, client string, offset, limit int) ([]Item, error)
	// Item returns one item by its key.
	Item(ctx context.Context, kind Kind, client, id string) (Item, error)
	// Goal returns one goal by client and id.
	Goal(ctx context.Context, client, id string) (Goal, error)
	// Decision returns the decision for an approval.
	Decision(ctx context.Context, client, approvalID string) (Decision, error)
}
