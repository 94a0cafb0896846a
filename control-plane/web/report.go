package web

import (
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

func (s *Server) reportPages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/report", Perm: auth.PermRead, Nav: "Client report", h: s.report},
	}
}

// Report is the monthly service review of one client: what the agents
// did, how it ended, what people had to do, and the time it saved. The
// JSON form (GET /report?client=C&month=YYYY-MM&format=json) is what
// 'sitewarden report client' prints.
type Report struct {
	Client      string         `json:"client"`
	Month       string         `json:"month"` // YYYY-MM
	From        time.Time      `json:"from"`
	To          time.Time      `json:"to"`
	Goals       int            `json:"goals"`
	ByStatus    map[string]int `json:"by_status"`
	Escalations int            `json:"escalations"`
	// EscalationRate is escalated / finished goals; ResolvedRate resolved / finished.
	EscalationRate float64          `json:"escalation_rate"`
	ResolvedRate   float64          `json:"resolved_rate"`
	TopWorkflows   []WorkflowLine   `json:"top_workflows"`
	Accuracy       []store.Accuracy `json:"accuracy,omitempty"`
	AccuracyReady  bool             `json:"accuracy_ready"`
	// HoursSaved estimates the people's time the resolved goals saved,
	// from the minutes per resolved goal in Assumptions.
	HoursSaved  float64            `json:"hours_saved"`
	Assumptions map[string]float64 `json:"assumption_minutes_per_resolved_goal"`
}

// WorkflowLine is one workflow's goals in a report.
type WorkflowLine struct {
	Workflow       string         `json:"workflow"`
	Goals          int            `json:"goals"`
	ByStatus       map[string]int `json:"by_status"`
	MinutesEach    float64        `json:"minutes_saved_each"`
	HoursSaved     float64        `json:"hours_saved"`
	EscalationRate float64        `json:"escalation_rate"`
}

// maxReportWorkflows bounds the workflows a report lists.
const maxReportWorkflows = 10

// BuildReport computes the client report for the month holding t.
func (s *Server) BuildReport(r *http.Request, client string, month time.Time) (Report, error) {
	ctx := r.Context()
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	rep := Report{Client: client, Month: from.Format("2006-01"), From: from, To: to, ByStatus: map[string]int{}, Assumptions: s.cfg.MinutesSaved}
	counts, err := s.d.Store.GoalCounts(ctx, store.GoalFilter{Client: client, From: from, To: to}, store.ByWorkflow)
	if err != nil {
		return rep, err
	}
	table, _ := tableOf(counts)
	esc, fin := 0, 0
	for _, row := range table.Rows {
		mins, ok := s.cfg.MinutesSaved[row.Key]
		if !ok {
			mins = s.cfg.MinutesSaved["*"]
		}
		wl := WorkflowLine{Workflow: row.Key, Goals: row.Total, ByStatus: row.ByStatus, MinutesEach: mins,
			HoursSaved: float64(row.ByStatus[store.StatusResolved]) * mins / 60, EscalationRate: row.EscalationRate}
		rep.TopWorkflows = append(rep.TopWorkflows, wl)
		rep.Goals += row.Total
		rep.HoursSaved += wl.HoursSaved
		for st, n := range row.ByStatus {
			rep.ByStatus[st] += n
		}
		esc += row.ByStatus[store.StatusEscalated]
		fin += row.Finished
	}
	if fin > 0 {
		rep.EscalationRate = float64(esc) / float64(fin)
		rep.ResolvedRate = float64(rep.ByStatus[store.StatusResolved]) / float64(fin)
	}
	sort.SliceStable(rep.TopWorkflows, func(i, j int) bool { return rep.TopWorkflows[i].Goals > rep.TopWorkflows[j].Goals })
	if len(rep.TopWorkflows) > maxReportWorkflows {
		rep.TopWorkflows = rep.TopWorkflows[:maxReportWorkflows]
	}
	if rep.Escalations, err = s.d.Store.CountEscalations(ctx, store.EscalationFilter{Client: client, From: from, To: to}); err != nil {
		return rep, err
	}
	if s.d.Accuracy != nil {
		rep.AccuracyReady = true
		if rep.Accuracy, err = s.d.Accuracy(ctx, client, from, to); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

type reportData struct {
	Report
	Clients  []string
	Viewer   bool
	Statuses []string
	Chart    template.HTML
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, err := s.filterFresh(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	month := s.now().UTC()
	if v := q.Get("month"); v != "" {
		if month, err = time.Parse("2006-01", v); err != nil {
			return badInput("month is YYYY-MM, e.g. 2026-11")
		}
	}
	asJSON := q.Get("format") == "json"
	d := reportData{Viewer: p.Role == auth.RoleClientViewer, Statuses: statuses()}
	if !d.Viewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return err
		}
	}
	if client == "" {
		if asJSON {
			return errNoClient
		}
		d.Month = month.Format("2006-01")
		return s.render(w, r, p, "report", "Client report", d)
	}
	if d.Report, err = s.BuildReport(r, client, month); err != nil {
		return err
	}
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(d.Report)
	}
	perDay, err := s.d.Store.GoalCounts(ctx, store.GoalFilter{Client: client, From: d.From, To: d.To}, store.ByDay)
	if err != nil {
		return err
	}
	_, ch := tableOf(perDay)
	d.Chart = ch.svg("Goals per day by outcome")
	return s.render(w, r, p, "report", "Service review "+client+" "+d.Month, d)
}
