package store

import (
	"context"
	"time"
)

// Identity names a site: the tenant (MSP), the client and the site. The
// control plane takes it from a runner's certificate, never from a message.
type Identity struct {
	Tenant string
	Client string
	Site   string
}

// Site is one enrolled runner installation.
type Site struct {
	Identity
	// CertSerial is the serial number (hex) of the newest certificate issued.
	CertSerial    string
	CertNotAfter  time.Time
	EnrolledAt    time.Time
	LastSeen      time.Time
	RunnerVersion string
	// Health is the last Health message the site sent, protobuf-encoded.
	Health []byte
	// AuditKey is the site's audit log public key (ed25519, 32 bytes), sent
	// at enrollment; the control plane verifies the site's checkpoint
	// signatures with it. Empty for a site enrolled without one.
	AuditKey []byte
}

// Token is an enrollment token as the control plane keeps it: only the
// SHA-256 of its secret (hex), never the secret itself. A one-site token
// names its site and works once; a fleet token (Fleet) names no site
// (Identity.Site is empty) and enrolls up to MaxUses new sites of its
// client (fleet.go).
type Token struct {
	Hash string
	Identity
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is zero until the token is consumed (a fleet token: its
	// latest enrollment).
	UsedAt time.Time
	// Fleet marks a multi-use token for a client.
	Fleet bool
	// MaxUses bounds a fleet token's enrollments (a one-site token: 1);
	// Uses counts them.
	MaxUses, Uses int
	// RevokedAt is zero unless the token was revoked.
	RevokedAt time.Time
}

// ScopeVersion is one signed scope bundle of a client.
type ScopeVersion struct {
	Client  string
	Version uint64
	// Bundle is the protobuf encoding of the signed ScopeBundle.
	Bundle    []byte
	CreatedAt time.Time
}

// Goal is a goal assigned to one site. Cursor is assigned by the store on
// insert and grows with every goal of the store, so it orders a site's goals.
type Goal struct {
	Client  string
	Site    string
	ID      string
	Cursor  uint64
	Payload []byte
}

// Kind names what an upstream item is.
type Kind string

// Item kinds a site sends up.
const (
	KindEscalation      Kind = "escalation"
	KindApprovalRequest Kind = "approval_request"
	KindOutcome         Kind = "outcome"
)

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool {
	return k == KindEscalation || k == KindApprovalRequest || k == KindOutcome
}

// Item is an escalation, approval request or outcome received from a site.
// (Kind, Client, ID) is its stable key: a second write of the same key is
// not applied.
type Item struct {
	Kind       Kind
	Client     string
	Site       string
	ID         string
	Payload    []byte
	ReceivedAt time.Time
}

// Decision is a supervisor's approval decision for one site. Cursor is
// assigned by the store on insert.
type Decision struct {
	Client     string
	Site       string
	ApprovalID string
	Cursor     uint64
	Payload    []byte
}

// Checkpoint is a site's audit checkpoint as the control plane witnessed it.
type Checkpoint struct {
	Client string
	Site   string
	Size   uint64
	Root   []byte
	// Note is the site's signed checkpoint note; Cosigned the same note with
	// the control plane's signature line added.
	Note        []byte
	Cosigned    []byte
	WitnessedAt time.Time
}

// Store is the control plane's state. All methods are safe for concurrent
// use; every key naming a client or site must be non-empty (ErrInvalid).
// Single-row reads return ErrNotFound when nothing matches.
type Store interface {
	// UpsertSite records an enrolled site or replaces its certificate fields
	// (and its audit key when s.AuditKey is not empty: a renewal that sends
	// none keeps the one held).
	UpsertSite(ctx context.Context, s Site) error
	// Site returns one site.
	Site(ctx context.Context, client, site string) (Site, error)
	// Sites lists a client's sites ordered by site name.
	Sites(ctx context.Context, client string) ([]Site, error)
	// TouchSite records that a site was seen, with its runner version and
	// health; ErrNotFound when the site is not enrolled.
	TouchSite(ctx context.Context, id Identity, seen time.Time, runnerVersion string, health []byte) error

	// CreateToken stores a new enrollment token; ErrConflict if the hash exists.
	CreateToken(ctx context.Context, t Token) error
	// ConsumeToken marks the one-site token with this hash used at now and
	// returns it, atomically: of two concurrent calls one wins, the other
	// gets ErrTokenUsed. An unknown hash is ErrNotFound, a token whose
	// expiry is not after now is ErrTokenExpired and a revoked one
	// ErrTokenRevoked (both stay unused); a fleet token is ErrInvalid (it
	// enrolls with EnrollFleetSite). It records the enrollment, which
	// SiteTokens lists.
	ConsumeToken(ctx context.Context, hash string, now time.Time) (Token, error)
	// FleetTokens: fleet tokens, revocation and the token list.
	FleetTokens

	// PutScope stores a client's scope version; ErrConflict unless it is
	// newer than every stored version of that client.
	PutScope(ctx context.Context, v ScopeVersion) error
	// LatestScope returns a client's newest scope version.
	LatestScope(ctx context.Context, client string) (ScopeVersion, error)

	// AddGoal stores a goal for a site and returns its cursor. Adding a goal
	// whose (client, id) exists returns the existing cursor and changes nothing.
	AddGoal(ctx context.Context, g Goal) (uint64, error)
	// GoalsAfter returns at most limit goals of the site with a cursor
	// greater than after, in cursor order.
	GoalsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]Goal, error)

	// PutItem stores an upstream item durably. applied is false when an item
	// with the same (kind, client, id) was already stored: nothing changes.
	PutItem(ctx context.Context, it Item) (applied bool, err error)
	// Items lists at most limit items of one kind and client, oldest first.
	Items(ctx context.Context, kind Kind, client string, limit int) ([]Item, error)

	// AddDecision stores an approval decision and returns its cursor; a
	// second decision for the same (client, approval id) returns the first's
	// cursor and changes nothing.
	AddDecision(ctx context.Context, d Decision) (uint64, error)
	// DecisionsAfter returns at most limit decisions of the site with a
	// cursor greater than after, in cursor order.
	DecisionsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]Decision, error)

	// LatestCheckpoint returns the largest checkpoint witnessed for a site.
	LatestCheckpoint(ctx context.Context, client, site string) (Checkpoint, error)
	// PutCheckpoint stores a witnessed checkpoint. ErrConflict when its size
	// is smaller than the latest one's, or equal with a different root.
	PutCheckpoint(ctx context.Context, c Checkpoint) error
	// AppendAudit mirrors consecutive audit records starting at index first.
	// A record already held at the same index with the same bytes is
	// skipped; different bytes are ErrConflict and nothing is written. A gap
	// after the last held index is ErrConflict.
	AppendAudit(ctx context.Context, client, site string, first uint64, records [][]byte) error
	// AuditRecords returns at most limit mirrored records from index from on.
	AuditRecords(ctx context.Context, client, site string, from uint64, limit int) ([][]byte, error)
	// AuditSize returns how many records are mirrored for a site.
	AuditSize(ctx context.Context, client, site string) (uint64, error)

	People

	// Close releases the store.
	Close() error
}
