package policies

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Step is one action with its parameters, rendered for a goal.
type Step struct {
	Action string
	Params map[string]string
	// Expect is set for a validation step: the values its result must show.
	Expect map[string]any
}

// Playbook is one alternative of a workflow's playbook, rendered for a goal.
type Playbook struct {
	Name  string
	Steps []Step
}

type step struct {
	action string
	params map[string]template
	expect map[string]any
}

type playbook struct {
	name  string
	steps []step
}

// template is a parameter value: literal text and {{goal.ATTR}} holes.
type template []tplPart

type tplPart struct {
	lit  string
	attr string // non-empty: a goal attribute
}

var holeRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

func parseTemplate(s string) (template, error) {
	var t template
	last := 0
	for _, m := range holeRE.FindAllStringSubmatchIndex(s, -1) {
		ref := s[m[2]:m[3]]
		attr, ok := strings.CutPrefix(ref, "goal.")
		if !ok || !attrRE.MatchString(attr) {
			return nil, fmt.Errorf("placeholder {{%s}}: only {{goal.ATTRIBUTE}} is available", ref)
		}
		if m[0] > last {
			t = append(t, tplPart{lit: s[last:m[0]]})
		}
		t = append(t, tplPart{attr: attr})
		last = m[1]
	}
	if last < len(s) {
		t = append(t, tplPart{lit: s[last:]})
	}
	if strings.Contains(t.literal(), "{{") {
		return nil, fmt.Errorf("unclosed placeholder in %q; write {{goal.ATTRIBUTE}}", s)
	}
	return t, nil
}

func (t template) literal() string {
	var b strings.Builder
	for _, p := range t {
		b.WriteString(p.lit)
	}
	return b.String()
}

func (t template) render(goal map[string]any) (string, error) {
	var b strings.Builder
	for _, p := range t {
		if p.attr == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := goal[p.attr]
		if !ok || v == nil {
			return "", fmt.Errorf("%w: the goal has no attribute %q", ErrTemplate, p.attr)
		}
		b.WriteString(formatAttr(v))
	}
	return b.String(), nil
}

func formatAttr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func buildStep(d StepDoc, at loc, actions map[string]string) (step, error) {
	if _, ok := actions[d.Action]; !ok {
		return step{}, at.sub(".action").errf("action %q is not declared by any trusted plugin in the catalog", d.Action)
	}
	st := step{action: d.Action, params: map[string]template{}, expect: d.Expect}
	for k, v := range d.Expect {
		switch v.(type) {
		case string, bool, int, int64, uint64, float64:
		default:
			return step{}, at.sub(".expect."+k).errf("expect %s: only a string, number or boolean can be expected, got %T", k, v)
		}
	}
	for _, k := range sortedKeys(d.Params) {
		t, err := parseTemplate(d.Params[k])
		if err != nil {
			return step{}, at.sub(".params."+k).errf("parameter %s: %v", k, err)
		}
		st.params[k] = t
	}
	return st, nil
}

func buildPlaybook(alts []PlaybookDoc, at loc, actions map[string]string) ([]playbook, error) {
	if len(alts) == 0 {
		return nil, at.errf("playbook lists no alternatives; add at least one with steps")
	}
	out := make([]playbook, 0, len(alts))
	seen := map[string]bool{}
	for i, alt := range alts {
		aat := at.sub(fmt.Sprintf("[%d]", i))
		if !nameRE.MatchString(alt.Name) || seen[alt.Name] {
			return nil, aat.sub(".name").errf("playbook alternative name %q: give each alternative a unique lowercase name", alt.Name)
		}
		seen[alt.Name] = true
		if len(alt.Steps) == 0 {
			return nil, aat.errf("playbook alternative %s has no steps", alt.Name)
		}
		pb := playbook{name: alt.Name}
		for j, sd := range alt.Steps {
			st, err := buildStep(sd, aat.sub(fmt.Sprintf(".steps[%d]", j)), actions)
			if err != nil {
				return nil, err
			}
			pb.steps = append(pb.steps, st)
		}
		out = append(out, pb)
	}
	return out, nil
}

func (st step) render(goal map[string]any) (Step, error) {
	out := Step{Action: st.action, Params: make(map[string]string, len(st.params)), Expect: st.expect}
	for k, t := range st.params {
		v, err := t.render(goal)
		if err != nil {
			return Step{}, fmt.Errorf("%s parameter %s: %w", st.action, k, err)
		}
		out.Params[k] = v
	}
	return out, nil
}

// Playbooks returns the workflow's playbook rendered for a goal: the
// alternatives in the order to try them. It returns nil, nil when the scope
// has no playbook for the workflow, and an ErrTemplate error when the goal
// lacks an attribute a step needs. Each step is still decided by Decide.
func (s *Scope) Playbooks(workflow string, goal map[string]any) ([]Playbook, error) {
	pbs := s.playbooks[workflow]
	if len(pbs) == 0 {
		return nil, nil
	}
	out := make([]Playbook, 0, len(pbs))
	for _, pb := range pbs {
		r := Playbook{Name: pb.name}
		for _, st := range pb.steps {
			rs, err := st.render(goal)
			if err != nil {
				return nil, fmt.Errorf("playbook %s alternative %s: %w", workflow, pb.name, err)
			}
			r.Steps = append(r.Steps, rs)
		}
		out = append(out, r)
	}
	return out, nil
}

// Validation returns the step that checks a goal of workflow succeeded,
// rendered for goal; ok is false when the scope names none.
func (s *Scope) Validation(workflow string, goal map[string]any) (st Step, ok bool, err error) {
	v, ok := s.validation[workflow]
	if !ok {
		return Step{}, false, nil
	}
	st, err = v.render(goal)
	if err != nil {
		return Step{}, true, fmt.Errorf("validation of %s: %w", workflow, err)
	}
	return st, true, nil
}
