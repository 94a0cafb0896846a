package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

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
	// EnrolledBy names the token that enrolled the site (site show only;
	// absent for sites enrolled before schema version 7).
	EnrolledBy *EnrollmentView `json:"enrolled_by,omitempty"`
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
	v := siteView(st)
	if v.EnrolledBy, err = s.siteEnrollment(r.Context(), client, st.Site); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
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

func (s *Server) escalationView(ctx context.Context, it store.Item, detail bool) (EscalationView, error) {
	var e pb.Escalation
	_ = proto.Unmarshal(it.Payload, &e) // a malformed payload shows as empty fields
	st, err := s.st.EscalationState(ctx, it.Client, it.ID)
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
		v, err := s.escalationView(r.Context(), it, false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, page(out, off, lim))
	return nil
}

func (s *Server) showEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	v, _, err := s.Escalation(r.Context(), p, client, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) claimEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	v, err := s.ClaimEscalation(r.Context(), p, client, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
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
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	v, err := s.ResolveEscalation(r.Context(), p, client, r.PathValue("id"), req.Note)
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

func (s *Server) approvalView(ctx context.Context, it store.Item) (ApprovalView, *pb.ApprovalRequest, error) {
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
	d, err := s.st.Decision(ctx, it.Client, it.ID)
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
		v, _, err := s.approvalView(r.Context(), it)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, page(out, off, lim))
	return nil
}

func (s *Server) showApproval(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	v, _, err := s.Approval(r.Context(), p, client, r.PathValue("id"))
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

func (s *Server) decide(w http.ResponseWriter, r *http.Request, p auth.Principal, verdict pb.Verdict) error {
	var req NoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	v, err := s.Decide(r.Context(), p, client, r.PathValue("id"), verdict, req.Note)
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
	g, err := s.SubmitGoal(r.Context(), p, req)
	if err != nil {
		return err
	}
	return s.writeGoal(w, r, g.GetClientId(), g.GetGoalId(), http.StatusCreated)
}

func (s *Server) showGoal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	return s.writeGoal(w, r, client, r.PathValue("id"), http.StatusOK)
}

func (s *Server) writeGoal(w http.ResponseWriter, r *http.Request, client, id string, status int) error {
	p := auth.Principal{Role: auth.RoleAdmin} // the caller's access was checked
	v, _, _, err := s.GoalDetail(r.Context(), p, client, id)
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}
