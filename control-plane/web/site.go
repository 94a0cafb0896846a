package web

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// The site page: one site's identity, health, scope, recent goals, open
// work and enrollment tokens (docs/ui.md, "Site").

// siteGoalDays is the period of the site page's goal chart.
const siteGoalDays = 14

// siteListLimit bounds each list on the site page (escalations, approvals,
// alerts, tokens); the page links to the full list where there is one.
const siteListLimit = 20

// sitePath is the site page's path.
func sitePath(client, site string) string {
	return "/sites/" + url.PathEscape(client) + "/" + url.PathEscape(site)
}

// certState says where a site certificate stands at now. The control
// plane issued it at issued (enrollment or the last renewal) valid until
// notAfter; the runner renews when less than a third of its life is left
// (runner/enroll.RenewDue).
type certState struct {
	State    string // valid, renewal due, expired, unknown
	Note     string
	RenewsAt time.Time
}

func certStateOf(issued, notAfter, now time.Time) certState {
	switch {
	case notAfter.IsZero():
		return certState{State: "unknown", Note: "no certificate recorded"}
	case !now.Before(notAfter):
		return certState{State: "expired", Note: "the runner can neither sync nor renew; enroll it again with a new token"}
	case issued.IsZero() || !issued.Before(notAfter):
		return certState{State: "valid"}
	}
	renewAt := notAfter.Add(-notAfter.Sub(issued) / 3)
	if !now.Before(renewAt) {
		return certState{State: "renewal due", RenewsAt: renewAt,
			Note: "the runner renews on its next connection; if this stays, check that the site reaches the control plane"}
	}
	return certState{State: "valid", RenewsAt: renewAt}
}

// tokenView is an enrollment token's state at now.
type tokenView struct {
	store.TokenInfo
	State string // used, expired, unused, revoked; a fleet token: enrolled (this site)
}

func tokenViews(ts []store.TokenInfo, now time.Time) []tokenView {
	out := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		v := tokenView{TokenInfo: t, State: "unused"}
		switch {
		case t.Fleet:
			// Listed here because it enrolled this site.
			v.State = "enrolled"
		case !t.UsedAt.IsZero():
			v.State = "used"
		case !t.RevokedAt.IsZero():
			v.State = "revoked"
		case !now.Before(t.ExpiresAt):
			v.State = "expired"
		}
		out = append(out, v)
	}
	return out
}

type siteData struct {
	V    siteView
	Path string
	Cert certState
	// HasHealth: the site sent a heartbeat with its health.
	HasHealth bool
	Plugins   []*pb.PluginStatus
	Outbox    uint64 // items waiting in the runner's outbox (sync lag)
	HasQueue  bool   // the heartbeat reported an outbox depth
	SeenAgo   string
	// Scope: the version the runner applied (V.Scope) and its expiry, and
	// the newest one published for the client.
	ScopeExpires   time.Time
	Published      uint64
	PublishedAt    time.Time
	ScopeBehind    bool
	Chart          template.HTML
	Since          string
	Statuses       []string
	Goals          groupRow // totals of the chart's period
	Open, Claimed  []store.EscalationRow
	OpenN, ClaimN  int
	Approvals      []store.ApprovalRow
	Alerts         []store.AuditAlert
	Tokens         []tokenView
	EscalationsURL string
	CanEnroll      bool
}

func (s *Server) site(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, site := r.PathValue("client"), r.PathValue("site")
	// Client first, existence second: a viewer learns nothing of another
	// client's sites (403 as on every other page of another client).
	if !p.CanSeeClient(client) {
		return errForbidden
	}
	if err := s.refresh(ctx); err != nil {
		return err
	}
	row, err := s.d.Store.SiteRow(ctx, client, site)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	d := siteData{V: s.siteViewOf(row, now.Add(-s.cfg.OnlineWindow)), Path: sitePath(client, site), Cert: certStateOf(row.EnrolledAt, row.CertNotAfter, now),
		Statuses: statuses(), CanEnroll: auth.Allowed(p.Role, auth.PermEnroll)}
	if !row.LastSeen.IsZero() {
		d.SeenAgo = now.Sub(row.LastSeen).Round(time.Second).String()
	}
	var h pb.Health
	if len(row.Health) > 0 && proto.Unmarshal(row.Health, &h) == nil {
		d.HasHealth, d.Plugins = true, h.GetPlugins()
		d.Outbox, d.HasQueue = h.GetQueueDepths()["outbox"]
		if h.GetScopeExpiresAt() != nil {
			d.ScopeExpires = h.GetScopeExpiresAt().AsTime()
		}
	}
	switch sv, err := s.d.Store.LatestScope(ctx, client); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		d.Published, d.PublishedAt = sv.Version, sv.CreatedAt
		d.ScopeBehind = d.V.Scope < sv.Version
	}
	to := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	from := to.AddDate(0, 0, -siteGoalDays)
	d.Since = from.Format(time.DateOnly)
	counts, err := s.d.Store.SiteGoalCounts(ctx, client, site, from, to)
	if err != nil {
		return err
	}
	d.Chart, d.Goals = siteChart(counts, from)
	f := store.EscalationFilter{Client: client, Site: site, State: store.StateOpen}
	if d.Open, d.OpenN, err = s.escalationList(r, f); err != nil {
		return err
	}
	f.State = store.StateClaimed
	if d.Claimed, d.ClaimN, err = s.escalationList(r, f); err != nil {
		return err
	}
	d.EscalationsURL = "/escalations?" + url.Values{"client": {client}, "site": {site}}.Encode()
	if d.Approvals, err = s.d.Store.ApprovalQueue(ctx, store.ApprovalFilter{Client: client, Site: site, Pending: true, Now: now}, 0, siteListLimit); err != nil {
		return err
	}
	if d.Alerts, err = s.d.Store.SiteAuditAlerts(ctx, client, site, siteListLimit); err != nil {
		return err
	}
	toks, err := s.d.Store.SiteTokens(ctx, client, site, siteListLimit)
	if err != nil {
		return err
	}
	d.Tokens = tokenViews(toks, now)
	return s.render(w, r, p, "site", "Site "+client+"/"+site, d)
}

// escalationList returns the first escalations matching f and how many
// match in all.
func (s *Server) escalationList(r *http.Request, f store.EscalationFilter) ([]store.EscalationRow, int, error) {
	rows, err := s.d.Store.EscalationQueue(r.Context(), f, 0, siteListLimit)
	if err != nil {
		return nil, 0, err
	}
	n := len(rows)
	if n == siteListLimit {
		if n, err = s.d.Store.CountEscalations(r.Context(), f); err != nil {
			return nil, 0, err
		}
	}
	return rows, n, nil
}

// siteChart draws a site's goals per day by outcome over every day from
// from on (days without goals included, so the bars keep their dates),
// and totals them.
func siteChart(counts []store.GoalCount, from time.Time) (template.HTML, groupRow) {
	ch := barChart{Statuses: statuses(), Counts: map[string]map[string]int{}}
	for i := range siteGoalDays {
		k := from.AddDate(0, 0, i).Format(time.DateOnly)
		ch.Keys = append(ch.Keys, k)
		ch.Counts[k] = map[string]int{}
	}
	tot := groupRow{ByStatus: map[string]int{}}
	for _, c := range counts {
		if m, ok := ch.Counts[c.Key]; ok {
			m[c.Status] += c.N
		}
		tot.ByStatus[c.Status] += c.N
		tot.Total += c.N
		if finished(c.Status) {
			tot.Finished += c.N
		}
	}
	if tot.Finished > 0 {
		tot.EscalationRate = float64(tot.ByStatus[store.StatusEscalated]) / float64(tot.Finished)
		tot.Solved = float64(tot.ByStatus[store.StatusResolved]) / float64(tot.Finished)
	}
	if tot.Total == 0 {
		ch.Keys = nil // "no data yet"
	}
	return ch.svg("Goals per day by outcome, last 14 days"), tot
}
