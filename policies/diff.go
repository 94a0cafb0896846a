package policies

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Change marks.
const (
	// Widens: the change grants something the old scope did not (or might:
	// a changed condition is marked Widens, so a person reads it).
	Widens = "WIDENS"
	// Narrows: the change takes something away.
	Narrows = "NARROWS"
)

// Change is one difference between two scopes.
type Change struct {
	Mark    string `json:"mark"`    // Widens or Narrows
	Subject string `json:"subject"` // what changed, e.g. "agent account-helper, allow rule unlock"
	Detail  string `json:"detail"`  // how, in words
}

// String renders the change as one line: "WIDENS  subject: detail".
func (c Change) String() string { return fmt.Sprintf("%-7s %s: %s", c.Mark, c.Subject, c.Detail) }

type differ struct{ out []Change }

func (d *differ) add(mark, subject, format string, args ...any) {
	d.out = append(d.out, Change{Mark: mark, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

// more adds Widens when grows is true, Narrows otherwise.
func (d *differ) more(grows bool, subject, format string, args ...any) {
	mark := Narrows
	if grows {
		mark = Widens
	}
	d.add(mark, subject, format, args...)
}

// Diff lists what changes from old to new, each change marked Widens or
// Narrows, in a stable order: client and sites, offline validity, catalog,
// agents (workflows, modes, budgets, rules, data scope), playbooks,
// validation. Descriptions and comments are ignored.
func Diff(old, new *Scope) []Change {
	d := &differ{}
	o, n := old.doc, new.doc
	if o.Client != n.Client {
		d.add(Widens, "client", "changed from %s to %s", o.Client, n.Client)
	}
	d.sets("sites", o.Sites, n.Sites, true, "site")
	if old.maxOffline != new.maxOffline {
		d.more(new.maxOffline > old.maxOffline, "maxOfflineValidity", "%s -> %s", FormatDuration(old.maxOffline), FormatDuration(new.maxOffline))
	}
	d.catalog(old.catalog, new.catalog)
	oa, na := agentMap(o.Agents), agentMap(n.Agents)
	for _, name := range unionKeys(oa, na) {
		a, b := oa[name], na[name]
		subj := "agent " + name
		switch {
		case a == nil:
			d.add(Widens, subj, "new agent handling %s", describeWorkflows(b.Workflows))
			for _, r := range b.Deny {
				d.add(Narrows, subj+", deny rule "+r.ID, "new: %s", describeRule(r))
			}
			for _, r := range b.Allow {
				d.add(Widens, subj+", allow rule "+r.ID, "new: %s", describeRule(r))
			}
			for _, kind := range slices.Sorted(maps.Keys(b.Data)) {
				d.add(Widens, subj+", data "+kind, "may read %s", strings.Join(b.Data[kind], ", "))
			}
		case b == nil:
			d.add(Narrows, subj, "agent removed")
		default:
			d.agent(subj, a, b)
		}
	}
	d.playbooks(o.Playbooks, n.Playbooks)
	for _, wf := range unionKeys(o.Validation, n.Validation) {
		a, okA := o.Validation[wf]
		b, okB := n.Validation[wf]
		subj := "validation of " + wf
		switch {
		case !okA:
			d.add(Narrows, subj, "added: %s", describeStep(b))
		case !okB:
			d.add(Widens, subj, "removed (was %s); success is no longer checked", describeStep(a))
		case !reflect.DeepEqual(a, b):
			d.add(Widens, subj, "changed from %s to %s; review that it still proves success", describeStep(a), describeStep(b))
		}
	}
	return d.out
}

func (d *differ) sets(subject string, old, new []string, addWidens bool, noun string) {
	for _, x := range new {
		if !slices.Contains(old, x) {
			d.more(addWidens, subject, "%s %s added", noun, x)
		}
	}
	for _, x := range old {
		if !slices.Contains(new, x) {
			d.more(!addWidens, subject, "%s %s removed", noun, x)
		}
	}
}

func (d *differ) catalog(old, new []Plugin) {
	om, nm := map[string]Plugin{}, map[string]Plugin{}
	for _, p := range old {
		om[p.Name] = p
	}
	for _, p := range new {
		nm[p.Name] = p
	}
	for _, name := range unionKeys(om, nm) {
		a, okA := om[name]
		b, okB := nm[name]
		subj := "catalog plugin " + name
		switch {
		case !okA:
			d.add(Widens, subj, "now trusted: %s sha256 %s, actions %s", b.Version, b.SHA256, strings.Join(b.Actions, ", "))
		case !okB:
			d.add(Narrows, subj, "no longer trusted")
		default:
			if a.Version != b.Version || a.SHA256 != b.SHA256 {
				d.add(Widens, subj, "trusts a different build: %s sha256 %s (was %s sha256 %s)", b.Version, b.SHA256, a.Version, a.SHA256)
			}
			d.sets(subj, a.Actions, b.Actions, true, "action")
		}
	}
}

func (d *differ) agent(subj string, a, b *AgentDoc) {
	for _, wf := range unionKeys(a.Workflows, b.Workflows) {
		x, okA := a.Workflows[wf]
		y, okB := b.Workflows[wf]
		ws := subj + ", workflow " + wf
		switch {
		case !okA:
			d.add(Widens, ws, "now handled, mode %s, budget %s", y.Mode, describeBudget(y.Budget))
			continue
		case !okB:
			d.add(Narrows, ws, "no longer handled")
			continue
		}
		if x.Mode != y.Mode {
			d.more(Mode(y.Mode).rank() > Mode(x.Mode).rank(), ws, "mode %s -> %s", x.Mode, y.Mode)
		}
		if x.Budget.MaxSteps != y.Budget.MaxSteps {
			d.more(y.Budget.MaxSteps > x.Budget.MaxSteps, ws, "budget maxSteps %d -> %d", x.Budget.MaxSteps, y.Budget.MaxSteps)
		}
		if x.Budget.MaxActions != y.Budget.MaxActions {
			d.more(y.Budget.MaxActions > x.Budget.MaxActions, ws, "budget maxActions %d -> %d", x.Budget.MaxActions, y.Budget.MaxActions)
		}
		tx, _ := ParseDuration(x.Budget.MaxWallTime)
		ty, _ := ParseDuration(y.Budget.MaxWallTime)
		if tx != ty {
			d.more(ty > tx, ws, "budget maxWallTime %s -> %s", x.Budget.MaxWallTime, y.Budget.MaxWallTime)
		}
	}
	d.rules(subj, a, b, false)
	d.rules(subj, a, b, true)
	for _, kind := range unionKeys(a.Data, b.Data) {
		x, okA := a.Data[kind]
		y, okB := b.Data[kind]
		ds := subj + ", data " + kind
		switch {
		case !okA:
			d.add(Widens, ds, "may now read %s", strings.Join(y, ", "))
		case !okB:
			d.add(Narrows, ds, "may no longer read any of %s", strings.Join(x, ", "))
		default:
			d.sets(ds, x, y, true, "attribute")
		}
	}
}

// rules compares allow rules (deny false) or deny rules by ID. For a deny
// rule every direction is reversed: a new deny rule narrows.
func (d *differ) rules(subj string, a, b *AgentDoc, deny bool) {
	kind, ra, rb := "allow", a.Allow, b.Allow
	if deny {
		kind, ra, rb = "deny", a.Deny, b.Deny
	}
	om, nm := ruleMap(ra), ruleMap(rb)
	for _, id := range unionKeys(om, nm) {
		x, y := om[id], nm[id]
		rs := subj + ", " + kind + " rule " + id
		grant := !deny // whether adding this rule (or its reach) widens
		switch {
		case x == nil:
			d.more(grant, rs, "new: %s", describeRule(*y))
			continue
		case y == nil:
			d.more(!grant, rs, "removed (was: %s)", describeRule(*x))
			continue
		}
		d.sets(rs, x.Actions, y.Actions, grant, "action")
		wa, wb := ruleWorkflows(x, a), ruleWorkflows(y, b)
		d.sets(rs, wa, wb, grant, "workflow")
		switch {
		case x.When == y.When:
		case y.When == "":
			d.more(grant, rs, "condition removed (was: %s)", x.When)
		case x.When == "":
			d.more(!grant, rs, "condition added: %s", y.When)
		default:
			d.add(Widens, rs, "condition changed; review it: %s -> %s", x.When, y.When)
		}
		switch {
		case x.Approval == y.Approval:
		case y.Approval == "":
			d.more(grant, rs, "approval no longer required")
		default:
			d.more(!grant, rs, "approval now required")
		}
	}
}

func (d *differ) playbooks(old, new map[string][]PlaybookDoc) {
	for _, wf := range unionKeys(old, new) {
		a, b := old[wf], new[wf]
		ps := "playbook " + wf
		am, bm := map[string]PlaybookDoc{}, map[string]PlaybookDoc{}
		for _, p := range a {
			am[p.Name] = p
		}
		for _, p := range b {
			bm[p.Name] = p
		}
		for _, name := range unionKeys(am, bm) {
			x, okA := am[name]
			y, okB := bm[name]
			switch {
			case !okA:
				d.add(Widens, ps, "alternative %s added: %s", name, describeSteps(y.Steps))
			case !okB:
				d.add(Narrows, ps, "alternative %s removed", name)
			case !reflect.DeepEqual(x.Steps, y.Steps):
				d.add(Widens, ps, "alternative %s changed: %s -> %s", name, describeSteps(x.Steps), describeSteps(y.Steps))
			}
		}
	}
}

func agentMap(as []AgentDoc) map[string]*AgentDoc {
	m := make(map[string]*AgentDoc, len(as))
	for i := range as {
		m[as[i].Name] = &as[i]
	}
	return m
}

func ruleMap(rs []RuleDoc) map[string]*RuleDoc {
	m := make(map[string]*RuleDoc, len(rs))
	for i := range rs {
		m[rs[i].ID] = &rs[i]
	}
	return m
}

// ruleWorkflows is the rule's effective workflows: its list, or all the
// agent's.
func ruleWorkflows(r *RuleDoc, a *AgentDoc) []string {
	if len(r.Workflows) > 0 {
		return r.Workflows
	}
	return slices.Sorted(maps.Keys(a.Workflows))
}

func unionKeys[V any](a, b map[string]V) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func describeRule(r RuleDoc) string {
	s := "actions " + strings.Join(r.Actions, ", ")
	if len(r.Workflows) > 0 {
		s += " in " + strings.Join(r.Workflows, ", ")
	}
	if r.When != "" {
		s += " when " + r.When
	} else {
		s += " unconditionally"
	}
	if r.Approval != "" {
		s += ", approval " + r.Approval
	}
	return s
}

func describeWorkflows(ws map[string]WorkflowDoc) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ws)) {
		parts = append(parts, fmt.Sprintf("%s (mode %s, budget %s)", k, ws[k].Mode, describeBudget(ws[k].Budget)))
	}
	return strings.Join(parts, ", ")
}

func describeBudget(b BudgetDoc) string {
	return fmt.Sprintf("%d steps, %d actions, %s", b.MaxSteps, b.MaxActions, b.MaxWallTime)
}

func describeStep(s StepDoc) string {
	if len(s.Params) == 0 {
		return s.Action
	}
	var ps []string
	for _, k := range slices.Sorted(maps.Keys(s.Params)) {
		ps = append(ps, k+"="+describeValue(s.Params[k]))
	}
	return s.Action + "(" + strings.Join(ps, ", ") + ")"
}

func describeSteps(ss []StepDoc) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = describeStep(s)
	}
	return strings.Join(parts, "; ")
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = describeValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
