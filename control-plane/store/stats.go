package store

import (
	"context"
	"time"
)

// Goal statuses the statistics count: "assigned" until an outcome arrives,
// then the outcome's status in lower case without its prefix.
const (
	StatusAssigned         = "assigned"
	StatusResolved         = "resolved"
	StatusEscalated        = "escalated"
	StatusDenied           = "denied"
	StatusAwaitingApproval = "awaiting_approval"
	StatusFailed           = "failed"
)

// Escalation states as supervisors see them.
const (
	StateOpen     = "open"
	StateClaimed  = "claimed"
	StateResolved = "resolved"
)

// GroupBy names what goal counts are grouped by.
type GroupBy string

// Goal count groupings.
const (
	ByDay      GroupBy = "day" // key: the UTC day, "2006-01-02"
	ByClient   GroupBy = "client"
	ByWorkflow GroupBy = "workflow"
)

// GoalFilter narrows goal counts. Empty fields match everything; From and
// To bound the goal's UTC day (From inclusive, To exclusive).
type GoalFilter struct {
	Client   string
	Workflow string
	From, To time.Time
}

// GoalCount is how many goals of one group ended with one status.
type GoalCount struct {
	Key    string
	Status string
	N      int
}

// SiteCounts summarises sites' health from their heartbeats.
type SiteCounts struct {
	Total, Online, Offline, Never int
	// Versions maps a runner version ("" for never seen) to its site count.
	Versions map[string]int
}

// SiteRow is one site with its audit witness state.
type SiteRow struct {
	Site
	// CheckpointSize and CheckpointAt describe the newest witnessed
	// checkpoint (zero when none); AuditSize is the mirrored record count.
	CheckpointSize uint64
	CheckpointAt   time.Time
	AuditSize      uint64
	// Alerts counts audit alerts (a checkpoint inconsistent with the one
	// held, or signed with another key) raised for the site.
	Alerts int
}

// EscalationFilter narrows the escalation queue; empty fields match
// everything. OlderThan keeps escalations received before it.
type EscalationFilter struct {
	Client, Site, State, Workflow string
	OlderThan                     time.Time
	From, To                      time.Time // received in [From, To) when set
}

// EscalationRow is one escalation in the queue.
type EscalationRow struct {
	Client, Site, ID, GoalID, Workflow, Reason string
	ReceivedAt                                 time.Time
	State                                      string
	ClaimedBy                                  string
}

// ApprovalFilter narrows the approval list; empty fields match everything.
// Pending keeps requests with no decision that expire after Now (or never).
type ApprovalFilter struct {
	Client, Site string
	Pending      bool
	Now          time.Time
}

// ApprovalRow is one approval request in a list; Decided is true once a
// supervisor decided it.
type ApprovalRow struct {
	Client, Site, ID, GoalID, Workflow, Action string
	RequestedAt, ExpiresAt                     time.Time
	Decided                                    bool
}

// AuditFilter narrows an audit search; empty fields match everything.
type AuditFilter struct {
	Client, Site, GoalID, Kind string
	From, To                   time.Time // record time in [From, To) when set
}

// AuditHit is one mirrored audit record found by a search.
type AuditHit struct {
	Client, Site string
	Index        uint64
	Kind, GoalID string
	Time         time.Time
	Record       []byte // canonical encoding (protocol/audit)
}

// AuditAlert is one alert raised by the checkpoint witness.
type AuditAlert struct {
	Client, Site, Reason string
	At                   time.Time
}

// Stats keeps the aggregates behind the supervisors' dashboards, queue
// filters and audit search. RefreshStats indexes what arrived since the
// previous call (goals, upstream items, mirrored audit records) into fact
// tables; the queries read only those tables. The same rules as Store
// apply (safe for concurrent use; ErrInvalid for a bad argument).
type Stats interface {
	// RefreshStats indexes new goals, items and audit records and returns
	// how many it indexed. It processes at most max rows per source (<= 0:
	// all); call it again while it returns a positive count to catch up.
	RefreshStats(ctx context.Context, max int) (int, error)
	// Clients lists the clients with an enrolled site, by name.
	Clients(ctx context.Context) ([]string, error)
	// SiteCounts counts a client's sites (every client's when client is
	// empty) by health: online when seen at or after onlineSince.
	SiteCounts(ctx context.Context, client string, onlineSince time.Time) (SiteCounts, error)
	// SiteRows lists sites (of one client, or all) ordered by client and
	// site with their witness state, at most limit after offset.
	SiteRows(ctx context.Context, client string, offset, limit int) ([]SiteRow, error)
	// GoalCounts counts goals by group and status.
	GoalCounts(ctx context.Context, f GoalFilter, by GroupBy) ([]GoalCount, error)
	// EscalationQueue lists escalations matching f, newest first, at most
	// limit after offset.
	EscalationQueue(ctx context.Context, f EscalationFilter, offset, limit int) ([]EscalationRow, error)
	// CountEscalations counts escalations matching f.
	CountEscalations(ctx context.Context, f EscalationFilter) (int, error)
	// ApprovalQueue lists approval requests matching f, newest first.
	ApprovalQueue(ctx context.Context, f ApprovalFilter, offset, limit int) ([]ApprovalRow, error)
	// AuditSearch lists mirrored audit records matching f, newest first.
	AuditSearch(ctx context.Context, f AuditFilter, offset, limit int) ([]AuditHit, error)
	// AuditRange returns the first and last index (inclusive) of a site's
	// mirrored records whose time is in [from, to); ErrNotFound when none.
	AuditRange(ctx context.Context, client, site string, from, to time.Time) (first, last uint64, err error)
	// RecordAuditAlert stores an alert raised by the checkpoint witness.
	RecordAuditAlert(ctx context.Context, a AuditAlert) error
	// AuditAlerts lists a client's alerts (all clients' when empty),
	// newest first.
	AuditAlerts(ctx context.Context, client string, limit int) ([]AuditAlert, error)
}
