package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
)

func (s *Server) auditPages() []Page {
	return []Page{
		{Method: "GET", Pattern: "/audit", Perm: auth.PermRead, Nav: "Audit", h: s.auditSearch},
		{Method: "GET", Pattern: "/audit/export", Perm: auth.PermRead, h: s.auditExport},
	}
}

// auditKinds are the record kinds offered in the search form.
func auditKinds() []string {
	return []string{"", string(audit.KindGoalReceived), string(audit.KindPlanStep), string(audit.KindModelCall), string(audit.KindPolicyDecision),
		string(audit.KindActionStart), string(audit.KindActionResult), string(audit.KindValidation), string(audit.KindEscalation),
		string(audit.KindApprovalRequested), string(audit.KindApprovalDecided), string(audit.KindScopeApplied),
		string(audit.KindRunnerStart), string(audit.KindRunnerStop), string(audit.KindGoalOutcome)}
}

type auditData struct {
	Filter      store.AuditFilter
	From, To    string
	Clients     []string
	Kinds       []string
	Lines       []auditLine
	Searched    bool
	Pager       pager
	Viewer      bool
	DefaultFrom string
	DefaultTo   string
}

func (s *Server) auditSearch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	client, err := s.filterFresh(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	now := s.now().UTC()
	d := auditData{Kinds: auditKinds(), From: q.Get("from"), To: q.Get("to"), Viewer: p.Role == auth.RoleClientViewer,
		DefaultFrom: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
		DefaultTo:   now.AddDate(0, 0, 1).Format(time.DateOnly)}
	d.Filter = store.AuditFilter{Client: client, Site: strings.TrimSpace(q.Get("site")), GoalID: strings.TrimSpace(q.Get("goal")), Kind: q.Get("kind")}
	if d.Filter.From, err = api.ParseDay(d.From); err != nil {
		return badInput("from is a date like 2026-11-01")
	}
	if d.Filter.To, err = api.ParseDay(d.To); err != nil {
		return badInput("to is a date like 2026-12-01")
	}
	if !d.Viewer {
		if d.Clients, err = s.d.Store.Clients(ctx); err != nil {
			return err
		}
	}
	if len(q) > 0 {
		d.Searched = true
		page := pageOf(r)
		hits, err := s.d.Store.AuditSearch(ctx, d.Filter, page*s.cfg.PageSize, s.cfg.PageSize+1)
		if err != nil {
			return err
		}
		more := len(hits) > s.cfg.PageSize
		if more {
			hits = hits[:s.cfg.PageSize]
		}
		d.Lines, d.Pager = auditLines(hits), newPager(r, page, more)
	}
	return s.render(w, r, p, "audit", "Audit", d)
}

// lazyDownload sets the download headers on the first write, so an error
// found before any byte is written can still be shown as a page.
type lazyDownload struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (l *lazyDownload) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/octet-stream")
		l.w.Header().Set("Content-Disposition", `attachment; filename="`+l.name+`"`)
	}
	return l.w.Write(b)
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientFilter(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	site := strings.TrimSpace(q.Get("site"))
	if client == "" {
		return errNoClient
	}
	if _, err := audit.Origin(client, site); err != nil {
		return badInput("an export is of one site's log: name the client and the site")
	}
	from, err := api.ParseDay(q.Get("from"))
	if err != nil {
		return badInput("from is a date like 2026-11-01")
	}
	to, err := api.ParseDay(q.Get("to"))
	if err != nil {
		return badInput("to is a date like 2026-12-01")
	}
	lw := &lazyDownload{w: w, name: api.ExportFileName(client, site, from, to)}
	if _, err := s.d.Actions.ExportAudit(r.Context(), p, client, site, from, to, lw, nil); err != nil {
		if lw.started {
			s.log.Error("audit export failed after it started", "client", client, "site", site, "err", err)
			return nil
		}
		return err
	}
	return nil
}
