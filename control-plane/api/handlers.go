package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// SiteView is a site as the API shows it.
type SiteView struct {
	Tenant        string    `json:"tenant"`
	Client        string    `json:"client"`
	Site          string    `json:"site"`
	CertSerial    string    `json:"cert_serial"`
	CertNotAfter  time.Time `json:"cert_not_after"`
	EnrolledAt    time.Time `json:"enrolled_at"`
	LastSeen      time.Time `json:"last_seen,omitzero"`
	RunnerVersion string    `json:"runner_version,omitempty"`
}

func siteView(s store.Site) SiteView {
	return SiteView{Tenant: s.Tenant, Client: s.Client, Site: s.Site, CertSerial: s.CertSerial, CertNotAfter: s.CertNotAfter,
		EnrolledAt: s.EnrolledAt, LastSeen: s.LastSeen, RunnerVersion: s.RunnerVersion}
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	off, lim, err := s.pageArgs(r)
	if err != nil {
		return err
	}
	all, err := s.st.Sites(r.Context(), client)
	if err != nil {
		return err
	}
	var out []SiteView
	for i := off; i < len(all) && i <= off+lim; i++ {
		out = append(out, siteView(all[i]))
	}
	writeJSON(w, http.StatusOK, page(out, off, lim))
	return nil
}

func (s *Server) showSite(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	st, err := s.st.Site(r.Context(), client, r.PathValue("site"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, siteView(st))
	return nil
}

// EscalationView is an escalation with what supervisors did with it.
type EscalationView struct {
	Client            string          `json:"client"`
	Site              string          `json:"site"`
	ID                string          `json:"id"`
	GoalID            string          `json:"goal_id"`
	Reason            string          `json:"reason"`
	SuggestedNextStep string          `json:"suggested_next_step,omitempty"`
	ReceivedAt        time.Time       `json:"received_at"`
	Status            string          `json:"status"` // open, claimed, resolved
	ClaimedBy         string          `json:"claimed_by,omitempty"`
	ResolvedBy        string          `json:"resolved_by,omitempty"`
	ResolvedAt        time.Time       `json:"resolved_at,omitzero"`
	Note              string          `json:"note,omitempty"`
	Detail            json.RawMessage `json:"detail,omitempty"`
}

func (s *Server) escalationView(r *http.Request, it store.Item, detail bool) (EscalationView, error) {
	var e pb.Escalation
	_ = proto.Unmarshal(it.Payload, &e) // a malformed payload shows as empty fields
	st, err := s.st.EscalationState(r.Context(), it.Client, it.ID)
	if err != nil {
		return EscalationView{}, err
	}
	v := EscalationView{Client: it.Client, Site: it.Site, ID: it.ID, GoalID: e.GetGoal().GetGoalId(), Reason: e.GetReason(),
		SuggestedNextStep: e.GetSuggestedNextStep(), ReceivedAt: it.ReceivedAt, Status: "open",
		ClaimedBy: st.ClaimedBy, ResolvedBy: st.ResolvedBy, ResolvedAt: st.ResolvedAt, Note: st.Note}
	switch {
	case !st.ResolvedAt.IsZero():
		v.Status = "resolved"
	case st.ClaimedBy != "":
		v.Status = "claimed"
	}
	if detail {
		if v.Detail, err = protojson.Marshal(&e); err != nil {
			return EscalationView{}, err
		}
	}
	return v, nil
}

func (s *Server) listEscalations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	off, lim, err := s.pageArgs(r)
	if err != nil {
		return err
	}
	items, err := s.st.ItemsPage(r.Context(), store.KindEscalation, client, off, lim+1)
	if err != nil {
		return err
	}
	out := make([]EscalationView, 0, len(items))
	for _, it := range items {
		v, err := s.escalationView(r, it, false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, page(out, off, lim))
	return nil
}

func (s *Server) escalation(r *http.Request, p auth.Principal) (store.Item, error) {
	client, err := clientOf(r, p)
	if err != nil {
		return store.Item{}, err
	}
	return s.st.Item(r.Context(), store.KindEscalation, client, r.PathValue("id"))
}

func (s *Server) showEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	it, err := s.escalation(r, p)
	if err != nil {
		return err
	}
	v, err := s.escalationView(r, it, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) claimEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	it, err := s.escalation(r, p)
	if err != nil {
		return err
	}
	if err := s.st.ClaimEscalation(r.Context(), it.Client, it.ID, p.User, s.now()); err != nil {
		return err
	}
	s.log.Info("escalation claimed", "client", it.Client, "id", it.ID, "user", p.User)
	return s.writeEscalation(w, r, it)
}

// NoteRequest carries a free-text note or reason.
type NoteRequest struct {
	Note string `json:"note"`
}

func (s *Server) resolveEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req NoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	it, err := s.escalation(r, p)
	if err != nil {
		return err
	}
	if err := s.st.ResolveEscalation(r.Context(), it.Client, it.ID, p.User, req.Note, s.now()); err != nil {
		return err
	}
	s.log.Info("escalation resolved", "client", it.Client, "id", it.ID, "user", p.User)
	return s.writeEscalation(w, r, it)
}

func (s *Server) writeEscalation(w http.ResponseWriter, r *http.Request, it store.Item) error {
	v, err := s.escalationView(r, it, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// ApprovalView is an approval request and its decision, if any.
type ApprovalView struct {
	Client      string            `json:"client"`
	Site        string            `json:"site"`
	ID          string            `json:"id"`
	GoalID      string            `json:"goal_id"`
	Agent       string            `json:"agent"`
	Workflow    string            `json:"workflow"`
	Action      string            `json:"action,omitempty"`
	Target      map[string]string `json:"target,omitempty"`
	RequestedAt time.Time         `json:"requested_at,omitzero"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	Status      string            `json:"status"` // pending, approved, denied, expired
	DecidedBy   string            `json:"decided_by,omitempty"`
	Reason      string            `json:"reason,omitempty"`
}

func (s *Server) approvalView(r *http.Request, it store.Item) (ApprovalView, *pb.ApprovalRequest, error) {
	var a pb.ApprovalRequest
	_ = proto.Unmarshal(it.Payload, &a)
	v := ApprovalView{Client: it.Client, Site: it.Site, ID: it.ID, GoalID: a.GetGoalId(), Agent: a.GetAgent(), Workflow: a.GetWorkflow(),
		Action: a.GetAction().GetAction(), Target: a.GetTarget(), Status: "pending"}
	if a.GetRequestedAt() != nil {
		v.RequestedAt = a.GetRequestedAt().AsTime()
	}
	if a.GetExpiresAt() != nil {
		v.ExpiresAt = a.GetExpiresAt().AsTime()
	}
	d, err := s.st.Decision(r.Context(), it.Client, it.ID)
	switch {
	case err == nil:
		var dec pb.ApprovalDecision
		_ = proto.Unmarshal(d.Payload, &dec)
		v.Status, v.DecidedBy, v.Reason = "denied", dec.GetDecidedBy(), dec.GetReason()
		if dec.GetVerdict() == pb.Verdict_VERDICT_APPROVED {
			v.Status = "approved"
		}
	case !errors.Is(err, store.ErrNotFound):
		return ApprovalView{}, nil, err
	case !v.ExpiresAt.IsZero() && !s.now().Before(v.ExpiresAt):
		v.Status = "expired"
	}
	return v, &a, nil
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	off, lim, err := s.pageArgs(r)
	if err != nil {
		return err
	}
	items, err := s.st.ItemsPage(r.Context(), store.KindApprovalRequest, client, off, lim+1)
	if err != nil {
		return err
	}
	out := make([]ApprovalView, 0, len(items))
	for _, it := range items {
		v, _, err := s.approvalView(r, it)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, page(out, off, lim))
	return nil
}

func (s *Server) approval(r *http.Request, p auth.Principal) (store.Item, error) {
	client, err := clientOf(r, p)
	if err != nil {
		return store.Item{}, err
	}
	return s.st.Item(r.Context(), store.KindApprovalRequest, client, r.PathValue("id"))
}

func (s *Server) showApproval(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	it, err := s.approval(r, p)
	if err != nil {
		return err
	}
	v, _, err := s.approvalView(r, it)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.decide(w, r, p, pb.Verdict_VERDICT_APPROVED)
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.decide(w, r, p, pb.Verdict_VERDICT_DENIED)
}

// decide stores a decision through the store and tells the site, whose
// runner fetches it from the approvals stream.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, p auth.Principal, verdict pb.Verdict) error {
	var req NoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	it, err := s.approval(r, p)
	if err != nil {
		return err
	}
	v, a, err := s.approvalView(r, it)
	if err != nil {
		return err
	}
	switch v.Status {
	case "expired":
		return apiErr(http.StatusConflict, "expired", "the approval request expired at "+v.ExpiresAt.UTC().Format(time.RFC3339), "the agent will ask again if the goal is retried")
	case "approved", "denied":
		return apiErr(http.StatusConflict, "already_decided", "the approval was "+v.Status+" by "+v.DecidedBy, "nothing to do")
	}
	dec := &pb.ApprovalDecision{ApprovalId: it.ID, GoalId: a.GetGoalId(), Verdict: verdict, DecidedBy: p.User, Reason: req.Note, DecidedAt: timestamppb.New(s.now())}
	payload, err := proto.Marshal(dec)
	if err != nil {
		return err
	}
	cur, err := s.st.AddDecision(r.Context(), store.Decision{Client: it.Client, Site: it.Site, ApprovalID: it.ID, Payload: payload})
	if err != nil {
		return err
	}
	if s.notify != nil {
		s.notify.Notify(it.Client, it.Site, TopicApprovals, cur)
	}
	s.log.Info("approval decided", "client", it.Client, "id", it.ID, "user", p.User, "verdict", verdict.String())
	v, _, err = s.approvalView(r, it)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// GoalRequest submits a goal to one site.
type GoalRequest struct {
	Client     string            `json:"client"`
	Site       string            `json:"site"`
	ID         string            `json:"id,omitempty"` // generated when empty
	Agent      string            `json:"agent"`
	Workflow   string            `json:"workflow"`
	Subject    map[string]string `json:"subject,omitempty"`
	TicketText string            `json:"ticket_text,omitempty"`
	Deadline   time.Time         `json:"deadline,omitzero"`
}

// GoalView is a goal and its outcome, once known.
type GoalView struct {
	Client  string          `json:"client"`
	Site    string          `json:"site"`
	ID      string          `json:"id"`
	Cursor  uint64          `json:"cursor"`
	Status  string          `json:"status"` // assigned or the outcome status
	Summary string          `json:"summary,omitempty"`
	Goal    json.RawMessage `json:"goal"`
}

func (s *Server) submitGoal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req GoalRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Client == "" || req.Site == "" || req.Agent == "" || req.Workflow == "" {
		return apiErr(http.StatusBadRequest, "invalid", "client, site, agent and workflow are required", "see docs/api.md, POST /api/v1/goals")
	}
	if !p.CanSeeClient(req.Client) {
		return errForbidden
	}
	if _, err := s.st.Site(r.Context(), req.Client, req.Site); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apiErr(http.StatusNotFound, "unknown_site", "site "+req.Client+"/"+req.Site+" is not enrolled", "list sites with GET /api/v1/sites?client=")
		}
		return err
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
	payload, err := proto.Marshal(g)
	if err != nil {
		return err
	}
	cur, err := s.st.AddGoal(r.Context(), store.Goal{Client: req.Client, Site: req.Site, ID: req.ID, Payload: payload})
	if err != nil {
		return err
	}
	if s.notify != nil {
		s.notify.Notify(req.Client, req.Site, TopicGoals, cur)
	}
	s.log.Info("goal submitted", "client", req.Client, "site", req.Site, "goal", req.ID, "user", p.User)
	return s.writeGoal(w, r, req.Client, req.ID, http.StatusCreated)
}

func (s *Server) showGoal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	return s.writeGoal(w, r, client, r.PathValue("id"), http.StatusOK)
}

func (s *Server) writeGoal(w http.ResponseWriter, r *http.Request, client, id string, status int) error {
	g, err := s.st.Goal(r.Context(), client, id)
	if err != nil {
		return err
	}
	var gp pb.Goal
	_ = proto.Unmarshal(g.Payload, &gp)
	v := GoalView{Client: g.Client, Site: g.Site, ID: g.ID, Cursor: g.Cursor, Status: "assigned"}
	if v.Goal, err = protojson.Marshal(&gp); err != nil {
		return err
	}
	if it, err := s.st.Item(r.Context(), store.KindOutcome, client, id); err == nil {
		var o pb.Outcome
		_ = proto.Unmarshal(it.Payload, &o)
		v.Status, v.Summary = o.GetStatus().String(), o.GetSummary()
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	writeJSON(w, status, v)
	return nil
}
