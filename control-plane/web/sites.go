package web

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func (s *Server) sitePages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/sites", Perm: auth.PermRead, Nav: "Sites", h: s.sites},
		{Method: "POST", Pattern: "/sites/enrollment-tokens", Perm: auth.PermEnroll, h: s.createEnrollToken},
		{Method: "GET", Pattern: "/sites/{client}/{site}", Perm: auth.PermRead, h: s.site},
	}
}

// siteView is a site row with its heartbeat health decoded.
type siteView struct {
	store.SiteRow
	Online      bool
	Uptime      string
	Queues      string
	Scope       uint64
	LogSize     uint64 // audit tree size the site last reported
	Witness     string // ok, behind, none, alert
	WitnessNote string
	Planner     string // which planner the runner uses, from its model status
	PlannerOK   bool   // a model answers
}

// plannerOf says which planner a runner uses, from the model status it
// reports in its heartbeat: its local model when one answers, else the
// scope's playbooks. Empty when the runner reported none.
func plannerOf(m *pb.ModelStatus) (string, bool) {
	if m == nil {
		return "", false
	}
	at := ""
	if m.GetEndpoint() != "" {
		at = " at " + m.GetEndpoint()
	}
	switch m.GetState() {
	case "ready":
		return "planner: model " + m.GetName() + " (ready)", true
	case "unreachable":
		return "planner: playbooks only (no model answers" + at + ")", false
	case "disabled", "":
		return "planner: playbooks only (no model configured)", false
	case "configured":
		return "planner: model " + m.GetName() + " (configured" + at + ", not used yet; playbooks when it does not answer)", false
	default:
		return "planner: model " + m.GetName() + " (" + m.GetState() + ")", false
	}
}

func (s *Server) siteViewOf(r store.SiteRow, onlineSince time.Time) siteView {
	v := siteView{SiteRow: r, Online: !r.LastSeen.IsZero() && !r.LastSeen.Before(onlineSince)}
	var h pb.Health
	if len(r.Health) > 0 && proto.Unmarshal(r.Health, &h) == nil {
		v.Uptime = (time.Duration(h.GetUptimeSeconds()) * time.Second).String()
		var qs []string
		for k, n := range h.GetQueueDepths() {
			qs = append(qs, k+"="+itoa(n))
		}
		sort.Strings(qs)
		v.Queues, v.Scope, v.LogSize = strings.Join(qs, " "), h.GetScopeVersion(), h.GetAuditTreeSize()
		v.Planner, v.PlannerOK = plannerOf(h.GetModel())
	}
	switch {
	case r.Alerts > 0:
		v.Witness, v.WitnessNote = "alert", "the site's log was inconsistent with the witnessed checkpoint"
	case r.CheckpointSize == 0:
		v.Witness, v.WitnessNote = "none", "no checkpoint witnessed yet"
	case v.LogSize > r.CheckpointSize:
		v.Witness, v.WitnessNote = "behind", itoa(v.LogSize-r.CheckpointSize)+" record(s) not witnessed yet"
	default:
		v.Witness = "ok"
	}
	return v
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

type sitesData struct {
	Client    string
	Clients   []string
	Counts    store.SiteCounts
	Rows      []siteView
	Alerts    []store.AuditAlert
	Pager     pager
	CanEnroll bool
	// Token is set right after creating one: shown once.
	Token, TokenSite string
	TokenExpires     time.Time
}

func (s *Server) sitesData(r *http.Request, p auth.Principal) (sitesData, error) {
	ctx := r.Context()
	client, err := clientFilter(r, p)
	if err != nil {
		return sitesData{}, err
	}
	d := sitesData{Client: client, CanEnroll: auth.Allowed(p.Role, auth.PermEnroll)}
	if p.Role != auth.RoleClientViewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return d, err
		}
	}
	since := s.now().Add(-s.cfg.OnlineWindow)
	if d.Counts, err = s.d.Store.SiteCounts(ctx, client, since); err != nil {
		return d, err
	}
	page := pageOf(r)
	rows, err := s.d.Store.SiteRows(ctx, client, page*s.cfg.PageSize, s.cfg.PageSize+1)
	if err != nil {
		return d, err
	}
	more := len(rows) > s.cfg.PageSize
	if more {
		rows = rows[:s.cfg.PageSize]
	}
	for _, row := range rows {
		d.Rows = append(d.Rows, s.siteViewOf(row, since))
	}
	d.Pager = newPager(r, page, more)
	if d.Alerts, err = s.d.Store.AuditAlerts(ctx, client, 20); err != nil {
		return d, err
	}
	return d, nil
}

func (s *Server) sites(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := s.sitesData(r, p)
	if err != nil {
		return err
	}
	return s.render(w, r, p, "sites", "Sites", d)
}

// createEnrollToken shows the new token in the answer itself (never in a
// URL), once.
func (s *Server) createEnrollToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	req := api.EnrollRequest{Client: strings.TrimSpace(r.PostForm.Get("client")), Site: strings.TrimSpace(r.PostForm.Get("site")), TTL: r.PostForm.Get("ttl")}
	req.Fleet = r.PostForm.Get("fleet") == "1"
	switch {
	case req.Fleet:
		n, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("uses")))
		if req.Client == "" || err != nil || n < 1 || n > store.MaxFleetUses {
			return badInput("name the client and how many machines (1-10000) the fleet token may enroll")
		}
		req.Uses = n
	case req.Client == "" || req.Site == "":
		return badInput("name the client and the new site")
	}
	tok, exp, err := s.d.Actions.CreateEnrollToken(r.Context(), p, req)
	if err != nil {
		return err
	}
	d, err := s.sitesData(r, p)
	if err != nil {
		return err
	}
	d.Token, d.TokenSite, d.TokenExpires = tok, req.Client+"/"+req.Site, exp
	if req.Fleet {
		d.TokenSite = fmt.Sprintf("up to %d new sites of %s (fleet token; each runner names its site: SITE_NAME, else its host name)", req.Uses, req.Client)
	}
	return s.render(w, r, p, "sites", "Sites", d)
}
