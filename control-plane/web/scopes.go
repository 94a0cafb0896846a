package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

func (s *Server) scopePages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/scopes", Perm: auth.PermRead, Nav: "Scopes", h: s.scopes},
		{Method: "POST", Pattern: "/scopes/proposals", Perm: auth.PermScopePropose, h: s.propose},
		{Method: "GET", Pattern: "/scopes/proposals/{id}", Perm: auth.PermRead, h: s.proposal},
		{Method: "POST", Pattern: "/scopes/proposals/{id}/approve", Perm: auth.PermScopeApprove, h: s.approveProposal},
		{Method: "POST", Pattern: "/scopes/proposals/{id}/reject", Perm: auth.PermScopeApprove, h: s.rejectProposal},
	}
}

type scopesData struct {
	Client     string
	Clients    []string
	Pending    []api.ProposalView
	History    *api.HistoryView
	CanPropose bool
}

func (s *Server) scopes(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	ctx := r.Context()
	client, err := clientFilter(r, p)
	if err != nil {
		return err
	}
	d := scopesData{Client: client, CanPropose: auth.Allowed(p.Role, auth.PermScopePropose)}
	if p.Role != auth.RoleClientViewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return err
		}
	}
	if d.Pending, err = g.Proposals(ctx, p, client, store.ProposalPending, 0, s.cfg.PageSize); err != nil {
		return err
	}
	if client != "" {
		h, err := g.ScopeHistory(ctx, p, client, s.cfg.PageSize)
		if err != nil {
			return err
		}
		d.History = &h
	}
	return s.render(w, r, p, "scopes", "Scopes", d)
}

// propose takes up to two files from the form: the scope file and,
// optionally, its policy test file.
func (s *Server) propose(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	req := api.ProposalRequest{Client: strings.TrimSpace(r.PostForm.Get("client")), Note: strings.TrimSpace(r.PostForm.Get("note"))}
	for _, slot := range []string{"", "test_"} {
		name, text := strings.TrimSpace(r.PostForm.Get(slot+"name")), r.PostForm.Get(slot+"text")
		if name == "" && strings.TrimSpace(text) == "" {
			continue
		}
		req.Files = append(req.Files, store.ScopeFile{Name: name, Text: text})
	}
	if req.Client == "" || len(req.Files) == 0 {
		return badInput("name the client and paste at least the scope file")
	}
	v, err := g.ProposeScope(r.Context(), p, req)
	if err != nil {
		return err
	}
	s.redirect(w, r, "/scopes/proposals/"+url.PathEscape(v.ID), "proposed; a governance lead or admin other than you approves it")
	return nil
}

type proposalData struct {
	V          api.ProposalView
	CanDecide  bool
	OwnPending bool
}

func (s *Server) proposal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	v, err := g.Proposal(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	pending := v.Status == string(store.ProposalPending)
	d := proposalData{V: v, CanDecide: pending && auth.Allowed(p.Role, auth.PermScopeApprove) && v.Proposer != p.User,
		OwnPending: pending && v.Proposer == p.User}
	return s.render(w, r, p, "proposal", "Proposal "+v.ID, d)
}

func (s *Server) approveProposal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	v, err := g.ApproveProposal(r.Context(), p, r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("note")))
	if err != nil {
		return err
	}
	s.redirect(w, r, "/scopes/proposals/"+url.PathEscape(v.ID), "approved: version "+itoa(v.Version)+" signed and sent to "+v.Client+"'s sites")
	return nil
}

func (s *Server) rejectProposal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if note == "" {
		return badInput("say why you reject the change")
	}
	v, err := g.RejectProposal(r.Context(), p, r.PathValue("id"), note)
	if err != nil {
		return err
	}
	s.redirect(w, r, "/scopes/proposals/"+url.PathEscape(v.ID), "rejected")
	return nil
}
