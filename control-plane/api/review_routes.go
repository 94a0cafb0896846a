package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// reviewRoutes are the samples and scope proposal endpoints (docs/api.md).
func (s *Server) reviewRoutes() []Route {
	return []Route{
		{"GET", "/api/v1/samples", auth.PermRead, s.listSamples},
		{"GET", "/api/v1/samples/next", auth.PermSamplesGrade, s.nextSample},
		{"GET", "/api/v1/samples/{id}", auth.PermRead, s.showSample},
		{"POST", "/api/v1/samples/{id}/grade", auth.PermSamplesGrade, s.gradeSample},
		{"POST", "/api/v1/samples/draw", auth.PermAdmin, s.drawSamples},
		{"GET", "/api/v1/accuracy", auth.PermRead, s.accuracy},
		{"POST", "/api/v1/scopes/proposals", auth.PermScopePropose, s.propose},
		{"GET", "/api/v1/scopes/proposals", auth.PermRead, s.listProposals},
		{"GET", "/api/v1/scopes/proposals/{id}", auth.PermRead, s.showProposal},
		{"POST", "/api/v1/scopes/proposals/{id}/approve", auth.PermScopeApprove, s.approveProposal},
		{"POST", "/api/v1/scopes/proposals/{id}/reject", auth.PermScopeApprove, s.rejectProposal},
		{"GET", "/api/v1/scopes/history", auth.PermRead, s.scopeHistory},
	}
}

func (s *Server) listSamples(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	off, lim, err := s.pageArgs(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	day, err := ParseDay(q.Get("day"))
	if err != nil {
		return err
	}
	f := store.SampleFilter{Client: q.Get("client"), Workflow: q.Get("workflow"), Day: day, Graded: q.Get("graded")}
	if f.Graded != "" && f.Graded != "yes" && f.Graded != "no" {
		return apiErr(http.StatusBadRequest, "invalid", "graded must be yes or no", "")
	}
	list, err := s.Samples(r.Context(), p, f, off, lim+1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page(list, off, lim))
	return nil
}

func (s *Server) nextSample(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := s.NextSample(r.Context(), p, r.URL.Query().Get("client"), r.URL.Query().Get("workflow"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) showSample(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := s.Sample(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) gradeSample(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req GradeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.GradeSample(r.Context(), p, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// DrawRequest names the past day (2006-01-02, UTC) whose sample to draw.
type DrawRequest struct {
	Day string `json:"day"`
}

func (s *Server) drawSamples(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req DrawRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	day, err := time.Parse(time.DateOnly, req.Day)
	if err != nil {
		return apiErr(http.StatusBadRequest, "invalid", "day must be a date, 2006-01-02", "")
	}
	v, err := s.DrawSamples(r.Context(), p, day)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) accuracy(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	from, err := ParseDay(q.Get("from"))
	if err != nil {
		return err
	}
	to, err := ParseDay(q.Get("to"))
	if err != nil {
		return err
	}
	list, err := s.Accuracy(r.Context(), p, q.Get("client"), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]AccuracyView{"items": list})
	return nil
}

func (s *Server) propose(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ProposalRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.ProposeScope(r.Context(), p, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listProposals(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	off, lim, err := s.pageArgs(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	st := store.ProposalStatus(q.Get("status"))
	switch st {
	case "", store.ProposalPending, store.ProposalApproved, store.ProposalRejected:
	default:
		return apiErr(http.StatusBadRequest, "invalid", "status must be pending, approved or rejected", "")
	}
	list, err := s.Proposals(r.Context(), p, q.Get("client"), st, off, lim+1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page(list, off, lim))
	return nil
}

func (s *Server) showProposal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := s.Proposal(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) approveProposal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req NoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.ApproveProposal(r.Context(), p, r.PathValue("id"), req.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) rejectProposal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req NoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.RejectProposal(r.Context(), p, r.PathValue("id"), req.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) scopeHistory(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.cfg.MaxPage {
			return errBadPage
		}
		limit = n
	}
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	h, err := s.ScopeHistory(r.Context(), p, client, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}
