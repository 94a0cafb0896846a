package agent

import (
	"encoding/json"
	"errors"

	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/runner/model"
)

// planner builds the planner for one goal: the local model with the
// scope's playbook as fallback, the playbook alone when no model is
// configured, or the model alone when the scope has no playbook.
func (a *Agent) planner(s *policies.Scope, g Goal) (model.Planner, error) {
	goal := make(map[string]any, len(g.Subject))
	for k, v := range g.Subject {
		goal[k] = v
	}
	alts, err := s.Playbooks(g.Workflow, goal)
	var pb model.Planner
	if err == nil && len(alts) > 0 {
		book := model.Playbook{ID: g.Workflow, Workflow: g.Workflow}
		for _, alt := range alts {
			m := model.Alternative{Name: alt.Name, Skipped: alt.Skipped}
			for _, st := range alt.Steps {
				params, _ := json.Marshal(st.Params)
				m.Steps = append(m.Steps, model.PlaybookStep{Action: st.Action, Params: params})
			}
			book.Alternatives = append(book.Alternatives, m)
		}
		p, perr := model.NewPlaybookPlanner([]model.Playbook{book})
		if perr != nil {
			return nil, perr
		}
		pb = p
	}
	switch {
	case a.d.Model != nil && pb != nil:
		return model.NewFallback(a.d.Model, pb, a.cfg.Fallback, a.d.Log)
	case a.d.Model != nil:
		return a.d.Model, nil
	case pb != nil:
		return pb, nil
	case err != nil:
		return nil, err
	}
	return nil, errors.New("no local model is configured and the scope has no playbook for this workflow")
}

// forget drops per-goal planner state.
func (a *Agent) forget(p model.Planner, goalID string) {
	if f, ok := p.(interface{ Forget(string) }); ok {
		f.Forget(goalID)
	}
}
