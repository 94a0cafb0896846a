package api

import (
	"net/http"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/protocol/audit"
)

// uiRoutes are the endpoints added with the web UI (docs/ui.md): the same
// actions the pages offer, for the CLI and scripts.
func (s *Server) uiRoutes() []Route {
	return []Route{
		{"POST", "/api/v1/escalations/{client}/{id}/return", auth.PermEscalationsWrite, s.returnEscalation},
		{"GET", "/api/v1/audit/export", auth.PermRead, s.exportAudit},
	}
}

// ReturnRequest hands an escalation back to the agent with guidance.
type ReturnRequest struct {
	Guidance string `json:"guidance"`
}

// ReturnView is the resolved escalation and the goal it became.
type ReturnView struct {
	Escalation EscalationView `json:"escalation"`
	GoalID     string         `json:"goal_id"`
	Site       string         `json:"site"`
}

func (s *Server) returnEscalation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ReturnRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	v, g, err := s.ReturnEscalation(r.Context(), p, client, r.PathValue("id"), req.Guidance)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ReturnView{Escalation: v, GoalID: g.GetGoalId(), Site: g.GetSiteId()})
	return nil
}

// ParseDay reads a period bound: RFC 3339, or a date (2006-01-02, UTC
// midnight); empty is the zero time (no bound).
func ParseDay(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, apiErr(http.StatusBadRequest, "invalid", "a time must be 2006-01-02 or RFC 3339: "+v, "")
	}
	return t, nil
}

// exportAudit streams a site's verifiable audit export for a period:
// ?client=&site=&from=&to= (from inclusive, to exclusive).
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	client, err := clientOf(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, err := ParseDay(q.Get("from"))
	if err != nil {
		return err
	}
	to, err := ParseDay(q.Get("to"))
	if err != nil {
		return err
	}
	site := q.Get("site")
	if _, err := audit.Origin(client, site); err != nil {
		return apiErr(http.StatusBadRequest, "invalid", "an export is of one site's log: "+err.Error(), "pass ?client=NAME&site=NAME")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+ExportFileName(client, site, from, to)+`"`)
	_, err = s.ExportAudit(r.Context(), p, client, site, from, to, w, nil)
	return err
}

// ExportFileName names an export file after its log and period.
func ExportFileName(client, site string, from, to time.Time) string {
	name := "audit-" + client + "-" + site
	if !from.IsZero() {
		name += "-from-" + from.UTC().Format("20060102")
	}
	if !to.IsZero() {
		name += "-to-" + to.UTC().Format("20060102")
	}
	return name + ".swaudit"
}
