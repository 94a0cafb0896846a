package policies

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Step is one action with its parameters, rendered for a goal.
type Step struct {
	Action string
	// Params are the step's parameters, typed as the scope wrote them:
	// string (placeholders filled), int64, float64, bool, or []any of those.
	Params map[string]any
	// Expect is set for a validation step: the values its result must show.
	Expect map[string]any
}

// Playbook is one alternative of a workflow's playbook, rendered for a goal.
type Playbook struct {
	Name  string
	Steps []Step
	// Skipped is set, and Steps empty, when the alternative cannot be used
	// for this goal because an input it needs is absent (e.g. "the goal has
	// no attribute \"mail\""): the planner skips it and says why.
	Skipped string
}

type step struct {
	action string
	params map[string]param
	expect map[string]any
}

type playbook struct {
	name  string
	steps []step
}

// param is a parameter value as written: a string template, a literal
// (int64, float64, bool), or a list of those.
type param struct {
	tpl  template
	lit  any
	list []param
	kind paramKind
}

type paramKind uint8

const (
	paramString paramKind = iota
	paramLiteral
	paramList
)

// maxListParam bounds a list parameter's elements.
const maxListParam = 256

// buildParam turns a decoded YAML or JSON value into a param.
func buildParam(v any, inList bool) (param, error) {
	switch x := v.(type) {
	case string:
		t, err := parseTemplate(x)
		return param{tpl: t, kind: paramString}, err
	case bool, float64:
		return param{lit: x, kind: paramLiteral}, nil
	case int:
		return param{lit: int64(x), kind: paramLiteral}, nil
	case int64:
		return param{lit: x, kind: paramLiteral}, nil
	case uint64:
		if x > 1<<62 {
			return param{}, fmt.Errorf("integer %d is too large", x)
		}
		return param{lit: int64(x), kind: paramLiteral}, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return param{lit: n, kind: paramLiteral}, nil
		}
		f, err := x.Float64()
		return param{lit: f, kind: paramLiteral}, err
	case []any:
		if inList {
			return param{}, errors.New("a list inside a list is not a parameter value; flatten it")
		}
		if len(x) > maxListParam {
			return param{}, fmt.Errorf("a list of %d values, more than %d", len(x), maxListParam)
		}
		p := param{kind: paramList, list: make([]param, 0, len(x))}
		for i, e := range x {
			ep, err := buildParam(e, true)
			if err != nil {
				return param{}, fmt.Errorf("element %d: %w", i, err)
			}
			p.list = append(p.list, ep)
		}
		return p, nil
	case nil:
		return param{}, errors.New("no value; write a value or remove the parameter")
	}
	return param{}, fmt.Errorf("a %T is not a parameter value; write a string, number, boolean or a list of those", v)
}

func (p param) render(goal map[string]any) (any, error) {
	switch p.kind {
	case paramString:
		return p.tpl.render(goal)
	case paramList:
		out := make([]any, 0, len(p.list))
		for _, e := range p.list {
			v, err := e.render(goal)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return p.lit, nil
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

// holes reports whether the template has a placeholder.
func (t template) holes() bool {
	for _, p := range t {
		if p.attr != "" {
			return true
		}
	}
	return false
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

func buildStep(d StepDoc, at loc, env stepEnv) (step, error) {
	if _, ok := env.actions[d.Action]; !ok {
		return step{}, at.sub(".action").errf("action %q is not declared by any trusted plugin in the catalog", d.Action)
	}
	st := step{action: d.Action, params: map[string]param{}, expect: d.Expect}
	for k, v := range d.Expect {
		switch v.(type) {
		case string, bool, int, int64, uint64, float64:
		default:
			return step{}, at.sub(".expect."+k).errf("expect %s: only a string, number or boolean can be expected, got %T", k, v)
		}
	}
	for _, k := range sortedKeys(d.Params) {
		p, err := buildParam(d.Params[k], false)
		if err != nil {
			return step{}, at.sub(".params."+k).errf("parameter %s: %v", k, err)
		}
		st.params[k] = p
	}
	if schema, ok := env.schemas[d.Action]; ok {
		if path, err := checkParams(d.Action, schema, st.params); err != nil {
			return step{}, at.sub(".params"+path).errf("%v", err)
		}
	}
	return st, nil
}

func buildPlaybook(alts []PlaybookDoc, at loc, env stepEnv) ([]playbook, error) {
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
			st, err := buildStep(sd, aat.sub(fmt.Sprintf(".steps[%d]", j)), env)
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
	out := Step{Action: st.action, Params: make(map[string]any, len(st.params)), Expect: st.expect}
	for k, p := range st.params {
		v, err := p.render(goal)
		if err != nil {
			return Step{}, fmt.Errorf("%s parameter %s: %w", st.action, k, err)
		}
		out.Params[k] = v
	}
	return out, nil
}

// Playbooks returns the workflow's playbook rendered for a goal: the
// alternatives in the order to try them. It returns nil, nil when the scope
// has no playbook for the workflow. An alternative a step of which names a
// goal attribute the goal lacks is returned with Skipped saying which (an
// ErrTemplate message) and no steps, so the others still serve the goal.
// Each step is still decided by Decide.
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
				r.Steps, r.Skipped = nil, err.Error()
				break
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
