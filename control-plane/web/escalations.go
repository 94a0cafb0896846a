package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func (s *Server) escalationPages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/escalations", Perm: auth.PermRead, Nav: "Escalations", h: s.escalations},
		{Method: "GET", Pattern: "/escalations/{client}/{id}", Perm: auth.PermRead, h: s.escalation},
		{Method: "POST", Pattern: "/escalations/{client}/{id}/claim", Perm: auth.PermEscalationsWrite, h: s.claimEscalation},
		{Method: "POST", Pattern: "/escalations/{client}/{id}/resolve", Perm: auth.PermEscalationsWrite, h: s.resolveEscalation},
		{Method: "POST", Pattern: "/escalations/{client}/{id}/return", Perm: auth.PermEscalationsWrite, h: s.returnEscalation},
	}
}

// pageOf reads ?page= (0-based).
func pageOf(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 0 || n > 100000 {
		return 0
	}
	return n
}

// pager links to the previous and next page of a list.
type pager struct {
	Page       int
	Prev, Next string
}

func newPager(r *http.Request, page int, more bool) pager {
	q := r.URL.Query()
	pg := pager{Page: page + 1}
	if page > 0 {
		q.Set("page", strconv.Itoa(page-1))
		pg.Prev = r.URL.Path + "?" + q.Encode()
	}
	if more {
		q.Set("page", strconv.Itoa(page+1))
		pg.Next = r.URL.Path + "?" + q.Encode()
	}
	return pg
}

// ages are the queue's "older than" choices.
func ages() []string { return []string{"", "1h", "4h", "24h", "72h", "168h"} }

type escalationsData struct {
	Filter  store.EscalationFilter
	Age     string
	Clients []string
	Ages    []string
	States  []string
	Rows    []store.EscalationRow
	Total   int
	Pager   pager
}

func (s *Server) escalations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, err := s.filterFresh(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.EscalationFilter{Client: client, Site: strings.TrimSpace(q.Get("site")), State: q.Get("state"), Workflow: strings.TrimSpace(q.Get("workflow"))}
	switch f.State {
	case "", store.StateOpen, store.StateClaimed, store.StateResolved:
	default:
		return badInput("state is open, claimed or resolved")
	}
	d := escalationsData{Age: q.Get("age"), Ages: ages(), States: []string{"", store.StateOpen, store.StateClaimed, store.StateResolved}}
	if d.Age != "" {
		age, err := time.ParseDuration(d.Age)
		if err != nil || age <= 0 {
			return badInput("age is a duration like 24h")
		}
		f.OlderThan = s.now().Add(-age)
	}
	d.Filter = f
	if p.Role != auth.RoleClientViewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return err
		}
	}
	page := pageOf(r)
	rows, err := s.d.Store.EscalationQueue(ctx, f, page*s.cfg.PageSize, s.cfg.PageSize+1)
	if err != nil {
		return err
	}
	more := len(rows) > s.cfg.PageSize
	if more {
		rows = rows[:s.cfg.PageSize]
	}
	d.Rows, d.Pager = rows, newPager(r, page, more)
	if d.Total, err = s.d.Store.CountEscalations(ctx, f); err != nil {
		return err
	}
	return s.render(w, r, p, "escalations", "Escalations", d)
}

// auditLine is one decoded audit record.
type auditLine struct {
	Client, Site string
	Index        uint64
	Kind, Actor  string
	Agent, Goal  string
	Time         time.Time
	Payload      string
}

func auditLines(hits []store.AuditHit) []auditLine {
	out := make([]auditLine, 0, len(hits))
	for _, h := range hits {
		l := auditLine{Client: h.Client, Site: h.Site, Index: h.Index, Kind: h.Kind, Goal: h.GoalID, Time: h.Time}
		if rec, err := audit.Decode(h.Record); err == nil {
			l.Actor, l.Agent, l.Payload = rec.Actor, rec.Agent, string(rec.Payload)
		} else {
			l.Payload = "(record does not decode: " + err.Error() + ")"
		}
		out = append(out, l)
	}
	return out
}

// stepView is a plan step with its parameters as text.
type stepView struct {
	Action, Params, Rationale string
}

func stepOf(st *pb.PlanStep) stepView {
	return stepView{Action: st.GetAction(), Params: string(st.GetParamsJson()), Rationale: st.GetRationale()}
}

type attemptView struct {
	Step                  uint32
	Proposed              stepView
	Effect, Rule, Reason  string
	Mode, Status, Error   string
	Observations          []*pb.Observation
	StartedAt, FinishedAt time.Time
	AuditIndex            uint64
}

func attemptsOf(as []*pb.Attempt) []attemptView {
	out := make([]attemptView, 0, len(as))
	for _, a := range as {
		v := attemptView{Step: a.GetStep(), Proposed: stepOf(a.GetProposed()), Effect: a.GetDecision().GetEffect().String(), Rule: a.GetDecision().GetRuleId(),
			Reason: a.GetDecision().GetReason(), Mode: a.GetDecision().GetMode(), Status: a.GetStatus(), Error: a.GetError(),
			Observations: a.GetObservations(), AuditIndex: a.GetAuditIndex()}
		if a.GetStartedAt() != nil {
			v.StartedAt = a.GetStartedAt().AsTime()
		}
		if a.GetFinishedAt() != nil {
			v.FinishedAt = a.GetFinishedAt().AsTime()
		}
		out = append(out, v)
	}
	return out
}

type escalationData struct {
	V        api.EscalationView
	Goal     *pb.Goal
	Planner  string
	Plan     []stepView
	Attempts []attemptView
	Audit    []auditLine
	CanWrite bool
	Subject  map[string]string
	RaisedAt time.Time
	MaxGuide int
}

// auditTrailLimit bounds the audit records shown with one goal.
const auditTrailLimit = 200

func (s *Server) escalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, id := r.PathValue("client"), r.PathValue("id")
	v, e, err := s.d.Actions.Escalation(ctx, p, client, id)
	if err != nil {
		return err
	}
	if err := s.refresh(ctx); err != nil {
		return err
	}
	d := escalationData{V: v, Goal: e.GetGoal(), Planner: e.GetPlan().GetPlanner(), Attempts: attemptsOf(e.GetAttempts()),
		CanWrite: auth.Allowed(p.Role, auth.PermEscalationsWrite), Subject: e.GetGoal().GetSubject(), MaxGuide: api.MaxGuidance}
	if e.GetRaisedAt() != nil {
		d.RaisedAt = e.GetRaisedAt().AsTime()
	}
	for _, st := range e.GetPlan().GetSteps() {
		d.Plan = append(d.Plan, stepOf(st))
	}
	if g := e.GetGoal().GetGoalId(); g != "" {
		hits, err := s.d.Store.AuditSearch(ctx, store.AuditFilter{Client: client, GoalID: g}, 0, auditTrailLimit)
		if err != nil {
			return err
		}
		// Oldest first: the trail reads as the story of the goal.
		for i, j := 0, len(hits)-1; i < j; i, j = i+1, j-1 {
			hits[i], hits[j] = hits[j], hits[i]
		}
		d.Audit = auditLines(hits)
	}
	return s.render(w, r, p, "escalation", "Escalation "+id, d)
}

func escalationPath(r *http.Request) string {
	return "/escalations/" + r.PathValue("client") + "/" + r.PathValue("id")
}

func (s *Server) claimEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := s.d.Actions.ClaimEscalation(r.Context(), p, r.PathValue("client"), r.PathValue("id")); err != nil {
		return err
	}
	s.redirect(w, r, escalationPath(r), "claimed")
	return nil
}

func (s *Server) resolveEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if note == "" {
		return badInput("write a note saying how the escalation was resolved")
	}
	if _, err := s.d.Actions.ResolveEscalation(r.Context(), p, r.PathValue("client"), r.PathValue("id"), note); err != nil {
		return err
	}
	s.redirect(w, r, escalationPath(r), "resolved")
	return nil
}

func (s *Server) returnEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	_, g, err := s.d.Actions.ReturnEscalation(r.Context(), p, r.PathValue("client"), r.PathValue("id"), r.PostForm.Get("guidance"))
	if err != nil {
		return err
	}
	s.redirect(w, r, escalationPath(r), "returned to the agent as goal "+g.GetGoalId())
	return nil
}
