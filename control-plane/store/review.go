package store

import (
	"context"
	"time"
)

// Grade is a grader's verdict on one sampled agent decision.
type Grade string

// Grades. Unsafe is incorrect and, worse, did (or would have done)
// something outside what the client would accept.
const (
	GradeCorrect   Grade = "correct"
	GradeIncorrect Grade = "incorrect"
	GradeUnsafe    Grade = "unsafe"
)

// Valid reports whether g is one of the defined grades.
func (g Grade) Valid() bool { return g == GradeCorrect || g == GradeIncorrect || g == GradeUnsafe }

// Sample is one agent decision (an upstream item: outcome, escalation or
// approval request) drawn into a day's review sample. ID is assigned by the
// caller and unique; (Day, Kind, Client, ItemID) is unique too.
type Sample struct {
	ID string
	// Day is the UTC day whose items the batch sampled (midnight UTC).
	Day        time.Time
	Kind       Kind
	Client     string
	Site       string
	ItemID     string
	GoalID     string
	Agent      string
	Workflow   string
	ReceivedAt time.Time
	// Grade is empty until graded.
	Grade    Grade
	GradedBy string
	GradedAt time.Time
	Note     string
}

// SampleBatch is one day's drawn sample.
type SampleBatch struct {
	Day        time.Time
	DrawnAt    time.Time
	Candidates int // items considered
	Samples    int
}

// SampleFilter narrows a sample list; empty fields match everything.
type SampleFilter struct {
	Client   string
	Workflow string
	Day      time.Time // zero: every day
	// Graded: "" every sample, "yes" graded ones, "no" ungraded ones.
	Graded string
}

// Accuracy counts the grades of one client's workflow.
type Accuracy struct {
	Client, Workflow                    string
	Correct, Incorrect, Unsafe, Pending int
}

// Graded returns how many samples carry a grade.
func (a Accuracy) Graded() int { return a.Correct + a.Incorrect + a.Unsafe }

// Rate is correct / graded, 0 when nothing is graded.
func (a Accuracy) Rate() float64 {
	if a.Graded() == 0 {
		return 0
	}
	return float64(a.Correct) / float64(a.Graded())
}

// ItemCursor is a position in the items ordered by (ReceivedAt, Kind,
// Client, ID); the zero cursor is before the first.
type ItemCursor struct {
	ReceivedAt time.Time
	Kind       Kind
	Client     string
	ID         string
}

// ProposalStatus is where a scope proposal stands.
type ProposalStatus string

// Proposal statuses.
const (
	ProposalPending  ProposalStatus = "pending"
	ProposalApproved ProposalStatus = "approved"
	ProposalRejected ProposalStatus = "rejected"
)

// ScopeFile is one file of a proposed scope, kept as text.
type ScopeFile struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// ScopeProposal is a proposed change to a client's scope, with what a
// reviewer needs beside it: the diff against the version it was based on
// and the policy test results.
type ScopeProposal struct {
	ID     string
	Client string
	// BaseVersion is the client's scope version the diff was made against
	// (0: the client had none).
	BaseVersion uint64
	Files       []ScopeFile
	Proposer    string
	ProposedAt  time.Time
	Note        string
	// Diff is the list of changes (JSON); Widens and Narrows count them.
	Diff            []byte
	Widens, Narrows int
	// TestsRun and TestsFailed count the policy test cases; TestReport is
	// the test runner's text output.
	TestsRun, TestsFailed int
	TestReport            string

	Status       ProposalStatus
	DecidedBy    string
	DecidedAt    time.Time
	DecisionNote string
	// Version is the scope version published on approval (0 otherwise).
	Version uint64
}

// QueueSizes counts the supervisors' open work, over every client.
type QueueSizes struct {
	// OpenEscalations are escalations nobody resolved (claimed or not).
	OpenEscalations int
	// PendingApprovals are approval requests without a decision.
	PendingApprovals int
	UngradedSamples  int
	PendingProposals int
}

// Review keeps the governance state: daily review samples with their
// grades, and scope proposals. The same rules as Store apply (safe for
// concurrent use, ErrInvalid for empty keys, ErrNotFound for a missing
// row). Lists take offset and limit (limit <= 0 or > 10000: 10000).
type Review interface {
	// ItemsReceived returns at most limit items of the given kinds received
	// in [from, to), after the cursor, in cursor order: the candidates of a
	// day's sample.
	ItemsReceived(ctx context.Context, kinds []Kind, from, to time.Time, after ItemCursor, limit int) ([]Item, error)
	// AddSampleBatch stores a day's batch and its samples atomically;
	// ErrConflict when that day has a batch already (another replica drew
	// it), and then nothing is written.
	AddSampleBatch(ctx context.Context, b SampleBatch, samples []Sample) error
	// SampleBatchOf returns the batch of a day (midnight UTC).
	SampleBatchOf(ctx context.Context, day time.Time) (SampleBatch, error)
	// Sample returns one sample.
	Sample(ctx context.Context, id string) (Sample, error)
	// Samples lists samples matching f, oldest day first, then by client,
	// workflow and id.
	Samples(ctx context.Context, f SampleFilter, offset, limit int) ([]Sample, error)
	// GradeSample records a grade. The grader may change their own grade;
	// ErrConflict when another person graded it; ErrInvalid for a grade
	// that is not Valid.
	GradeSample(ctx context.Context, id string, g Grade, by, note string, now time.Time) error
	// Accuracy counts grades by client and workflow for samples of days in
	// [from, to) (zero bounds: open), of one client when client is not
	// empty, ordered by client and workflow.
	Accuracy(ctx context.Context, client string, from, to time.Time) ([]Accuracy, error)

	// CreateProposal stores a pending proposal; ErrConflict when its id exists.
	CreateProposal(ctx context.Context, p ScopeProposal) error
	// Proposal returns one proposal.
	Proposal(ctx context.Context, id string) (ScopeProposal, error)
	// Proposals lists a client's proposals (all clients' when client is
	// empty) with the status (any when empty), newest first.
	Proposals(ctx context.Context, client string, status ProposalStatus, offset, limit int) ([]ScopeProposal, error)
	// ApproveProposal marks a pending proposal approved by approver and
	// stores v as the client's new scope version, atomically. ErrInvalid
	// when approver is the proposer or v is not the proposal's client;
	// ErrConflict when the proposal is not pending, or v.Version is not
	// BaseVersion+1 while BaseVersion is the client's newest version (the
	// scope moved since the proposal: propose again).
	ApproveProposal(ctx context.Context, id, approver, note string, v ScopeVersion, now time.Time) error
	// RejectProposal marks a pending proposal rejected; ErrConflict when it
	// is not pending.
	RejectProposal(ctx context.Context, id, by, note string, now time.Time) error
	// ScopeVersions lists a client's scope versions, newest first.
	ScopeVersions(ctx context.Context, client string, offset, limit int) ([]ScopeVersion, error)
	// ScopeVersionOf returns one scope version of a client.
	ScopeVersionOf(ctx context.Context, client string, version uint64) (ScopeVersion, error)

	// QueueSizes counts open work over every client.
	QueueSizes(ctx context.Context) (QueueSizes, error)
}
