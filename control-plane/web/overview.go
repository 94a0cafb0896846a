package web

import (
	"context"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

func (s *Server) overviewPages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/{$}", Perm: auth.PermRead, Nav: "Overview", h: s.overview},
	}
}

// statuses returns the order outcomes are drawn and listed in.
func statuses() []string {
	return []string{store.StatusResolved, store.StatusEscalated, store.StatusDenied, store.StatusFailed, store.StatusAwaitingApproval, store.StatusAssigned}
}

// finished reports whether a status ends a goal (it counts in rates).
func finished(st string) bool {
	return st != store.StatusAssigned && st != store.StatusAwaitingApproval
}

// clientFilter returns the client a page shows: a client viewer's own,
// else the ?client= choice ("" for all). A viewer asking for another
// client is refused.
func clientFilter(r *http.Request, p auth.Principal) (string, error) {
	c := r.URL.Query().Get("client")
	if p.Role == auth.RoleClientViewer {
		if c != "" && c != p.Client {
			return "", errForbidden
		}
		return p.Client, nil
	}
	return c, nil
}

// filterFresh reads the page's client filter (clientFilter) and brings the
// dashboards' indexes up to date (refresh).
func (s *Server) filterFresh(r *http.Request, p auth.Principal) (string, error) {
	client, err := clientFilter(r, p)
	if err != nil {
		return "", err
	}
	return client, s.refresh(r.Context())
}

// refresh indexes what arrived since the last page view, within budget.
func (s *Server) refresh(ctx context.Context) error {
	_, err := s.d.Store.RefreshStats(ctx, s.cfg.RefreshBudget)
	return err
}

// groupTable is goal counts of one grouping, ready to show.
type groupTable struct {
	Rows []groupRow
}

type groupRow struct {
	Key                    string
	ByStatus               map[string]int
	Total, Finished        int
	EscalationRate, Solved float64
}

func tableOf(cs []store.GoalCount) (groupTable, barChart) {
	ch := barChart{Statuses: statuses(), Counts: map[string]map[string]int{}}
	for _, c := range cs {
		if ch.Counts[c.Key] == nil {
			ch.Keys = append(ch.Keys, c.Key)
			ch.Counts[c.Key] = map[string]int{}
		}
		ch.Counts[c.Key][c.Status] += c.N
	}
	var t groupTable
	for _, k := range ch.Keys {
		r := groupRow{Key: k, ByStatus: ch.Counts[k]}
		for st, n := range r.ByStatus {
			r.Total += n
			if finished(st) {
				r.Finished += n
			}
		}
		if r.Finished > 0 {
			r.EscalationRate = float64(r.ByStatus[store.StatusEscalated]) / float64(r.Finished)
			r.Solved = float64(r.ByStatus[store.StatusResolved]) / float64(r.Finished)
		}
		t.Rows = append(t.Rows, r)
	}
	return t, ch
}

type overviewData struct {
	Client, Since   string
	Clients         []string
	Sites           store.SiteCounts
	Versions        []versionCount
	OpenEscalations int
	PendingApproval int
	Goals           int
	EscalationRate  float64
	PerDay          template.HTML
	RateChart       template.HTML
	ByClient        groupTable
	ByWorkflow      groupTable
	Statuses        []string
	// Accuracy is the graded-sample accuracy (samples feature, store.Review);
	// AccuracyReady is false until that feature fills Deps.Accuracy.
	Accuracy      []store.Accuracy
	AccuracyReady bool
}

type versionCount struct {
	Version string
	Sites   int
}

// overviewDays is the period the overview's charts cover.
const overviewDays = 30

func (s *Server) overview(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, err := s.filterFresh(r, p)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	to := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	from := to.AddDate(0, 0, -overviewDays)
	d := overviewData{Client: client, Since: from.Format(time.DateOnly), Statuses: statuses()}
	if p.Role != auth.RoleClientViewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return err
		}
	}
	if d.Sites, err = s.d.Store.SiteCounts(ctx, client, now.Add(-s.cfg.OnlineWindow)); err != nil {
		return err
	}
	for v, n := range d.Sites.Versions {
		if v == "" {
			v = "(never seen)"
		}
		d.Versions = append(d.Versions, versionCount{v, n})
	}
	sort.Slice(d.Versions, func(i, j int) bool { return d.Versions[i].Version > d.Versions[j].Version })
	if d.OpenEscalations, err = s.d.Store.CountEscalations(ctx, store.EscalationFilter{Client: client, State: store.StateOpen}); err != nil {
		return err
	}
	pending, err := s.d.Store.ApprovalQueue(ctx, store.ApprovalFilter{Client: client, Pending: true, Now: now}, 0, 500)
	if err != nil {
		return err
	}
	d.PendingApproval = len(pending)
	f := store.GoalFilter{Client: client, From: from, To: to}
	perDay, err := s.d.Store.GoalCounts(ctx, f, store.ByDay)
	if err != nil {
		return err
	}
	days, dayChart := tableOf(perDay)
	d.PerDay = dayChart.svg("Goals per day by outcome")
	var keys []string
	var rates []float64
	esc, fin := 0, 0
	for _, row := range days.Rows {
		keys, rates = append(keys, row.Key), append(rates, row.EscalationRate)
		d.Goals += row.Total
		esc += row.ByStatus[store.StatusEscalated]
		fin += row.Finished
	}
	if fin > 0 {
		d.EscalationRate = float64(esc) / float64(fin)
	}
	d.RateChart = lineChart("Escalation rate per day", keys, rates)
	byClient, err := s.d.Store.GoalCounts(ctx, f, store.ByClient)
	if err != nil {
		return err
	}
	d.ByClient, _ = tableOf(byClient)
	byWF, err := s.d.Store.GoalCounts(ctx, f, store.ByWorkflow)
	if err != nil {
		return err
	}
	d.ByWorkflow, _ = tableOf(byWF)
	if s.d.Accuracy != nil {
		d.AccuracyReady = true
		if d.Accuracy, err = s.d.Accuracy(ctx, client, from, to); err != nil {
			return err
		}
	}
	return s.render(w, r, p, "overview", "Overview", d)
}
