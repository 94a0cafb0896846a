package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Governance is what the samples and scopes pages share with the JSON API
// (implemented by *api.Server, which checks permissions and clients): the
// UI finds it on Deps.Actions.
type Governance interface {
	Samples(ctx context.Context, p auth.Principal, f store.SampleFilter, offset, limit int) ([]api.SampleView, error)
	NextSample(ctx context.Context, p auth.Principal, client, workflow string) (api.SampleView, error)
	Sample(ctx context.Context, p auth.Principal, id string) (api.SampleView, error)
	GradeSample(ctx context.Context, p auth.Principal, id string, req api.GradeRequest) (api.SampleView, error)
	Accuracy(ctx context.Context, p auth.Principal, client string, from, to time.Time) ([]api.AccuracyView, error)
	ProposeScope(ctx context.Context, p auth.Principal, req api.ProposalRequest) (api.ProposalView, error)
	Proposal(ctx context.Context, p auth.Principal, id string) (api.ProposalView, error)
	Proposals(ctx context.Context, p auth.Principal, client string, status store.ProposalStatus, offset, limit int) ([]api.ProposalView, error)
	ApproveProposal(ctx context.Context, p auth.Principal, id, note string) (api.ProposalView, error)
	RejectProposal(ctx context.Context, p auth.Principal, id, note string) (api.ProposalView, error)
	ScopeHistory(ctx context.Context, p auth.Principal, client string, limit int) (api.HistoryView, error)
}

var _ Governance = (*api.Server)(nil)

// gov returns the governance actions, when Deps.Actions has them.
func (s *Server) gov() (Governance, error) {
	g, ok := s.d.Actions.(Governance)
	if !ok {
		return nil, errNoGovernance
	}
	return g, nil
}

func (s *Server) samplePages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/samples", Perm: auth.PermRead, Nav: "Samples", h: s.samples},
		{Method: "GET", Pattern: "/samples/next", Perm: auth.PermSamplesGrade, h: s.nextSample},
		{Method: "GET", Pattern: "/samples/{id}", Perm: auth.PermRead, h: s.sample},
		{Method: "POST", Pattern: "/samples/{id}/grade", Perm: auth.PermSamplesGrade, h: s.gradeSample},
	}
}

type samplesData struct {
	Client, Workflow, Day, Graded string
	Clients                       []string
	Rows                          []api.SampleView
	Accuracy                      []api.AccuracyView
	CanGrade                      bool
	Pager                         pager
}

func (s *Server) samples(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	ctx := r.Context()
	client, err := clientFilter(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := samplesData{Client: client, Workflow: q.Get("workflow"), Day: q.Get("day"), Graded: q.Get("graded"), CanGrade: auth.Allowed(p.Role, auth.PermSamplesGrade)}
	if d.Graded != "" && d.Graded != "yes" && d.Graded != "no" {
		return badInput("graded: choose yes, no or nothing")
	}
	day, err := api.ParseDay(d.Day)
	if err != nil {
		return badInput("day: use a date like 2026-11-25")
	}
	if p.Role != auth.RoleClientViewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return err
		}
	}
	page := pageOf(r)
	rows, err := g.Samples(ctx, p, store.SampleFilter{Client: client, Workflow: d.Workflow, Day: day, Graded: d.Graded}, page*s.cfg.PageSize, s.cfg.PageSize+1)
	if err != nil {
		return err
	}
	more := len(rows) > s.cfg.PageSize
	if more {
		rows = rows[:s.cfg.PageSize]
	}
	d.Rows, d.Pager = rows, newPager(r, page, more)
	// Accuracy of the last 30 sample days, as on the overview.
	since := s.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -30)
	if d.Accuracy, err = g.Accuracy(ctx, p, client, since, time.Time{}); err != nil {
		return err
	}
	return s.render(w, r, p, "samples", "Samples", d)
}

func (s *Server) nextSample(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	client, err := clientFilter(r, p)
	if err != nil {
		return err
	}
	v, err := g.NextSample(r.Context(), p, client, r.URL.Query().Get("workflow"))
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == "no_samples" {
		s.redirect(w, r, "/samples?graded=no", "every sample is graded")
		return nil
	}
	if err != nil {
		return err
	}
	target := "/samples/" + url.PathEscape(v.ID)
	if client != "" {
		target += "?client=" + url.QueryEscape(client)
	}
	s.redirect(w, r, target, r.URL.Query().Get("done"))
	return nil
}

type sampleData struct {
	V        api.SampleView
	Item     string // indented JSON of the decision
	CanGrade bool
	Grades   []string
	Client   string // the filter to keep when moving to the next sample
}

func (s *Server) sample(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	v, err := g.Sample(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := sampleData{V: v, Grades: []string{string(store.GradeCorrect), string(store.GradeIncorrect), string(store.GradeUnsafe)},
		CanGrade: auth.Allowed(p.Role, auth.PermSamplesGrade) && (v.GradedBy == "" || v.GradedBy == p.User), Client: r.URL.Query().Get("client")}
	var buf bytes.Buffer
	if len(v.Item) > 0 && json.Indent(&buf, v.Item, "", "  ") == nil {
		d.Item = buf.String()
	}
	return s.render(w, r, p, "sample", "Sample "+v.ID, d)
}

func (s *Server) gradeSample(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.gov()
	if err != nil {
		return err
	}
	grade := r.PostForm.Get("grade")
	v, err := g.GradeSample(r.Context(), p, r.PathValue("id"), api.GradeRequest{Grade: grade, Note: strings.TrimSpace(r.PostForm.Get("note"))})
	if err != nil {
		return err
	}
	next := "/samples/next"
	if c := r.PostForm.Get("client"); c != "" {
		next += "?client=" + url.QueryEscape(c)
	}
	s.redirect(w, r, next, "sample "+v.ID+" graded "+v.Grade)
	return nil
}
