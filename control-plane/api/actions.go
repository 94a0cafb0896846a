package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// The functions of this file are every state change and detail read the
// JSON API and the web UI (control-plane/web) share: both call them, so
// both apply the same permission and client checks.

// check returns errForbidden unless p holds perm and may see client.
func check(p auth.Principal, perm auth.Permission, client string) error {
	if !auth.Allowed(p.Role, perm) || (client != "" && !p.CanSeeClient(client)) {
		return errForbidden
	}
	return nil
}

// Escalation returns one escalation with its detail (protobuf JSON in the
// view, the decoded message beside it).
func (s *Server) Escalation(ctx context.Context, p auth.Principal, client, id string) (EscalationView, *pb.Escalation, error) {
	if err := check(p, auth.PermRead, client); err != nil {
		return EscalationView{}, nil, err
	}
	it, err := s.st.Item(ctx, store.KindEscalation, client, id)
	if err != nil {
		return EscalationView{}, nil, err
	}
	v, err := s.escalationView(ctx, it, true)
	if err != nil {
		return EscalationView{}, nil, err
	}
	var e pb.Escalation
	_ = proto.Unmarshal(it.Payload, &e)
	return v, &e, nil
}

// ClaimEscalation records that p took the escalation.
func (s *Server) ClaimEscalation(ctx context.Context, p auth.Principal, client, id string) (EscalationView, error) {
	if err := check(p, auth.PermEscalationsWrite, client); err != nil {
		return EscalationView{}, err
	}
	it, err := s.st.Item(ctx, store.KindEscalation, client, id)
	if err != nil {
		return EscalationView{}, err
	}
	if err := s.st.ClaimEscalation(ctx, it.Client, it.ID, p.User, s.now()); err != nil {
		return EscalationView{}, err
	}
	s.log.Info("escalation claimed", "client", it.Client, "id", it.ID, "user", p.User)
	return s.escalationView(ctx, it, false)
}

// ResolveEscalation closes the escalation with a note.
func (s *Server) ResolveEscalation(ctx context.Context, p auth.Principal, client, id, note string) (EscalationView, error) {
	if err := check(p, auth.PermEscalationsWrite, client); err != nil {
		return EscalationView{}, err
	}
	it, err := s.st.Item(ctx, store.KindEscalation, client, id)
	if err != nil {
		return EscalationView{}, err
	}
	if err := s.st.ResolveEscalation(ctx, it.Client, it.ID, p.User, note, s.now()); err != nil {
		return EscalationView{}, err
	}
	s.log.Info("escalation resolved", "client", it.Client, "id", it.ID, "user", p.User)
	return s.escalationView(ctx, it, false)
}

// MaxGuidance bounds a supervisor's guidance, in bytes.
const MaxGuidance = 4096

// ReturnEscalation hands an escalated goal back to the agent: it assigns a
// new goal to the same site carrying the original goal and the
// supervisor's guidance (Goal.guidance, trusted input), notifies the site,
// and resolves the escalation with a note naming the new goal.
func (s *Server) ReturnEscalation(ctx context.Context, p auth.Principal, client, id, guidance string) (EscalationView, *pb.Goal, error) {
	if err := check(p, auth.PermEscalationsWrite, client); err != nil {
		return EscalationView{}, nil, err
	}
	guidance = strings.TrimSpace(guidance)
	if guidance == "" || len(guidance) > MaxGuidance {
		return EscalationView{}, nil, apiErr(http.StatusBadRequest, "invalid", "guidance must be 1-4096 bytes", "tell the agent what to do differently")
	}
	it, err := s.st.Item(ctx, store.KindEscalation, client, id)
	if err != nil {
		return EscalationView{}, nil, err
	}
	st, err := s.st.EscalationState(ctx, client, id)
	if err != nil {
		return EscalationView{}, nil, err
	}
	if !st.ResolvedAt.IsZero() {
		return EscalationView{}, nil, apiErr(http.StatusConflict, "conflict", "the escalation was resolved by "+st.ResolvedBy, "nothing to do")
	}
	if st.ClaimedBy != "" && st.ClaimedBy != p.User {
		return EscalationView{}, nil, apiErr(http.StatusConflict, "conflict", "the escalation is claimed by "+st.ClaimedBy, "ask them, or wait")
	}
	var e pb.Escalation
	if err := proto.Unmarshal(it.Payload, &e); err != nil || e.GetGoal() == nil {
		return EscalationView{}, nil, apiErr(http.StatusConflict, "invalid", "the escalation carries no readable goal", "submit a new goal instead")
	}
	g := proto.Clone(e.GetGoal()).(*pb.Goal)
	g.GoalId = returnedGoalID(g.GetGoalId(), it.ID)
	g.ClientId, g.SiteId = it.Client, it.Site
	g.Requester = "user:" + p.User
	g.Guidance = guidance
	g.CreatedAt = timestamppb.New(s.now())
	g.Deadline = nil
	if err := s.assign(ctx, g); err != nil {
		return EscalationView{}, nil, err
	}
	note := "returned to the agent as goal " + g.GoalId + " with guidance: " + guidance
	if err := s.st.ResolveEscalation(ctx, it.Client, it.ID, p.User, note, s.now()); err != nil {
		return EscalationView{}, nil, err
	}
	s.log.Info("escalation returned to the agent", "client", it.Client, "id", it.ID, "goal", g.GoalId, "user", p.User)
	v, err := s.escalationView(ctx, it, false)
	return v, g, err
}

// returnedGoalID names the goal a returned escalation becomes: stable per
// escalation, so a repeated request assigns nothing new.
func returnedGoalID(goal, escalation string) string {
	id := goal + "~r-" + escalation
	if len(id) > 200 {
		id = id[:200]
	}
	return id
}

// Approval returns one approval request and its decision.
func (s *Server) Approval(ctx context.Context, p auth.Principal, client, id string) (ApprovalView, *pb.ApprovalRequest, error) {
	if err := check(p, auth.PermRead, client); err != nil {
		return ApprovalView{}, nil, err
	}
	it, err := s.st.Item(ctx, store.KindApprovalRequest, client, id)
	if err != nil {
		return ApprovalView{}, nil, err
	}
	return s.approvalView(ctx, it)
}

// Decide stores a supervisor's decision through the store and tells the
// site, whose runner fetches it from the approvals stream. A decided or
// expired request is 409.
func (s *Server) Decide(ctx context.Context, p auth.Principal, client, id string, verdict pb.Verdict, note string) (ApprovalView, error) {
	if err := check(p, auth.PermApprovalsDecide, client); err != nil {
		return ApprovalView{}, err
	}
	if verdict != pb.Verdict_VERDICT_APPROVED && verdict != pb.Verdict_VERDICT_DENIED {
		return ApprovalView{}, apiErr(http.StatusBadRequest, "invalid", "a decision approves or denies", "")
	}
	it, err := s.st.Item(ctx, store.KindApprovalRequest, client, id)
	if err != nil {
		return ApprovalView{}, err
	}
	v, a, err := s.approvalView(ctx, it)
	if err != nil {
		return ApprovalView{}, err
	}
	switch v.Status {
	case "expired":
		return ApprovalView{}, apiErr(http.StatusConflict, "expired", "the approval request expired at "+v.ExpiresAt.UTC().Format(time.RFC3339), "the agent will ask again if the goal is retried")
	case "approved", "denied":
		return ApprovalView{}, apiErr(http.StatusConflict, "already_decided", "the approval was "+v.Status+" by "+v.DecidedBy, "nothing to do")
	}
	dec := &pb.ApprovalDecision{ApprovalId: it.ID, GoalId: a.GetGoalId(), Verdict: verdict, DecidedBy: p.User, Reason: note, DecidedAt: timestamppb.New(s.now())}
	payload, err := proto.Marshal(dec)
	if err != nil {
		return ApprovalView{}, err
	}
	cur, err := s.st.AddDecision(ctx, store.Decision{Client: it.Client, Site: it.Site, ApprovalID: it.ID, Payload: payload})
	if err != nil {
		return ApprovalView{}, err
	}
	if s.notify != nil {
		s.notify.Notify(it.Client, it.Site, TopicApprovals, cur)
	}
	s.log.Info("approval decided", "client", it.Client, "id", it.ID, "user", p.User, "verdict", verdict.String())
	v, _, err = s.approvalView(ctx, it)
	return v, err
}

// SubmitGoal assigns a goal to one enrolled site and notifies it.
func (s *Server) SubmitGoal(ctx context.Context, p auth.Principal, req GoalRequest) (*pb.Goal, error) {
	if req.Client == "" || req.Site == "" || req.Agent == "" || req.Workflow == "" {
		return nil, apiErr(http.StatusBadRequest, "invalid", "client, site, agent and workflow are required", "see docs/api.md, POST /api/v1/goals")
	}
	if err := check(p, auth.PermGoalsSubmit, req.Client); err != nil {
		return nil, err
	}
	if req.ID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		req.ID = "cp-" + hex.EncodeToString(b)
	}
	g := &pb.Goal{GoalId: req.ID, ClientId: req.Client, SiteId: req.Site, Agent: req.Agent, Workflow: req.Workflow,
		Requester: "user:" + p.User, Subject: req.Subject, TicketText: req.TicketText, CreatedAt: timestamppb.New(s.now())}
	if !req.Deadline.IsZero() {
		g.Deadline = timestamppb.New(req.Deadline)
	}
	if err := s.assign(ctx, g); err != nil {
		return nil, err
	}
	s.log.Info("goal submitted", "client", req.Client, "site", req.Site, "goal", req.ID, "user", p.User)
	return g, nil
}

// assign stores a goal for its enrolled site and notifies the site.
func (s *Server) assign(ctx context.Context, g *pb.Goal) error {
	if _, err := s.st.Site(ctx, g.GetClientId(), g.GetSiteId()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apiErr(http.StatusNotFound, "unknown_site", "site "+g.GetClientId()+"/"+g.GetSiteId()+" is not enrolled", "list sites with GET /api/v1/sites?client=")
		}
		return err
	}
	payload, err := proto.Marshal(g)
	if err != nil {
		return err
	}
	cur, err := s.st.AddGoal(ctx, store.Goal{Client: g.GetClientId(), Site: g.GetSiteId(), ID: g.GetGoalId(), Payload: payload})
	if err != nil {
		return err
	}
	if s.notify != nil {
		s.notify.Notify(g.GetClientId(), g.GetSiteId(), TopicGoals, cur)
	}
	return nil
}

// CreateEnrollToken issues an enrollment token: a one-time token for a
// site, or with req.Fleet a fleet token for up to req.Uses new sites of
// the client.
func (s *Server) CreateEnrollToken(ctx context.Context, p auth.Principal, req EnrollRequest) (string, time.Time, error) {
	if err := check(p, auth.PermEnroll, req.Client); err != nil {
		return "", time.Time{}, err
	}
	maxTTL := s.cfg.MaxEnrollTTL
	if req.Fleet && s.cfg.MaxFleetTTL > 0 {
		maxTTL = s.cfg.MaxFleetTTL
	}
	ttl := 24 * time.Hour
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > maxTTL {
			return "", time.Time{}, apiErr(http.StatusBadRequest, "invalid", "ttl must be a duration like 24h, at most "+maxTTL.String(), "")
		}
		ttl = d
	}
	if req.Fleet {
		return s.createFleetToken(ctx, p, req, ttl)
	}
	if s.enroll == nil {
		return "", time.Time{}, apiErr(http.StatusServiceUnavailable, "no_enrollment", "this server does not issue enrollment tokens", "use 'sitewarden token create' on the control plane host")
	}
	tok, exp, err := s.enroll(ctx, req.Client, req.Site, ttl)
	if err != nil {
		return "", time.Time{}, apiErr(http.StatusBadRequest, "invalid", err.Error(), "client and site are 1-63 letters, digits, '-', '_' or '.'")
	}
	s.log.Info("enrollment token created", "token_id", tokenIDOf(tok), "client", req.Client, "site", req.Site, "user", p.User)
	return tok, exp, nil
}

func (s *Server) createFleetToken(ctx context.Context, p auth.Principal, req EnrollRequest, ttl time.Duration) (string, time.Time, error) {
	if req.Site != "" {
		return "", time.Time{}, apiErr(http.StatusBadRequest, "invalid", "a fleet token names no site: its runners name their sites", "leave site empty, or ask for a one-site token without fleet")
	}
	if req.Uses < 1 || req.Uses > store.MaxFleetUses {
		return "", time.Time{}, apiErr(http.StatusBadRequest, "invalid", "uses must be 1-10000 for a fleet token", "set uses to the number of machines to enroll")
	}
	if s.fleetEnroll == nil {
		return "", time.Time{}, apiErr(http.StatusServiceUnavailable, "no_enrollment", "this server does not issue fleet tokens", "use 'sitewarden token create --fleet' on the control plane host")
	}
	tok, exp, err := s.fleetEnroll(ctx, req.Client, req.Uses, ttl)
	if err != nil {
		return "", time.Time{}, apiErr(http.StatusBadRequest, "invalid", err.Error(), "client is 1-63 letters, digits, '-', '_' or '.'")
	}
	s.log.Info("fleet enrollment token created", "token_id", tokenIDOf(tok), "client", req.Client, "uses", req.Uses, "expires", exp, "user", p.User)
	return tok, exp, nil
}

// GoalDetail returns one goal with its outcome, if any.
func (s *Server) GoalDetail(ctx context.Context, p auth.Principal, client, id string) (GoalView, *pb.Goal, *pb.Outcome, error) {
	if err := check(p, auth.PermRead, client); err != nil {
		return GoalView{}, nil, nil, err
	}
	g, err := s.st.Goal(ctx, client, id)
	if err != nil {
		return GoalView{}, nil, nil, err
	}
	var gp pb.Goal
	_ = proto.Unmarshal(g.Payload, &gp)
	v := GoalView{Client: g.Client, Site: g.Site, ID: g.ID, Cursor: g.Cursor, Status: "assigned"}
	if v.Goal, err = protojson.Marshal(&gp); err != nil {
		return GoalView{}, nil, nil, err
	}
	var o *pb.Outcome
	if it, err := s.st.Item(ctx, store.KindOutcome, client, id); err == nil {
		o = &pb.Outcome{}
		_ = proto.Unmarshal(it.Payload, o)
		v.Status, v.Summary = o.GetStatus().String(), o.GetSummary()
	} else if !errors.Is(err, store.ErrNotFound) {
		return GoalView{}, nil, nil, err
	}
	return v, &gp, o, nil
}

// StatusOf maps an error of these functions to its HTTP status and a
// message fit to show a person (never internal details).
func StatusOf(err error) (int, string) {
	ae := toError(err)
	msg := ae.Message
	if ae.Hint != "" {
		msg += "; " + ae.Hint
	}
	return ae.Status, msg
}
