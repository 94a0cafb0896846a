package web

import (
	"net/http"
	"strings"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func (s *Server) approvalPages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/approvals", Perm: auth.PermRead, Nav: "Approvals", h: s.approvals},
		{Method: "GET", Pattern: "/approvals/{client}/{id}", Perm: auth.PermRead, h: s.approval},
		{Method: "POST", Pattern: "/approvals/{client}/{id}/approve", Perm: auth.PermApprovalsDecide, h: s.approve},
		{Method: "POST", Pattern: "/approvals/{client}/{id}/deny", Perm: auth.PermApprovalsDecide, h: s.deny},
	}
}

type approvalsData struct {
	Client  string
	All     bool
	Clients []string
	Rows    []store.ApprovalRow
	Pager   pager
}

func (s *Server) approvals(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, err := s.filterFresh(r, p)
	if err != nil {
		return err
	}
	d := approvalsData{Client: client, All: r.URL.Query().Get("show") == "all"}
	if p.Role != auth.RoleClientViewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return err
		}
	}
	page := pageOf(r)
	rows, err := s.d.Store.ApprovalQueue(ctx, store.ApprovalFilter{Client: client, Pending: !d.All, Now: s.now()}, page*s.cfg.PageSize, s.cfg.PageSize+1)
	if err != nil {
		return err
	}
	more := len(rows) > s.cfg.PageSize
	if more {
		rows = rows[:s.cfg.PageSize]
	}
	d.Rows, d.Pager = rows, newPager(r, page, more)
	return s.render(w, r, p, "approvals", "Approvals", d)
}

type approvalData struct {
	V         api.ApprovalView
	Step      stepView
	Decision  *pb.PolicyDecision
	CanDecide bool
}

func (s *Server) approval(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, a, err := s.d.Actions.Approval(r.Context(), p, r.PathValue("client"), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := approvalData{V: v, Step: stepOf(a.GetAction()), Decision: a.GetDecision(),
		CanDecide: v.Status == "pending" && auth.Allowed(p.Role, auth.PermApprovalsDecide)}
	return s.render(w, r, p, "approval", "Approval "+v.ID, d)
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.decide(w, r, p, pb.Verdict_VERDICT_APPROVED)
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.decide(w, r, p, pb.Verdict_VERDICT_DENIED)
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request, p auth.Principal, verdict pb.Verdict) error {
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if verdict == pb.Verdict_VERDICT_DENIED && reason == "" {
		return badInput("say why you deny the action: the agent and the audit log keep the reason")
	}
	v, err := s.d.Actions.Decide(r.Context(), p, r.PathValue("client"), r.PathValue("id"), verdict, reason)
	if err != nil {
		return err
	}
	s.redirect(w, r, "/approvals/"+v.Client+"/"+v.ID, v.Status)
	return nil
}
