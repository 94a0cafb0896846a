package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/policies"
)

// Governance is what the review features (samples, scope proposals) need
// beside Store: the store.Review methods, and the key that signs approved
// scopes.
type Governance struct {
	Review store.Review
	// ScopeKey signs approved scope proposals (the state directory's
	// scope-signing.key).
	ScopeKey ed25519.PrivateKey
	// Sampler draws the daily review samples; nil: DefaultSamplerConfig.
	Sampler *SamplerConfig
}

// Option configures optional parts of the API server.
type Option func(*Server)

// WithGovernance enables the samples and scope proposal endpoints; without
// it they answer 503.
func WithGovernance(g Governance) Option {
	return func(s *Server) {
		cfg := DefaultSamplerConfig()
		if g.Sampler != nil {
			cfg = *g.Sampler
		}
		s.gov = &governance{rv: g.Review, key: g.ScopeKey, cfg: cfg}
	}
}

// governance is the server's review state; nil when not configured.
type governance struct {
	rv      store.Review
	key     ed25519.PrivateKey
	cfg     SamplerConfig
	sampler *Sampler
}

// setupGovernance checks the options of WithGovernance and builds the
// sampler; New calls it after applying the options.
func (s *Server) setupGovernance() error {
	if s.gov == nil {
		return nil
	}
	if s.gov.rv == nil || len(s.gov.key) != ed25519.PrivateKeySize {
		return errors.New("api: WithGovernance needs a Review store and an ed25519 scope signing key")
	}
	var err error
	s.gov.sampler, err = NewSampler(s.gov.cfg, sampleStore{s.gov.rv, s.st}, s.log, s.now)
	return err
}

func (s *Server) review() (*governance, error) {
	if s.gov == nil || s.gov.rv == nil {
		return nil, errNoGovernance
	}
	return s.gov, nil
}

// Sampler returns the daily sampler (nil without WithGovernance).
func (s *Server) Sampler() *Sampler {
	if s.gov == nil {
		return nil
	}
	return s.gov.sampler
}

// Limits of a proposal.
const (
	maxProposalFiles = 64
	maxNoteBytes     = 4 << 10
)

var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.ya?ml$`)

func isTestFileName(n string) bool {
	return strings.HasSuffix(n, "_test.yaml") || strings.HasSuffix(n, "_test.yml")
}

// ProposalRequest proposes a change of a client's scope: the scope files
// (and optionally *_test.yaml policy tests), by base name.
type ProposalRequest struct {
	Client string            `json:"client"`
	Files  []store.ScopeFile `json:"files"`
	Note   string            `json:"note,omitempty"`
}

// ProposalView is a scope proposal with its diff and test results.
type ProposalView struct {
	ID          string            `json:"id"`
	Client      string            `json:"client"`
	BaseVersion uint64            `json:"base_version"`
	Proposer    string            `json:"proposer"`
	ProposedAt  time.Time         `json:"proposed_at"`
	Note        string            `json:"note,omitempty"`
	Changes     []policies.Change `json:"changes"`
	Widens      int               `json:"widens"`
	Narrows     int               `json:"narrows"`
	TestsRun    int               `json:"tests_run"`
	TestsFailed int               `json:"tests_failed"`
	TestReport  string            `json:"test_report,omitempty"`
	Files       []store.ScopeFile `json:"files,omitempty"`
	Status      string            `json:"status"`
	DecidedBy   string            `json:"decided_by,omitempty"`
	DecidedAt   time.Time         `json:"decided_at,omitzero"`
	Decision    string            `json:"decision_note,omitempty"`
	Version     uint64            `json:"version,omitempty"`
}

func proposalView(p store.ScopeProposal, detail bool) ProposalView {
	v := ProposalView{ID: p.ID, Client: p.Client, BaseVersion: p.BaseVersion, Proposer: p.Proposer, ProposedAt: p.ProposedAt, Note: p.Note,
		Changes: []policies.Change{}, Widens: p.Widens, Narrows: p.Narrows, TestsRun: p.TestsRun, TestsFailed: p.TestsFailed,
		Status: string(p.Status), DecidedBy: p.DecidedBy, DecidedAt: p.DecidedAt, Decision: p.DecisionNote, Version: p.Version}
	if len(p.Diff) > 0 {
		_ = json.Unmarshal(p.Diff, &v.Changes) // stored by ProposeScope; a damaged row shows no changes
	}
	if v.Changes == nil {
		v.Changes = []policies.Change{}
	}
	if detail {
		v.TestReport, v.Files = p.TestReport, p.Files
	}
	return v
}

// compileFiles compiles the scope files of a proposal (tests left out).
func compileFiles(files []store.ScopeFile) (*policies.Scope, error) {
	var srcs []policies.Source
	for _, f := range files {
		if !isTestFileName(f.Name) {
			srcs = append(srcs, policies.Source{Name: f.Name, Data: []byte(f.Text)})
		}
	}
	if len(srcs) == 0 {
		return nil, apiErr(http.StatusBadRequest, "invalid_scope", "the proposal has no scope files, only tests", "send the scope's *.yaml files")
	}
	sc, err := policies.Compile(policies.DefaultConfig(), srcs...)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "invalid_scope", err.Error(), "fix the file and propose again; 'sitewarden scope test' checks it locally")
	}
	return sc, nil
}

func checkFiles(files []store.ScopeFile) error {
	if len(files) == 0 || len(files) > maxProposalFiles {
		return apiErr(http.StatusBadRequest, "invalid", fmt.Sprintf("a proposal has 1-%d files, got %d", maxProposalFiles, len(files)), "")
	}
	seen := map[string]bool{}
	for _, f := range files {
		if !fileNameRE.MatchString(f.Name) || seen[f.Name] {
			return apiErr(http.StatusBadRequest, "invalid", fmt.Sprintf("file name %q: want a unique base name ending in .yaml", f.Name), "send files by base name, without directories")
		}
		seen[f.Name] = true
	}
	return nil
}

// scopeOf decodes a stored scope version's bundle payload.
func scopeOf(v store.ScopeVersion) (*policies.Scope, error) {
	b, err := decodeBundle(v.Bundle)
	if err != nil {
		return nil, err
	}
	return policies.DecodePayload(b.GetPayload())
}

// diffAgainst lists the changes from the client's current version to sc.
func diffAgainst(cur *policies.Scope, sc *policies.Scope) []policies.Change {
	if cur == nil {
		return []policies.Change{{Mark: policies.Widens, Subject: "scope",
			Detail: fmt.Sprintf("first version of client %s: agents %s; %d rules", sc.Client(), strings.Join(sc.Agents(), ", "), sc.Rules())}}
	}
	return policies.Diff(cur, sc)
}

// ProposeScope stores a proposal of p's after compiling it, diffing it
// against the client's current version and running its policy tests.
func (s *Server) ProposeScope(ctx context.Context, p auth.Principal, req ProposalRequest) (ProposalView, error) {
	g, err := s.review()
	if err != nil {
		return ProposalView{}, err
	}
	if req.Client == "" {
		return ProposalView{}, errClientReq
	}
	if err := check(p, auth.PermScopePropose, req.Client); err != nil {
		return ProposalView{}, err
	}
	if len(req.Note) > maxNoteBytes {
		return ProposalView{}, errNoteTooLong
	}
	if err := checkFiles(req.Files); err != nil {
		return ProposalView{}, err
	}
	sc, err := compileFiles(req.Files)
	if err != nil {
		return ProposalView{}, err
	}
	if sc.Client() != req.Client {
		return ProposalView{}, apiErr(http.StatusBadRequest, "invalid_scope", fmt.Sprintf("the scope names client %q, the proposal %q", sc.Client(), req.Client), "set client: in the scope files")
	}
	var base uint64
	var cur *policies.Scope
	latest, err := s.st.LatestScope(ctx, req.Client)
	switch {
	case err == nil:
		base = latest.Version
		if cur, err = scopeOf(latest); err != nil {
			return ProposalView{}, fmt.Errorf("current scope of %s: %w", req.Client, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return ProposalView{}, err
	}
	changes := diffAgainst(cur, sc)
	diff, err := json.Marshal(changes)
	if err != nil {
		return ProposalView{}, err
	}
	res, err := runProposalTests(req.Files)
	if err != nil {
		return ProposalView{}, err
	}
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	sp := store.ScopeProposal{ID: "sp-" + hex.EncodeToString(id), Client: req.Client, BaseVersion: base, Files: req.Files,
		Proposer: p.User, ProposedAt: s.now().UTC(), Note: req.Note, Diff: diff, TestsRun: res.run, TestsFailed: res.failed, TestReport: res.report}
	for _, c := range changes {
		if c.Mark == policies.Widens {
			sp.Widens++
		} else {
			sp.Narrows++
		}
	}
	if err := g.rv.CreateProposal(ctx, sp); err != nil {
		return ProposalView{}, err
	}
	sp.Status = store.ProposalPending
	s.log.Info("scope proposed", "proposal", sp.ID, "client", sp.Client, "by", p.User, "widens", sp.Widens, "narrows", sp.Narrows, "tests_failed", sp.TestsFailed)
	return proposalView(sp, true), nil
}

// proposalFor loads proposal id for p, who needs perm on its client.
func (s *Server) proposalFor(ctx context.Context, p auth.Principal, id string, perm auth.Permission) (*governance, store.ScopeProposal, error) {
	g, err := s.review()
	if err != nil {
		return nil, store.ScopeProposal{}, err
	}
	sp, err := g.rv.Proposal(ctx, id)
	if err != nil {
		return nil, store.ScopeProposal{}, err
	}
	if err := check(p, perm, sp.Client); err != nil {
		return nil, store.ScopeProposal{}, err
	}
	return g, sp, nil
}

// Proposal returns one proposal with its files and test report.
func (s *Server) Proposal(ctx context.Context, p auth.Principal, id string) (ProposalView, error) {
	_, sp, err := s.proposalFor(ctx, p, id, auth.PermRead)
	if err != nil {
		return ProposalView{}, err
	}
	return proposalView(sp, true), nil
}

// Proposals lists proposals (of one client, or every client p may see
// when client is empty), newest first; status "" is any.
func (s *Server) Proposals(ctx context.Context, p auth.Principal, client string, status store.ProposalStatus, offset, limit int) ([]ProposalView, error) {
	g, err := s.review()
	if err != nil {
		return nil, err
	}
	if client == "" && p.Role == auth.RoleClientViewer {
		client = p.Client
	}
	if err := check(p, auth.PermRead, client); err != nil {
		return nil, err
	}
	list, err := g.rv.Proposals(ctx, client, status, offset, limit)
	if err != nil {
		return nil, err
	}
	out := make([]ProposalView, 0, len(list))
	for _, sp := range list {
		out = append(out, proposalView(sp, false))
	}
	return out, nil
}

// ApproveProposal signs a pending proposal of another person as the
// client's next scope version, stores it and notifies the client's sites.
func (s *Server) ApproveProposal(ctx context.Context, p auth.Principal, id, note string) (ProposalView, error) {
	g, sp, err := s.proposalFor(ctx, p, id, auth.PermScopeApprove)
	if err != nil {
		return ProposalView{}, err
	}
	switch {
	case len(note) > maxNoteBytes:
		return ProposalView{}, errNoteTooLong
	case sp.Status != store.ProposalPending:
		return ProposalView{}, errNotPending
	case sp.Proposer == p.User:
		return ProposalView{}, errSecondPerson
	case sp.TestsFailed > 0:
		return ProposalView{}, errTestsFailed
	}
	sc, err := compileFiles(sp.Files)
	if err != nil {
		return ProposalView{}, err
	}
	now := s.now().UTC()
	v, err := signVersion(sc, sp.BaseVersion+1, now, g.key)
	if err != nil {
		return ProposalView{}, err
	}
	if err := g.rv.ApproveProposal(ctx, id, p.User, note, v, now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ProposalView{}, apiErr(http.StatusConflict, "conflict", err.Error(), "the client's scope changed since the proposal: propose the change again")
		}
		return ProposalView{}, err
	}
	n := s.notify.Notify(sp.Client, "", TopicScope, v.Version)
	s.log.Info("scope approved", "proposal", id, "client", sp.Client, "version", v.Version, "proposer", sp.Proposer, "by", p.User, "sites_notified", n)
	sp.Status, sp.DecidedBy, sp.DecidedAt, sp.DecisionNote, sp.Version = store.ProposalApproved, p.User, now, note, v.Version
	return proposalView(sp, true), nil
}

// RejectProposal closes a pending proposal without publishing it.
func (s *Server) RejectProposal(ctx context.Context, p auth.Principal, id, note string) (ProposalView, error) {
	g, sp, err := s.proposalFor(ctx, p, id, auth.PermScopeApprove)
	if err != nil {
		return ProposalView{}, err
	}
	if len(note) > maxNoteBytes {
		return ProposalView{}, errNoteTooLong
	}
	if sp.Status != store.ProposalPending {
		return ProposalView{}, errNotPending
	}
	now := s.now().UTC()
	if err := g.rv.RejectProposal(ctx, id, p.User, note, now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ProposalView{}, errNotPending
		}
		return ProposalView{}, err
	}
	s.log.Info("scope proposal rejected", "proposal", id, "client", sp.Client, "by", p.User)
	sp.Status, sp.DecidedBy, sp.DecidedAt, sp.DecisionNote = store.ProposalRejected, p.User, now, note
	return proposalView(sp, true), nil
}

// VersionView is one published scope version in a client's history.
type VersionView struct {
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// ProposalID, ProposedBy and ApprovedBy are empty for a version
	// published directly ('sitewarden scope publish', the bootstrap).
	ProposalID string `json:"proposal_id,omitempty"`
	ProposedBy string `json:"proposed_by,omitempty"`
	ApprovedBy string `json:"approved_by,omitempty"`
	Widens     int    `json:"widens"`
	Narrows    int    `json:"narrows"`
}

// HistoryView is a client's scope history: versions and proposals, newest
// first.
type HistoryView struct {
	Client    string         `json:"client"`
	Versions  []VersionView  `json:"versions"`
	Proposals []ProposalView `json:"proposals"`
}

// ScopeHistory lists the client's newest limit versions and proposals.
func (s *Server) ScopeHistory(ctx context.Context, p auth.Principal, client string, limit int) (HistoryView, error) {
	g, err := s.review()
	if err != nil {
		return HistoryView{}, err
	}
	if err := check(p, auth.PermRead, client); err != nil {
		return HistoryView{}, err
	}
	h := HistoryView{Client: client, Versions: []VersionView{}, Proposals: []ProposalView{}}
	props, err := g.rv.Proposals(ctx, client, "", 0, limit)
	if err != nil {
		return HistoryView{}, err
	}
	byVersion := map[uint64]store.ScopeProposal{}
	for _, sp := range props {
		h.Proposals = append(h.Proposals, proposalView(sp, false))
		if sp.Status == store.ProposalApproved {
			byVersion[sp.Version] = sp
		}
	}
	// One more version than shown, to diff the oldest shown against it.
	vs, err := g.rv.ScopeVersions(ctx, client, 0, limit+1)
	if err != nil {
		return HistoryView{}, err
	}
	for i, v := range vs {
		if i == limit {
			break
		}
		vv := VersionView{Version: v.Version, CreatedAt: v.CreatedAt}
		if b, err := decodeBundle(v.Bundle); err == nil {
			vv.ExpiresAt = b.GetExpiresAt().AsTime()
		}
		if sp, ok := byVersion[v.Version]; ok {
			vv.ProposalID, vv.ProposedBy, vv.ApprovedBy, vv.Widens, vv.Narrows = sp.ID, sp.Proposer, sp.DecidedBy, sp.Widens, sp.Narrows
		} else {
			vv.Widens, vv.Narrows = versionDiff(vs, i)
		}
		h.Versions = append(h.Versions, vv)
	}
	return h, nil
}

// versionDiff counts the changes of vs[i] against vs[i+1] (the version
// before it), or of a first version; zeros when a bundle does not decode.
func versionDiff(vs []store.ScopeVersion, i int) (widens, narrows int) {
	cur, err := scopeOf(vs[i])
	if err != nil {
		return 0, 0
	}
	var prev *policies.Scope
	if i+1 < len(vs) {
		if prev, err = scopeOf(vs[i+1]); err != nil {
			return 0, 0
		}
	} else if vs[i].Version != 1 {
		return 0, 0 // the previous version is not listed
	}
	for _, c := range diffAgainst(prev, cur) {
		if c.Mark == policies.Widens {
			widens++
		} else {
			narrows++
		}
	}
	return widens, narrows
}
